import Foundation
import SeqLensModels

/// What the server needs from a loaded model. `LanguageModel` conforms below; tests and the
/// `synthetic:` test hook use `SyntheticModel`.
public protocol ResidentModel: AnyObject, Sendable {
    var summary: ModelSummary { get }
    func encode(_ text: String, addSpecialTokens: Bool) throws -> [Int]
    func decode(_ ids: [Int], skipSpecialTokens: Bool) throws -> String
    func tokenStrings(_ ids: [Int]) throws -> [String]
    /// Generates from `prompt`; `onToken` may throw (e.g. `CancellationError`) to stop.
    func continuation(
        of prompt: [Int], options: GenerationOptions, onToken: (GeneratedToken, Int) throws -> Void
    ) throws -> GenerationOutcome
}

/// The static facts the protocol reports about a model (`model/load`'s result).
public struct ModelSummary: Sendable, Equatable {
    public var architecture: String
    public var layers: Int
    public var heads: Int
    public var keyValueHeads: Int
    public var hiddenSize: Int
    public var vocabularySize: Int
    public var maxPositions: Int
    public var memoryBytes: Int
    public var specialTokens: [String: Int]
    public var source: String

    public init(
        architecture: String, layers: Int, heads: Int, keyValueHeads: Int, hiddenSize: Int, vocabularySize: Int,
        maxPositions: Int, memoryBytes: Int, specialTokens: [String: Int], source: String
    ) {
        self.architecture = architecture
        self.layers = layers
        self.heads = heads
        self.keyValueHeads = keyValueHeads
        self.hiddenSize = hiddenSize
        self.vocabularySize = vocabularySize
        self.maxPositions = maxPositions
        self.memoryBytes = memoryBytes
        self.specialTokens = specialTokens
        self.source = source
    }

    public init(_ info: ModelInfo) {
        self.init(
            architecture: info.architecture, layers: info.layerCount, heads: info.headCount,
            keyValueHeads: info.keyValueHeadCount, hiddenSize: info.hiddenSize, vocabularySize: info.vocabularySize,
            maxPositions: info.maxPositions, memoryBytes: info.memoryBytes, specialTokens: info.specialTokens,
            source: info.source)
    }
}

/// A finished generation, in the server's own terms (the engine's `Generation` has no public init).
public struct GenerationOutcome: Sendable {
    public var promptIds: [Int]
    public var tokens: [GeneratedToken]
    public var text: String
    public var stopReason: StopReason

    public init(promptIds: [Int], tokens: [GeneratedToken], text: String, stopReason: StopReason) {
        self.promptIds = promptIds
        self.tokens = tokens
        self.text = text
        self.stopReason = stopReason
    }
}

extension LanguageModel: ResidentModel {
    public var summary: ModelSummary { ModelSummary(info) }

    public func continuation(
        of prompt: [Int], options: GenerationOptions, onToken: (GeneratedToken, Int) throws -> Void
    ) throws -> GenerationOutcome {
        let generation = try generate(prompt: prompt, options: options, onToken: onToken)
        return GenerationOutcome(
            promptIds: generation.promptIds, tokens: generation.tokens, text: generation.text,
            stopReason: generation.stopReason)
    }
}

/// Turns a `model/load` path into a resident model.
public protocol ResidentModelLoader: Sendable {
    func load(_ location: ModelLocation) throws -> any ResidentModel
    /// The identity of the files behind `location`: equal keys mean the same model.
    func key(for location: ModelLocation) -> String
    /// Expected resident bytes before loading (file sizes), when they can be known.
    func estimatedBytes(for location: ModelLocation) -> Int?
}

/// Loads models with the engine; paths starting with `synthetic:` give `SyntheticModel`s when enabled.
public struct EngineModelLoader: ResidentModelLoader {
    public var allowsSyntheticModels: Bool

    public init(allowsSyntheticModels: Bool = false) {
        self.allowsSyntheticModels = allowsSyntheticModels
    }

    public func load(_ location: ModelLocation) throws -> any ResidentModel {
        if allowsSyntheticModels, case .path(let path) = location, let model = try SyntheticModel(specification: path) {
            return model
        }
        return try LanguageModel.load(location)
    }

    public func key(for location: ModelLocation) -> String {
        switch location {
        case .defaultModel:
            // The same file loaded as "default" and by its path is one model.
            guard let file = Self.defaultModelFile, let resolved = realpath(file, nil) else { return "default" }
            defer { free(resolved) }
            return String(cString: resolved)
        case .path(let path):
            if allowsSyntheticModels && path.hasPrefix(SyntheticModel.scheme) { return path }
            guard let resolved = realpath(path, nil) else { return path }
            defer { free(resolved) }
            return String(cString: resolved)
        }
    }

    /// Where the engine finds the default model: `$SEQLENS_CACHE`, else `${XDG_CACHE_HOME:-~/.cache}/seqlens`.
    static var defaultModelFile: String? {
        let environment = ProcessInfo.processInfo.environment
        let cache =
            environment["SEQLENS_CACHE"]
            ?? (environment["XDG_CACHE_HOME"] ?? NSHomeDirectory() + "/.cache") + "/seqlens"
        let file = cache + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
        return FileManager.default.fileExists(atPath: file) ? file : nil
    }

    public func estimatedBytes(for location: ModelLocation) -> Int? {
        let path: String
        switch location {
        case .defaultModel:
            guard let file = Self.defaultModelFile else { return nil }
            path = file
        case .path(let given): path = given
        }
        if allowsSyntheticModels, let model = try? SyntheticModel(specification: path) { return model.summary.memoryBytes }
        let files = FileManager.default
        var isFolder: ObjCBool = false
        guard files.fileExists(atPath: path, isDirectory: &isFolder) else { return nil }
        let url = URL(fileURLWithPath: path)
        let members =
            isFolder.boolValue
            ? ((try? files.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".safetensors") }
                .map { url.appendingPathComponent($0).path } : [path]
        let sizes = members.compactMap { (try? files.attributesOfItem(atPath: $0)[.size] as? NSNumber)?.intValue }
        return sizes.isEmpty ? nil : sizes.reduce(0, +)
    }
}
