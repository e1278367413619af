import Foundation
import Testing

/// `seqlens inspect …` on the tiny GPT-2: `--json` gives the reference's numbers
/// (Tests/Fixtures/internals, transformers with hooks), the tables show them, errors exit 1.
@Suite struct InspectCommandTests {
    static let model = PackagePaths.root.appendingPathComponent("Tests/Fixtures/models/tiny-gpt2").path

    static func fixture() throws -> [String: Any] {
        let url = PackagePaths.root.appendingPathComponent("Tests/Fixtures/internals/tiny-gpt2.json")
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    /// Runs `seqlens inspect ARGS`: (exit status, stdout, stderr).
    static func inspect(_ arguments: [String]) throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = try #require(PackagePaths.binary)
        process.arguments = ["inspect"] + arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    static func json(_ arguments: [String]) throws -> [String: Any] {
        let (status, out, err) = try inspect(arguments + ["--json"])
        try #require(status == 0, "\(arguments): \(err)")
        return try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
    }

    static func worst(_ actual: [Double], _ expected: [Double]) -> Double {
        #expect(actual.count == expected.count)
        return zip(actual, expected).map { abs($0 - $1) }.max() ?? .infinity
    }

    @Test func activationsAsJSON() throws {
        let fixture = try Self.fixture()
        let text = try #require(fixture["text"] as? String)
        let result = try Self.json(["activations", "--model", Self.model, text, "--site", "blocks.1.mlp.out", "--site", "blocks.0.attn.pattern"])
        let activations = try #require(result["activations"] as? [String: [String: Any]])
        let reference = try #require(fixture["activations"] as? [String: [String: Any]])
        for site in ["blocks.1.mlp.out", "blocks.0.attn.pattern"] {
            let shape = try #require(activations[site]?["shape"] as? [Int])
            #expect(shape == reference[site]?["shape"] as? [Int])
            func flatten(_ value: Any) -> [Double] { (value as? [Any]).map { $0.flatMap(flatten) } ?? [(value as? Double) ?? .nan] }
            let expected = try #require(reference[site]?["data"] as? [Double])
            let scale = expected.map(abs).max()!
            #expect(Self.worst(flatten(activations[site]!["data"]!), expected) <= 1e-4 * scale, "\(site)")
        }
    }

    @Test func logitLensAsJSONAndAsAGrid() throws {
        let fixture = try Self.fixture()
        let text = try #require(fixture["text"] as? String)
        let lens = try #require(fixture["logit_lens"] as? [String: Any])
        let references = try #require(lens["sites"] as? [[String: Any]])
        let result = try Self.json(["logit-lens", "--model", Self.model, text, "--target", "441"])
        let layers = try #require(result["layers"] as? [[String: Any]])
        #expect(layers.map { $0["site"] as? String } == references.map { $0["site"] as? String })
        for (layer, reference) in zip(layers, references) {
            let positions = try #require(layer["positions"] as? [[String: Any]])
            let topIDs = positions.map { ($0["top"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } ?? [] }
            #expect(topIDs == reference["top_ids"] as? [[Int]], "\(layer["site"] ?? "")")
        }
        // The grid: one row per site, the top token of the last layer at the last position.
        let (status, table, _) = try Self.inspect(["logit-lens", "--model", Self.model, text, "--color", "none"])
        #expect(status == 0)
        #expect(table.contains("Logit lens: top next token"))
        for site in references.compactMap({ $0["site"] as? String }) { #expect(table.contains(site)) }
        let colored = try Self.inspect(["logit-lens", "--model", Self.model, text, "--color", "trueColor"]).1
        #expect(colored.contains("\u{1B}[48;2;"), "cells have background colours")
    }

    @Test func patchingAsJSONAndAsAGrid() throws {
        let patch = try #require(try Self.fixture()["patch"] as? [String: Any])
        let sites = try #require(patch["sites"] as? [String])
        let metric = try #require(patch["metric"] as? [String: Any])
        let arguments = [
            "patch", "--model", Self.model, "--clean", try #require(patch["clean"] as? String),
            "--corrupted", try #require(patch["corrupted"] as? String),
            "--target", "\(try #require(metric["target"] as? Int))", "--contrast", "\(try #require(metric["contrast"] as? Int))",
        ] + sites.flatMap { ["--site", $0] }
        let result = try Self.json(arguments)
        let results = try #require(result["results"] as? [[String: Any]])
        let expected = try #require(patch["values"] as? [[Double]])
        #expect(results.compactMap { $0["site"] as? String } == sites)
        let scale = expected.flatMap { $0 }.map(abs).max()!
        for (row, reference) in zip(results, expected) {
            #expect(Self.worst(try #require(row["values"] as? [Double]), reference) <= 1e-4 * scale)
        }
        let (status, table, _) = try Self.inspect(arguments + ["--color", "none"])
        #expect(status == 0)
        #expect(table.contains("Activation patching"))
        // The clean run's metric, rounded as the title shows it.
        #expect(table.contains(String(format: "clean %.3f", try #require(patch["clean_metric"] as? Double))))
        #expect(table.contains("→"), "the swapped position is labelled corrupted→clean")
    }

    @Test func headSweepAsJSON() throws {
        let fixture = try Self.fixture()
        let ablate = try #require(fixture["ablate"] as? [String: Any])
        let text = try #require(fixture["text"] as? String)
        let result = try Self.json(["ablate", "--model", Self.model, text, "--target", "\(try #require(ablate["target"] as? Int))", "--sweep-heads"])
        let grid = try #require(result["grid"] as? [[Double]])
        let expected = try #require(ablate["grid"] as? [[Double]])
        #expect(Self.worst(grid.flatMap { $0 }, expected.flatMap { $0 }) <= 1e-4 * max(1, expected.flatMap { $0 }.map(abs).max()!))
    }

    @Test func badArgumentsExitWithAMessage() throws {
        for (arguments, message) in [
            (["activations", "--model", Self.model, "hi", "--site", "blocks.9.resid_post"], "layer"),
            (["patch", "--model", Self.model, "--clean", "a b c", "--corrupted", "a", "--target", "5"], "same number of tokens"),
            (["ablate", "--model", Self.model, "hi", "--target", "999999", "--sweep-heads"], "999999"),
            (["logit-lens", "--model", Self.model, "hi", "--target", "two words"], "encodes to"),
        ] {
            let (status, out, err) = try Self.inspect(arguments)
            #expect(status != 0 && out.isEmpty, "\(arguments)")
            #expect(err.contains(message), "\(arguments): \(err)")
        }
    }
}
