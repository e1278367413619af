import Foundation
import Testing

/// Locations of committed fixtures and of the user cache that scripts/fetch-models.sh fills.
enum TestFiles {
    /// The repository root: the nearest folder above this file that holds Package.swift.
    static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
            url.deleteLastPathComponent()
        }
        return url
    }()

    static func fixture(_ name: String) -> URL {
        repositoryRoot.appendingPathComponent("Tests/Fixtures/tokenizers").appendingPathComponent(name)
    }

    /// A committed tiny model folder (Tests/Fixtures/models/<name>).
    static func model(_ name: String) -> URL {
        repositoryRoot.appendingPathComponent("Tests/Fixtures/models").appendingPathComponent(name)
    }

    /// $SEQLENS_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/seqlens.
    static let cache: URL = {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["SEQLENS_CACHE"], !path.isEmpty { return URL(fileURLWithPath: path) }
        let base =
            environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        return base.appendingPathComponent("seqlens")
    }()

    /// Whether the cache holds `relativePath`: tests that need it are `.enabled(if:)` on this, with
    /// `missing(_:madeBy:)` as the reason, so they show as skipped rather than pass.
    static func isCached(_ relativePath: String) -> Bool {
        FileManager.default.fileExists(atPath: cache.appendingPathComponent(relativePath).path)
    }

    static func missing(_ relativePath: String, madeBy maker: String) -> Comment {
        Comment(rawValue: "\(cache.appendingPathComponent(relativePath).path) is missing (made by \(maker))")
    }

    /// A cache file that the test's `.enabled(if:)` condition said is there.
    static func cached(_ relativePath: String) throws -> URL {
        let url = cache.appendingPathComponent(relativePath)
        try #require(FileManager.default.fileExists(atPath: url.path), "\(url.path) is missing")
        return url
    }

    static func json<T>(_ name: String, as type: T.Type = T.self) throws -> T {
        let data = try Data(contentsOf: fixture(name))
        return try #require(
            try JSONSerialization.jsonObject(with: data) as? T, "fixture \(name) has an unexpected shape")
    }

    static var strings: [String] { get throws { try json("strings.json") } }
}

/// The first index where two id lists differ, for failure messages.
func firstDifference(_ actual: [Int], _ expected: [Int]) -> String {
    let index =
        (0..<min(actual.count, expected.count)).first { actual[$0] != expected[$0] }
        ?? min(actual.count, expected.count)
    return "first difference at \(index): got \(Array(actual.dropFirst(max(0, index - 2)).prefix(6))), "
        + "expected \(Array(expected.dropFirst(max(0, index - 2)).prefix(6)))"
}

/// Integer lists from JSONSerialization output.
func idLists(_ value: Any?) throws -> [[Int]] {
    try #require(value as? [[Int]], "expected a list of id lists")
}
