import CJansson

/// Why a message body is not JSON: jansson's text and where it stopped.
public struct JSONParseError: Error, Equatable, CustomStringConvertible {
    public var reason: String
    public var line: Int
    public var column: Int

    public var description: String { "\(reason) (line \(line), column \(column))" }
}

/// The outcome of decoding one message body.
public struct DecodedBody: Sendable {
    public var value: RPCValue
    /// Bytes consumed by the first JSON value; fewer than the body when the frame was too long.
    public var consumedBytes: Int
}

/// JSON encoding and decoding through jansson.
///
/// jansson's variadic `json_pack` is not callable from Swift, so trees are built node by node.
/// Reals are written with 9 significant digits, enough for any float32 to round-trip.
public enum JanssonCodec {
    /// `JSON_REAL_PRECISION(9)`; the macro is not imported into Swift.
    static let realPrecision9: Int32 = (9 & 0x1F) << 11
    static let encodeFlags = JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | realPrecision9

    /// Parses the first JSON value in `bytes`; trailing bytes are reported via `consumedBytes`.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(JSONParseError) -> DecodedBody {
        var error = json_error_t()
        let flags = JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self),
            let root = json_loadb(base, bytes.count, Int(flags), &error)
        else {
            if bytes.isEmpty { throw JSONParseError(reason: "empty message body", line: 1, column: 0) }
            throw JSONParseError(reason: reasonText(error), line: Int(error.line), column: Int(error.column))
        }
        defer { json_delete(root) }
        return DecodedBody(value: value(of: root), consumedBytes: Int(error.position))
    }

    public static func decode(_ bytes: [UInt8]) throws(JSONParseError) -> DecodedBody {
        var result: Result<DecodedBody, JSONParseError>!
        bytes.withUnsafeBytes { buffer in
            do throws(JSONParseError) { result = .success(try decode(buffer)) } catch { result = .failure(error) }
        }
        return try result.get()
    }

    /// Compact UTF-8 JSON text for `value`; non-finite reals become `null`.
    ///
    /// Long strings that need no escaping (the base64 of tensors: tens of MB for one
    /// `run_with_cache`) do not go through jansson, which checks and copies a string byte by byte
    /// (190 ms for 35 MB): jansson writes a placeholder, a random nonce and an index, and the
    /// string's bytes are put in its place afterwards.
    public static func encode(_ value: RPCValue) -> [UInt8] {
        var verbatim = VerbatimStrings()
        guard let root = node(for: value, &verbatim) else { return Array("null".utf8) }
        defer { json_delete(root) }
        let sink = ByteSink()
        let unmanaged = Unmanaged.passUnretained(sink)
        _ = json_dump_callback(
            root,
            { buffer, size, data in
                guard let buffer, let data else { return -1 }
                let sink = Unmanaged<ByteSink>.fromOpaque(data).takeUnretainedValue()
                buffer.withMemoryRebound(to: UInt8.self, capacity: size) { pointer in
                    sink.bytes.append(contentsOf: UnsafeBufferPointer(start: pointer, count: size))
                }
                return 0
            }, unmanaged.toOpaque(), numericCast(encodeFlags))
        return verbatim.strings.isEmpty ? sink.bytes : verbatim.splice(into: sink.bytes)
    }

    /// Strings written verbatim: their placeholders are `"<nonce><index>"`.
    struct VerbatimStrings {
        static let minimumLength = 1 << 16
        var strings: [String] = []
        let nonce: [UInt8] = {
            var generator = SystemRandomNumberGenerator()
            let digits = Array("0123456789abcdef".utf8)
            return (0..<32).map { _ in digits[Int(generator.next() % 16)] }
        }()

        /// A placeholder for `text` when it is long and every byte is printable ASCII other
        /// than `"` and `\` (nothing JSON would escape); nil otherwise.
        mutating func placeholder(for text: inout String) -> String? {
            guard text.utf8.count >= Self.minimumLength else { return nil }
            let plain = text.withUTF8 { bytes in
                bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
            }
            guard plain else { return nil }
            strings.append(text)
            return String(decoding: nonce, as: UTF8.self) + String(strings.count - 1)
        }

        /// `json` with each placeholder's text replaced by its string.
        func splice(into json: [UInt8]) -> [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(json.count + strings.reduce(0) { $0 + $1.utf8.count })
            var index = 0, copied = 0
            let n = nonce.count
            while index + n <= json.count {
                guard json[index] == nonce[0], json[index..<(index + n)].elementsEqual(nonce) else {
                    index += 1
                    continue
                }
                var end = index + n, number = 0
                while end < json.count, json[end] >= UInt8(ascii: "0"), json[end] <= UInt8(ascii: "9") {
                    number = number * 10 + Int(json[end] - UInt8(ascii: "0"))
                    end += 1
                }
                guard number < strings.count else {
                    index = end
                    continue
                }
                out.append(contentsOf: json[copied..<index])
                var text = strings[number]
                text.withUTF8 { out.append(contentsOf: $0) }
                copied = end
                index = end
            }
            out.append(contentsOf: json[copied...])
            return out
        }
    }

    private final class ByteSink {
        var bytes: [UInt8] = []
        init() { bytes.reserveCapacity(256) }
    }

    private static func reasonText(_ error: json_error_t) -> String {
        withUnsafeBytes(of: error.text) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    private static func value(of node: UnsafeMutablePointer<json_t>) -> RPCValue {
        switch node.pointee.type {
        case JSON_NULL: return .null
        case JSON_TRUE: return .bool(true)
        case JSON_FALSE: return .bool(false)
        case JSON_INTEGER: return .integer(Int(json_integer_value(node)))
        case JSON_REAL: return .number(json_real_value(node))
        case JSON_STRING:
            let length = json_string_length(node)
            guard let text = json_string_value(node) else { return .string("") }
            let bytes = UnsafeRawBufferPointer(start: text, count: length)
            return .string(String(decoding: bytes, as: UTF8.self))
        case JSON_ARRAY:
            let count = json_array_size(node)
            var elements: [RPCValue] = []
            elements.reserveCapacity(count)
            for index in 0..<count {
                guard let element = json_array_get(node, index) else { continue }
                elements.append(value(of: element))
            }
            return .array(elements)
        case JSON_OBJECT:
            var members: [String: RPCValue] = [:]
            members.reserveCapacity(json_object_size(node))
            var iterator = json_object_iter(node)
            while let current = iterator {
                if let key = json_object_iter_key(current), let member = json_object_iter_value(current) {
                    members[String(cString: key)] = value(of: member)
                }
                iterator = json_object_iter_next(node, current)
            }
            return .object(members)
        default:
            return .null
        }
    }

    private static func node(for value: RPCValue, _ verbatim: inout VerbatimStrings) -> UnsafeMutablePointer<json_t>? {
        switch value {
        case .null: return json_null()
        case .bool(let flag): return flag ? json_true() : json_false()
        case .integer(let number): return json_integer(json_int_t(number))
        case .number(let number): return number.isFinite ? json_real(number) : json_null()
        case .string(let text):
            var text = text
            if let placeholder = verbatim.placeholder(for: &text) { text = placeholder }
            return text.withUTF8 { utf8 in
                utf8.withMemoryRebound(to: CChar.self) { json_stringn_nocheck($0.baseAddress, $0.count) }
            }
        case .array(let elements):
            guard let array = json_array() else { return nil }
            for element in elements {
                if let child = node(for: element, &verbatim) { json_array_append_new(array, child) }
            }
            return array
        case .object(let members):
            guard let object = json_object() else { return nil }
            for (key, member) in members {
                if let child = node(for: member, &verbatim) { json_object_set_new_nocheck(object, key, child) }
            }
            return object
        }
    }
}
