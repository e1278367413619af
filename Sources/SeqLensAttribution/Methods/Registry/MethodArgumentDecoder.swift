/// A method argument that is wrong: `path` names it as the request does (`nSteps`, `layers[1]`).
public struct MethodArgumentError: Error, Equatable, CustomStringConvertible {
    public let path: String
    public let message: String

    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// An argument whose value is one of a fixed set of names (an integration rule, a similarity
/// metric): decoded with a message that lists them.
public protocol MethodArgumentChoice: RawRepresentable, CaseIterable, Decodable where RawValue == String {}

extension MethodArgumentChoice {
    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(rawValue: name) else {
            throw MethodArgumentError(
                decoder.codingPath.argumentPath,
                "expected one of \(Self.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")), got '\(name)'")
        }
        self = value
    }
}

/// Decodes a method (its arguments) from a JSON object, strictly: every member must be a field
/// the method's `init(from:)` asks for, with the right type. The fields asked for are recorded, so
/// an unknown one is reported by name with the list of known ones, and decoding `{}` lists them all.
struct MethodArgumentDecoder {
    /// Decodes `Method` from `arguments` (nil or null: all defaults).
    static func decode<Method: Decodable>(_ type: Method.Type, from arguments: JSONValue?) throws -> Method {
        let value = arguments ?? .object([:])
        guard value.objectValue != nil || value.isNull else {
            throw MethodArgumentError("", "expected an object of method arguments, got \(value.kindDescription)")
        }
        let recorder = FieldRecorder()
        let decoded = try Method(from: ValueDecoder(value: value.isNull ? .object([:]) : value, codingPath: [], recorder: recorder))
        try recorder.rejectUnknownFields()
        return decoded
    }

    /// The top-level field names `Method` reads, in the order it asks for them.
    static func fieldNames<Method: Decodable>(of type: Method.Type) -> [String] {
        let recorder = FieldRecorder()
        _ = try? Method(from: ValueDecoder(value: .object([:]), codingPath: [], recorder: recorder))
        return recorder.asked[""] ?? []
    }
}

/// The fields asked for in each object, by path.
private final class FieldRecorder {
    var asked: [String: [String]] = [:]
    var given: [String: Set<String>] = [:]

    func record(_ key: String, in path: String) {
        if !(asked[path] ?? []).contains(key) { asked[path, default: []].append(key) }
    }

    func rejectUnknownFields() throws {
        for (path, keys) in given.sorted(by: { $0.key < $1.key }) {
            let known = asked[path] ?? []
            if let unknown = keys.subtracting(known).sorted().first {
                let field = path.isEmpty ? unknown : "\(path).\(unknown)"
                let list = known.isEmpty ? "none" : known.joined(separator: ", ")
                throw MethodArgumentError(field, "unknown argument (this method takes: \(list))")
            }
        }
    }
}

private struct ArgumentKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        self.stringValue = "\(intValue)"
        self.intValue = intValue
    }
}

extension [any CodingKey] {
    /// `layers[1].name` from coding keys.
    var argumentPath: String {
        var path = ""
        for key in self {
            if let index = key.intValue { path += "[\(index)]" } else { path += path.isEmpty ? key.stringValue : ".\(key.stringValue)" }
        }
        return path
    }
}

extension JSONValue {
    /// "a string", "an integer": completes "got ...".
    var kindDescription: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int: "an integer"
        case .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

private struct ValueDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    let recorder: FieldRecorder
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func mismatch(_ expected: String) -> MethodArgumentError {
        MethodArgumentError(codingPath.argumentPath, "expected \(expected), got \(value.kindDescription)")
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard let members = value.objectValue else { throw mismatch("an object") }
        let path = codingPath.argumentPath
        recorder.given[path, default: []].formUnion(members.keys)
        return KeyedDecodingContainer(ObjectContainer<Key>(members: members, decoder: self, path: path))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard let elements = value.arrayValue else { throw mismatch("an array") }
        return ArrayContainer(elements: elements, decoder: self)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleContainer(decoder: self) }

    func child(_ value: JSONValue, _ key: any CodingKey) -> ValueDecoder {
        ValueDecoder(value: value, codingPath: codingPath + [key], recorder: recorder)
    }

    // Scalars, with JSON's number model: integers are exact, floats may not be integers.
    func decodeBool() throws -> Bool {
        guard case .bool(let flag) = value else { throw mismatch("a boolean") }
        return flag
    }

    func decodeString() throws -> String {
        guard case .string(let text) = value else { throw mismatch("a string") }
        return text
    }

    func decodeDouble() throws -> Double {
        guard let number = value.doubleValue else { throw mismatch("a number") }
        return number
    }

    func decodeInteger<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        guard let number = value.intValue else { throw mismatch("an integer") }
        guard let exact = T(exactly: number) else {
            throw MethodArgumentError(codingPath.argumentPath, "\(number) is out of range (\(T.min)...\(T.max))")
        }
        return exact
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        switch type {
        case is Bool.Type: return try decodeBool() as! T
        case is String.Type: return try decodeString() as! T
        case is Double.Type: return try decodeDouble() as! T
        case is Float.Type: return Float(try decodeDouble()) as! T
        case is Int.Type: return try decodeInteger(Int.self) as! T
        case is UInt64.Type: return try decodeInteger(UInt64.self) as! T
        default: return try T(from: self)
        }
    }
}

private struct ObjectContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [String: JSONValue]
    let decoder: ValueDecoder
    let path: String
    var codingPath: [any CodingKey] { decoder.codingPath }
    var allKeys: [Key] { members.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool {
        decoder.recorder.record(key.stringValue, in: path)
        return members[key.stringValue] != nil
    }

    func value(_ key: Key) throws -> ValueDecoder {
        decoder.recorder.record(key.stringValue, in: path)
        guard let value = members[key.stringValue] else {
            throw MethodArgumentError((codingPath + [key]).argumentPath, "missing (required)")
        }
        return decoder.child(value, key)
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        decoder.recorder.record(key.stringValue, in: path)
        return members[key.stringValue].map { $0.isNull } ?? true
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try value(key).decode(type) }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        decoder.recorder.record(key.stringValue, in: path)
        guard let value = members[key.stringValue], !value.isNull else { return nil }
        return try decoder.child(value, key).decode(type)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try value(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer { try value(key).unkeyedContainer() }
    func superDecoder() throws -> any Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> any Decoder { try value(key) }
}

private struct ArrayContainer: UnkeyedDecodingContainer {
    let elements: [JSONValue]
    let decoder: ValueDecoder
    var currentIndex = 0
    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    mutating func next() throws -> ValueDecoder {
        guard !isAtEnd else { throw MethodArgumentError(codingPath.argumentPath, "too few elements") }
        defer { currentIndex += 1 }
        return decoder.child(elements[currentIndex], ArgumentKey(intValue: currentIndex))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, elements[currentIndex].isNull else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decode(type) }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }
    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> any Decoder { try next() }
}

private struct SingleContainer: SingleValueDecodingContainer {
    let decoder: ValueDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }
    func decodeNil() -> Bool { decoder.value.isNull }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decode(type) }
}
