/// Inseq's aggregation functions (inseq/data/aggregation_functions.py), reducing one dimension.
/// NaN behaves as in torch: it propagates through sum, mean, prod, max, min and vnorm; absmax
/// picks by |nan_to_num(x)| (first maximum on ties) and returns the original value.
public enum AggregationFunction: String, Sendable, CaseIterable {
    case sum, mean, max, min, prod, absmax
    /// Euclidean (L2) vector norm, Inseq's "vnorm" with its default `vnorm_ord=2`.
    case vnorm

    /// Reduces `values[offset + k * stride]` for k in 0..<count.
    @inline(__always)
    func reduce(_ values: UnsafeBufferPointer<Float>, offset: Int, stride: Int, count: Int) -> Float {
        switch self {
        case .sum, .mean:
            var total: Double = 0
            for k in 0..<count { total += Double(values[offset + k * stride]) }
            return Float(self == .mean ? total / Double(count) : total)
        case .prod:
            var product: Double = 1
            for k in 0..<count { product *= Double(values[offset + k * stride]) }
            return Float(product)
        case .max, .min:
            var best = values[offset]
            for k in 0..<count {
                let value = values[offset + k * stride]
                if value.isNaN { return .nan }
                if self == .max ? value > best : value < best { best = value }
            }
            return best
        case .absmax:
            var bestIndex = 0
            var bestMagnitude: Float = -1
            for k in 0..<count {
                let magnitude = abs(Self.nanToNum(values[offset + k * stride]))
                if magnitude > bestMagnitude {
                    bestMagnitude = magnitude
                    bestIndex = k
                }
            }
            return values[offset + bestIndex * stride]
        case .vnorm:
            var total: Double = 0
            for k in 0..<count {
                let value = Double(values[offset + k * stride])
                total += value * value
            }
            return Float(total.squareRoot())
        }
    }

    /// torch.nan_to_num: NaN to 0, infinities to the largest finite values.
    static func nanToNum(_ value: Float) -> Float {
        if value.isNaN { return 0 }
        if value == .infinity { return .greatestFiniteMagnitude }
        if value == -.infinity { return -.greatestFiniteMagnitude }
        return value
    }
}

extension AttributionTensor {
    /// Reduces `axis` with `function`, dropping it (torch `fn(t, dim=axis)`).
    public func reduced(along axis: Int, with function: AggregationFunction) -> AttributionTensor {
        precondition(axis >= 0 && axis < rank, "axis \(axis) out of range for rank \(rank)")
        let outer = shape[..<axis].reduce(1, *)
        let size = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *)
        var newShape = shape
        newShape.remove(at: axis)
        var out = [Float](repeating: .nan, count: outer * inner)
        if size > 0 {
            values.withUnsafeBufferPointer { source in
                for o in 0..<outer {
                    for i in 0..<inner {
                        out[o * inner + i] = function.reduce(source, offset: o * size * inner + i, stride: inner, count: size)
                    }
                }
            }
        }
        return AttributionTensor(shape: newShape, values: out)
    }

    /// Keeps only `indices` along `axis` (torch index_select).
    func selecting(_ indices: [Int], along axis: Int) -> AttributionTensor {
        let outer = shape[..<axis].reduce(1, *)
        let size = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *)
        var out: [Float] = []
        out.reserveCapacity(outer * indices.count * inner)
        for o in 0..<outer {
            for index in indices {
                let base = (o * size + index) * inner
                out.append(contentsOf: values[base..<base + inner])
            }
        }
        var newShape = shape
        newShape[axis] = indices.count
        return AttributionTensor(shape: newShape, values: out)
    }
}
