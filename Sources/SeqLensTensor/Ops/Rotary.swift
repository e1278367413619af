import Foundation

/// Rotary position embedding in the "rotate half" layout of transformers' Llama
/// (`apply_rotary_pos_emb`): within each head, dimension i pairs with i + D/2.
///
/// GGUF checkpoints store Q/K rows interleaved; the loader undoes that permutation, so one
/// kernel serves both formats.
public struct RotaryEmbedding: Sendable {
    public let headDimension: Int
    public let base: Float
    /// 1 / base^(2i/D), i < D/2, computed in Float as transformers does.
    let inverseFrequencies: [Float]

    public init(headDimension: Int, base: Float) {
        precondition(headDimension % 2 == 0, "rotary head dimension must be even, got \(headDimension)")
        self.headDimension = headDimension
        self.base = base
        let half = headDimension / 2
        inverseFrequencies = (0..<half).map { i in
            1 / powf(base, Float(2 * i) / Float(headDimension))
        }
    }

    /// cos and sin tables (T, D/2) for absolute `positions`.
    func tables(positions: [Int]) -> (cos: [Float], sin: [Float]) {
        let half = headDimension / 2
        var cosines = [Float](repeating: 0, count: positions.count * half)
        var sines = cosines
        for (t, position) in positions.enumerated() {
            for i in 0..<half {
                let angle = Float(position) * inverseFrequencies[i]
                cosines[t * half + i] = cosf(angle)
                sines[t * half + i] = sinf(angle)
            }
        }
        return (cosines, sines)
    }

    /// x: (B, T, H·D), positions: T absolute positions shared by the batch.
    public func callAsFunction(_ x: Variable, positions: [Int]) -> Variable {
        let d = headDimension, half = d / 2
        let t = positions.count
        precondition(x.shape.count == 3 && x.shape[1] == t && x.shape[2] % d == 0,
                     "rotary expects (B, \(t), H·\(d)), got \(x.shape)")
        let heads = x.shape[2] / d
        let rows = x.shape[0] * t
        let (cosines, sines) = tables(positions: positions)
        // sign +1 rotates by the angle (forward), −1 by minus the angle (its transpose).
        func rotate(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, sign: Float) {
            for row in 0..<rows {
                let tableRow = (row % t) * half
                for h in 0..<heads {
                    let base = (row * heads + h) * d
                    for i in 0..<half {
                        let c = cosines[tableRow + i], s = sign * sines[tableRow + i]
                        let a = input[base + i], b = input[base + half + i]
                        output[base + i] = a * c - b * s
                        output[base + half + i] = b * c + a * s
                    }
                }
            }
        }
        var out = [Float](repeating: 0, count: x.value.count)
        x.value.scalars.withUnsafeBufferPointer { xs in
            out.withUnsafeMutableBufferPointer { o in rotate(xs.baseAddress!, o.baseAddress!, sign: 1) }
        }
        let size = x.value.count
        return Tape.record(Tensor(shape: x.shape, scalars: out), from: [x], preservesRows: true) { cotangent in
            let d = forEachSlice(cotangent, sliceCount: size) { dy, dx in rotate(dy, dx, sign: -1) }
            return [Tensor(shape: cotangent.shape, scalars: d)]
        }
    }
}
