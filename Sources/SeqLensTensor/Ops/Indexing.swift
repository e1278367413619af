// Ops that move values without arithmetic: gathers, column slices, concatenation.

/// Rows of a constant table (token or position embeddings): (V, C) gathered to (ids.count, C).
/// Not differentiable: the table is a weight; attribution differentiates the gathered result.
public func gatherRows(_ table: Tensor, _ ids: [Int]) -> Tensor {
    let c = table.shape[1]
    var out = [Float](repeating: 0, count: ids.count * c)
    table.scalars.withUnsafeBufferPointer { w in
        out.withUnsafeMutableBufferPointer { o in
            for (row, id) in ids.enumerated() {
                precondition(id >= 0 && id < table.shape[0], "row \(id) outside table of \(table.shape[0])")
                (o.baseAddress! + row * c).update(from: w.baseAddress! + id * c, count: c)
            }
        }
    }
    return Tensor(shape: [ids.count, c], scalars: out)
}

/// Columns `range` of the last dimension: (..., N) -> (..., range.count). Splits fused QKV.
public func columns(_ x: Variable, _ range: Range<Int>) -> Variable {
    let n = x.shape.last!, w = range.count
    let rows = x.value.count / n
    var out = [Float](repeating: 0, count: rows * w)
    x.value.scalars.withUnsafeBufferPointer { xs in
        out.withUnsafeMutableBufferPointer { o in
            for r in 0..<rows { (o.baseAddress! + r * w).update(from: xs.baseAddress! + r * n + range.lowerBound, count: w) }
        }
    }
    let inShape = x.shape
    return Tape.record(Tensor(shape: Array(x.shape.dropLast()) + [w], scalars: out), from: [x], preservesRows: x.shape.count >= 3) { cotangent in
        let cotRows = cotangent.count / w
        var d = [Float](repeating: 0, count: cotRows * n)
        cotangent.scalars.withUnsafeBufferPointer { c in
            d.withUnsafeMutableBufferPointer { dx in
                for r in 0..<cotRows { (dx.baseAddress! + r * n + range.lowerBound).update(from: c.baseAddress! + r * w, count: w) }
            }
        }
        return [Tensor(shape: [cotangent.shape[0]] + inShape, scalars: d)]
    }
}

/// Rows `indices` of x viewed as (R, C) with C the last dimension: -> (indices.count, C).
/// Picks the positions whose logits are needed.
public func selectRows(_ x: Variable, _ indices: [Int]) -> Variable {
    let c = x.shape.last!, rows = x.value.count / c
    var out = [Float](repeating: 0, count: indices.count * c)
    x.value.scalars.withUnsafeBufferPointer { xs in
        out.withUnsafeMutableBufferPointer { o in
            for (i, r) in indices.enumerated() {
                precondition(r >= 0 && r < rows, "row \(r) outside \(rows)")
                (o.baseAddress! + i * c).update(from: xs.baseAddress! + r * c, count: c)
            }
        }
    }
    let inShape = x.shape, inCount = x.value.count
    return Tape.record(Tensor(shape: [indices.count, c], scalars: out), from: [x]) { cotangent in
        let k = cotangent.shape[0]
        var d = [Float](repeating: 0, count: k * inCount)
        cotangent.scalars.withUnsafeBufferPointer { cs in
            d.withUnsafeMutableBufferPointer { dx in
                for slice in 0..<k {
                    for (i, r) in indices.enumerated() {
                        let src = cs.baseAddress! + (slice * indices.count + i) * c
                        let dst = dx.baseAddress! + slice * inCount + r * c
                        for j in 0..<c { dst[j] += src[j] }
                    }
                }
            }
        }
        return [Tensor(shape: [k] + inShape, scalars: d)]
    }
}

/// Same values, new shape of equal count.
public func reshape(_ x: Variable, _ shape: [Int]) -> Variable {
    let inShape = x.shape
    // Rows stay rows while the (B, T) axes in front stay.
    let keepsRows = inShape.count >= 2 && shape.count >= 2 && inShape.prefix(2) == shape.prefix(2)
    return Tape.record(x.value.reshaped(shape), from: [x], preservesRows: keepsRows) { cotangent in
        [cotangent.reshaped([cotangent.shape[0]] + inShape)]
    }
}

/// Positions `range` of (B, T, C): -> (B, range.count, C). Splits a joined source and target;
/// row support moves with the rows.
public func positions(_ x: Variable, _ range: Range<Int>) -> Variable {
    let b = x.shape[0], t = x.shape[1], c = x.shape[2], n = range.count
    var out = [Float](repeating: 0, count: b * n * c)
    x.value.scalars.withUnsafeBufferPointer { xs in
        out.withUnsafeMutableBufferPointer { o in
            for batch in 0..<b {
                (o.baseAddress! + batch * n * c).update(from: xs.baseAddress! + (batch * t + range.lowerBound) * c, count: n * c)
            }
        }
    }
    let inShape = x.shape
    return Tape.record(Tensor(shape: [b, n, c], scalars: out), from: [x],
                       rowDependence: .shifted(by: -range.lowerBound, inputPositions: t)) { cotangent, _ in
        let k = cotangent.shape[0]
        var d = [Float](repeating: 0, count: k * b * t * c)
        cotangent.scalars.withUnsafeBufferPointer { cs in
            d.withUnsafeMutableBufferPointer { dx in
                for slice in 0..<k {
                    for batch in 0..<b {
                        (dx.baseAddress! + ((slice * b + batch) * t + range.lowerBound) * c)
                            .update(from: cs.baseAddress! + (slice * b + batch) * n * c, count: n * c)
                    }
                }
            }
        }
        return [Tensor(shape: [k] + inShape, scalars: d)]
    }
}

/// (B, T, C) placed at positions offset..<offset + T of a (B, length, C) value, zeros elsewhere;
/// row support moves with the rows.
public func placed(_ x: Variable, at offset: Int, length: Int) -> Variable {
    let b = x.shape[0], t = x.shape[1], c = x.shape[2]
    precondition(offset >= 0 && offset + t <= length, "positions \(offset)..<\(offset + t) outside \(length)")
    var out = [Float](repeating: 0, count: b * length * c)
    x.value.scalars.withUnsafeBufferPointer { xs in
        out.withUnsafeMutableBufferPointer { o in
            for batch in 0..<b {
                (o.baseAddress! + (batch * length + offset) * c).update(from: xs.baseAddress! + batch * t * c, count: t * c)
            }
        }
    }
    let inShape = x.shape
    return Tape.record(Tensor(shape: [b, length, c], scalars: out), from: [x],
                       rowDependence: .shifted(by: offset, inputPositions: t)) { cotangent, _ in
        let k = cotangent.shape[0]
        var d = [Float](repeating: 0, count: k * b * t * c)
        cotangent.scalars.withUnsafeBufferPointer { cs in
            d.withUnsafeMutableBufferPointer { dx in
                for slice in 0..<k {
                    for batch in 0..<b {
                        (dx.baseAddress! + (slice * b + batch) * t * c)
                            .update(from: cs.baseAddress! + ((slice * b + batch) * length + offset) * c, count: t * c)
                    }
                }
            }
        }
        return [Tensor(shape: [k] + inShape, scalars: d)]
    }
}
