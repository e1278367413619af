import SeqLensTensor

/// Captum's LayerGradientXActivation: a site's activation ⊙ the gradient there.
public struct LayerGradientXActivation: AttributionMethod {
    public static let name = "layer_gradient_x_activation"
    public static let summary = "Activation times gradient at an activation site (methodArgs.layer)."
    public static let needsGradients = true
    public static let outputKind = AttributionOutputKind.granular

    public var layer: String?
    public var multiplyByInputs = true

    public init(layer: String? = nil, multiplyByInputs: Bool = true) {
        self.layer = layer
        self.multiplyByInputs = multiplyByInputs
    }

    enum CodingKeys: String, CodingKey { case layer, multiplyByInputs }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        layer = try c.argument(.layer)
        multiplyByInputs = try c.argument(.multiplyByInputs, default: true)
    }

    public func validate(for problem: AttributionProblem) throws { _ = try problem.resolveSite(layer) }

    public func attribute(_ problem: AttributionProblem) throws -> MethodResult {
        let site = try problem.resolveSite(layer)
        let result = try problem.gradients.run(.site(site, embeddings: problem.embeddings, replacement: nil), steps: problem.steps)
        let g = result.gradients.squeezingVariant
        return MethodResult(attributions: multiplyByInputs ? g.multiplyingEachSlice(by: result.input) : g,
                            inputLogits: result.logits)
    }
}
