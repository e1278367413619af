import Foundation
import SeqLensServer

/// A JSON Schema subset, enough for the OpenRPC document in protocol/: type, properties, required,
/// additionalProperties, items, enum, const, minimum/maximum/exclusiveMinimum, minItems/maxItems, minLength,
/// oneOf/anyOf/allOf and local `$ref`s.
struct SchemaValidator {
    /// The whole document, for resolving `#/...` references.
    let document: RPCValue

    /// Problems with `value`, each prefixed by its path; empty when it conforms.
    func problems(_ value: RPCValue, against schema: RPCValue, at path: String = "$") -> [String] {
        guard case .object(let rules) = schema else { return [] }
        if case .string(let reference)? = rules["$ref"] {
            guard let target = resolve(reference) else { return ["\(path): unresolvable $ref \(reference)"] }
            return problems(value, against: target, at: path)
        }
        var found: [String] = []
        if let types = rules["type"] {
            let allowed = types.arrayValue?.compactMap(\.stringValue) ?? [types.stringValue ?? ""]
            if !allowed.contains(where: { Self.matches(value, type: $0) }) {
                return ["\(path): expected \(allowed.joined(separator: " or ")), got \(value.kindDescription)"]
            }
        }
        if let constant = rules["const"], !Self.equal(constant, value) { found.append("\(path): expected \(constant), got \(value)") }
        if case .array(let options)? = rules["enum"], !options.contains(where: { Self.equal($0, value) }) {
            found.append("\(path): \(value) is not one of \(options)")
        }
        if let number = value.doubleValue {
            if let minimum = rules["minimum"]?.doubleValue, number < minimum { found.append("\(path): \(number) < minimum \(minimum)") }
            if let maximum = rules["maximum"]?.doubleValue, number > maximum { found.append("\(path): \(number) > maximum \(maximum)") }
            if let bound = rules["exclusiveMinimum"]?.doubleValue, number <= bound { found.append("\(path): \(number) <= \(bound)") }
        }
        if case .string(let text) = value, let minimum = rules["minLength"]?.intValue, text.count < minimum {
            found.append("\(path): string shorter than \(minimum)")
        }
        if case .array(let elements) = value {
            if let minimum = rules["minItems"]?.intValue, elements.count < minimum { found.append("\(path): fewer than \(minimum) items") }
            if let maximum = rules["maxItems"]?.intValue, elements.count > maximum { found.append("\(path): more than \(maximum) items") }
            if let items = rules["items"] {
                for (index, element) in elements.enumerated() { found += problems(element, against: items, at: "\(path)[\(index)]") }
            }
        }
        if case .object(let members) = value {
            let properties = rules["properties"]?.objectValue ?? [:]
            for case .string(let name) in rules["required"]?.arrayValue ?? [] where members[name] == nil {
                found.append("\(path): missing required '\(name)'")
            }
            for (name, member) in members {
                if let property = properties[name] {
                    found += problems(member, against: property, at: "\(path).\(name)")
                } else if let additional = rules["additionalProperties"] {
                    if additional == .bool(false) {
                        found.append("\(path): unexpected property '\(name)'")
                    } else {
                        found += problems(member, against: additional, at: "\(path).\(name)")
                    }
                }
            }
        }
        if case .array(let all)? = rules["allOf"] {
            for part in all { found += problems(value, against: part, at: path) }
        }
        if case .array(let options)? = rules["anyOf"], !options.contains(where: { problems(value, against: $0, at: path).isEmpty }) {
            found.append("\(path): matches none of anyOf")
        }
        if case .array(let options)? = rules["oneOf"] {
            let matching = options.filter { problems(value, against: $0, at: path).isEmpty }.count
            if matching != 1 { found.append("\(path): matches \(matching) of oneOf's \(options.count) schemas, expected exactly 1") }
        }
        return found
    }

    func resolve(_ reference: String) -> RPCValue? {
        guard reference.hasPrefix("#/") else { return nil }
        var node: RPCValue? = document
        for part in reference.dropFirst(2).split(separator: "/") { node = node?[String(part)] }
        return node
    }

    static func matches(_ value: RPCValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object): true
        case ("integer", .integer), ("number", .integer), ("number", .number): true
        case ("integer", .number(let number)): number.rounded() == number
        default: false
        }
    }

    /// Equality that treats 1 and 1.0 alike, as JSON Schema does.
    static func equal(_ lhs: RPCValue, _ rhs: RPCValue) -> Bool {
        if let left = lhs.doubleValue, let right = rhs.doubleValue { return left == right }
        return lhs == rhs
    }
}

