import Foundation
import SeqLensModels
import SeqLensTensor

/// ReAGent (Zhao & Shan 2024), as Inseq implements it: per step, `numProbes` probes start from
/// random importance scores; each iteration replaces a random `replacingRatio` of the prefix's
/// tokens with random tokens and moves each token's logit-scale score by how much the target's
/// probability dropped (up when the token was replaced, down when it was kept); a probe stops once
/// the target is among the `stoppingConditionTopK` predictions with only its `keepTopN` most
/// important tokens kept (the others replaced). The attribution is the mean over stopped probes
/// of the softmax of the scores (NaN when none stopped within `maxProbeSteps`), repeated over the
/// hidden size as Inseq returns it.
///
/// Replacement tokens are uniform over the vocabulary. Inseq's default sampler draws tokens with
/// the same part-of-speech tag through nltk, which needs data downloaded at run time; its
/// fixtures here use the uniform sampler too. The attributed function is the target's
/// probability, whatever `attributedFn` says, as in Inseq.
public struct ReAgent: AttributionMethod {
    public static let name = "reagent"
    public static let summary = "ReAGent: importance from random token replacements, per probe, until the target is recovered."
    public static let needsGradients = false
    public static let outputKind = AttributionOutputKind.granular

    public var keepTopN = 5
    public var keepRatio: Double?
    public var invertKeep = false
    public var stoppingConditionTopK = 3
    public var replacingRatio: Float = 0.3
    public var maxProbeSteps = 3000
    public var numProbes = 16
    public var seed: UInt64 = 42
    /// Explicit draws, to replay a reference run (not in the protocol): per step, the initial
    /// scores (probes × n) and per iteration the three uniform arrays (probes × n) Inseq draws.
    var draws: [Draws]?

    struct Draws {
        var initialScores: [[Float]]
        var iterations: [(replace: [[Float]], token: [[Float]], stopToken: [[Float]])]
    }

    public init(keepTopN: Int = 5, stoppingConditionTopK: Int = 3, replacingRatio: Float = 0.3,
                maxProbeSteps: Int = 3000, numProbes: Int = 16, seed: UInt64 = 42) {
        self.keepTopN = keepTopN
        self.stoppingConditionTopK = stoppingConditionTopK
        self.replacingRatio = replacingRatio
        self.maxProbeSteps = maxProbeSteps
        self.numProbes = numProbes
        self.seed = seed
    }

    enum CodingKeys: String, CodingKey {
        case keepTopN, keepRatio, invertKeep, stoppingConditionTopK, replacingRatio, maxProbeSteps, numProbes, seed
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        keepTopN = try c.argument(.keepTopN, default: 5, in: 0...Int(Int32.max))
        keepRatio = try c.argument(.keepRatio)
        if let keepRatio, !(0...1).contains(keepRatio) {
            throw MethodArgumentError((c.codingPath + [CodingKeys.keepRatio]).argumentPath, "expected a number in 0...1, got \(keepRatio)")
        }
        invertKeep = try c.argument(.invertKeep, default: false)
        stoppingConditionTopK = try c.argument(.stoppingConditionTopK, default: 3, in: 1...Int(Int32.max))
        replacingRatio = Float(try c.argument(.replacingRatio, default: 0.3, in: 0...1))
        maxProbeSteps = try c.argument(.maxProbeSteps, default: 3000, in: 1...100_000)
        numProbes = try c.argument(.numProbes, default: 16, in: 1...1024)
        seed = try c.argument(.seed, default: 42)
    }

    public func validate(for problem: AttributionProblem) throws {
        if keepTopN == 0 && keepRatio == nil {
            throw argumentError("keepRatio", "with keepTopN 0, keepRatio says how many tokens to keep")
        }
    }

    public func plannedPasses(for problem: AttributionProblem) -> Int { problem.stepCount * maxProbeSteps }

    public func attribute(_ problem: AttributionProblem) throws -> MethodResult {
        let k = problem.stepCount, t = problem.length, c = problem.dimensions.hiddenSize
        var out = [Float](repeating: 0, count: k * t * c)
        var random = SplitMix64(seed: seed)
        var logits: [[Float]] = []
        for (s, position) in problem.stepPositions.enumerated() {
            let scores = try probe(problem, prefix: Array(problem.ids.prefix(position)), target: problem.ids[position],
                                   draws: draws?[s], random: &random, originalLogits: &logits)
            for token in 0..<position { for j in 0..<c { out[(s * t + token) * c + j] = scores[token] } }
        }
        return MethodResult(attributions: Tensor(shape: [k, t, c], scalars: out),
                            inputLogits: Tensor(shape: [k, logits.first?.count ?? 0], scalars: logits.flatMap { $0 }))
    }

