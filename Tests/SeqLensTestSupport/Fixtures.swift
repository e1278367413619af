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

    /// Where scripts/fetch-models.sh puts the default model's GGUF.
    public static var smolLM2File: String { cache + "/models/SmolLM2-135M-Instruct.Q4_1.gguf" }

    /// Whether the default model has been fetched: suites that need it are
    /// `.enabled(if: Fixtures.smolLM2IsCached, Fixtures.smolLM2Missing)`, so a missing model shows
    /// as skipped, never as passed; `CIResourcesTests` fails in CI when it is missing.
    public static var smolLM2IsCached: Bool { FileManager.default.fileExists(atPath: smolLM2File) }

    public static var smolLM2Missing: String { "\(smolLM2File) is missing: run scripts/fetch-models.sh" }

    /// The default model's GGUF.
    /// - Throws: `MissingFixture` when it has not been fetched.
    public static func smolLM2() throws -> String {
        guard smolLM2IsCached else { throw MissingFixture(description: smolLM2Missing) }
        return smolLM2File
    }
}

/// A resource a test needs is not on this machine.
public struct MissingFixture: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}
