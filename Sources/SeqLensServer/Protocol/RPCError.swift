/// A JSON-RPC error code: the standard ones, LSP's, and SeqLens's server codes (-32000...-32099).
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// The message is not JSON (or its frame is broken).
    public static let parseError = ErrorCode(rawValue: -32700)
    /// JSON, but not a valid JSON-RPC request object.
    public static let invalidRequest = ErrorCode(rawValue: -32600)
    public static let methodNotFound = ErrorCode(rawValue: -32601)
    /// A parameter is missing or has the wrong type or value; the message names it.
    public static let invalidParams = ErrorCode(rawValue: -32602)
    public static let internalError = ErrorCode(rawValue: -32603)
    /// A request other than `initialize` arrived before `initialize` (LSP).
    public static let serverNotInitialized = ErrorCode(rawValue: -32002)
    /// The request was cancelled by `$/cancelRequest` (LSP).
    public static let requestCancelled = ErrorCode(rawValue: -32800)

    /// No resident model has the given id.
    public static let modelNotFound = ErrorCode(rawValue: -32010)
    /// The model could not be loaded: no such file, corrupt checkpoint, unsupported architecture.
    public static let modelLoadFailed = ErrorCode(rawValue: -32011)
    /// Loading would exceed the memory budget and no idle model can be unloaded to make room.
    public static let memoryBudgetExceeded = ErrorCode(rawValue: -32012)
    /// An input has more tokens than the model's context allows.
    public static let inputTooLong = ErrorCode(rawValue: -32013)
    /// The engine failed while computing a request that was valid.
    public static let computationFailed = ErrorCode(rawValue: -32014)

    public var description: String { String(rawValue) }
}

/// An error answered to a request: code, a message that names the problem, optional data.
public struct RPCError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    public var data: RPCValue?

    public init(_ code: ErrorCode, _ message: String, data: RPCValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    public var description: String { "error \(code.rawValue): \(message)" }

    public var json: RPCValue {
        var members: [String: RPCValue] = ["code": .integer(code.rawValue), "message": .string(message)]
        if let data { members["data"] = data }
        return .object(members)
    }

    static func invalidParams(_ path: String, expected: String, got value: RPCValue?) -> RPCError {
        let found = value.map { "got \($0.kindDescription)" } ?? "it is missing"
        return RPCError(.invalidParams, "\(path): expected \(expected), \(found)")
    }

    static func cancelled(_ id: RequestID, beforeStart: Bool) -> RPCError {
        RPCError(.requestCancelled, "request \(id) was cancelled" + (beforeStart ? " before it started" : ""))
    }
}

/// A request id: JSON-RPC allows strings and integers (null only in error replies).
public enum RequestID: Hashable, Sendable, CustomStringConvertible {
    case integer(Int)
    case string(String)

    public init?(_ value: RPCValue) {
        switch value {
        case .integer(let number): self = .integer(number)
        case .string(let text): self = .string(text)
        default: return nil
        }
    }

    public var json: RPCValue {
        switch self {
        case .integer(let number): .integer(number)
        case .string(let text): .string(text)
        }
    }

    public var description: String {
        switch self {
        case .integer(let number): String(number)
        case .string(let text): "'\(text)'"
        }
    }
}
