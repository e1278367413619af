/// A dense row-major Float32 tensor for attribution scores. NaN marks positions that a step
/// cannot attribute (e.g. target tokens after the generated one), exactly as in Inseq.
public struct AttributionTensor: Sendable, CustomStringConvertible {
    /// Sizes of the dimensions, outermost first.
    public var shape: [Int]
    /// `shape.reduce(1, *)` values in row-major (C) order.
    public var values: [Float]

    /// Creates a tensor; `values.count` must equal the product of `shape`.
    public init(shape: [Int], values: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self.shape = shape
        self.values = values
    }

    /// A tensor of `shape` filled with `value`.
    public init(shape: [Int], repeating value: Float) {
        self.init(shape: shape, values: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    /// Number of dimensions.
    public var rank: Int { shape.count }

    /// Entries `range` of the leading axis (source or target rows of a joined layout).
    public func rows(_ range: Range<Int>) -> AttributionTensor {
        let width = shape.dropFirst().reduce(1, *)
        return AttributionTensor(shape: [range.count] + shape.dropFirst(),
                                 values: Array(values[(range.lowerBound * width)..<(range.upperBound * width)]))
    }
    /// Number of elements.
    public var count: Int { values.count }

    /// Row-major strides, in elements.
    public var strides: [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var stride = 1
        for axis in shape.indices.reversed() {
            strides[axis] = stride
            stride *= shape[axis]
        }
        return strides
    }

    /// The element at `indices` (one per dimension).
    public subscript(_ indices: Int...) -> Float {
        get { values[flatIndex(indices)] }
        set { values[flatIndex(indices)] = newValue }
    }

    private func flatIndex(_ indices: [Int]) -> Int {
        precondition(indices.count == shape.count, "\(indices.count) indices for rank \(shape.count)")
        var flat = 0
        for (axis, index) in indices.enumerated() {
            precondition(index >= 0 && index < shape[axis], "index \(index) out of range for axis \(axis)")
            flat = flat * shape[axis] + index
        }
        return flat
    }

    /// Equal shapes and bit-identical values, with any NaN equal to any NaN.
    public func isIdentical(to other: AttributionTensor) -> Bool {
        guard shape == other.shape else { return false }
        for index in values.indices where values[index] != other.values[index] {
            if !(values[index].isNaN && other.values[index].isNaN) { return false }
        }
        return true
    }

    /// Largest |a - b| over positions where both are numbers; nil when shapes or NaN positions differ.
    public func maxAbsoluteDifference(to other: AttributionTensor) -> Float? {
        guard shape == other.shape else { return nil }
        var largest: Float = 0
        for index in values.indices {
            let a = values[index]
            let b = other.values[index]
            if a.isNaN != b.isNaN { return nil }
            if !a.isNaN { largest = max(largest, abs(a - b)) }
        }
        return largest
    }

    /// Largest finite |value| (NaN ignored, as torch.nan_to_num would make it 0).
    public var maxAbsoluteValue: Float {
        values.reduce(0) { $1.isNaN ? $0 : max($0, abs($1)) }
    }

    public var description: String { "AttributionTensor(shape: \(shape))" }
}

extension AttributionTensor: Equatable {
    /// NaN-aware equality (see `isIdentical(to:)`).
    public static func == (lhs: AttributionTensor, rhs: AttributionTensor) -> Bool { lhs.isIdentical(to: rhs) }
}

extension AttributionTensor {
    /// Moves `axis` to the front: the result's rows are the slices along `axis`.
    func movingAxisToFront(_ axis: Int) -> AttributionTensor {
        if axis == 0 { return self }
        let outer = shape[..<axis].reduce(1, *)
        let size = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *)
        var out = [Float](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                for o in 0..<outer {
                    for s in 0..<size {
                        let from = (o * size + s) * inner
                        let to = (s * outer + o) * inner
                        for i in 0..<inner { target[to + i] = source[from + i] }
                    }
                }
            }
        }
        var newShape = shape
        newShape.remove(at: axis)
        newShape.insert(size, at: 0)
        return AttributionTensor(shape: newShape, values: out)
    }

    /// Inverse of `movingAxisToFront(axis)`.
    func movingFrontAxis(to axis: Int) -> AttributionTensor {
        if axis == 0 { return self }
        var newShape = Array(shape.dropFirst())
        newShape.insert(shape[0], at: axis)
        let outer = newShape[..<axis].reduce(1, *)
        let size = shape[0]
        let inner = newShape[(axis + 1)...].reduce(1, *)
        var out = [Float](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                for o in 0..<outer {
                    for s in 0..<size {
                        let to = (o * size + s) * inner
                        let from = (s * outer + o) * inner
                        for i in 0..<inner { target[to + i] = source[from + i] }
                    }
                }
            }
        }
        return AttributionTensor(shape: newShape, values: out)
    }
}
