import Foundation
import Testing
import SeqLensAttribution
import SeqLensTestSupport

/// `seqlens attribute` reaches every registered method: `--list-methods` lists them with their
/// arguments, `--method-args` passes arguments (the shorthands add to them), and a wrong argument
/// exits 1 naming it.
@Suite struct AttributeCommandMethodTests {
    static func attribute(_ arguments: [String]) throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = try #require(PackagePaths.binary)
        process.arguments = ["attribute"] + arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    @Test func listsEveryMethodWithItsArguments() throws {
        let (status, out, _) = try Self.attribute(["--list-methods"])
        #expect(status == 0)
        for method in AttributionMethods.all {
            #expect(out.contains("\(method.name): \(method.summary)"))
            let arguments = AttributionMethods.argumentNames(of: method)
            #expect(out.contains("arguments: \(arguments.isEmpty ? "none" : arguments.joined(separator: ", "))"), "\(method.name)")
        }
    }

    /// Occlusion with a two-token window through the command line equals the engine's.
    @Test func methodArgumentsReachTheMethod() throws {
        let model = InspectCommandTests.model
        let (status, out, err) = try Self.attribute([
            "--model", model, "The code is free", "--generated-text", "The code is free software and",
            "--method", "occlusion", "--method-args", #"{"slidingWindowShapes": 2}"#, "--json",
        ])
        try #require(status == 0, "\(err)")
        let printed = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]])
        let served = (printed.first?["targetAttributions"] as? [[Any]])?.flatMap { $0 }.map { ($0 as? Double).map(Float.init) ?? .nan }
        var request = AttributionRequest(inputs: ["The code is free"])
        request.generatedTexts = ["The code is free software and"]
        request.method = Occlusion(window: 2)
        request.stepScores = [.probability]
        let engine = try Attributor(model: try TinyModels.gpt2.get()).attribute(request).sequenceAttributions[0]
        let expected = try #require(try engine.aggregated().targetAttributions).values
        #expect(served?.count == expected.count)
        #expect(zip(served ?? [], expected).allSatisfy { ($0.isNaN && $1.isNaN) || abs($0 - $1) <= 1e-6 * max(1, abs($1)) })
    }

    @Test func aWrongArgumentExitsNamingIt() throws {
        let (status, _, err) = try Self.attribute([
            "--model", InspectCommandTests.model, "Hi", "--generated-text", "Hi there", "--method", "saliency", "--n-steps", "5",
        ])
        #expect(status == 1)
        #expect(err.contains("nSteps: unknown argument (this method takes: abs)"), "\(err)")
    }

    /// With `--progress` (or a terminal on standard error) a bar is drawn there and ends at 100%;
    /// standard output keeps only the result.
    @Test func drawsAProgressBarOnStandardError() throws {
        let (status, out, err) = try Self.attribute([
            "--model", InspectCommandTests.model, "The code is free", "--generated-text", "The code is free software and",
            "--method", "integrated_gradients", "--n-steps", "8", "--json", "--progress",
        ])
        #expect(status == 0)
        #expect(err.contains("\r") && err.contains("100% done"), "\(err)")
        #expect(!out.contains("\r") && (try? JSONSerialization.jsonObject(with: Data(out.utf8))) != nil)
        let (_, _, quiet) = try Self.attribute([
            "--model", InspectCommandTests.model, "The code is free", "--generated-text", "The code is free software and", "--json",
        ])
        #expect(!quiet.contains("%"), "no bar when standard error is not a terminal")
    }
}
