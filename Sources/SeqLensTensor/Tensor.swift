/// A dense row-major Float32 tensor with value semantics.
///
/// Storage is a Swift array, so copies are copy-on-write; kernels reach the memory through
/// `withUnsafeBufferPointer` to stay bounds-check free in hot loops.
public struct Tensor: Sendable, Equatable {
    public private(set) var shape: [Int]
    public var scalars: [Float]

    /// - Precondition: `scalars.count` equals the product of `shape`.
    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(shape.reduce(1, *) == scalars.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, scalars: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    public init(repeating value: Float, shape: [Int]) {
        self.init(shape: shape, scalars: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    public var count: Int { scalars.count }
    public var rank: Int { shape.count }

    /// The same scalars viewed with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, scalars: scalars)
    }

    /// Row `index` along the first dimension, as a tensor of the remaining shape.
    public func slice(_ index: Int) -> Tensor {
        precondition(rank >= 1 && index >= 0 && index < shape[0], "slice \(index) out of \(shape)")
        let inner = Array(shape.dropFirst())
        let size = inner.reduce(1, *)
        return Tensor(shape: inner, scalars: Array(scalars[(index * size)..<((index + 1) * size)]))
    }

    /// Stacks equal-shaped tensors along a new leading dimension.
    public static func stacked(_ parts: [Tensor]) -> Tensor {
        precondition(!parts.isEmpty, "stacking nothing")
        let inner = parts[0].shape
        var scalars = [Float]()
        scalars.reserveCapacity(parts.count * parts[0].count)
        for part in parts {
            precondition(part.shape == inner, "stacking \(part.shape) with \(inner)")
            scalars.append(contentsOf: part.scalars)
        }
        return Tensor(shape: [parts.count] + inner, scalars: scalars)
    }

    /// Adds `other` elementwise, in place.
    public mutating func add(_ other: Tensor) {
        precondition(shape == other.shape, "adding \(other.shape) to \(shape)")
        scalars.withUnsafeMutableBufferPointer { r in
            other.scalars.withUnsafeBufferPointer { b in
                for i in 0..<r.count { r[i] += b[i] }
            }
        }
    }

    /// Elementwise sum, for accumulating cotangents.
    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
        precondition(lhs.shape == rhs.shape, "adding \(lhs.shape) and \(rhs.shape)")
        var result = lhs
        result.scalars.withUnsafeMutableBufferPointer { r in
            rhs.scalars.withUnsafeBufferPointer { b in
                for i in 0..<r.count { r[i] += b[i] }
            }
        }
        return result
    }
}
