import SeqLensTensor

/// Attention rollout (Abnar & Zuidema 2020): per layer the heads' attention A_l (mean or max over
/// heads) mixed with the residual, B_l = rownorm((1 − r)·A_l + r·I); R = B_L ⋯ B_1; a step's
/// attribution is R's row at its predicting position. Beyond Inseq (asked for in its tracker).
///
/// One forward serves every step: with causal attention a prefix's patterns are the top-left
/// block of the whole sequence's, and products of lower-triangular matrices keep that block.
public struct AttentionRollout: AttributionMethod {
    public static let name = "attention_rollout"
    public static let summary = "Attention rollout: attention with the residual, multiplied through the layers."
    public static let needsGradients = false
    public static let outputKind = AttributionOutputKind.perToken

    public enum HeadReduction: String, MethodArgumentChoice, Sendable { case mean, max, min }

    public var headReduction = HeadReduction.mean
    public var residualWeight: Float = 0.5

    public init(headReduction: HeadReduction = .mean, residualWeight: Float = 0.5) {
        self.headReduction = headReduction
        self.residualWeight = residualWeight
    }

    enum CodingKeys: String, CodingKey { case headReduction, residualWeight }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        headReduction = try c.argument(.headReduction, default: .mean)
        residualWeight = Float(try c.argument(.residualWeight, default: 0.5, in: 0...1))
    }

    public func attribute(_ problem: AttributionProblem) throws -> MethodResult {
        let run = try AttentionPatterns(problem)
        let t = problem.length, heads = problem.dimensions.headCount
        var rollout: [Double]?
        for pattern in run.patterns {
            let p = pattern.scalars
            var mixed = [Double](repeating: 0, count: t * t)
            for query in 0..<t {
                var sum = 0.0
                for key in 0...query {
                    var reduced: Double
                    switch headReduction {
                    case .mean: reduced = (0..<heads).reduce(0) { $0 + Double(p[($1 * t + query) * t + key]) } / Double(heads)
                    case .max: reduced = (0..<heads).map { Double(p[($0 * t + query) * t + key]) }.max()!
                    case .min: reduced = (0..<heads).map { Double(p[($0 * t + query) * t + key]) }.min()!
                    }
                    reduced = Double(1 - residualWeight) * reduced + (key == query ? Double(residualWeight) : 0)
                    mixed[query * t + key] = reduced
                    sum += reduced
                }
                if sum > 0 { for key in 0...query { mixed[query * t + key] /= sum } }
            }
            rollout = rollout.map { Self.lowerTriangularProduct(mixed, $0, t) } ?? mixed
        }
        let r = rollout ?? []
        let k = problem.stepCount
        var out = [Float](repeating: 0, count: k * t)
        for (s, position) in problem.stepPositions.enumerated() {
            let query = position - 1
            for key in 0...query { out[s * t + key] = Float(r[query * t + key]) }
        }
        return MethodResult(attributions: Tensor(shape: [k, t], scalars: out), inputLogits: run.logits)
    }

    /// a · b for lower-triangular t × t matrices.
    static func lowerTriangularProduct(_ a: [Double], _ b: [Double], _ t: Int) -> [Double] {
        var out = [Double](repeating: 0, count: t * t)
        for i in 0..<t {
            for m in 0...i where a[i * t + m] != 0 {
                let factor = a[i * t + m]
                for j in 0...m { out[i * t + j] += factor * b[m * t + j] }
            }
        }
        return out
    }
}
