import Foundation
import SeqLensModels
import SeqLensTensor

/// Inseq's LIME (inseq/attr/feat/ops/lime.py with its defaults): `nSamples` random masks keep
/// each token with probability 1 − `maskProb`; a masked token's embedding becomes zeros (Inseq
/// writes the UNK id as the value, which is 0 for the models here); each sample is weighted by how
/// many embedding values it leaves equal to the input's; a weighted ridge regression (alpha 1,
/// intercept fitted, sklearn's Ridge) from the flattened perturbed embeddings to the attributed
/// function gives the attribution: its coefficients, one per hidden unit of each token.
///
/// The regression over n·D features reduces exactly to n token coefficients u_t with penalty
/// u_t² / |e_t|² (the least-norm coefficients of a token lie along its embedding e_t), so each
/// step solves an (n × n) system; the hidden-unit coefficients are u_t e_t / |e_t|².
/// One set of masks over all positions serves every step (a step reads its prefix of each mask,
/// which is a random mask of that prefix), so each sample is one forward read at every step.
public struct Lime: AttributionMethod {
    public static let name = "lime"
    public static let summary = "LIME: weighted ridge regression of the attributed function on random token masks."
    public static let needsGradients = false
    public static let outputKind = AttributionOutputKind.granular

    public var samples = 50
    public var maskProbability: Float = 0.3
    public var seed: UInt64 = 42
    /// Explicit masks, to replay a reference run (not in the protocol): per step, per sample, one
    /// flag per prefix token (true: kept). Each step then runs on its own samples.
    var masks: [[[Bool]]]?

    public init(samples: Int = 50, maskProbability: Float = 0.3, seed: UInt64 = 42) {
        self.samples = samples
        self.maskProbability = maskProbability
        self.seed = seed
    }

