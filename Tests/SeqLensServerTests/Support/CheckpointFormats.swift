import Foundation

/// Little-endian byte helpers for building and patching checkpoint files.
enum LittleEndian {
    static func bytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    static func patch<T: FixedWidthInteger>(_ data: inout [UInt8], at offset: Int, _ value: T) {
        let encoded = bytes(value)
        data.replaceSubrange(offset..<(offset + encoded.count), with: encoded)
    }

    static func read<T: FixedWidthInteger>(_ data: [UInt8], at offset: Int, as: T.Type = T.self) -> T {
        var value: T = 0
        for index in (0..<MemoryLayout<T>.size).reversed() { value = value << 8 | T(data[offset + index]) }
        return value
    }
}

/// A GGUF file taken apart for mutation: the fields with the byte offset of each, and a writer that
/// puts a (modified) file back together (tensor offsets are relative to the data section, so
/// changing a metadata value's size keeps the tensors valid).
struct GGUFTestFile {
    /// GGUF metadata value types.
    enum ValueType: UInt32 {
        case uint8 = 0, int8, uint16, int16, uint32, int32, float32, bool, string, array, uint64, int64, float64
    }

    /// A metadata value as its type id and encoded bytes (what follows the type in the file).
    struct Value {
        var type: UInt32
        var bytes: [UInt8]

        static func uint32(_ value: UInt32) -> Value { Value(type: ValueType.uint32.rawValue, bytes: LittleEndian.bytes(value)) }
        static func int32(_ value: Int32) -> Value { Value(type: ValueType.int32.rawValue, bytes: LittleEndian.bytes(value)) }
        static func uint64(_ value: UInt64) -> Value { Value(type: ValueType.uint64.rawValue, bytes: LittleEndian.bytes(value)) }
        static func int64(_ value: Int64) -> Value { Value(type: ValueType.int64.rawValue, bytes: LittleEndian.bytes(value)) }
        static func float32(_ value: Float) -> Value {
            Value(type: ValueType.float32.rawValue, bytes: LittleEndian.bytes(value.bitPattern))
        }
        static func string(_ value: String) -> Value {
            Value(type: ValueType.string.rawValue, bytes: GGUFTestFile.encodeString(value))
        }
        static func bool(_ value: Bool) -> Value { Value(type: ValueType.bool.rawValue, bytes: [value ? 1 : 0]) }
        /// An array of `count` copies of one encoded element.
        static func array(of element: Value, count: Int) -> Value {
            var bytes = LittleEndian.bytes(element.type) + LittleEndian.bytes(UInt64(count))
            for _ in 0..<count { bytes += element.bytes }
            return Value(type: ValueType.array.rawValue, bytes: bytes)
        }
    }

    struct KeyValue {
        var key: String
        var value: Value
        /// Offsets in the original file: the key's u64 length, the u32 type, the value.
        var keyOffset = 0, typeOffset = 0, valueOffset = 0
        /// For arrays: element type and count.
        var arrayElementType: UInt32?
        var arrayCount: Int?
    }

    struct TensorInfo {
        var name: String
        /// GGUF order: innermost first.
        var dimensions: [UInt64]
        var type: UInt32
        var offset: UInt64
        /// Offsets in the original file.
        var nameOffset = 0, dimensionCountOffset = 0, dimensionsOffset = 0, typeOffset = 0, offsetOffset = 0

        var elementCount: Int { dimensions.reduce(1) { $0 * Int($1) } }
    }

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    var version: UInt32
    var keyValues: [KeyValue]
    var tensors: [TensorInfo]
    /// The data section (from the aligned end of the tensor infos to the end of the file).
    var data: [UInt8]
    let alignment: Int
    /// Absolute offset of the data section in the original file.
    let dataOffset: Int
    let original: [UInt8]

