import SeqLensTensor

/// Captum's Saliency: the gradient of each step's function with respect to the input embeddings,
/// in absolute value by default.
public struct Saliency: AttributionMethod {
    public static let name = "saliency"
    public static let summary = "Gradient of the attributed function (absolute by default)."
    public static let needsGradients = true
    public static let outputKind = AttributionOutputKind.granular

    public var absolute = true

    public init(absolute: Bool = true) { self.absolute = absolute }

    enum CodingKeys: String, CodingKey { case absolute = "abs" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        absolute = try c.argument(.absolute, default: true)
    }

    public func attribute(_ problem: AttributionProblem) throws -> MethodResult {
        let result = try problem.gradients.run(.embeddings(problem.embeddings), steps: problem.steps)
        let g = result.gradients.squeezingVariant
        return MethodResult(attributions: absolute ? g.map(abs) : g, inputLogits: result.logits)
    }
}
