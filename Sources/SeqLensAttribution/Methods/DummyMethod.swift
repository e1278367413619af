/// Inseq's `dummy`: no attributions, step scores only.
public struct DummyMethod: AttributionMethod {
    public static let name = "dummy"
    public static let summary = "No attributions: step scores only."
    public static let needsGradients = false
    public static let outputKind = AttributionOutputKind.perToken
    public static let attributes = false

    public init() {}
    public init(from decoder: any Decoder) throws { _ = try decoder.container(keyedBy: NoArguments.self) }

    public func plannedPasses(for problem: AttributionProblem) -> Int { 0 }
    public func attribute(_ problem: AttributionProblem) throws -> MethodResult { MethodResult(attributions: nil) }
}
