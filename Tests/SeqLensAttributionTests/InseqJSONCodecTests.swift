import Foundation
import Testing
import SeqLensTestSupport

@testable import SeqLensAttribution

@Suite("Inseq JSON codec")
struct InseqJSONCodecTests {
    static let inseqFiles = ["inseq-saliency.json", "inseq-input-x-gradient.json"]

    @Test("Loading Inseq's file gives Inseq's tokens, tensors and step scores", arguments: inseqFiles)
    func loadsInseqFile(name: String) throws {
        let output = try OutputFixtures.load(name)
        let files = try #require(OutputFixtures.expected["files"] as? [String: [[String: Any]]])
        let references = try #require(files[name]).map(ReferenceSequence.init)
        #expect(output.sequenceAttributions.count == references.count)
        for (sequence, reference) in zip(output.sequenceAttributions, references) {
            #expect(sequence.source == reference.source)
            #expect(sequence.target == reference.target)
            #expect(sequence.attrPosStart == reference.attrPosStart)
            #expect(sequence.attrPosEnd == reference.attrPosEnd)
            #expect(sequence.kind.rawValue == reference.className)
            #expect(sequence.sourceAttributions == reference.tensor("source"))
            let target = try #require(sequence.targetAttributions)
            #expect(target == reference.tensor("target"), "values must be bit-identical, NaN where Inseq has NaN")
            #expect(target.values.contains { $0.isNaN })
            #expect(sequence.stepScores.mapValues(\.values) == reference.stepScores)
        }
        let info = try #require((OutputFixtures.expected["info"] as? [String: [String: Any]])?[name])
        #expect(output.info["attribution_method"]?.stringValue == info["attribution_method"] as? String)
        #expect(output.info["generated_texts"]?.arrayValue?.compactMap(\.stringValue) == info["generated_texts"] as? [String])
        #expect(output.info["tokenizer_name"] == .null)
    }

    /// Files whose arrays Inseq did not gzip (SeqLens writes arrays uncompressed) reproduce exactly.
    @Test("Saving a loaded Inseq file reproduces it byte for byte",
          arguments: inseqFiles + ["inseq-step-attributions.json", "inseq-step-attributions-contrast.json"])
    func resaveIsByteIdentical(name: String) throws {
        let original = try Data(contentsOf: OutputFixtures.directory.appendingPathComponent(name))
        let output = try FeatureAttributionOutput.load(inseqJSON: [UInt8](original))
        #expect(Data(output.inseqJSON().utf8) == original)
    }

    @Test("save then load round-trips every field, including NaN and reduced precision")
    func roundTrip() throws {
        let output = try OutputFixtures.load("inseq-saliency.json")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("seqlens-out-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("out.json").path
        try output.save(to: path)
        #expect(try FeatureAttributionOutput.load(from: path) == output)
        #expect(throws: AttributionOutputError.fileExists(path: path)) { try output.save(to: path) }

        try output.save(to: path, overwrite: true, scoresPrecision: .float16)
        let half = try FeatureAttributionOutput.load(from: path)
        for (a, b) in zip(half.sequenceAttributions, output.sequenceAttributions) {
            let difference = relativeDifference(a.targetAttributions, b.targetAttributions)
            #expect(difference < 1e-3 && difference > 0, "float16 storage: relative difference \(difference)")
        }

        try output.save(to: path, overwrite: true, usePrimitives: true)
        let primitives = try FeatureAttributionOutput.load(from: path)
        #expect(primitives.sequenceAttributions == output.sequenceAttributions)
        #expect(!(try String(contentsOfFile: path, encoding: .utf8)).contains("__instance_type__"))

        try output.save(to: path, overwrite: true, splitSequences: true)
        for index in output.sequenceAttributions.indices {
            let part = try FeatureAttributionOutput.load(from: directory.appendingPathComponent("out_\(index).json").path)
            #expect(part.sequenceAttributions == [output.sequenceAttributions[index]])
            #expect(part.info["input_texts"] == .array([output.info["input_texts"]?.arrayValue?[index] ?? .null]))
        }
    }

    @Test("Malformed files give clear errors, never crashes")
    func malformedFiles() throws {
        let good = try String(contentsOfFile: OutputFixtures.path("inseq-saliency.json"), encoding: .utf8)
        let blob = try #require(good.split(separator: "\"target_attributions\": \"").last?.split(separator: "\"").first)
        let cases: [(String, String)] = [
            ("{", "invalid JSON"),
            ("[1, 2]", "should be"),
            (good.replacingOccurrences(of: blob, with: "not base64!"), "base64"),
            (good.replacingOccurrences(of: blob, with: String(blob.prefix(40))), "safetensors"),
            (good.replacingOccurrences(of: "\"attr_pos_start\": 4", with: "\"attr_pos_start\": 1"), "shape mismatch"),
            (good.replacingOccurrences(of: "GranularFeatureAttributionSequenceOutput", with: "Mystery"), "Mystery"),
        ]
        for (text, fragment) in cases {
            do {
                _ = try FeatureAttributionOutput.load(inseqJSON: Array(text.utf8))
                Issue.record("expected an error mentioning \(fragment)")
            } catch {
                #expect(error.description.contains(fragment), "\(error.description)")
            }
        }
        // Every truncation of a valid file fails cleanly.
        let bytes = Array(good.utf8)
        for length in stride(from: 0, to: bytes.count, by: 997) {
            #expect(throws: AttributionOutputError.self) { try FeatureAttributionOutput.load(inseqJSON: Array(bytes[..<length])) }
        }
        let gzip = FileManager.default.temporaryDirectory.appendingPathComponent("seqlens-\(UUID().uuidString).json.gz")
        try Data([0x1F, 0x8B, 0x08, 0x00]).write(to: gzip)
        defer { try? FileManager.default.removeItem(at: gzip) }
        #expect(throws: AttributionOutputError.invalidGzip(field: gzip.path, reason: "not a gzip stream")) {
            try FeatureAttributionOutput.load(from: gzip.path)
        }
        #expect(throws: AttributionOutputError.self) { try FeatureAttributionOutput.load(from: "/nonexistent/x.json") }
    }
}
