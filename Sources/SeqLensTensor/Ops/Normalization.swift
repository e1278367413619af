import Foundation

// Normalisations over the last dimension (C). The forward saves x̂ and 1/σ per row, which is
// all the backward needs (llm.c's layernorm_backward, without the weight gradients).

/// Layer norm: (x − mean) / sqrt(var + eps) · gamma + beta.   x: (..., C)
public func layerNorm(_ x: Variable, gamma: Tensor, beta: Tensor?, epsilon: Float) -> Variable {
    let c = x.shape.last!
    precondition(gamma.count == c, "layer norm gamma \(gamma.shape) for width \(c)")
    let rows = x.value.count / c
    var normalized = [Float](repeating: 0, count: x.value.count)   // x̂
    var reciprocalStd = [Float](repeating: 0, count: rows)
    var out = [Float](repeating: 0, count: x.value.count)
    x.value.scalars.withUnsafeBufferPointer { xs in
        gamma.scalars.withUnsafeBufferPointer { g in
            normalized.withUnsafeMutableBufferPointer { xh in
                out.withUnsafeMutableBufferPointer { o in
                    for r in 0..<rows {
                        let row = xs.baseAddress! + r * c
                        var mean: Float = 0
                        for i in 0..<c { mean += row[i] }
                        mean /= Float(c)
                        var variance: Float = 0
                        for i in 0..<c { let d = row[i] - mean; variance += d * d }
                        variance /= Float(c)
                        let rstd = 1 / sqrtf(variance + epsilon)
                        reciprocalStd[r] = rstd
                        for i in 0..<c {
                            let n = (row[i] - mean) * rstd
                            xh[r * c + i] = n
                            o[r * c + i] = n * g[i]
                        }
                    }
                }
            }
        }
    }
    if let beta {
        out.withUnsafeMutableBufferPointer { o in
            beta.scalars.withUnsafeBufferPointer { b in
                for r in 0..<rows { for i in 0..<c { o[r * c + i] += b[i] } }
            }
        }
    }
    return Tape.record(Tensor(shape: x.shape, scalars: out), from: [x]) { cotangent in
        [normalizationBackward(cotangent, normalized: normalized, reciprocalStd: reciprocalStd,
                               gamma: gamma, width: c, centred: true)]
    }
}

/// RMS norm (Llama): x / sqrt(mean(x²) + eps) · gamma.   x: (..., C)
public func rmsNorm(_ x: Variable, gamma: Tensor, epsilon: Float) -> Variable {
    let c = x.shape.last!
    precondition(gamma.count == c, "RMS norm gamma \(gamma.shape) for width \(c)")
    let rows = x.value.count / c
    var normalized = [Float](repeating: 0, count: x.value.count)
    var reciprocalRMS = [Float](repeating: 0, count: rows)
    var out = [Float](repeating: 0, count: x.value.count)
    x.value.scalars.withUnsafeBufferPointer { xs in
        gamma.scalars.withUnsafeBufferPointer { g in
            normalized.withUnsafeMutableBufferPointer { xh in
                out.withUnsafeMutableBufferPointer { o in
                    for r in 0..<rows {
                        let row = xs.baseAddress! + r * c
                        var sumSquares: Float = 0
                        for i in 0..<c { sumSquares += row[i] * row[i] }
                        let rrms = 1 / sqrtf(sumSquares / Float(c) + epsilon)
                        reciprocalRMS[r] = rrms
                        for i in 0..<c {
                            let n = row[i] * rrms
                            xh[r * c + i] = n
                            o[r * c + i] = n * g[i]
                        }
                    }
                }
            }
        }
    }
    return Tape.record(Tensor(shape: x.shape, scalars: out), from: [x]) { cotangent in
        [normalizationBackward(cotangent, normalized: normalized, reciprocalStd: reciprocalRMS,
                               gamma: gamma, width: c, centred: false)]
    }
}

/// dx = r · (dx̂ − [mean(dx̂)] − x̂ · mean(dx̂ · x̂)) with dx̂ = dy · gamma; the bracketed term only
/// for the centred (layer) norm.
private func normalizationBackward(
    _ cotangent: Tensor, normalized: [Float], reciprocalStd: [Float], gamma: Tensor, width c: Int,
    centred: Bool
) -> Tensor {
    let rows = reciprocalStd.count
    let k = cotangent.count / normalized.count
    let dx = [Float](unsafeUninitializedCapacity: cotangent.count) { d, initialized in
        cotangent.scalars.withUnsafeBufferPointer { dy in
            normalized.withUnsafeBufferPointer { xh in
                gamma.scalars.withUnsafeBufferPointer { g in
                    let dy = dy.baseAddress!, xh = xh.baseAddress!, g = g.baseAddress!, d = d.baseAddress!
                    do {
                        for row in 0..<(k * rows) {
                            let r = row % rows, base = row * c
                            var meanD: Float = 0, meanDX: Float = 0
                            for i in 0..<c {
                                let v = dy[base + i] * g[i]
                                meanD += v
                                meanDX += v * xh[r * c + i]
                            }
                            meanD = centred ? meanD / Float(c) : 0
                            meanDX /= Float(c)
                            let rstd = reciprocalStd[r]
                            for i in 0..<c {
                                d[base + i] = rstd * (dy[base + i] * g[i] - meanD - xh[r * c + i] * meanDX)
                            }
                        }
                    }
                }
            }
        }
        initialized = cotangent.count
    }
    return Tensor(shape: cotangent.shape, scalars: dx)
}
