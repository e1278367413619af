import Foundation

/// The precision Inseq's `save(scores_precision=...)` stores scores in.
public enum ScorePrecision: String, Sendable {
    case float32
    /// IEEE half precision, round to nearest even (torch's `.to(torch.float16)`).
    case float16
}

/// Inseq stores every tensor as base64 of a safetensors file holding one tensor named
/// "attribution" (inseq/utils/torch_utils.py, convert_to_safetensor): a little-endian u64
/// header length N, N bytes of JSON header padded with spaces to a multiple of 8, raw data.
enum SafetensorsBlob {
    static let tensorName = "attribution"

    /// The base64 text Inseq writes for `tensor`.
    static func encode(_ tensor: AttributionTensor, precision: ScorePrecision) -> String {
        let dtype = precision == .float32 ? "F32" : "F16"
        let byteCount = tensor.count * (precision == .float32 ? 4 : 2)
        let shape = tensor.shape.map(String.init).joined(separator: ",")
        // Field order and compact separators as the safetensors Rust serializer writes them.
        var header = "{\"\(tensorName)\":{\"dtype\":\"\(dtype)\",\"shape\":[\(shape)],\"data_offsets\":[0,\(byteCount)]}}"
        while header.utf8.count % 8 != 0 { header += " " }
        var blob = [UInt8]()
        blob.reserveCapacity(8 + header.utf8.count + byteCount)
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { blob.append(contentsOf: $0) }
        blob.append(contentsOf: header.utf8)
        switch precision {
        case .float32:
            for value in tensor.values {
                withUnsafeBytes(of: value.bitPattern.littleEndian) { blob.append(contentsOf: $0) }
            }
        case .float16:
            for value in tensor.values {
                withUnsafeBytes(of: HalfPrecision.bits(from: value).littleEndian) { blob.append(contentsOf: $0) }
            }
        }
        return Data(blob).base64EncodedString()
    }

    /// Reads the tensor back from Inseq's base64 text; `field` names it in errors.
    static func decode(_ text: String, field: String) throws(AttributionOutputError) -> AttributionTensor {
        guard let data = Data(base64Encoded: text) else { throw .invalidBase64(field: field) }
        let bytes = [UInt8](data)
        func bad(_ reason: String) -> AttributionOutputError { .invalidSafetensors(field: field, reason: reason) }
        guard bytes.count >= 8 else { throw bad("shorter than its 8-byte header length") }
        var headerLength: UInt64 = 0
        for index in (0..<8).reversed() { headerLength = headerLength << 8 | UInt64(bytes[index]) }
        guard headerLength <= UInt64(bytes.count - 8) else { throw bad("header length \(headerLength) past the end") }
        let dataStart = 8 + Int(headerLength)
        let header = try PythonJSONParser.parse(Array(bytes[8..<dataStart]))
        guard let entries = header.objectValue else { throw bad("header is not an object") }
        let tensors = entries.filter { $0.key != "__metadata__" }
        guard tensors.count == 1, let entry = tensors.first?.value.objectValue else {
            throw bad("expected exactly one tensor, found \(tensors.count)")
        }
        guard let dtype = entry["dtype"]?.stringValue,
            let shapeValues = entry["shape"]?.arrayValue, let offsets = entry["data_offsets"]?.arrayValue,
            offsets.count == 2, let begin = offsets[0].intValue, let end = offsets[1].intValue
        else { throw bad("tensor entry lacks dtype, shape or data_offsets") }
        let shape = shapeValues.compactMap(\.intValue)
        guard shape.count == shapeValues.count, shape.allSatisfy({ $0 >= 0 }) else { throw bad("bad shape") }
        let (count, overflow) = shape.reduce((1, false)) { acc, size in
            let product = acc.0.multipliedReportingOverflow(by: size)
            return (product.partialValue, acc.1 || product.overflow)
        }
        let width: Int
        switch dtype {
        case "F32": width = 4
        case "F16", "BF16": width = 2
        case "F64": width = 8
        case "F8_E4M3": width = 1
        default: throw .unsupportedDType(field: field, dtype: dtype)
        }
        let (byteCount, byteOverflow) = count.multipliedReportingOverflow(by: width)
        guard !overflow, !byteOverflow, begin >= 0, end >= begin, end - begin == byteCount,
            end <= bytes.count - dataStart
        else { throw bad("data_offsets [\(begin), \(end)] do not fit shape \(shape) and \(bytes.count) bytes") }
        var values = [Float](repeating: 0, count: count)
        let base = dataStart + begin
        bytes.withUnsafeBufferPointer { raw in
            for index in 0..<count {
                let at = base + index * width
                switch dtype {
                case "F32":
                    values[index] = Float(bitPattern: littleEndian(raw, at, 4))
                case "F16":
                    values[index] = HalfPrecision.float(fromBits: UInt16(littleEndian(raw, at, 2)))
                case "BF16":
                    values[index] = Float(bitPattern: littleEndian(raw, at, 2) << 16)
                case "F64":
                    var bits: UInt64 = 0
                    for byte in (0..<8).reversed() { bits = bits << 8 | UInt64(raw[at + byte]) }
                    values[index] = Float(Double(bitPattern: bits))
                default:
                    values[index] = HalfPrecision.float(fromE4M3: raw[at])
                }
            }
        }
        return AttributionTensor(shape: shape, values: values)
    }

