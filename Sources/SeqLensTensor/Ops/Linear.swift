import Foundation

/// A constant affine map y = x·W (+ b) over the last dimension.
///
/// Weights keep the checkpoint's layout: `[out, in]` as in `nn.Linear` (`transposed == true`)
/// or `[in, out]` as in GPT-2's `Conv1D`; BLAS reads either without a copy.
public struct Linear: Sendable {
    public let weight: Tensor
    public let bias: Tensor?
    /// True when `weight` is stored `[out, in]`.
    public let transposed: Bool
    /// The same `[out, in]` weights in the checkpoint's compact encoding, when it has one: one-row
    /// products (generation) read these instead of `weight`.
    public let packed: PackedMatrix?

    public init(weight: Tensor, bias: Tensor?, transposed: Bool, packed: PackedMatrix? = nil) {
        precondition(weight.rank == 2, "linear weight must be a matrix, got \(weight.shape)")
        self.weight = weight
        self.bias = bias
        self.transposed = transposed
        self.packed = packed
        if let bias { precondition(bias.count == outputSize, "bias \(bias.shape) for \(weight.shape)") }
        if let packed {
            precondition(transposed && packed.rows == weight.shape[0] && packed.columns == weight.shape[1],
                         "packed \(packed.rows)x\(packed.columns) weights for \(weight.shape) (transposed: \(transposed))")
        }
    }

    public var inputSize: Int { transposed ? weight.shape[1] : weight.shape[0] }
    public var outputSize: Int { transposed ? weight.shape[0] : weight.shape[1] }

    /// x: (..., in) -> (..., out)
    public func callAsFunction(_ x: Variable) -> Variable {
        let inSize = inputSize, outSize = outputSize
        let weight = self.weight, transposed = self.transposed, packed = self.packed, inShape = x.shape
        precondition(x.shape.last == inSize, "linear expects last dim \(inSize), got \(x.shape)")
        let rows = x.value.count / inSize
        var out = [Float](repeating: 0, count: rows * outSize)
        if let bias {
            out.withUnsafeMutableBufferPointer { o in
                bias.scalars.withUnsafeBufferPointer { b in
                    for r in 0..<rows { (o.baseAddress! + r * outSize).update(from: b.baseAddress!, count: outSize) }
                }
            }
        }
        x.value.scalars.withUnsafeBufferPointer { xs in
            weight.scalars.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { o in
                    if rows == 1, let packed {
                        packed.multiply(xs.baseAddress!, into: o.baseAddress!, accumulate: bias != nil)
                    } else if rows == 1 {
                        // y = W x for [out, in] storage, Wᵀ x for [in, out].
                        BLAS.gemv(transpose: !transposed, rows: weight.shape[0], columns: weight.shape[1],
                                  a: w.baseAddress!, lda: weight.shape[1], x: xs.baseAddress!,
                                  beta: bias == nil ? 0 : 1, y: o.baseAddress!)
                    } else {
                        BLAS.gemm(transposeA: false, transposeB: transposed, m: rows, n: outSize, k: inSize,
                                  a: xs.baseAddress!, lda: inSize, b: w.baseAddress!, ldb: transposed ? inSize : outSize,
                                  beta: bias == nil ? 0 : 1, c: o.baseAddress!, ldc: outSize)
                    }
                }
            }
        }
        let outShape = Array(x.shape.dropLast()) + [outSize]
        return Tape.record(Tensor(shape: outShape, scalars: out), from: [x], preservesRows: true) { cotangent, support in
            let slices = cotangent.shape[0]
            let dx = [Float](unsafeUninitializedCapacity: slices * rows * inSize) { d, initialized in
                initialized = slices * rows * inSize
                cotangent.scalars.withUnsafeBufferPointer { dy in
                    weight.scalars.withUnsafeBufferPointer { w in
                        // dX = dY·Wᵀ for every active row of every slice: one GEMM however many cotangents.
                        func product(_ rows: Int, _ from: UnsafePointer<Float>, _ to: UnsafeMutablePointer<Float>) {
                            BLAS.gemm(transposeA: false, transposeB: !transposed, m: rows, n: inSize, k: outSize,
                                      a: from, lda: outSize, b: w.baseAddress!, ldb: transposed ? inSize : outSize,
                                      c: to, ldc: inSize)
                        }
                        guard let support, support.applies(to: inShape, slices: slices) else {
                            product(slices * rows, dy.baseAddress!, d.baseAddress!)
                            return
                        }
                        // Gather the rows that can be nonzero, multiply once into the front of
                        // dX, then spread the rows out to their places, last first (a row only
                        // moves towards the back), zeroing the rest.
                        let b = inShape[0], t = inShape[1]
                        let blocks = (0..<(slices * b)).map { support.rows($0 / b) }
                        let active = blocks.reduce(0) { $0 + $1.count }
                        let gathered = UnsafeMutablePointer<Float>.allocate(capacity: active * outSize)
                        defer { gathered.deallocate() }
                        var row = 0
                        for (block, rows) in blocks.enumerated() where !rows.isEmpty {
                            let source = dy.baseAddress! + (block * t + rows.lowerBound) * outSize
                            (gathered + row * outSize).update(from: source, count: rows.count * outSize)
                            row += rows.count
                        }
                        let d = d.baseAddress!
                        product(active, gathered, d)
                        for (block, rows) in blocks.enumerated().reversed() {
                            row -= rows.count
                            let target = d + block * t * inSize
                            memmove(target + rows.lowerBound * inSize, d + row * inSize, rows.count * inSize * MemoryLayout<Float>.stride)
                            target.update(repeating: 0, count: rows.lowerBound * inSize)
                            (target + rows.upperBound * inSize).update(repeating: 0, count: (t - rows.upperBound) * inSize)
                        }
                    }
                }
            }
            return [Tensor(shape: [slices] + inShape, scalars: dx)]
        }
    }
}
