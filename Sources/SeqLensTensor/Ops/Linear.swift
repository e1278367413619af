/// A constant affine map y = x·W (+ b) over the last dimension.
///
/// Weights keep the checkpoint's layout: `[out, in]` as in `nn.Linear` (`transposed == true`)
/// or `[in, out]` as in GPT-2's `Conv1D`; BLAS reads either without a copy.
public struct Linear: Sendable {
    public let weight: Tensor
    public let bias: Tensor?
    /// True when `weight` is stored `[out, in]`.
    public let transposed: Bool

    public init(weight: Tensor, bias: Tensor?, transposed: Bool) {
        precondition(weight.rank == 2, "linear weight must be a matrix, got \(weight.shape)")
        self.weight = weight
        self.bias = bias
        self.transposed = transposed
        if let bias { precondition(bias.count == outputSize, "bias \(bias.shape) for \(weight.shape)") }
    }

    public var inputSize: Int { transposed ? weight.shape[1] : weight.shape[0] }
    public var outputSize: Int { transposed ? weight.shape[0] : weight.shape[1] }

    /// x: (..., in) -> (..., out)
    public func callAsFunction(_ x: Variable) -> Variable {
        let inSize = inputSize, outSize = outputSize
        let weight = self.weight, transposed = self.transposed, inShape = x.shape
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
                    BLAS.gemm(transposeA: false, transposeB: transposed, m: rows, n: outSize, k: inSize,
                              a: xs.baseAddress!, lda: inSize, b: w.baseAddress!, ldb: transposed ? inSize : outSize,
                              beta: bias == nil ? 0 : 1, c: o.baseAddress!, ldc: outSize)
                }
            }
        }
        let outShape = Array(x.shape.dropLast()) + [outSize]
        return Tape.record(Tensor(shape: outShape, scalars: out), from: [x]) { cotangent in
            // dX = dY·Wᵀ for all K·rows at once: one GEMM however many cotangents.
            let cotRows = cotangent.count / outSize
            var dx = [Float](repeating: 0, count: cotRows * inSize)
            cotangent.scalars.withUnsafeBufferPointer { dy in
                weight.scalars.withUnsafeBufferPointer { w in
                    dx.withUnsafeMutableBufferPointer { d in
                        BLAS.gemm(transposeA: false, transposeB: !transposed, m: cotRows, n: inSize, k: outSize,
                                  a: dy.baseAddress!, lda: outSize, b: w.baseAddress!, ldb: transposed ? inSize : outSize,
                                  c: d.baseAddress!, ldc: inSize)
                    }
                }
            }
            return [Tensor(shape: [cotangent.shape[0]] + inShape, scalars: dx)]
        }
    }
}