    private static func littleEndian(_ raw: UnsafeBufferPointer<UInt8>, _ at: Int, _ width: Int) -> UInt32 {
        var bits: UInt32 = 0
        for byte in (0..<width).reversed() { bits = bits << 8 | UInt32(raw[at + byte]) }
        return bits
    }
}

/// Conversions for the reduced precisions Inseq can save in.
enum HalfPrecision {
    static func float(fromBits bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = Int((bits >> 10) & 0x1F)
        let mantissa = UInt32(bits & 0x3FF)
        if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        if exponent == 0 {
            let magnitude = Float(mantissa) * 0x1p-24
            return sign != 0 ? -magnitude : magnitude
        }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }

    /// Round to nearest even, overflow to infinity, NaN kept (as torch converts).
    static func bits(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        if value.isNaN { return sign | 0x7E00 }
        let magnitude = abs(value)
        if magnitude >= 65520 { return sign | 0x7C00 }
        if magnitude < 0x1p-14 {
            // Subnormal half: multiples of 2^-24, rounded to nearest even.
            let scaled = magnitude * 0x1p24
            var rounded = scaled.rounded(.toNearestOrEven)
            if rounded > 1023 { rounded = 1024 }
            return sign | UInt16(rounded)
        }
        let exponent = Int((bits >> 23) & 0xFF) - 127 + 15
        var mantissa = (bits & 0x7F_FFFF) >> 13
        let remainder = bits & 0x1FFF
        var half = UInt32(exponent) << 10 | mantissa
        if remainder > 0x1000 || (remainder == 0x1000 && (mantissa & 1) == 1) {
            half += 1
            mantissa += 1
        }
        return sign | UInt16(half)
    }

    /// float8_e4m3fn: 4 exponent bits (bias 7), 3 mantissa bits, no infinities, 0x7F/0xFF NaN.
    static func float(fromE4M3 byte: UInt8) -> Float {
        let negative = byte & 0x80 != 0
        let exponent = Int((byte >> 3) & 0x0F)
        let mantissa = Float(byte & 0x07)
        let magnitude: Float
        if exponent == 0x0F && byte & 0x07 == 0x07 {
            magnitude = .nan
        } else if exponent == 0 {
            magnitude = mantissa / 8 * 0x1p-6
        } else {
            magnitude = (1 + mantissa / 8) * Float(sign: .plus, exponent: exponent - 7, significand: 1)
        }
        return negative ? -magnitude : magnitude
    }
}
