import SeqLensAttribution
import SeqLensModels

/// Settings for one daemon.
public struct ServerConfiguration: Sendable {
    /// Resident models may hold at most this many bytes; nil for no limit.
    public var memoryBudgetBytes: Int?
    public var logLevel: LogLevel
    /// Frames declaring a longer body are rejected.
    public var maximumMessageBytes: Int
    /// When set, every file the daemon writes (`savePath`) must lie inside this folder, and relative
    /// save paths are resolved against it.
    public var saveRoot: String?

    public init(
        memoryBudgetBytes: Int? = nil, logLevel: LogLevel = .warning,
        maximumMessageBytes: Int = RequestLimits.messageBytes, saveRoot: String? = nil
    ) {
        self.memoryBudgetBytes = memoryBudgetBytes
        self.logLevel = logLevel
        self.maximumMessageBytes = maximumMessageBytes
        self.saveRoot = saveRoot
    }
}

/// What `initialize` reports about the server; the engine's lists come from the engine itself.
public enum ServerInfo {
    public static let name = "seqlens"
    public static let version = "0.1.0"
    /// Model families the engine loads.
    public static var architectures: [String] { LanguageModel.supportedArchitectures }
    public static var checkpointFormats: [String] { LanguageModel.supportedFormats }
    /// Tokenizer kinds the engine reads.
    public static var tokenizers: [String] { LanguageModel.supportedTokenizers }
    /// Inseq's names of the attribution methods and step functions the engine knows.
    public static var attributionMethods: [String] { AttributionMethods.names }

    /// Each method with what a client needs to offer it: its arguments, whether it differentiates,
    /// its output kind.
    public static var attributionMethodDetails: RPCValue {
        .array(AttributionMethods.all.map { method in
            .object([
                "name": .string(method.name), "summary": .string(method.summary),
                "needsGradients": .bool(method.needsGradients), "outputKind": .string(method.outputKind.rawValue),
                "usesBaselines": .bool(method.usesBaselines),
                "arguments": .array(AttributionMethods.argumentNames(of: method).map { .string($0) }),
            ])
        })
    }
    public static var stepFunctions: [String] { StepFunction.allCases.map(\.rawValue) }
    /// Notifications the server accepts from the client.
    public static let clientNotifications = ["initialized", "exit", "$/cancelRequest"]
    /// Notifications the server sends.
    public static let serverNotifications = ["$/progress"]
}