    init(bytes: [UInt8]) throws {
        original = bytes
        var cursor = 0
        func need(_ count: Int) throws {
            guard cursor + count <= bytes.count else { throw ParseError(description: "truncated at \(cursor)") }
        }
        func u32() throws -> UInt32 {
            try need(4)
            defer { cursor += 4 }
            return LittleEndian.read(bytes, at: cursor)
        }
        func u64() throws -> UInt64 {
            try need(8)
            defer { cursor += 8 }
            return LittleEndian.read(bytes, at: cursor)
        }
        func string() throws -> String {
            let length = Int(try u64())
            try need(length)
            defer { cursor += length }
            return String(decoding: bytes[cursor..<(cursor + length)], as: UTF8.self)
        }
        func skipValue(_ type: UInt32) throws {
            guard let kind = ValueType(rawValue: type) else { throw ParseError(description: "type \(type)") }
            switch kind {
            case .uint8, .int8, .bool: try need(1); cursor += 1
            case .uint16, .int16: try need(2); cursor += 2
            case .uint32, .int32, .float32: try need(4); cursor += 4
            case .uint64, .int64, .float64: try need(8); cursor += 8
            case .string: _ = try string()
            case .array:
                let element = try u32()
                let count = try u64()
                for _ in 0..<count { try skipValue(element) }
            }
        }
        guard bytes.count >= 24, Array(bytes[0..<4]) == Array("GGUF".utf8) else { throw ParseError(description: "not GGUF") }
        cursor = 4
        version = try u32()
        let tensorCount = try u64()
        let keyValueCount = try u64()
        var keyValues: [KeyValue] = []
        for _ in 0..<keyValueCount {
            let keyOffset = cursor
            let key = try string()
            let typeOffset = cursor
            let type = try u32()
            let valueOffset = cursor
            var entry = KeyValue(key: key, value: Value(type: type, bytes: []), keyOffset: keyOffset, typeOffset: typeOffset, valueOffset: valueOffset)
            if type == ValueType.array.rawValue {
                entry.arrayElementType = LittleEndian.read(bytes, at: cursor)
                entry.arrayCount = Int(LittleEndian.read(bytes, at: cursor + 4, as: UInt64.self))
            }
            try skipValue(type)
            entry.value.bytes = Array(bytes[valueOffset..<cursor])
            keyValues.append(entry)
        }
        var tensors: [TensorInfo] = []
        for _ in 0..<tensorCount {
            let nameOffset = cursor
            let name = try string()
            let dimensionCountOffset = cursor
            let count = try u32()
            let dimensionsOffset = cursor
            var dimensions: [UInt64] = []
            for _ in 0..<count { dimensions.append(try u64()) }
            let typeOffset = cursor
            let type = try u32()
            let offsetOffset = cursor
            let offset = try u64()
            tensors.append(
                TensorInfo(
                    name: name, dimensions: dimensions, type: type, offset: offset, nameOffset: nameOffset,
                    dimensionCountOffset: dimensionCountOffset, dimensionsOffset: dimensionsOffset, typeOffset: typeOffset,
                    offsetOffset: offsetOffset))
        }
        self.keyValues = keyValues
        self.tensors = tensors
        var alignment = 32
        if let entry = keyValues.first(where: { $0.key == "general.alignment" }), entry.value.type == ValueType.uint32.rawValue {
            alignment = Int(LittleEndian.read(entry.value.bytes, at: 0, as: UInt32.self))
        }
        self.alignment = alignment
        dataOffset = (cursor + alignment - 1) / alignment * alignment
        data = Array(bytes[dataOffset...])
    }

    static func encodeString(_ text: String) -> [UInt8] { LittleEndian.bytes(UInt64(text.utf8.count)) + Array(text.utf8) }

    /// Offset of the first byte after the last tensor's data (F32 tensors), absolute.
    var endOfTensorData: Int {
        tensors.map { dataOffset + Int($0.offset) + $0.elementCount * 4 }.max() ?? dataOffset
    }

    func keyValue(_ key: String) -> KeyValue? { keyValues.first { $0.key == key } }

    /// Sets (or adds) a metadata value.
    mutating func set(_ key: String, _ value: Value) {
        if let index = keyValues.firstIndex(where: { $0.key == key }) {
            keyValues[index].value = value
        } else {
            keyValues.append(KeyValue(key: key, value: value))
        }
    }

    mutating func remove(_ key: String) { keyValues.removeAll { $0.key == key } }

    /// The file with its current fields: header, metadata, tensor infos, padding to `alignment`, data.
    func serialized() -> [UInt8] {
        var out = Array("GGUF".utf8) + LittleEndian.bytes(version)
        out += LittleEndian.bytes(UInt64(tensors.count)) + LittleEndian.bytes(UInt64(keyValues.count))
        for entry in keyValues {
            out += Self.encodeString(entry.key) + LittleEndian.bytes(entry.value.type) + entry.value.bytes
        }
        for tensor in tensors {
            out += Self.encodeString(tensor.name) + LittleEndian.bytes(UInt32(tensor.dimensions.count))
            for dimension in tensor.dimensions { out += LittleEndian.bytes(dimension) }
            out += LittleEndian.bytes(tensor.type) + LittleEndian.bytes(tensor.offset)
        }
        while out.count % alignment != 0 { out.append(0) }
        return out + data
    }
}

/// A safetensors file taken apart: the JSON header as a dictionary and the data bytes.
struct SafetensorsTestFile {
    var header: [String: Any]
    var data: [UInt8]
    /// Length of the original header (the u64 at offset 0).
    let headerLength: Int
    let original: [UInt8]

    init(bytes: [UInt8]) throws {
        original = bytes
        headerLength = Int(LittleEndian.read(bytes, at: 0, as: UInt64.self))
        let json = Data(bytes[8..<(8 + headerLength)])
        header = try JSONSerialization.jsonObject(with: json) as? [String: Any] ?? [:]
        data = Array(bytes[(8 + headerLength)...])
    }

    /// Tensor names, sorted (the metadata entry left out).
    var tensorNames: [String] { header.keys.filter { $0 != "__metadata__" }.sorted() }

    func entry(_ name: String) -> [String: Any] { header[name] as? [String: Any] ?? [:] }

    func dataRange(_ name: String) -> Range<Int> {
        let offsets = entry(name)["data_offsets"] as? [Int] ?? [0, 0]
        return offsets[0]..<offsets[1]
    }

    func dtype(_ name: String) -> String { entry(name)["dtype"] as? String ?? "" }

    mutating func setEntry(_ name: String, field: String, _ value: Any?) {
        var entry = self.entry(name)
        entry[field] = value
        header[name] = entry
    }

    /// The file with its current header (sorted keys, padded with spaces to 8 bytes) and data.
    func serialized(headerLengthOverride: UInt64? = nil) -> [UInt8] {
        var json = Array((try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data())
        while json.count % 8 != 0 { json.append(0x20) }
        return LittleEndian.bytes(headerLengthOverride ?? UInt64(json.count)) + json + data
    }
}
