import Foundation

/// Paths of the committed fixtures and of the user cache (fetched models).
/// Shared by the test targets that read committed fixtures or cached models.
public enum Fixtures {
    public static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url.deleteLastPathComponent()
        }
        return url
    }()

    public static func path(_ relative: String) -> String {
        repositoryRoot.appendingPathComponent("Tests/Fixtures").appendingPathComponent(relative).path
    }

    public static func json(_ relative: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(relative)))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    public static var cache: String {
        let env = ProcessInfo.processInfo.environment
        if let explicit = env["SEQLENS_CACHE"] { return explicit }
        let base = env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")
        return base + "/seqlens"
    }

    /// The default model's GGUF, or nil (with a visible note) when it has not been fetched.
    public static var smolLM2: String? {
        let file = cache + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
        if FileManager.default.fileExists(atPath: file) { return file }
        print("note: \(file) is missing; run scripts/fetch-models.sh. Skipping SmolLM2 checks.")
        return nil
    }
}
