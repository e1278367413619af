import Foundation
import SeqLensModels
import SeqLensTensor

// Small elementwise helpers the methods combine gradients with; none is on a hot path's tape.
extension Tensor {
    func map(_ f: (Float) -> Float) -> Tensor { Tensor(shape: shape, scalars: scalars.map(f)) }

    func minus(_ other: Tensor) -> Tensor {
        precondition(shape == other.shape, "\(shape) − \(other.shape)")
        return Tensor(shape: shape, scalars: zip(scalars, other.scalars).map { $0 - $1 })
    }

    /// self + s · other
    func adding(_ other: Tensor, scaledBy s: Float) -> Tensor {
        precondition(shape == other.shape, "\(shape) + s·\(other.shape)")
        return Tensor(shape: shape, scalars: zip(scalars, other.scalars).map { $0 + s * $1 })
    }

    func scaled(by s: Float) -> Tensor { map { $0 * s } }

    /// Multiplies each leading slice (K, rest...) elementwise by `factor`, whose count is that of
    /// one slice (its shape may carry a leading 1).
    func multiplyingEachSlice(by factor: Tensor) -> Tensor {
        let size = factor.count
        precondition(count % size == 0, "\(shape) by \(factor.shape)")
        var out = scalars
        out.withUnsafeMutableBufferPointer { o in
            factor.scalars.withUnsafeBufferPointer { f in
                for start in stride(from: 0, to: o.count, by: size) {
                    for i in 0..<size { o[start + i] *= f[i] }
                }
            }
        }
        return Tensor(shape: shape, scalars: out)
    }

    /// (K, B, T, W) with weights (B) -> Σ_b w_b · g[:, b] as (K, T, W).
    func weightedSumOverVariants(_ weights: [Float]) -> Tensor {
        let k = shape[0], b = shape[1], inner = count / (k * b)
        precondition(weights.count == b, "\(weights.count) weights for \(b) variants")
        var out = [Float](repeating: 0, count: k * inner)
        scalars.withUnsafeBufferPointer { g in
            out.withUnsafeMutableBufferPointer { o in
                for s in 0..<k {
                    for v in 0..<b {
                        let w = weights[v], base = (s * b + v) * inner
                        for i in 0..<inner { o[s * inner + i] += w * g[base + i] }
                    }
                }
            }
        }
        return Tensor(shape: [k] + Array(shape.dropFirst(2)), scalars: out)
    }

    /// (K, B, T, W) -> variant b as (K, T, W).
    func variant(_ index: Int) -> Tensor { weightedSumOverVariants((0..<shape[1]).map { $0 == index ? 1 : 0 }) }
}

/// Seeded uniform and normal draws (Box–Muller) for Gradient SHAP.
struct NormalRandom {
    private var source: SplitMix64
    private var spare: Double?

    init(seed: UInt64) { source = SplitMix64(seed: seed ^ 0x5DEE_CE66_D1CE_4E5B) }

    mutating func uniform() -> Double { source.nextUnit() }

    mutating func normal() -> Double {
        if let spare { self.spare = nil; return spare }
        let u = max(uniform(), 1e-300), v = uniform()
        let r = (-2 * log(u)).squareRoot()
        spare = r * sin(2 * .pi * v)
        return r * cos(2 * .pi * v)
    }
}
