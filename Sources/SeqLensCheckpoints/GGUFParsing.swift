/// Field readers and validation for `GGUFFile`'s header.
extension GGUFFile {
    static func alignUp(_ offset: Int, to alignment: Int) -> Int {
        (offset + alignment - 1) / alignment * alignment
    }

    /// Refuses a count whose entries could not fit in the rest of the file.
    static func checkCount(_ count: UInt64, what: String, minimumBytesEach: Int, cursor: ByteCursor) throws {
        let limit = UInt64(max(0, cursor.remaining) / minimumBytesEach)
        guard count <= limit else {
            throw CheckpointError.implausibleCount(path: cursor.file.path, what: what, count: count, limit: limit)
        }
    }

    /// A gguf_string: u64 byte length, then UTF-8 bytes. Keys and tensor names must be valid
    /// UTF-8 (`strict`); metadata string values are decoded leniently so one odd token does not
    /// make a whole model unreadable.
    static func readString(_ cursor: inout ByteCursor, strict: Bool) throws -> String {
        let start = cursor.offset
        let length = try cursor.uint64()
        guard length <= UInt64(max(0, cursor.remaining)) else {
            throw CheckpointError.implausibleCount(
                path: cursor.file.path, what: "length of the string at offset \(start)", count: length,
                limit: UInt64(max(0, cursor.remaining)))
        }
        let byteCount = Int(length)
        let text =
            strict
            ? try cursor.file.string(at: cursor.offset, byteCount: byteCount)
            : try cursor.file.lenientString(at: cursor.offset, byteCount: byteCount)
        cursor.offset += byteCount
        return text
    }

    /// One metadata value of type `typeID`.
    /// - Parameter elementBudget: array elements that all metadata arrays may still hold; each
    ///   array's count is taken from it.
    static func readValue(
        _ cursor: inout ByteCursor, typeID: UInt32, key: String, depth: Int, elementBudget: inout Int
    ) throws -> GGUFValue {
        guard let type = GGUFValue.TypeID(rawValue: typeID) else {
            throw CheckpointError.unknownMetadataType(path: cursor.file.path, key: key, typeID: typeID)
        }
        switch type {
        case .uint8: return .uint8(try cursor.uint8())
        case .int8: return .int8(try cursor.int8())
        case .uint16: return .uint16(try cursor.uint16())
        case .int16: return .int16(try cursor.int16())
        case .uint32: return .uint32(try cursor.uint32())
        case .int32: return .int32(try cursor.int32())
        case .float32: return .float32(try cursor.float())
        case .bool: return .bool(try cursor.uint8() != 0)
        case .string: return .string(try readString(&cursor, strict: false))
        case .uint64: return .uint64(try cursor.uint64())
        case .int64: return .int64(try cursor.int64())
        case .float64: return .float64(try cursor.double())
        case .array:
            guard depth < maxArrayNesting else {
                throw CheckpointError.invalidHeader(
                    path: cursor.file.path, reason: "metadata '\(key)': arrays nested deeper than \(maxArrayNesting)")
            }
            let elementTypeID = try cursor.uint32()
            let count = try cursor.uint64()
            guard let elementType = GGUFValue.TypeID(rawValue: elementTypeID) else {
                throw CheckpointError.unknownMetadataType(path: cursor.file.path, key: key, typeID: elementTypeID)
            }
            try checkCount(
                count, what: "element count of metadata array '\(key)'",
                minimumBytesEach: minimumEncodedSize(elementType), cursor: cursor)
            // A value takes up to 24 bytes in memory for 1 in the file: without a budget, a file
            // of one big byte array would cost 24 times its size.
            guard count <= UInt64(elementBudget) else {
                throw CheckpointError.invalidHeader(
                    path: cursor.file.path,
                    reason: "metadata '\(key)': an array of \(count) elements is more than the \(maxMetadataElements) all metadata arrays may hold together")
            }
            elementBudget -= Int(count)
            var elements: [GGUFValue] = []
            elements.reserveCapacity(Int(count))
            for _ in 0..<count {
                elements.append(
                    try readValue(&cursor, typeID: elementTypeID, key: key, depth: depth + 1, elementBudget: &elementBudget))
            }
            return .array(elements)
        }
    }