    /// The mean importance over the stopped probes, per prefix token.
    private func probe(
        _ problem: AttributionProblem, prefix: [Int], target: Int, draws: Draws?, random: inout SplitMix64,
        originalLogits: inout [[Float]]
    ) throws -> [Float] {
        let n = prefix.count, b = numProbes, v = problem.dimensions.vocabularySize
        func uniform() -> [[Float]] { (0..<b).map { _ in (0..<n).map { _ in Float(random.nextUnit()) } } }
        try problem.beginPass()
        let original = lastLogits(problem, [prefix])[0]
        originalLogits.append(original)
        let p0 = Self.probability(original, target)
        var scores = draws?.initialScores ?? uniform()
        var stopped = [Bool](repeating: false, count: b)
        let keep = keepTopN > 0 ? keepTopN : Int(((keepRatio ?? 0) * Double(n)).rounded(.up))
        var iteration = 0
        while iteration < maxProbeSteps {
            if let draws, iteration >= draws.iterations.count { break }
            try problem.beginPass()
            let replace = draws?.iterations[iteration].replace ?? uniform()
            let token = draws?.iterations[iteration].token ?? uniform()
            // Replace a random share of the tokens; the target's probability drop scores them.
            let masks = replace.map { $0.map { $0 < replacingRatio } }
            let replaced = (0..<b).map { probe in (0..<n).map { masks[probe][$0] ? Int(token[probe][$0] * Float(v)) : prefix[$0] } }
            let logits = lastLogits(problem, replaced)
            for probe in 0..<b where !stopped[probe] {
                let delta = p0 - Self.probability(logits[probe], target)
                for position in 0..<n {
                    let signed = masks[probe][position] ? delta : -delta
                    let x = signed * 0.5 + 0.5
                    scores[probe][position] += Float(log(Double(x) / Double(1 - x)))
                }
            }
            // Stop check: keep each probe's most important tokens, replace the others.
            let stopToken = draws?.iterations[iteration].stopToken ?? uniform()
            let checked = (0..<b).map { probe -> [Int] in
                let order = (0..<n).sorted { scores[probe][$0] > scores[probe][$1] }
                var replaceMask = [Bool](repeating: !invertKeep, count: n)
                for position in order.prefix(keep) { replaceMask[position] = invertKeep }
                return (0..<n).map { replaceMask[$0] ? Int(stopToken[probe][$0] * Float(v)) : prefix[$0] }
            }
            let stopLogits = lastLogits(problem, checked)
            for probe in 0..<b {
                let row = stopLogits[probe]
                let top = (0..<row.count).sorted { (row[$0], -$0) > (row[$1], -$1) }.prefix(stoppingConditionTopK)
                if top.contains(target) { stopped[probe] = true }
            }
            iteration += 1
            if stopped.allSatisfy({ $0 }) { break }
        }
        let count = stopped.filter { $0 }.count
        var mean = [Float](repeating: 0, count: n)
        for probe in 0..<b where stopped[probe] {
            let row = scores[probe], top = row.max()!
            let exps = row.map { exp($0 - top) }, sum = exps.reduce(0, +)
            for position in 0..<n { mean[position] += exps[position] / sum }
        }
        return mean.map { count == 0 ? .nan : $0 / Float(count) }
    }

    /// The logits at the last position of each sequence (all of one length).
    private func lastLogits(_ problem: AttributionProblem, _ sequences: [[Int]]) -> [[Float]] {
        let n = sequences[0].count
        let embeddings = problem.transformer.embed(sequences)
        let hidden = problem.transformer.hiddenStates(embeddings: Variable(constant: embeddings), positions: Array(0..<n),
                                                      cache: nil, probe: nil)
        let logits = problem.transformer.logits(selectRows(hidden, sequences.indices.map { $0 * n + n - 1 })).value
        let v = logits.shape[1]
        return sequences.indices.map { Array(logits.scalars[($0 * v)..<(($0 + 1) * v)]) }
    }

    static func probability(_ logits: [Float], _ target: Int) -> Float {
        let top = logits.max()!
        let sum = logits.reduce(Float(0)) { $0 + exp($1 - top) }
        return exp(logits[target] - top) / sum
    }
}
