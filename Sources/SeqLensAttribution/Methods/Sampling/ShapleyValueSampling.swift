import SeqLensModels
import SeqLensTensor

/// Captum's ShapleyValueSampling with one feature per token and the UNK baseline: for each of
/// `nSamples` random orders, tokens switch from the baseline to the input one at a time, and each
/// token is credited with the change of the attributed function its switch causes; the average
/// over orders. Beyond Inseq (asked for in its tracker).
///
/// One order serves every step: a random order of all the positions, restricted to a step's
/// prefix, is a random order of that prefix, and switching a position a step cannot see changes
/// nothing for it. Each switch is one forward whose every step's value is read (Captum runs
/// prefix length + 1 forwards per step and sample).
public struct ShapleyValueSampling: AttributionMethod {
    public static let name = "shapley_value_sampling"
    public static let summary = "Shapley value sampling: average marginal effect of each token over random orders (UNK baseline)."
    public static let needsGradients = false
    public static let outputKind = AttributionOutputKind.perToken
    public static let usesBaselines = true

    public var samples = 25
    public var seed: UInt64 = 42
    /// Explicit orders, to replay a reference run (not in the protocol): per step, per sample, a
    /// permutation of that step's prefix positions. Each step then runs on its own.
    var orders: [[[Int]]]?

    public init(samples: Int = 25, seed: UInt64 = 42) {
        self.samples = samples
        self.seed = seed
    }

    enum CodingKeys: String, CodingKey { case samples = "nSamples", seed }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        samples = try c.argument(.samples, default: 25, in: 1...MethodLimits.samples)
        seed = try c.argument(.seed, default: 42)
    }

    public func validate(for problem: AttributionProblem) throws {
        guard (1...MethodLimits.samples).contains(samples) else {
            throw argumentError("nSamples", "expected an integer in 1...\(MethodLimits.samples), got \(samples)")
        }
    }

    public func plannedPasses(for problem: AttributionProblem) -> Int {
        let features = problem.stepPositions.max() ?? 0
        return 1 + problem.perturbedPasses(starts: Array(repeating: 0, count: 1 + samples * features))
    }

    public func attribute(_ problem: AttributionProblem) throws -> MethodResult {
        let clean = try problem.cleanRun()
        let k = problem.stepCount, t = problem.length
        var totals = [Double](repeating: 0, count: k * t)
        if let orders {
            for (s, perStep) in orders.enumerated() {
                let marginals = try Self.marginals(problem, orders: perStep, clean: clean)
                for position in 0..<t { totals[s * t + position] = marginals[s * t + position] / Double(perStep.count) }
            }
        } else {
            var random = SplitMix64(seed: seed)
            let features = problem.stepPositions.max() ?? 0
            let orders = (0..<samples).map { _ in Array(0..<features).shuffled(using: &random) }
            let marginals = try Self.marginals(problem, orders: orders, clean: clean)
            totals = marginals.map { $0 / Double(samples) }
        }
        return MethodResult(attributions: Tensor(shape: [k, t], scalars: totals.map { Float($0) }), inputLogits: clean.logits)
    }

    /// Σ over orders of each position's marginal effect, per step: [step * T + position].
    static func marginals(_ problem: AttributionProblem, orders: [[Int]], clean: AttributionProblem.CleanRun) throws -> [Double] {
        let t = problem.length, features = problem.stepPositions.max() ?? 0
        // Every feature at the baseline, then one more at the input per variant.
        var variants = [problem.embeddings(replacing: Array(0..<features))]
        for order in orders {
            var atBaseline = Set(0..<features)
            for position in order {
                atBaseline.remove(position)
                variants.append(problem.embeddings(replacing: atBaseline.sorted()))
            }
        }
        let values = try problem.perturbedValues(variants, clean: clean)
        var totals = [Double](repeating: 0, count: problem.stepCount * t)
        var index = 1
        for order in orders {
            var previous = values[0]
            for position in order {
                let current = values[index]
                for s in 0..<problem.stepCount where position < problem.stepPositions[s] {
                    totals[s * t + position] += Double(current[s]) - Double(previous[s])
                }
                previous = current
                index += 1
            }
        }
        return totals
    }
}
