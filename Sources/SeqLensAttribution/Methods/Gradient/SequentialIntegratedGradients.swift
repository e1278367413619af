import SeqLensTensor

/// Sequential integrated gradients (Enguehard 2023, Inseq's SequentialIntegratedGradients):
/// position by position, only position i moves from baseline to input, the others stay at the input.
public struct SequentialIntegratedGradients: AttributionMethod {
    public static let name = "sequential_integrated_gradients"
    public static let summary = "Integrated gradients one position at a time, the others kept at the input."
    public static let needsGradients = true
    public static let outputKind = AttributionOutputKind.granular
    public static let usesBaselines = true

    public var steps = 50
    public var integration = IntegrationRule.gaussLegendre
    public var internalBatchSize: Int?
    public var multiplyByInputs = true

    public init(steps: Int = 50, integration: IntegrationRule = .gaussLegendre) {
        self.steps = steps
        self.integration = integration
    }

    enum CodingKeys: String, CodingKey { case steps = "nSteps", integration, internalBatchSize, multiplyByInputs }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        steps = try c.argument(.steps, default: 50, in: 1...MethodLimits.steps)
        integration = try c.argument(.integration, default: .gaussLegendre)
        try integration.check(steps: steps, field: (c.codingPath + [CodingKeys.steps]).argumentPath)
        internalBatchSize = try c.argument(.internalBatchSize, in: 1...Int.max)
        multiplyByInputs = try c.argument(.multiplyByInputs, default: true)
    }

    public func validate(for problem: AttributionProblem) throws { try IntegrationRule.check(steps: steps, rule: integration) }

    public func plannedPasses(for problem: AttributionProblem) -> Int {
        (problem.readLength - 1) * AttributionProblem.passes(steps, problem.variantsPerPass(fixed: internalBatchSize))
    }

    public func attribute(_ problem: AttributionProblem) throws -> MethodResult {
        let (alphas, weights) = integration.points(steps)
        let input = problem.embeddings, baseline = problem.baseline
        let t = input.shape[1], c = input.shape[2], k = problem.stepCount
        var result = [Float](repeating: 0, count: k * t * c)
        let difference = input.minus(baseline)
        let perPass = problem.variantsPerPass(fixed: internalBatchSize)
        for position in 0..<(problem.readLength - 1) {
            let total = try problem.weightedGradientSum(count: alphas.count, weights: weights, perPass: perPass) { range in
                var scalars = [Float]()
                scalars.reserveCapacity(range.count * t * c)
                for i in range {
                    var variant = input.scalars
                    for j in 0..<c {
                        variant[position * c + j] = baseline.scalars[position * c + j] + alphas[i] * difference.scalars[position * c + j]
                    }
                    scalars.append(contentsOf: variant)
                }
                return .embeddings(Tensor(shape: [range.count, t, c], scalars: scalars))
            }
            for s in 0..<k {
                for j in 0..<c {
                    let g = total.scalars[(s * t + position) * c + j]
                    result[(s * t + position) * c + j] = multiplyByInputs ? g * difference.scalars[position * c + j] : g
                }
            }
        }
        return MethodResult(attributions: Tensor(shape: [k, t, c], scalars: result))
    }
}
