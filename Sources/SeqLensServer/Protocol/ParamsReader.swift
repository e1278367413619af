/// A value that can be read from a JSON parameter, with a phrase naming what was expected.
public protocol ParamValue {
    /// "a string", "an array of integers": completes "expected ...".
    static var expected: String { get }
    init?(json: RPCValue)
}

extension String: ParamValue {
    public static var expected: String { "a string" }
    public init?(json: RPCValue) {
        guard case .string(let text) = json else { return nil }
        self = text
    }
}

extension Int: ParamValue {
    public static var expected: String { "an integer" }
    public init?(json: RPCValue) {
        guard let number = json.intValue else { return nil }
        self = number
    }
}

extension Bool: ParamValue {
    public static var expected: String { "a boolean" }
    public init?(json: RPCValue) {
        guard case .bool(let flag) = json else { return nil }
        self = flag
    }
}

extension Double: ParamValue {
    public static var expected: String { "a number" }
    public init?(json: RPCValue) {
        guard let number = json.doubleValue else { return nil }
        self = number
    }
}

/// Reads typed fields from a request's `params` object; every failure is an `invalidParams` error
/// whose message names the field path and the expected type.
public struct ParamsReader {
    public let members: [String: RPCValue]
    let path: String

    /// - Throws: `RPCError.invalidParams` when `params` is present but not an object.
    public init(_ params: RPCValue?, path: String = "params") throws(RPCError) {
        self.path = path
        switch params {
        case nil, .null?: members = [:]
        case .object(let object)?: members = object
        case let other?:
            throw RPCError.invalidParams(path, expected: "an object (parameters by name)", got: other)
        }
    }

    public func contains(_ field: String) -> Bool { members[field] != nil && members[field] != .null }

    public func required<Value: ParamValue>(_ field: String, as type: Value.Type = Value.self) throws(RPCError) -> Value {
        guard let value = try optional(field, as: type) else {
            throw RPCError.invalidParams("\(path).\(field)", expected: Value.expected, got: nil)
        }
        return value
    }

    public func optional<Value: ParamValue>(_ field: String, as type: Value.Type = Value.self) throws(RPCError) -> Value? {
        guard let json = members[field], json != .null else { return nil }
        guard let value = Value(json: json) else {
            throw RPCError.invalidParams("\(path).\(field)", expected: Value.expected, got: json)
        }
        return value
    }

    /// A number or integer field that must lie in `range`.
    public func optional<Value: ParamValue & Comparable>(
        _ field: String, in range: ClosedRange<Value>
    ) throws(RPCError) -> Value? {
        guard let value = try optional(field, as: Value.self) else { return nil }
        guard range.contains(value) else {
            throw RPCError(
                .invalidParams,
                "\(path).\(field): expected \(Value.expected) in \(range.lowerBound)...\(range.upperBound), got \(value)")
        }
        return value
    }

    public func requiredArray<Element: ParamValue>(
        _ field: String, of type: Element.Type = Element.self, allowEmpty: Bool = false,
        maximumCount: Int = RequestLimits.arrayElements
    ) throws(RPCError) -> [Element] {
        guard let value = try optionalArray(field, of: type) else {
            throw RPCError.invalidParams("\(path).\(field)", expected: "an array of \(Self.plural(Element.expected))", got: nil)
        }
        if value.isEmpty && !allowEmpty {
            throw RPCError(.invalidParams, "\(path).\(field): expected a non-empty array, got an empty one")
        }
        if value.count > maximumCount {
            throw RPCError(
                .invalidParams, "\(path).\(field): expected at most \(maximumCount) elements, got \(value.count)")
        }
        return value
    }

    public func optionalArray<Element: ParamValue>(_ field: String, of type: Element.Type = Element.self) throws(RPCError) -> [Element]? {
        guard let json = members[field], json != .null else { return nil }
        return try Self.array(json, path: "\(path).\(field)", of: type)
    }

