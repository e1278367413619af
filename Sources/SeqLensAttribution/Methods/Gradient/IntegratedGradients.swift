import SeqLensTensor

/// Captum's IntegratedGradients from the UNK baseline to the input embeddings.
public struct IntegratedGradients: AttributionMethod {
    public static let name = "integrated_gradients"
    public static let summary = "Integrated gradients from the UNK baseline (Captum's quadrature rules)."
    public static let needsGradients = true
    public static let outputKind = AttributionOutputKind.granular
    public static let usesBaselines = true

    public var steps = 50
    public var integration = IntegrationRule.gaussLegendre
    /// Most interpolation points per pass; nil lets SeqLens choose by memory.
    public var internalBatchSize: Int?
    public var multiplyByInputs = true
    /// Report Σ attributions − (f(input) − f(baseline)) per step.
    public var returnConvergenceDelta = false

    public init(steps: Int = 50, integration: IntegrationRule = .gaussLegendre, internalBatchSize: Int? = nil,
                multiplyByInputs: Bool = true, returnConvergenceDelta: Bool = false) {
        self.steps = steps
        self.integration = integration
        self.internalBatchSize = internalBatchSize
        self.multiplyByInputs = multiplyByInputs
        self.returnConvergenceDelta = returnConvergenceDelta
    }

    enum CodingKeys: String, CodingKey {
        case steps = "nSteps", integration, internalBatchSize, multiplyByInputs, returnConvergenceDelta
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        steps = try c.argument(.steps, default: 50, in: 1...MethodLimits.steps)
        integration = try c.argument(.integration, default: .gaussLegendre)
        try integration.check(steps: steps, field: (c.codingPath + [CodingKeys.steps]).argumentPath)
        internalBatchSize = try c.argument(.internalBatchSize, in: 1...Int.max)
        multiplyByInputs = try c.argument(.multiplyByInputs, default: true)
        returnConvergenceDelta = try c.argument(.returnConvergenceDelta, default: false)
    }

    public func validate(for problem: AttributionProblem) throws {
        try IntegrationRule.check(steps: steps, rule: integration)
    }

    public func plannedPasses(for problem: AttributionProblem) -> Int {
        AttributionProblem.passes(steps, problem.variantsPerPass(fixed: internalBatchSize))
    }

    public func attribute(_ problem: AttributionProblem) throws -> MethodResult {
        let (alphas, weights) = integration.points(steps)
        let input = problem.embeddings, baseline = problem.baseline
        let difference = input.minus(baseline)
        let total = try problem.weightedGradientSum(
            count: alphas.count, weights: weights, perPass: problem.variantsPerPass(fixed: internalBatchSize)
        ) { range in
            .embeddings(Tensor.stacked(range.map { baseline.adding(difference, scaledBy: alphas[$0]).slice(0) }))
        }
        let attributions = multiplyByInputs ? total.multiplyingEachSlice(by: difference) : total
        let deltas = returnConvergenceDelta
            ? try problem.convergenceDeltas(attributions, from: .embeddings(baseline), to: .embeddings(input)) : nil
        return MethodResult(attributions: attributions, deltas: deltas)
    }
}

extension IntegrationRule: MethodArgumentChoice {
    /// The checks of a method built in Swift rather than decoded.
    static func check(steps: Int, rule: IntegrationRule) throws {
        guard (1...MethodLimits.steps).contains(steps) else {
            throw argumentError("nSteps", "expected an integer in 1...\(MethodLimits.steps), got \(steps)")
        }
        do { try rule.check(steps: steps, field: "nSteps") } catch let error as MethodArgumentError { throw AttributionError.invalidMethodArgument(error) }
    }

    /// Rules that need more points than given.
    func check(steps: Int, field: String) throws {
        if self == .riemannTrapezoid && steps < 2 {
            throw MethodArgumentError(field, "riemann_trapezoid needs at least 2 steps, got \(steps)")
        }
    }
}
