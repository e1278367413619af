import Foundation
import SeqLensFiles

/// Typed reads from a parsed JSON object, each failure a `TokenizerError` naming the field.
struct JSONFields {
    let path: String
    let prefix: String
    let object: [String: Any]

    /// Reads and parses the JSON object in `url`.
    static func load(_ url: URL) throws -> JSONFields {
        try parse(try readTokenizerFile(url.path), path: url.path)
    }

    /// Parses the JSON object in `data`; `path` names its origin in errors.
    static func parse(_ data: Data, path: String) throws -> JSONFields {
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw TokenizerError.invalidJSON(path: path, reason: (error as NSError).localizedDescription)
        }
        guard let object = parsed as? [String: Any] else {
            throw TokenizerError.malformedField(path: path, field: "(root)", reason: "must be a JSON object")
        }
        return JSONFields(path: path, prefix: "", object: object)
    }

    func name(_ key: String) -> String { prefix.isEmpty ? key : "\(prefix).\(key)" }

    func malformed(_ key: String, _ reason: String) -> TokenizerError {
        .malformedField(path: path, field: name(key), reason: reason)
    }

    func isNull(_ key: String) -> Bool { object[key] == nil || object[key] is NSNull }

    func string(_ key: String) throws -> String {
        guard let value = object[key] as? String else { throw malformed(key, "must be a string") }
        return value
    }

    func optionalString(_ key: String) throws -> String? {
        isNull(key) ? nil : try string(key)
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        if isNull(key) { return fallback }
        guard let value = object[key] as? Bool else { throw malformed(key, "must be true or false") }
        return value
    }

    func int(_ key: String) throws -> Int {
        guard let number = object[key] as? NSNumber, let value = Int(exactly: number.doubleValue) else {
            throw malformed(key, "must be an integer")
        }
        return value
    }

    func object(_ key: String) throws -> JSONFields {
        guard let value = object[key] as? [String: Any] else { throw malformed(key, "must be a JSON object") }
        return JSONFields(path: path, prefix: name(key), object: value)
    }

    func optionalObject(_ key: String) throws -> JSONFields? {
        isNull(key) ? nil : try object(key)
    }

    func array(_ key: String) throws -> [Any] {
        guard let value = object[key] as? [Any] else { throw malformed(key, "must be a JSON array") }
        return value
    }

    /// The elements of an array of objects, each readable with its index in error messages.
    func objects(_ key: String) throws -> [JSONFields] {
        try array(key).enumerated().map { index, element in
            guard let value = element as? [String: Any] else {
                throw malformed("\(key)[\(index)]", "must be a JSON object")
            }
            return JSONFields(path: path, prefix: name("\(key)[\(index)]"), object: value)
        }
    }
}

/// A tokenizer file's bytes (regular files only, at most 1 GiB: real ones are tens of MB).
/// - Throws: `TokenizerError.unreadableFile` naming what is wrong.
func readTokenizerFile(_ path: String) throws -> Data {
    do {
        return try RegularFile.contents(of: path, limit: 1 << 30)
    } catch {
        throw TokenizerError.unreadableFile(path: path, reason: error.reason)
    }
}