/// The OpenRPC document and checks of messages against it.
struct ProtocolSpecification {
    let document: RPCValue
    let validator: SchemaValidator
    let methods: [String: RPCValue]
    let errorCodes: [String: Int]

    init() throws {
        let url = PackagePaths.root.appendingPathComponent("protocol/seqlens.openrpc.json")
        document = try JanssonCodec.decode(Array(try Data(contentsOf: url))).value
        validator = SchemaValidator(document: document)
        var methods: [String: RPCValue] = [:]
        for method in document["methods"]?.arrayValue ?? [] {
            if let name = method["name"]?.stringValue { methods[name] = method }
        }
        self.methods = methods
        var codes: [String: Int] = [:]
        for (name, error) in document["components"]?["errors"]?.objectValue ?? [:] { codes[name] = error["code"]?.intValue }
        errorCodes = codes
    }

    /// Codes any message may get, whatever its method (framing, request shape, lifecycle).
    static let universalCodes: Set<Int> = [-32700, -32600, -32601, -32602, -32603, -32002]

    /// Problems with a message `from` the client or the server; `requests` maps ids to methods.
    func problems(_ message: RPCValue, from sender: String, requests: inout [RPCValue: String]) -> [String] {
        guard message["jsonrpc"] == "2.0" else { return ["jsonrpc is not \"2.0\""] }
        if case .string(let name)? = message["method"] {
            guard let method = methods[name] else { return ["method '\(name)' is not in the spec"] }
            let isNotification = message["id"] == nil
            if isNotification != (method["x-notification"] == .bool(true)) {
                return ["'\(name)' sent as \(isNotification ? "a notification" : "a request") but the spec says otherwise"]
            }
            let direction = sender == "client" ? "clientToServer" : "serverToClient"
            if method["x-direction"]?.stringValue != direction { return ["'\(name)' sent by the \(sender)"] }
            if let id = message["id"] { requests[id] = name }
            return paramsProblems(message["params"], method: method)
        }
        guard sender == "server", let id = message["id"] else { return ["not a request, notification or server response"] }
        if let error = message["error"] {
            var found = validator.problems(error, against: ["$ref": "#/components/schemas/ErrorObject"], at: "error")
            guard let code = error["code"]?.intValue else { return found + ["error without code"] }
            if !Set(errorCodes.values).contains(code) { found.append("error code \(code) is not documented") }
            if let method = requests[id].flatMap({ methods[$0] }), !Self.universalCodes.contains(code) {
                let listed = (method["errors"]?.arrayValue ?? []).compactMap { $0["$ref"]?.stringValue.flatMap(validator.resolve)?["code"]?.intValue }
                if !listed.contains(code) { found.append("error \(code) is not listed for \(method["name"] ?? "?")") }
            }
            return found
        }
        guard let name = requests[id], let method = methods[name] else {
            return id == .null ? ["a result with id null"] : ["response to unknown request \(id)"]
        }
        guard let schema = method["result"]?["schema"] else { return ["'\(name)' has no result schema"] }
        return validator.problems(message["result"] ?? .null, against: schema, at: "\(name).result")
    }

    private func paramsProblems(_ params: RPCValue?, method: RPCValue) -> [String] {
        let name = method["name"]?.stringValue ?? "?"
        let members = params?.objectValue ?? [:]
        if let params, params.objectValue == nil { return ["\(name): params is not an object"] }
        var found: [String] = []
        var known: Set<String> = []
        for descriptor in method["params"]?.arrayValue ?? [] {
            guard let field = descriptor["name"]?.stringValue else { continue }
            known.insert(field)
            if let value = members[field] {
                var schema = descriptor["schema"] ?? [:]
                // A schema picked by another param's value (methodArgs by method).
                if let choice = descriptor["x-schemaChosenBy"], let param = choice["param"]?.stringValue,
                   let prefix = choice["refPrefix"]?.stringValue,
                   let picked = members[param]?.stringValue ?? choice["default"]?.stringValue {
                    schema = ["$ref": .string(prefix + picked)]
                }
                found += validator.problems(value, against: schema, at: "\(name).params.\(field)")
            } else if descriptor["required"] == .bool(true) {
                found.append("\(name): missing required param '\(field)'")
            }
        }
        for field in members.keys where !known.contains(field) { found.append("\(name): param '\(field)' is not in the spec") }
        return found
    }
}
