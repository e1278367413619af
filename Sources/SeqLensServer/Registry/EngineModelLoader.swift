import Foundation
import SeqLensModels

/// Turns a `model/load` path into a resident model. The engine's loader serves the daemon; tests
/// wrap it to count reads from storage.
public protocol ResidentModelLoader: Sendable {
    func load(_ location: ModelLocation) throws -> LoadedModel
    /// The identity of the files behind `location`: equal keys mean the same model.
    func key(for location: ModelLocation) -> String
    /// Expected resident bytes before loading (file sizes), when they can be known.
    func estimatedBytes(for location: ModelLocation) -> Int?
}

/// Loads models with the engine: safetensors folders, `.gguf` files and the default model.
public struct EngineModelLoader: ResidentModelLoader {
    public init() {}

    public func load(_ location: ModelLocation) throws -> LoadedModel {
        try LoadedModel.load(location)
    }

    public func key(for location: ModelLocation) -> String {
        switch location {
        case .defaultModel:
            // The same file loaded as "default" and by its path is one model.
            guard let file = Self.defaultModelFile, let resolved = realpath(file, nil) else { return "default" }
            defer { free(resolved) }
            return String(cString: resolved)
        case .path(let path):
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
