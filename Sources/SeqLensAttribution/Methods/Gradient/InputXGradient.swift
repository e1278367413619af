import SeqLensTensor

/// Captum's InputXGradient: input embeddings ⊙ gradient.
public struct InputXGradient: AttributionMethod {
    public static let name = "input_x_gradient"
    public static let summary = "Input embeddings times the gradient."
    public static let needsGradients = true
    public static let outputKind = AttributionOutputKind.granular

    public init() {}
    public init(from decoder: any Decoder) throws { _ = try decoder.container(keyedBy: NoArguments.self) }

    public func attribute(_ problem: AttributionProblem) throws -> MethodResult {
        let result = try problem.gradients.run(.embeddings(problem.embeddings), steps: problem.steps)
        return MethodResult(attributions: result.gradients.squeezingVariant.multiplyingEachSlice(by: problem.embeddings),
                            inputLogits: result.logits)
    }
}

/// The coding keys of a method without arguments: any field given is unknown.
enum NoArguments: CodingKey {}
