import Foundation

/// Tensors from a `.safetensors` file, or from a folder holding `model.safetensors` or a sharded
/// `model.safetensors.index.json` with its shards. Files are memory-mapped; nothing is copied
/// until `floats` converts a tensor.
///
/// File layout: u64 little-endian header length N, N bytes of JSON
/// (`{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}`),
/// then the data section; offsets are relative to the data section.
public struct SafetensorsCheckpoint: TensorStore {
    /// The file or folder this checkpoint was opened from.
    public let path: String
    /// Tensor names: shard by shard (shard names sorted), in data-offset order within a file.
    public let tensorNames: [String]
    private let tensors: [String: Entry]

    struct Entry: Sendable {
        let info: TensorInfo
        /// The dtype name as written in the header (`F32`, `I64`, ...).
        let storedDType: String
        let file: MappedFile
        /// Absolute offset of the first byte in `file`.
        let offset: Int
        let byteCount: Int
    }

    static let indexFileName = "model.safetensors.index.json"
    static let singleFileName = "model.safetensors"

    /// Opens a `.safetensors` file or a checkpoint folder.
    /// - Throws: `CheckpointError` when files are missing, truncated or inconsistent.
    public init(path: String) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError.fileNotFound(path: path)
        }
        let files: [[Entry]]
        if isDirectory.boolValue {
            files = try Self.parseFolder(path)
        } else {
            files = [try Self.parseFile(MappedFile(path: path))]
        }
        var tensors: [String: Entry] = [:]
        var names: [String] = []
        for entry in files.joined() {
            guard tensors.updateValue(entry, forKey: entry.info.name) == nil else {
                throw CheckpointError.duplicateName(path: entry.file.path, name: entry.info.name)
            }
            names.append(entry.info.name)
        }
        self.tensors = tensors
        tensorNames = names
    }

    public func info(_ name: String) -> TensorInfo? { tensors[name]?.info }

    /// The path of the file (shard) that holds the tensor.
    public func filePath(of name: String) -> String? { tensors[name]?.file.path }

    /// The tensor's stored bytes, valid while this checkpoint lives.
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let entry = try entry(name)
        return try entry.file.bytes(at: entry.offset, count: entry.byteCount)
    }

    /// Converts the tensor into `destination`, which must hold exactly its element count.
    /// - Throws: `.tensorNotFound`, `.unsupportedDType` for dtypes other than F32, F16, BF16.
    public func floats(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        let entry = try entry(name)
        let dtype = entry.info.dtype
        guard dtype == .f32 || dtype == .f16 || dtype == .bf16 else {
            throw CheckpointError.unsupportedDType(path: entry.file.path, tensor: name, dtype: entry.storedDType)
        }
        let count = entry.info.elementCount
        precondition(destination.count == count, "destination holds \(destination.count) floats, tensor has \(count)")
        let source = try entry.file.bytes(at: entry.offset, count: entry.byteCount)
        guard count > 0, let sourceBase = source.baseAddress, let destinationBase = destination.baseAddress else { return }
        Dequantization.convert(dtype, source: sourceBase, elementCount: count, into: destinationBase)
        entry.file.dropPages(offset: entry.offset, count: entry.byteCount)
    }

    private func entry(_ name: String) throws -> Entry {
        guard let entry = tensors[name] else { throw CheckpointError.tensorNotFound(path: path, name: name) }
        return entry
    }
}

// MARK: - Parsing

extension SafetensorsCheckpoint {
    /// Element sizes of the safetensors dtypes (safetensors `Dtype::bitsize`); sub-byte types are
    /// absent and parse without a byte-count check.
    static let elementSizes: [String: Int] = [
        "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
        "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
        "I32": 4, "U32": 4, "F32": 4,
        "F64": 8, "I64": 8, "U64": 8, "C64": 8,
    ]

    static func dtype(named name: String) -> TensorDType {
        switch name {
        case "F32": .f32
        case "F16": .f16
        case "BF16": .bf16
        default: .unsupported(name)
        }
    }

    static func parseFolder(_ folder: String) throws -> [[Entry]] {
        let fileManager = FileManager.default
        let indexPath = (folder as NSString).appendingPathComponent(indexFileName)
        if fileManager.fileExists(atPath: indexPath) {
            return try parseIndex(indexPath, folder: folder)
        }
        let singlePath = (folder as NSString).appendingPathComponent(singleFileName)
        if fileManager.fileExists(atPath: singlePath) {
            return [try parseFile(MappedFile(path: singlePath))]
        }
        let candidates = ((try? fileManager.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { $0.hasSuffix(".safetensors") }
        guard candidates.count == 1, let only = candidates.first else {
            throw CheckpointError.fileNotFound(path: singlePath)
        }
        return [try parseFile(MappedFile(path: (folder as NSString).appendingPathComponent(only)))]
    }

    /// Reads `weight_map` from a sharded index, parses each shard once, and checks that every
    /// tensor the index names is in the shard it names.
    static func parseIndex(_ indexPath: String, folder: String) throws -> [[Entry]] {
        let indexFile = try MappedFile(path: indexPath)
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: indexFile.data(at: 0, count: indexFile.size))
        } catch {
            throw CheckpointError.invalidJSONHeader(path: indexPath, reason: "not valid JSON (\(error.localizedDescription))")
        }
        guard let root = object as? [String: Any], let weightMap = root["weight_map"] as? [String: Any] else {
            throw CheckpointError.invalidJSONHeader(path: indexPath, reason: "expected an object with a \"weight_map\" object")
        }
        var shardOfTensor: [String: String] = [:]
        for (tensor, value) in weightMap {
            guard let shard = value as? String, !shard.isEmpty, !shard.contains("/"), shard != "..", shard != "." else {
                throw CheckpointError.invalidJSONHeader(
                    path: indexPath, reason: "weight_map entry '\(tensor)' must name a shard file in the same folder")
            }
            shardOfTensor[tensor] = shard
        }
        var result: [[Entry]] = []
        for shard in Set(shardOfTensor.values).sorted() {
            let entries = try parseFile(MappedFile(path: (folder as NSString).appendingPathComponent(shard)))
            let present = Set(entries.map(\.info.name))
            for (tensor, owner) in shardOfTensor where owner == shard && !present.contains(tensor) {
                throw CheckpointError.invalidJSONHeader(
                    path: indexPath, reason: "weight_map puts '\(tensor)' in \(shard), which has no such tensor")
            }
            result.append(entries)
        }
        return result
    }

