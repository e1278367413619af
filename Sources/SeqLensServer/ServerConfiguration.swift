/// Settings for one daemon.
public struct ServerConfiguration: Sendable {
    /// Resident models may hold at most this many bytes; nil for no limit.
    public var memoryBudgetBytes: Int?
    public var logLevel: LogLevel
    /// Enables `synthetic:` model paths (test hook; see `SyntheticModel`).
    public var allowsSyntheticModels: Bool
    /// Frames declaring a longer body are rejected.
    public var maximumMessageBytes: Int

    public init(
        memoryBudgetBytes: Int? = nil, logLevel: LogLevel = .warning, allowsSyntheticModels: Bool = false,
        maximumMessageBytes: Int = 256 << 20
    ) {
        self.memoryBudgetBytes = memoryBudgetBytes
        self.logLevel = logLevel
        self.allowsSyntheticModels = allowsSyntheticModels
        self.maximumMessageBytes = maximumMessageBytes
    }
}

/// What `initialize` reports about the server.
public enum ServerInfo {
    public static let name = "seqlens"
    public static let version = "0.1.0"
    /// Model families the engine loads (issue 2).
    public static let architectures = ["gpt2", "llama", "mistral", "qwen2"]
    public static let checkpointFormats = ["safetensors", "gguf"]
    /// Filled by the attribution issues.
    public static let attributionMethods: [String] = []
    public static let stepFunctions: [String] = []
    /// Notifications the server accepts from the client.
    public static let clientNotifications = ["initialized", "exit", "$/cancelRequest"]
    /// Notifications the server sends.
    public static let serverNotifications = ["$/progress"]
}
