import SeqLensTensor

/// Captum's FeatureAblation with one feature per token: f(x) − f(x with the token replaced by
/// the UNK baseline), signed (positive where the token raises the attributed function).
public struct FeatureAblation: AttributionMethod {
    public static let name = "feature_ablation"
    public static let summary = "Feature ablation: signed change of the attributed function when a token becomes the UNK baseline."
    public static let needsGradients = false
    public static let outputKind = AttributionOutputKind.perToken
    public static let usesBaselines = true

    public init() {}
    public init(from decoder: any Decoder) throws { _ = try decoder.container(keyedBy: NoArguments.self) }

    public func plannedPasses(for problem: AttributionProblem) -> Int {
        1 + problem.perturbedPasses(starts: Array(0..<(problem.stepPositions.max() ?? 0)))
    }

    public func attribute(_ problem: AttributionProblem) throws -> MethodResult {
        let difference = try OcclusionDifferences(problem: problem, window: 1, stride: 1)
        return MethodResult(attributions: difference.attributions(absolute: false), inputLogits: difference.clean.logits)
    }
}
