/// A JSON document as a Swift value, as the protocol carries it: what the codec reads and writes,
/// and what handlers see. (Named apart from SeqLensAttribution.JSONValue, the Python-JSON model of
/// Inseq files, which keeps NaN.)
///
/// Integers and reals are kept apart because JSON-RPC ids and most parameters are integers, and
/// jansson distinguishes `5` from `5.0` when it parses.
public enum RPCValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case array([RPCValue])
    case object([String: RPCValue])

    /// The kind of value with an article, for error messages ("got a string").
    public var kindDescription: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer: "an integer"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    public subscript(key: String) -> RPCValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var intValue: Int? {
        switch self {
        case .integer(let value): return value
        case .number(let value):
            guard value.rounded() == value, let exact = Int(exactly: value) else { return nil }
            return exact
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .number(let value): value
        default: nil
        }
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var arrayValue: [RPCValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    public var objectValue: [String: RPCValue]? {
        if case .object(let members) = self { return members }
        return nil
    }
}

// No ExpressibleByNilLiteral: `nil` in an optional context would silently become `.null`.
extension RPCValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .integer(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(arrayLiteral elements: RPCValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, RPCValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

/// A value that has a JSON form: protocol results and notification payloads.
public protocol JSONRepresentable {
    var json: RPCValue { get }
}

extension RPCValue: JSONRepresentable {
    public var json: RPCValue { self }
}

extension String: JSONRepresentable { public var json: RPCValue { .string(self) } }
extension Int: JSONRepresentable { public var json: RPCValue { .integer(self) } }
extension Bool: JSONRepresentable { public var json: RPCValue { .bool(self) } }
extension Double: JSONRepresentable { public var json: RPCValue { .number(self) } }
extension Float: JSONRepresentable { public var json: RPCValue { .number(Double(self)) } }

extension Array: JSONRepresentable where Element: JSONRepresentable {
    public var json: RPCValue { .array(map(\.json)) }
}

extension Dictionary: JSONRepresentable where Key == String, Value: JSONRepresentable {
    public var json: RPCValue { .object(mapValues(\.json)) }
}

extension Optional: JSONRepresentable where Wrapped: JSONRepresentable {
    public var json: RPCValue { self?.json ?? .null }
}
