import SeqLensTensor

/// Captum's DeepLift on the input embeddings.
///
/// No module of these architectures is among Captum's DeepLIFT nonlinearities (ReLU, ELU,
/// Sigmoid, Tanh, nn.Softmax, max-pooling): the rescale rule never applies and DeepLIFT reduces to
/// (x − x̄) ⊙ ∇f(x).
public struct DeepLift: AttributionMethod {
    public static let name = "deeplift"
    public static let summary = "DeepLIFT against the UNK baseline ((x − x̄) ⊙ ∇f on these models)."
    public static let needsGradients = true
    public static let outputKind = AttributionOutputKind.granular
    public static let usesBaselines = true

    public var multiplyByInputs = true

    public init(multiplyByInputs: Bool = true) { self.multiplyByInputs = multiplyByInputs }

    enum CodingKeys: String, CodingKey { case multiplyByInputs }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        multiplyByInputs = try c.argument(.multiplyByInputs, default: true)
    }

    public func attribute(_ problem: AttributionProblem) throws -> MethodResult {
        let result = try problem.gradients.run(.embeddings(problem.embeddings), steps: problem.steps)
        let g = result.gradients.squeezingVariant
        return MethodResult(
            attributions: multiplyByInputs ? g.multiplyingEachSlice(by: problem.embeddings.minus(problem.baseline)) : g,
            inputLogits: result.logits)
    }
}
