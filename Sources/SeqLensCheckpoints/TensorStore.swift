/// Shape and element type of one tensor in a checkpoint.
public struct TensorInfo: Hashable, Sendable {
    /// The tensor's name as stored in the file (e.g. `blk.0.attn_q.weight`).
    public let name: String
    /// Row-major shape, outermost dimension first (the PyTorch / Hugging Face order).
    /// GGUF files store dimensions innermost first; they are reversed here.
    public let shape: [Int]
    /// How the elements are stored.
    public let dtype: TensorDType

    public init(name: String, shape: [Int], dtype: TensorDType) {
        self.name = name
        self.shape = shape
        self.dtype = dtype
    }

    /// Number of elements (the product of `shape`; 1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A read-only collection of named tensors whose elements can be read as Float32.
public protocol TensorStore: Sendable {
    /// Every tensor name, in file order.
    var tensorNames: [String] { get }
    /// Shape and dtype of the named tensor, or nil when there is none.
    func info(_ name: String) -> TensorInfo?
    /// The tensor's elements converted (or dequantized) to Float32, row-major,
    /// exactly `info(name)!.elementCount` values.
    /// - Throws: `CheckpointError.tensorNotFound`, `.unsupportedDType` / `.unsupportedQuantization`.
    func floats(_ name: String) throws -> [Float]
    /// The same values written into `destination`, which must hold exactly the element count.
    func floats(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws
}

extension TensorStore {
    public func floats(_ name: String) throws -> [Float] {
        // A missing tensor, or a dtype the store cannot convert: the store's own check throws the
        // error naming its file, before anything is allocated (an unconvertible tensor's shape is
        // not bounded by its bytes, so it may claim any size).
        guard let info = info(name), info.dtype.blockSize != nil else {
            try floats(name, into: UnsafeMutableBufferPointer(start: nil, count: 0))
            return []
        }
        let count = info.elementCount
        return try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            try floats(name, into: buffer)
            initialized = count
        }
    }
}