    /// Parses and validates one file's header; entries come back in data-offset order.
    static func parseFile(_ file: MappedFile) throws -> [Entry] {
        let path = file.path
        let declaredLength = try file.uint64(at: 0)
        guard declaredLength <= UInt64(file.size - 8) else {
            throw CheckpointError.headerLengthMismatch(path: path, fileSize: file.size)
        }
        let headerLength = Int(declaredLength)
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: file.data(at: 8, count: headerLength))
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError.invalidJSONHeader(path: path, reason: "not valid JSON (\(error.localizedDescription))")
        }
        guard let header = object as? [String: Any] else {
            throw CheckpointError.invalidJSONHeader(path: path, reason: "the header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        let dataSize = file.size - dataStart
        var entries: [Entry] = []
        for (name, value) in header where name != "__metadata__" {
            entries.append(try parseTensor(name, value, file: file, dataStart: dataStart, dataSize: dataSize))
        }
        // Empty tensors first among equal offsets (they occupy nothing), names as a tie-break:
        // the header's key order is not stable, and the check below must not depend on it.
        entries.sort { ($0.offset, $0.byteCount, $0.info.name) < ($1.offset, $1.byteCount, $1.info.name) }
        for (previous, next) in zip(entries, entries.dropFirst())
        where previous.offset + previous.byteCount > next.offset {
            throw CheckpointError.overlappingTensors(path: path, first: previous.info.name, second: next.info.name)
        }
        return entries
    }

    static func parseTensor(_ name: String, _ value: Any, file: MappedFile, dataStart: Int, dataSize: Int) throws -> Entry {
        let path = file.path
        guard let fields = value as? [String: Any], let dtypeName = fields["dtype"] as? String,
            let rawShape = fields["shape"] as? [Any], let rawOffsets = fields["data_offsets"] as? [Any]
        else {
            throw CheckpointError.invalidJSONHeader(
                path: path, reason: "tensor '\(name)' needs \"dtype\" (string), \"shape\" and \"data_offsets\" (arrays)")
        }
        let shapeValues = rawShape.map(jsonInteger)
        guard shapeValues.allSatisfy({ $0 != nil }) else {
            throw CheckpointError.invalidJSONHeader(path: path, reason: "tensor '\(name)': shape entries must be integers")
        }
        let shape64 = shapeValues.map { $0 ?? 0 }
        if let negative = shape64.first(where: { $0 < 0 }) {
            throw CheckpointError.invalidShape(path: path, tensor: name, shape: shape64, reason: "negative dimension \(negative)")
        }
        // The product of the non-zero dimensions must fit, so that no partial product overflows
        // later either (a zero dimension first would otherwise hide any size after it).
        var nonZeroProduct = 1
        for dimension in shape64 where dimension != 0 {
            let (next, overflow) = nonZeroProduct.multipliedReportingOverflow(by: Int(dimension))
            guard !overflow else {
                throw CheckpointError.invalidShape(path: path, tensor: name, shape: shape64, reason: "element count overflows")
            }
            nonZeroProduct = next
        }
        let elementCount = shape64.contains(0) ? 0 : nonZeroProduct
        let shape = shape64.map { Int($0) }

        guard rawOffsets.count == 2, let begin = jsonInteger(rawOffsets[0]), let end = jsonInteger(rawOffsets[1]) else {
            throw CheckpointError.invalidJSONHeader(
                path: path, reason: "tensor '\(name)': data_offsets must be two integers [begin, end]")
        }
        guard begin >= 0, begin <= end, end <= Int64(dataSize) else {
            throw CheckpointError.offsetOutOfRange(
                path: path, tensor: name, start: UInt64(bitPattern: begin), end: UInt64(bitPattern: end),
                limit: UInt64(dataSize))
        }
        let byteCount = Int(end - begin)
        if let elementSize = elementSizes[dtypeName] {
            let (expected, overflow) = elementCount.multipliedReportingOverflow(by: elementSize)
            guard !overflow, expected == byteCount else {
                throw CheckpointError.byteCountMismatch(
                    path: path, tensor: name, shape: shape, dtype: dtypeName,
                    expectedBytes: overflow ? UInt64.max : UInt64(expected), actualBytes: UInt64(byteCount))
            }
        }
        return Entry(
            info: TensorInfo(name: name, shape: shape, dtype: dtype(named: dtypeName)), storedDType: dtypeName,
            file: file, offset: dataStart + Int(begin), byteCount: byteCount)
    }

    /// An integral JSON number (JSONSerialization hands numbers back as NSNumber or Double).
    static func jsonInteger(_ value: Any) -> Int64? {
        if let integer = value as? Int64 { return integer }
        if let integer = value as? Int { return Int64(integer) }
        if let real = value as? Double, real.rounded() == real, abs(real) < 0x1p63 { return Int64(real) }
        return nil
    }
}
