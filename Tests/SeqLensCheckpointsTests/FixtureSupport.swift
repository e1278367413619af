import Foundation
import Testing

@testable import SeqLensCheckpoints

/// Paths and loaders shared by the checkpoint tests.
enum Fixtures {
    /// The repository root: the nearest folder above this file that holds Package.swift.
    static let repositoryRoot: URL = {
        var folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while folder.path != "/" {
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path) {
                return folder
            }
            folder = folder.deletingLastPathComponent()
        }
        preconditionFailure("no Package.swift above \(#filePath)")
    }()

    static let folder = repositoryRoot.appendingPathComponent("Tests/Fixtures/checkpoints")

    static func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// A JSON object from the fixture folder.
    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: folder.appendingPathComponent(name))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// A raw little-endian float32 file from the fixture folder.
    static func floats(_ name: String) throws -> [Float] {
        let data = try Data(contentsOf: folder.appendingPathComponent(name))
        return data.withUnsafeBytes { raw in
            (0..<raw.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    /// The user model cache ($SEQLENS_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/seqlens).
    static var modelCache: String {
        let environment = ProcessInfo.processInfo.environment
        if let cache = environment["SEQLENS_CACHE"], !cache.isEmpty { return cache }
        let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.cache")
        return base + "/seqlens"
    }

    static var smolLM2Path: String { modelCache + "/models/SmolLM2-135M-Instruct.Q4_1.gguf" }
}

/// A fresh temporary folder, removed by `cleanUp`.
struct TemporaryFolder {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("seqlens-ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// Writes `bytes` to a file in the folder and returns its path.
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = url.appendingPathComponent(name)
        try Data(bytes).write(to: file)
        return file.path
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    func cleanUp() { try? FileManager.default.removeItem(at: url) }
}

extension CheckpointError {
    /// The enum case's name, e.g. "badMagic".
    var caseName: String { Mirror(reflecting: self).children.first?.label ?? "\(self)" }
}

/// Runs `body`, which must throw the `CheckpointError` case named `expectedCase` whose message
/// contains every string in `mentioning`.
func expectCheckpointError(
    _ expectedCase: String, mentioning fragments: [String] = [], sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected CheckpointError.\(expectedCase), but nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as CheckpointError {
        #expect(error.caseName == expectedCase, "got: \(error)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(
                error.description.contains(fragment), "message lacks '\(fragment)': \(error)",
                sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("expected CheckpointError.\(expectedCase), got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
}

/// Bit-for-bit comparison of two float arrays; records the worst difference on failure.
func expectBitIdentical(
    _ actual: [Float], _ expected: some Collection<Float>, _ label: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    let expected = Array(expected)
    guard actual.count == expected.count else {
        Issue.record("\(label): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
        return
    }
    var mismatches = 0
    var maxDifference: Float = 0
    var firstMismatch: Int?
    for i in actual.indices where actual[i].bitPattern != expected[i].bitPattern {
        mismatches += 1
        firstMismatch = firstMismatch ?? i
        if actual[i].isFinite && expected[i].isFinite { maxDifference = max(maxDifference, abs(actual[i] - expected[i])) }
    }
    #expect(
        mismatches == 0,
        "\(label): \(mismatches) of \(actual.count) values differ in bits; first at \(firstMismatch ?? -1) (got \(firstMismatch.map { actual[$0] } ?? 0), want \(firstMismatch.map { expected[$0] } ?? 0)); max |diff| \(maxDifference)",
        sourceLocation: sourceLocation)
}