    /// An array of arrays, e.g. token id lists.
    public func requiredNestedArray<Element: ParamValue>(_ field: String, of type: Element.Type = Element.self) throws(RPCError) -> [[Element]] {
        let fieldPath = "\(path).\(field)"
        let description = "an array of arrays of \(Self.plural(Element.expected))"
        guard let json = members[field], json != .null else {
            throw RPCError.invalidParams(fieldPath, expected: description, got: nil)
        }
        guard case .array(let rows) = json else { throw RPCError.invalidParams(fieldPath, expected: description, got: json) }
        var result: [[Element]] = []
        for (index, row) in rows.enumerated() {
            result.append(try Self.array(row, path: "\(fieldPath)[\(index)]", of: type))
        }
        return result
    }

    /// A string field whose value must name a case of `Choice` (e.g. an attribution method).
    public func optionalChoice<Choice: RawRepresentable & CaseIterable>(
        _ field: String, of type: Choice.Type = Choice.self
    ) throws(RPCError) -> Choice? where Choice.RawValue == String {
        guard let name = try optional(field, as: String.self) else { return nil }
        return try Self.choice(name, path: "\(path).\(field)", of: type)
    }

    /// An array of strings, each naming a case of `Choice`.
    public func optionalChoices<Choice: RawRepresentable & CaseIterable>(
        _ field: String, of type: Choice.Type = Choice.self
    ) throws(RPCError) -> [Choice]? where Choice.RawValue == String {
        guard let names = try optionalArray(field, of: String.self) else { return nil }
        var choices: [Choice] = []
        for (index, name) in names.enumerated() {
            choices.append(try Self.choice(name, path: "\(path).\(field)[\(index)]", of: type))
        }
        return choices
    }

    static func choice<Choice: RawRepresentable & CaseIterable>(
        _ name: String, path: String, of type: Choice.Type
    ) throws(RPCError) -> Choice where Choice.RawValue == String {
        guard let choice = Choice(rawValue: name) else {
            let known = Choice.allCases.map(\.rawValue).joined(separator: ", ")
            throw RPCError(.invalidParams, "\(path): expected one of \(known), got '\(name)'")
        }
        return choice
    }

    /// Rejects fields outside `known`, so that a misspelt option (say `n_steps` for `nSteps`) is an
    /// error rather than silently ignored.
    public func rejectUnknownFields(_ known: Set<String>) throws(RPCError) {
        guard let unknown = members.keys.filter({ !known.contains($0) }).sorted().first else { return }
        throw RPCError(
            .invalidParams, "\(path).\(unknown): unknown field; known fields: \(known.sorted().joined(separator: ", "))")
    }

    /// A nested object field, read with its own reader.
    public func optionalObject(_ field: String) throws(RPCError) -> ParamsReader? {
        guard let json = members[field], json != .null else { return nil }
        return try ParamsReader(json, path: "\(path).\(field)")
    }

    private static func array<Element: ParamValue>(_ json: RPCValue, path: String, of type: Element.Type) throws(RPCError) -> [Element] {
        guard case .array(let values) = json else {
            throw RPCError.invalidParams(path, expected: "an array of \(plural(Element.expected))", got: json)
        }
        guard values.count <= RequestLimits.arrayElements else {
            throw RPCError(
                .invalidParams, "\(path): expected at most \(RequestLimits.arrayElements) elements, got \(values.count)")
        }
        var result: [Element] = []
        result.reserveCapacity(values.count)
        for (index, value) in values.enumerated() {
            guard let element = Element(json: value) else {
                throw RPCError.invalidParams("\(path)[\(index)]", expected: Element.expected, got: value)
            }
            result.append(element)
        }
        return result
    }

    /// "a string" -> "strings", "an integer" -> "integers".
    static func plural(_ phrase: String) -> String {
        let noun = phrase.hasPrefix("an ") ? phrase.dropFirst(3) : phrase.hasPrefix("a ") ? phrase.dropFirst(2) : Substring(phrase)
        return noun + "s"
    }
}
