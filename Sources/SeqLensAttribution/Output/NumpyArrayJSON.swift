import Foundation

/// The json_tricks form Inseq's serializer gives a NumPy array outside the sequence outputs
/// (per-step attributions and scores): {"__ndarray__": "b64:<raw little-endian bytes>",
/// "dtype": "float32", "shape": [...], "Corder": true (only when ndim > 1)}. Arrays that gzip
/// to under 90% of their size are stored as "b64.gz:"; with `use_primitives` an array is a
/// plain nested list (inseq/utils/serialization.py, ndarray_encode; misc.py, ndarray_to_bin_str).
enum NumpyArrayJSON {
    /// The value Inseq's `save` writes for a float32 tensor.
    static func encode(_ tensor: AttributionTensor, usePrimitives: Bool) -> JSONValue {
        if usePrimitives { return nestedList(tensor.values[...], shape: tensor.shape[...]) }
        var raw = [UInt8]()
        raw.reserveCapacity(tensor.count * 4)
        for value in tensor.values {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { raw.append(contentsOf: $0) }
        }
        var members: [String: JSONValue] = [
            "__ndarray__": .string("b64:" + Data(raw).base64EncodedString()),
            "dtype": .string("float32"),
            "shape": .array(tensor.shape.map { .int($0) }),
        ]
        if tensor.rank > 1 { members["Corder"] = .bool(true) }
        return .object(members)
    }

    private static func nestedList(_ values: ArraySlice<Float>, shape: ArraySlice<Int>) -> JSONValue {
        guard let size = shape.first else { return .double(Double(values.first ?? .nan)) }
        let stride = shape.dropFirst().reduce(1, *)
        return .array((0..<size).map { index in
            let start = values.startIndex + index * stride
            return nestedList(values[start..<(start + stride)], shape: shape.dropFirst())
        })
    }

    /// Reads an array Inseq (json_tricks) wrote; `field` names it in errors.
    static func decode(_ value: JSONValue, field: String) throws(AttributionOutputError) -> AttributionTensor {
        guard let members = value.objectValue, let data = members["__ndarray__"] else {
            throw .unexpectedStructure(field: field, expected: "a json_tricks array {\"__ndarray__\", \"dtype\", \"shape\"}")
        }
        guard let shapeValues = members["shape"]?.arrayValue else {
            throw .unexpectedStructure(field: "\(field).shape", expected: "a list of sizes")
        }
        let shape = shapeValues.compactMap(\.intValue)
        guard shape.count == shapeValues.count, shape.allSatisfy({ $0 >= 0 }) else {
            throw .unexpectedStructure(field: "\(field).shape", expected: "a list of sizes")
        }
        // Checked: a hostile shape must not overflow (a trap, or a wrong size in -Ounchecked).
        var count = 1
        for size in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow, product <= Int.max / 8 else {
                throw .shapeMismatch("\(field): shape \(shape) has too many elements")
            }
            count = product
        }
        let values: [Float]
        if let text = data.stringValue {
            let dtype = members["dtype"]?.stringValue ?? "float64"
            values = try decodeBytes(text, dtype: dtype, count: count, field: field)
        } else {
            var flat: [Float] = []
            try flatten(data, into: &flat, field: field)
            values = flat
        }
        guard values.count == count else {
            throw .shapeMismatch("\(field): \(values.count) values for shape \(shape)")
        }
        let cOrder = members["Corder"].map { $0 == .bool(true) } ?? true
        let tensor = AttributionTensor(shape: shape, values: values)
        return cOrder ? tensor : fromFortranOrder(tensor)
    }

    private static func decodeBytes(_ text: String, dtype: String, count: Int, field: String) throws(AttributionOutputError) -> [Float] {
        let encoded: Substring
        let compressed: Bool
        if text.hasPrefix("b64.gz:") {
            encoded = text.dropFirst(7)
            compressed = true
        } else if text.hasPrefix("b64:") {
            encoded = text.dropFirst(4)
            compressed = false
        } else {
            throw .unexpectedStructure(field: "\(field).__ndarray__", expected: "\"b64:...\" or \"b64.gz:...\"")
        }
        guard let data = Data(base64Encoded: String(encoded)) else { throw .invalidBase64(field: field) }
        let width: Int
        switch dtype {
        case "float32", "int32": width = 4
        case "float16": width = 2
        case "float64", "int64": width = 8
        default: throw .unsupportedDType(field: field, dtype: dtype)
        }
        var bytes = [UInt8](data)
        if compressed {
            do {
                bytes = try Gzip.decompress(bytes, limit: count * width)
            } catch {
                throw .invalidGzip(field: field, reason: error.reason)
            }
        }
        guard bytes.count == count * width else {
            throw .shapeMismatch("\(field): \(bytes.count) bytes for \(count) \(dtype) values")
        }
        return (0..<count).map { index in
            var bits: UInt64 = 0
            for byte in (0..<width).reversed() { bits = bits << 8 | UInt64(bytes[index * width + byte]) }
            switch dtype {
            case "float32": return Float(bitPattern: UInt32(bits))
            case "float16": return HalfPrecision.float(fromBits: UInt16(bits))
            case "float64": return Float(Double(bitPattern: bits))
            case "int32": return Float(Int32(bitPattern: UInt32(bits)))
            default: return Float(Int64(bitPattern: bits))
            }
        }
    }

    private static func flatten(_ value: JSONValue, into flat: inout [Float], field: String) throws(AttributionOutputError) {
        if let number = value.doubleValue {
            flat.append(Float(number))
        } else if let elements = value.arrayValue {
            for element in elements { try flatten(element, into: &flat, field: field) }
        } else {
            throw .unexpectedStructure(field: "\(field).__ndarray__", expected: "numbers")
        }
    }

    /// Reorders column-major (Fortran) values into row-major.
    private static func fromFortranOrder(_ tensor: AttributionTensor) -> AttributionTensor {
        var out = tensor
        let strides = tensor.strides
        var index = [Int](repeating: 0, count: tensor.rank)
        for value in tensor.values {
            out.values[zip(index, strides).reduce(0) { $0 + $1.0 * $1.1 }] = value
            // Fortran order: the first index varies fastest.
            for axis in index.indices {
                index[axis] += 1
                if index[axis] < tensor.shape[axis] { break }
                index[axis] = 0
            }
        }
        return out
    }
}
