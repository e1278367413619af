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
    let shape = x.shape
    return Tape.record(Tensor(shape: x.shape, scalars: out), from: [x], preservesRows: true) { cotangent, support in
        let rows = support?.applies(to: shape, slices: cotangent.shape[0]) == true ? support : nil
        return [normalizationBackward(consume cotangent, normalized: normalized, reciprocalStd: reciprocalStd,
                                      gamma: gamma, width: c, centred: true, support: rows)]
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
    let shape = x.shape
    return Tape.record(Tensor(shape: x.shape, scalars: out), from: [x], preservesRows: true) { cotangent, support in
        let rows = support?.applies(to: shape, slices: cotangent.shape[0]) == true ? support : nil
        return [normalizationBackward(consume cotangent, normalized: normalized, reciprocalStd: reciprocalRMS,
                                      gamma: gamma, width: c, centred: false, support: rows)]
    }
}

/// dx = r · (dx̂ − [mean(dx̂)] − x̂ · mean(dx̂ · x̂)) with dx̂ = dy · gamma; the bracketed term only
/// for the centred (layer) norm. In place: each row is read whole before it is written. Rows
/// outside a slice's support are zero and stay so. Four rows run side by side: each row's sums
/// keep their order (the same bits as one row at a time) while the four independent chains
/// hide the adds' latency.
private func normalizationBackward(
    _ cotangent: consuming Tensor, normalized: [Float], reciprocalStd: [Float], gamma: Tensor, width c: Int,
    centred: Bool, support: RowSupport?
) -> Tensor {
    let rows = reciprocalStd.count
    var result = consume cotangent
    let k = result.count / normalized.count
    result.scalars.withUnsafeMutableBufferPointer { d in
        normalized.withUnsafeBufferPointer { xh in
            gamma.scalars.withUnsafeBufferPointer { g in
                let xh = xh.baseAddress!, g = g.baseAddress!, d = d.baseAddress!
                // The rows of each slice that take part, in order (all without a support).
                var active: [Int] = []
                active.reserveCapacity(k * rows)
                for slice in 0..<k {
                    let positions = support?.rows(slice)
                    for r in 0..<rows where positions?.contains(r % support!.positions) ?? true {
                        active.append(slice * rows + r)
                    }
                }
                var next = 0
                while next < active.count {
                    let group = min(4, active.count - next)
                    // Lanes past the group's end repeat its last row and are not written.
                    let lanes = (0..<4).map { active[next + min($0, group - 1)] }
                    let bases = SIMD4<Int>(lanes[0] * c, lanes[1] * c, lanes[2] * c, lanes[3] * c)
                    let normalizedBases = SIMD4<Int>((lanes[0] % rows) * c, (lanes[1] % rows) * c,
                                                     (lanes[2] % rows) * c, (lanes[3] % rows) * c)
                    var sumD = SIMD4<Float>(repeating: 0), sumDX = SIMD4<Float>(repeating: 0)
                    for i in 0..<c {
                        let v = SIMD4<Float>(d[bases[0] + i], d[bases[1] + i], d[bases[2] + i], d[bases[3] + i]) * g[i]
                        let x = SIMD4<Float>(xh[normalizedBases[0] + i], xh[normalizedBases[1] + i],
                                             xh[normalizedBases[2] + i], xh[normalizedBases[3] + i])
                        sumD += v
                        sumDX += v * x
                    }
                    for lane in 0..<group {
                        let base = bases[lane], xBase = normalizedBases[lane]
                        let meanD = centred ? sumD[lane] / Float(c) : 0
                        let meanDX = sumDX[lane] / Float(c)
                        let rstd = reciprocalStd[lanes[lane] % rows]
                        for i in 0..<c {
                            d[base + i] = rstd * (d[base + i] * g[i] - meanD - xh[xBase + i] * meanDX)
                        }
                    }
                    next += group
                }
            }
        }
    }
    return result
}
