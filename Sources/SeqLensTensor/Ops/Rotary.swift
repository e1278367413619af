import Foundation

/// How a checkpoint rescales the rotary inverse frequencies for a longer context, as
/// transformers' modeling_rope_utils computes them (in Float32).
public enum RotaryFrequencyScaling: Sendable, Equatable {
    /// Every frequency divided by `factor` (position interpolation).
    case linear(factor: Float)
    /// Llama 3.1's: long wavelengths divided by `factor`, short ones kept, those between
    /// interpolated smoothly.
    case llama3(factor: Float, lowFrequencyFactor: Float, highFrequencyFactor: Float, originalContext: Float)

    func apply(_ inverseFrequencies: [Float]) -> [Float] {
        switch self {
        case .linear(let factor):
            return inverseFrequencies.map { $0 / factor }
        case .llama3(let factor, let low, let high, let context):
            let lowWavelength = context / low, highWavelength = context / high
            return inverseFrequencies.map { frequency in
                let wavelength = 2 * Float.pi / frequency
                if wavelength < highWavelength { return frequency }
                if wavelength > lowWavelength { return frequency / factor }
                let smooth = (context / wavelength - low) / (high - low)
                return (1 - smooth) * frequency / factor + smooth * frequency
            }
        }
    }
}

/// Rotary position embedding in the "rotate half" layout of transformers' Llama
/// (`apply_rotary_pos_emb`): within each head, dimension i pairs with i + D/2.
///
/// GGUF checkpoints store Q/K rows interleaved; the loader undoes that permutation, so one
/// kernel serves both formats.
public struct RotaryEmbedding: Sendable {
    public let headDimension: Int
    /// The first `rotaryDimension` values of each head rotate (GPT-NeoX's partial rotary: i pairs
    /// with i + R/2 below R); the rest pass through. Equal to `headDimension` for Llama.
    public let rotaryDimension: Int
    public let base: Float
    /// 1 / base^(2i/R), i < R/2, computed in Float as transformers does.
    let inverseFrequencies: [Float]

    public init(headDimension: Int, base: Float, rotaryDimension: Int? = nil, scaling: RotaryFrequencyScaling? = nil) {
        let rotated = rotaryDimension ?? headDimension
        precondition(rotated % 2 == 0 && rotated > 0 && rotated <= headDimension,
                     "rotary dimension \(rotated) must be even and within the head's \(headDimension)")
        self.headDimension = headDimension
        self.rotaryDimension = rotated
        self.base = base
        let plain = (0..<(rotated / 2)).map { i in
            1 / powf(base, Float(2 * i) / Float(rotated))
        }
        inverseFrequencies = scaling?.apply(plain) ?? plain
    }

    /// cos and sin tables (T, R/2) for absolute `positions`.
    func tables(positions: [Int]) -> (cos: [Float], sin: [Float]) {
        let half = rotaryDimension / 2
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
        let d = headDimension, half = rotaryDimension / 2
        let t = positions.count
        precondition(x.shape.count == 3 && x.shape[1] == t && x.shape[2] % d == 0,
                     "rotary expects (B, \(t), H·\(d)), got \(x.shape)")
        let heads = x.shape[2] / d
        let rows = x.shape[0] * t
        let (cosines, sines) = tables(positions: positions)
        let passes = rotaryDimension < d
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
                    if passes {
                        for i in (2 * half)..<d { output[base + i] = input[base + i] }
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
