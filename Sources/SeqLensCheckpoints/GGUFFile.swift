/// A memory-mapped GGUF file (versions 2 and 3): metadata, tensor directory and tensor data.
///
/// Layout (ggml/docs/gguf.md): magic "GGUF", u32 version, u64 tensor count, u64 metadata count,
/// the metadata key/values, the tensor infos, padding to `general.alignment`, then the data
/// section. Every count, length and offset is checked against the file size while parsing, so a
/// corrupt file throws a `CheckpointError` instead of reading out of bounds.
public struct GGUFFile: TensorStore {
    /// The mapped file.
    public let file: MappedFile
    /// GGUF format version (2 or 3).
    public let version: UInt32
    /// All metadata key/values.
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Alignment of tensor data (`general.alignment`, default 32).
    public let alignment: Int
    /// Absolute file offset where the data section starts.
    public let dataOffset: Int
    /// Tensor names in file order.
    public let tensorNames: [String]
    private let tensors: [String: Entry]

    /// Where a tensor lives and how it is stored.
    struct Entry: Sendable {
        let info: TensorInfo
        let ggmlTypeID: UInt32
        /// Offset relative to the data section.
        let relativeOffset: Int
        /// Stored size in bytes; nil for a GGML type id unknown to this module.
        let byteCount: Int?
    }

    static let magic: [UInt8] = Array("GGUF".utf8)
    static let defaultAlignment = 32
    /// ggml's GGML_MAX_DIMS.
    static let maxDimensions = 4
    /// Deeper nesting of metadata arrays is refused (keeps recursion bounded on hostile input).
    static let maxArrayNesting = 8
    /// Elements all metadata arrays may hold together: 32 times the largest vocabulary in use
    /// (Gemma's 256K tokens, scores and types), and at most about 200 MB of values.
    static let maxMetadataElements = 1 << 23

    /// The file's path.
    public var path: String { file.path }

    /// Opens and parses the GGUF file at `path`.
    /// - Throws: `CheckpointError` for a missing, truncated, corrupt or unsupported file.
    public init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    /// Parses an already mapped GGUF file.
    public init(file: MappedFile) throws {
        self.file = file
        let path = file.path
        var cursor = ByteCursor(file: file, offset: 0)

        let found = try file.bytes(at: 0, count: min(4, file.size))
        guard found.count == 4, Array(found) == Self.magic else {
            throw CheckpointError.badMagic(path: path, format: "GGUF")
        }
        cursor.offset = 4
        version = try cursor.uint32()
        guard version == 2 || version == 3 else {
            throw CheckpointError.unsupportedGGUFVersion(path: path, version: version)
        }
        let tensorCount = try cursor.uint64()
        let metadataCount = try cursor.uint64()
        // Smallest possible entries: a tensor info is name length + n_dims + type + offset
        // (24 bytes); a key/value is key length + type + one byte of value (13 bytes).
        try Self.checkCount(tensorCount, what: "tensor count", minimumBytesEach: 24, cursor: cursor)
        try Self.checkCount(metadataCount, what: "metadata key/value count", minimumBytesEach: 13, cursor: cursor)

        var metadata: [String: GGUFValue] = [:]
        var elementBudget = Self.maxMetadataElements
        var keys: [String] = []
        keys.reserveCapacity(Int(metadataCount))
        for _ in 0..<metadataCount {
            let key = try Self.readString(&cursor, strict: true)
            let typeID = try cursor.uint32()
            let value = try Self.readValue(&cursor, typeID: typeID, key: key, depth: 0, elementBudget: &elementBudget)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw CheckpointError.duplicateName(path: path, name: key)
            }
            keys.append(key)
        }
        self.metadata = metadata
        metadataKeys = keys

        alignment = try Self.alignment(in: metadata, path: path)

        var rawInfos: [(name: String, dims: [Int], typeID: UInt32, offset: UInt64)] = []
        rawInfos.reserveCapacity(Int(tensorCount))
        for _ in 0..<tensorCount {
            let name = try Self.readString(&cursor, strict: true)
            let dimensionCount = try cursor.uint32()
            guard dimensionCount <= Self.maxDimensions else {
                throw CheckpointError.invalidShape(
                    path: path, tensor: name, shape: [],
                    reason: "\(dimensionCount) dimensions, GGUF allows at most \(Self.maxDimensions)")
            }
            var rawDims: [UInt64] = []
            for _ in 0..<dimensionCount { rawDims.append(try cursor.uint64()) }
            let dims = try Self.checkedDimensions(rawDims, tensor: name, path: path)
            let typeID = try cursor.uint32()
            let offset = try cursor.uint64()
            rawInfos.append((name, dims, typeID, offset))
        }
        dataOffset = Self.alignUp(cursor.offset, to: alignment)

        var tensors: [String: Entry] = [:]
        var names: [String] = []
        names.reserveCapacity(rawInfos.count)
        for raw in rawInfos {
            let entry = try Self.makeEntry(
                raw.name, dims: raw.dims, typeID: raw.typeID, offset: raw.offset,
                alignment: alignment, dataOffset: dataOffset, fileSize: file.size, path: path)
            guard tensors.updateValue(entry, forKey: raw.name) == nil else {
                throw CheckpointError.duplicateName(path: path, name: raw.name)
            }
            names.append(raw.name)
        }
        self.tensors = tensors
        tensorNames = names
    }

    public func info(_ name: String) -> TensorInfo? { tensors[name]?.info }

    /// The GGML type id the tensor is stored with.
    public func ggmlTypeID(of name: String) -> UInt32? { tensors[name]?.ggmlTypeID }

    /// The tensor's stored bytes (quantized blocks as in the file), valid while `file` lives.
    /// - Throws: `.tensorNotFound`; `.unsupportedQuantization` when its size is unknown.
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let entry = try entry(name)
        guard let byteCount = entry.byteCount else {
            throw CheckpointError.unsupportedQuantization(path: path, tensor: name, type: typeName(entry))
        }
        return try file.bytes(at: dataOffset + entry.relativeOffset, count: byteCount)
    }

    /// Dequantizes the tensor into `destination`, which must hold exactly its element count.
    /// - Throws: `.tensorNotFound`, `.unsupportedQuantization`.
    public func floats(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        let entry = try entry(name)
        let dtype = entry.info.dtype
        guard dtype.blockSize != nil, let byteCount = entry.byteCount else {
            throw CheckpointError.unsupportedQuantization(path: path, tensor: name, type: typeName(entry))
        }
        let count = entry.info.elementCount
        precondition(destination.count == count, "destination holds \(destination.count) floats, tensor has \(count)")
        let source = try file.bytes(at: dataOffset + entry.relativeOffset, count: byteCount)
        guard count > 0, let sourceBase = source.baseAddress, let destinationBase = destination.baseAddress else { return }
        Dequantization.convert(dtype, source: sourceBase, elementCount: count, into: destinationBase)
        file.dropPages(offset: dataOffset + entry.relativeOffset, count: byteCount)
    }

    private func entry(_ name: String) throws -> Entry {
        guard let entry = tensors[name] else { throw CheckpointError.tensorNotFound(path: path, name: name) }
        return entry
    }

    private func typeName(_ entry: Entry) -> String {
        "\(GGMLTypeTable.name(of: entry.ggmlTypeID)) (GGML type id \(entry.ggmlTypeID))"
    }
}
