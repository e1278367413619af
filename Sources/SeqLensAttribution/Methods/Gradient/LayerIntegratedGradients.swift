import SeqLensTensor

/// Captum's LayerIntegratedGradients: integrated gradients of an activation site, from its value
/// on the baseline to its value on the input.
public struct LayerIntegratedGradients: AttributionMethod {
    public static let name = "layer_integrated_gradients"
    public static let summary = "Integrated gradients at an activation site (methodArgs.layer)."
    public static let needsGradients = true
    public static let outputKind = AttributionOutputKind.granular
    public static let usesBaselines = true

    /// The site (`blocks.3.mlp.out`, or a transformers module path); nil: the token embeddings.
    public var layer: String?
    public var steps = 50
    public var integration = IntegrationRule.gaussLegendre
    public var internalBatchSize: Int?
    public var multiplyByInputs = true
    public var returnConvergenceDelta = false

    public init(layer: String? = nil, steps: Int = 50, integration: IntegrationRule = .gaussLegendre,
                internalBatchSize: Int? = nil, returnConvergenceDelta: Bool = false) {
        self.layer = layer
        self.steps = steps
        self.integration = integration
        self.internalBatchSize = internalBatchSize
        self.returnConvergenceDelta = returnConvergenceDelta
    }

    enum CodingKeys: String, CodingKey {
        case layer, steps = "nSteps", integration, internalBatchSize, multiplyByInputs, returnConvergenceDelta
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        layer = try c.argument(.layer)
        steps = try c.argument(.steps, default: 50, in: 1...MethodLimits.steps)
        integration = try c.argument(.integration, default: .gaussLegendre)
        try integration.check(steps: steps, field: (c.codingPath + [CodingKeys.steps]).argumentPath)
        internalBatchSize = try c.argument(.internalBatchSize, in: 1...Int.max)
        multiplyByInputs = try c.argument(.multiplyByInputs, default: true)
        returnConvergenceDelta = try c.argument(.returnConvergenceDelta, default: false)
    }

    public func validate(for problem: AttributionProblem) throws {
        _ = try problem.resolveSite(layer)
        try IntegrationRule.check(steps: steps, rule: integration)
    }

    public func plannedPasses(for problem: AttributionProblem) -> Int {
        AttributionProblem.passes(steps, problem.variantsPerPass(fixed: internalBatchSize))
    }

    public func attribute(_ problem: AttributionProblem) throws -> MethodResult {
        let site = try problem.resolveSite(layer)
        let (alphas, weights) = integration.points(steps)
        let input = problem.embeddings
        let inputActivation = try problem.activation(site: site, embeddings: input)
        let baselineActivation = try problem.activation(site: site, embeddings: problem.baseline)
        let difference = inputActivation.minus(baselineActivation)
        let t = input.shape[1], c = input.shape[2]
        let total = try problem.weightedGradientSum(
            count: alphas.count, weights: weights, perPass: problem.variantsPerPass(fixed: internalBatchSize)
        ) { range in
            let points = Tensor.stacked(range.map { baselineActivation.adding(difference, scaledBy: alphas[$0]).slice(0) })
            let embeddings = Tensor(shape: [range.count, t, c], scalars: Array(repeating: input.scalars, count: range.count).flatMap { $0 })
            return .site(site, embeddings: embeddings, replacement: points)
        }
        let attributions = multiplyByInputs ? total.multiplyingEachSlice(by: difference) : total
        let deltas = returnConvergenceDelta
            ? try problem.convergenceDeltas(attributions, from: .site(site, embeddings: input, replacement: baselineActivation),
                                            to: .site(site, embeddings: input, replacement: nil)) : nil
        return MethodResult(attributions: attributions, deltas: deltas)
    }
}
