import Foundation

/// Numerically stable softmax of each row of `values` (length `width`), in place.
@inline(__always)
func softmaxRow(_ row: UnsafeMutablePointer<Float>, width: Int) {
    var maximum = -Float.infinity
    for i in 0..<width { maximum = max(maximum, row[i]) }
    if maximum == -.infinity {  // a fully masked row attends to nothing
        for i in 0..<width { row[i] = 0 }
        return
    }
    // Double sum: over a vocabulary, Float would drop the small tail terms.
    var sum: Double = 0
    for i in 0..<width {
        let e = expf(row[i] - maximum)
        row[i] = e
        sum += Double(e)
    }
    let inverse = Float(1 / sum)
    for i in 0..<width { row[i] *= inverse }
}

/// Softmax over the last dimension.   x: (..., N)
public func softmax(_ x: Variable) -> Variable {
    let n = x.shape.last!
    var out = x.value.scalars
    out.withUnsafeMutableBufferPointer { o in
        for r in 0..<(o.count / n) { softmaxRow(o.baseAddress! + r * n, width: n) }
    }
    let probabilities = out
    return Tape.record(Tensor(shape: x.shape, scalars: out), from: [x], preservesRows: x.shape.count >= 3) { cotangent in
        // dx = p ⊙ (dy − Σ p·dy), per row.
        let size = probabilities.count
        let d = forEachSlice(cotangent, sliceCount: size) { dy, dx in
            probabilities.withUnsafeBufferPointer { p in
                for r in 0..<(size / n) {
                    let base = r * n
                    var dot: Float = 0
                    for i in 0..<n { dot += p[base + i] * dy[base + i] }
                    for i in 0..<n { dx[base + i] = p[base + i] * (dy[base + i] - dot) }
                }
            }
        }
        return [Tensor(shape: cotangent.shape, scalars: d)]
    }
}

/// Log-softmax over the last dimension.   x: (..., N)
public func logSoftmax(_ x: Variable) -> Variable {
    let n = x.shape.last!
    var out = x.value.scalars
    var probabilities = out
    out.withUnsafeMutableBufferPointer { o in
        probabilities.withUnsafeMutableBufferPointer { p in
            for r in 0..<(o.count / n) {
                let row = o.baseAddress! + r * n
                var maximum = -Float.infinity
                for i in 0..<n { maximum = max(maximum, row[i]) }
                var sum: Double = 0
                for i in 0..<n { sum += Double(expf(row[i] - maximum)) }
                let logSum = maximum + Float(log(sum))
                for i in 0..<n {
                    row[i] -= logSum
                    p[r * n + i] = expf(row[i])
                }
            }
        }
    }
    let saved = probabilities
    return Tape.record(Tensor(shape: x.shape, scalars: out), from: [x], preservesRows: x.shape.count >= 3) { cotangent in
        // dx = dy − p · Σ dy, per row.
        let size = saved.count
        let d = forEachSlice(cotangent, sliceCount: size) { dy, dx in
            saved.withUnsafeBufferPointer { p in
                for r in 0..<(size / n) {
                    let base = r * n
                    var total: Float = 0
                    for i in 0..<n { total += dy[base + i] }
                    for i in 0..<n { dx[base + i] = dy[base + i] - p[base + i] * total }
                }
            }
        }
        return [Tensor(shape: cotangent.shape, scalars: d)]
    }
}