    /// Fewest bytes one value of `type` can take: strings need their u64 length, arrays their
    /// element type and count.
    static func minimumEncodedSize(_ type: GGUFValue.TypeID) -> Int {
        switch type {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64, .string: 8
        case .array: 12
        }
    }

    static func alignment(in metadata: [String: GGUFValue], path: String) throws -> Int {
        guard let value = metadata["general.alignment"] else { return defaultAlignment }
        guard case .uint32(let alignment) = value, alignment > 0, alignment & (alignment - 1) == 0 else {
            // A number is shown; another kind of value is only named (a string could be anything).
            let found = value.int.map(String.init) ?? value.double.map { "\($0)" } ?? "a value of another type"
            throw CheckpointError.invalidHeader(
                path: path, reason: "general.alignment must be a power-of-two uint32, found \(found)")
        }
        return Int(alignment)
    }

    /// GGUF dimensions (innermost first) to a row-major shape, refusing sizes that overflow.
    ///
    /// The product of the non-zero dimensions must fit in `Int`: then every partial product, in
    /// any order (a row count, a `reduce(1, *)` that meets a zero late), fits too.
    static func checkedDimensions(_ raw: [UInt64], tensor: String, path: String) throws -> [Int] {
        let shown = raw.reversed().map { Int64(truncatingIfNeeded: $0) }
        var product: Int = 1
        for dimension in raw {
            guard dimension <= UInt64(Int64.max) else {
                throw CheckpointError.invalidShape(
                    path: path, tensor: tensor, shape: shown,
                    reason: "dimension \(dimension) does not fit in a signed 64-bit integer")
            }
            if dimension == 0 { continue }
            let (next, overflow) = product.multipliedReportingOverflow(by: Int(dimension))
            guard !overflow else {
                throw CheckpointError.invalidShape(
                    path: path, tensor: tensor, shape: shown, reason: "element count overflows a 64-bit integer")
            }
            product = next
        }
        return raw.reversed().map { Int($0) }
    }

    static func makeEntry(
        _ name: String, dims: [Int], typeID: UInt32, offset: UInt64, alignment: Int, dataOffset: Int,
        fileSize: Int, path: String
    ) throws -> Entry {
        let dtype = TensorDType(ggmlTypeID: typeID)
        let info = TensorInfo(name: name, shape: dims, dtype: dtype)
        guard offset % UInt64(alignment) == 0 else {
            throw CheckpointError.misalignedTensor(path: path, tensor: name, offset: offset, alignment: alignment)
        }
        let dataSize = UInt64(max(0, fileSize - dataOffset))
        guard offset <= dataSize else {
            throw CheckpointError.offsetOutOfRange(path: path, tensor: name, start: offset, end: offset, limit: dataSize)
        }
        guard let geometry = GGMLTypeTable.entries[typeID] else {
            // Unknown type: the size cannot be computed; reading it will report the type.
            return Entry(info: info, ggmlTypeID: typeID, relativeOffset: Int(offset), byteCount: nil)
        }
        let rowLength = dims.last ?? 1
        guard rowLength % geometry.blockSize == 0 else {
            throw CheckpointError.rowNotBlockAligned(
                path: path, tensor: name, rowLength: rowLength, blockSize: geometry.blockSize, dtype: geometry.name)
        }
        let rows = dims.dropLast().reduce(1, *)  // cannot overflow: checkedDimensions bounds it
        let (rowBytes, overflow1) = (rowLength / geometry.blockSize).multipliedReportingOverflow(by: geometry.blockBytes)
        let (byteCount, overflow2) = rowBytes.multipliedReportingOverflow(by: rows)
        guard !overflow1, !overflow2, UInt64(byteCount) <= dataSize - offset else {
            let end = overflow1 || overflow2 ? UInt64.max : offset + UInt64(byteCount)
            throw CheckpointError.offsetOutOfRange(path: path, tensor: name, start: offset, end: end, limit: dataSize)
        }
        return Entry(info: info, ggmlTypeID: typeID, relativeOffset: Int(offset), byteCount: byteCount)
    }
}