    enum CodingKeys: String, CodingKey { case samples = "nSamples", maskProbability = "maskProb", seed }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        samples = try c.argument(.samples, default: 50, in: 1...MethodLimits.samples)
        maskProbability = Float(try c.argument(.maskProbability, default: 0.3, in: 0...1))
        seed = try c.argument(.seed, default: 42)
    }

    public func validate(for problem: AttributionProblem) throws {
        guard (1...MethodLimits.samples).contains(samples) else {
            throw argumentError("nSamples", "expected an integer in 1...\(MethodLimits.samples), got \(samples)")
        }
    }

    public func plannedPasses(for problem: AttributionProblem) -> Int {
        let count = masks.map { $0.reduce(0) { $0 + $1.count } } ?? samples
        return 1 + problem.perturbedPasses(starts: Array(repeating: 0, count: count))
    }

    public func attribute(_ problem: AttributionProblem) throws -> MethodResult {
        let clean = try problem.cleanRun()
        let features = problem.stepPositions.max() ?? 0
        // Per step, its samples: a mask over its prefix and the index of the variant run for it.
        var variants: [PerturbedInput] = []
        var perStep: [[(mask: [Bool], variant: Int)]] = []
        if let masks {
            for (s, stepMasks) in masks.enumerated() {
                perStep.append(stepMasks.map { mask in
                    variants.append(masked(problem, mask + Array(repeating: true, count: max(0, problem.length - mask.count))))
                    return (Array(mask.prefix(problem.stepPositions[s])), variants.count - 1)
                })
            }
        } else {
            var random = SplitMix64(seed: seed)
            let shared = (0..<samples).map { _ in (0..<features).map { _ in Float(random.nextUnit()) >= maskProbability } }
            for mask in shared { variants.append(masked(problem, mask + Array(repeating: true, count: problem.length - features))) }
            perStep = problem.stepPositions.map { prefix in shared.enumerated().map { (Array($1.prefix(prefix)), $0) } }
        }
        let values = try problem.perturbedValues(variants, clean: clean)
        let k = problem.stepCount, t = problem.length, c = problem.dimensions.hiddenSize
        let e = problem.embeddings.scalars
        var out = [Float](repeating: 0, count: k * t * c)
        for s in 0..<k {
            let n = problem.stepPositions[s]
            let norms = (0..<n).map { position in (0..<c).reduce(0.0) { $0 + Double(e[position * c + $1]) * Double(e[position * c + $1]) } }
            let zeros = (0..<n).map { position in (0..<c).filter { e[position * c + $0] == 0 }.count }
            let samples = perStep[s]
            let z = samples.map { $0.mask.map { $0 ? 1.0 : 0.0 } }
            let y = samples.map { Double(values[$0.variant][s]) }
            // Inseq's similarity: the count of embedding values equal to the input's.
            let w = samples.map { sample in Double((0..<n).reduce(0) { $0 + (sample.mask[$1] ? c : zeros[$1]) }) }
            let u = Self.weightedRidge(z: z, y: y, weights: w, penalties: norms.map { $0 > 0 ? 1 / $0 : .infinity })
            for position in 0..<n where norms[position] > 0 {
                let scale = u[position] / norms[position]
                for j in 0..<c { out[(s * t + position) * c + j] = Float(scale * Double(e[position * c + j])) }
            }
        }
        return MethodResult(attributions: Tensor(shape: [k, t, c], scalars: out), inputLogits: clean.logits)
    }

    /// The input with the masked positions' embeddings zeroed.
    private func masked(_ problem: AttributionProblem, _ keep: [Bool]) -> PerturbedInput {
        let c = problem.dimensions.hiddenSize
        var scalars = problem.embeddings.scalars
        var first = problem.length
        for (position, kept) in keep.enumerated() where !kept {
            first = min(first, position)
            for j in 0..<c { scalars[position * c + j] = 0 }
        }
        return PerturbedInput(embeddings: scalars, firstChanged: first)
    }

    /// argmin_u Σ_i w_i (y_i − b − z_i·u)² + Σ_t λ_t u_t² with the intercept b unpenalised
    /// (sklearn's Ridge with sample weights: weighted centring, then the penalised normal
    /// equations). An infinite penalty pins a coefficient at 0.
    static func weightedRidge(z: [[Double]], y: [Double], weights: [Double], penalties: [Double]) -> [Double] {
        let n = penalties.count, total = weights.reduce(0, +)
        guard total > 0, n > 0 else { return Array(repeating: 0, count: n) }
        let free = (0..<n).filter { penalties[$0].isFinite }
        let zMean = (0..<n).map { t in zip(z, weights).reduce(0) { $0 + $1.0[t] * $1.1 } / total }
        let yMean = zip(y, weights).reduce(0) { $0 + $1.0 * $1.1 } / total
        let m = free.count
        var a = [Double](repeating: 0, count: m * m), rhs = [Double](repeating: 0, count: m)
        for (i, row) in z.enumerated() {
            let centred = free.map { row[$0] - zMean[$0] }, dy = y[i] - yMean, wi = weights[i]
            for p in 0..<m {
                rhs[p] += wi * centred[p] * dy
                for q in 0..<m { a[p * m + q] += wi * centred[p] * centred[q] }
            }
        }
        for p in 0..<m { a[p * m + p] += penalties[free[p]] }
        let solved = solveSymmetric(a, rhs, m)
        var u = [Double](repeating: 0, count: n)
        for (p, t) in free.enumerated() { u[t] = solved[p] }
        return u
    }

    /// Gaussian elimination with partial pivoting (the systems are small and positive definite).
    static func solveSymmetric(_ matrix: [Double], _ vector: [Double], _ m: Int) -> [Double] {
        var a = matrix, b = vector
        for column in 0..<m {
            let pivot = (column..<m).max { abs(a[$0 * m + column]) < abs(a[$1 * m + column]) }!
            if pivot != column {
                for j in 0..<m { a.swapAt(column * m + j, pivot * m + j) }
                b.swapAt(column, pivot)
            }
            let diagonal = a[column * m + column]
            guard diagonal != 0 else { continue }
            for row in (column + 1)..<m {
                let factor = a[row * m + column] / diagonal
                guard factor != 0 else { continue }
                for j in column..<m { a[row * m + j] -= factor * a[column * m + j] }
                b[row] -= factor * b[column]
            }
        }
        var x = [Double](repeating: 0, count: m)
        for row in stride(from: m - 1, through: 0, by: -1) {
            var sum = b[row]
            for j in (row + 1)..<m { sum -= a[row * m + j] * x[j] }
            x[row] = a[row * m + row] == 0 ? 0 : sum / a[row * m + row]
        }
        return x
    }
}
