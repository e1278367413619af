import Foundation
import Testing
import SeqLensTestSupport
@testable import SeqLensAttribution
import SeqLensModels

/// A step output as make_output_fixtures.py describes it (describe_step).
struct ReferenceStep {
    let raw: [String: Any]

    var prefix: [[TokenWithId]] { (raw["prefix"] as? [Any] ?? []).map(ReferenceSequence.tokens) }
    var target: [[TokenWithId]] { (raw["target"] as? [Any] ?? []).map(ReferenceSequence.tokens) }
    var className: String { raw["class"] as? String ?? "" }
    var targetAttributions: AttributionTensor? { ReferenceSequence(raw: raw).tensor("target") }
    var stepScores: [String: [Float]] { ReferenceSequence(raw: raw).stepScores }

    /// The steps Inseq computed for one of the fixture files.
    static func steps(of file: String) throws -> [ReferenceStep] {
        let all = try #require(OutputFixtures.expected["steps"] as? [String: [String: Any]])
        let entry = try #require(all[file], "no expectation for \(file)")
        return try #require(entry["steps"] as? [[String: Any]]).map(ReferenceStep.init)
    }
}

/// Inseq's `output_step_attributions=True`: the per-step outputs, their JSON form (json_tricks
/// arrays, gzipped ones included) and SeqLens computing the same values.
@Suite("Step attributions equal Inseq's", .serialized)
struct StepAttributionTests {
    /// File → the expectation it holds (the .gz file is the contrast output, compressed).
    static let inseqFiles = [
        "inseq-step-attributions.json": "inseq-step-attributions.json",
        "inseq-step-attributions-contrast.json": "inseq-step-attributions-contrast.json",
        "inseq-step-attributions-coarse.json": "inseq-step-attributions-coarse.json",
        "inseq-step-attributions-contrast.json.gz": "inseq-step-attributions-contrast.json",
    ]

    static func expectEqual(_ mine: [FeatureAttributionStepOutput]?, _ reference: [ReferenceStep], tolerance: Float, _ label: String) {
        guard let mine else {
            Issue.record("\(label): no step attributions")
            return
        }
        #expect(mine.count == reference.count, "\(label): step count")
        for (index, (step, theirs)) in zip(mine, reference).enumerated() {
            #expect(step.prefix == theirs.prefix, "\(label) step \(index): prefix")
            #expect(step.target == theirs.target, "\(label) step \(index): target")
            #expect(step.kind.stepClassName == theirs.className, "\(label) step \(index): class")
            #expect(step.source == nil && step.sourceAttributions == nil)
            #expect(step.targetAttributions?.shape == theirs.targetAttributions?.shape, "\(label) step \(index): shape")
            let difference = relativeDifference(step.targetAttributions, theirs.targetAttributions)
            #expect(difference <= tolerance, "\(label) step \(index): target attributions differ by \(difference)")
            #expect(Set(step.stepScores.keys) == Set(theirs.stepScores.keys))
            for (name, values) in theirs.stepScores {
                let mineValues = step.stepScores[name]?.values ?? []
                let worst = zip(mineValues, values).map { abs($0 - $1) }.max() ?? .infinity
                #expect(mineValues.count == values.count && worst <= tolerance * max(values.map(abs).max() ?? 1, 1e-30),
                        "\(label) step \(index): \(name) \(mineValues) vs \(values)")
            }
        }
    }

    @Test("Loading Inseq's step attributions gives its tokens and exact values", arguments: Array(inseqFiles.keys))
    func loadsInseqSteps(file: String) throws {
        let output = try OutputFixtures.load(file)
        Self.expectEqual(output.stepAttributions, try ReferenceStep.steps(of: Self.inseqFiles[file]!), tolerance: 0, file)
        // The sequence outputs are what the steps build.
        for sequence in output.sequenceAttributions {
            let rebuilt = sequence.stepOutputs()
            #expect(rebuilt.count == sequence.stepCount)
        }
    }

    @Test("save then load keeps every step field")
    func roundTrip() throws {
        for file in Self.inseqFiles.keys {
            let output = try OutputFixtures.load(file)
            let reloaded = try FeatureAttributionOutput.load(inseqJSON: Array(output.inseqJSON().utf8))
            #expect(reloaded == output, "\(file)")
        }
        // Primitive saves write plain nested lists, which load reads too.
        let output = try OutputFixtures.load("inseq-step-attributions.json")
        let primitive = output.inseqJSON(usePrimitives: true)
        #expect(!primitive.contains("__ndarray__"))
        let parsed = try PythonJSONParser.parse(Array(primitive.utf8))
        let steps = try #require(parsed.objectValue?["step_attributions"]?.arrayValue)
        let first = try #require(steps.first?.objectValue?["target_attributions"])
        #expect(first.arrayValue?.count == 1 && first.arrayValue?.first?.arrayValue?.count == output.stepAttributions?.first?.prefix[0].count)
    }

    static func tinyGPT2Request(_ inputs: [String]) -> AttributionRequest {
        var request = AttributionRequest(inputs: inputs)
        request.method = Saliency()
        request.stepScores = [.probability]
        request.generation.maxNewTokens = 4
        request.outputStepAttributions = true
        return request
    }

    @Test("SeqLens computes Inseq's step outputs on the tiny GPT-2")
    func computesInseqSteps() throws {
        let model = try InseqFixtureTests.model("tiny-gpt2")
        let prompts = try #require(OutputFixtures.expected["prompts"] as? [String])
        let output = try Attributor(model: model).attribute(Self.tinyGPT2Request(prompts))
        Self.expectEqual(output.stepAttributions, try ReferenceStep.steps(of: "inseq-step-attributions.json"), tolerance: 1e-4, "saliency")
        #expect(output.info["output_step_attributions"] == .bool(true))
        // Steps are the columns of the sequence outputs, first sequence first.
        let first = output.sequenceAttributions[0]
        #expect(Array(output.stepAttributions!.prefix(first.stepCount)) == first.stepOutputs())

        var plain = Self.tinyGPT2Request(prompts)
        plain.outputStepAttributions = false
        let without = try Attributor(model: model).attribute(plain)
        #expect(without.stepAttributions == nil)
        #expect(without.sequenceAttributions == output.sequenceAttributions)
    }

    @Test("Contrastive steps name the target as \"contrast → target\" and keep plain prefixes")
    func contrastiveSteps() throws {
        let model = try InseqFixtureTests.model("tiny-gpt2")
        let setup = try #require(OutputFixtures.expected["step_contrast"] as? [String: String])
        var request = Self.tinyGPT2Request([setup["input"]!])
        request.generatedTexts = [setup["generated"]!]
        request.contrastTargets = [setup["contrast"]!]
        request.attributedFunction = .contrastProbDiff
        let output = try Attributor(model: model).attribute(request)
        Self.expectEqual(output.stepAttributions, try ReferenceStep.steps(of: "inseq-step-attributions-contrast.json"),
                         tolerance: 1e-4, "contrast")
    }

    @Test("gzip streams from Python's gzip module decompress to their contents")
    func gzipCases() throws {
        let cases = try #require(try OutputFixtures.json("gzip-cases.json") as? [String: [String: String]])
        #expect(cases.count >= 7)
        for (name, item) in cases {
            let plain = try #require(Data(base64Encoded: item["plain"]!))
            let compressed = try #require(Data(base64Encoded: item["gzip"]!))
            #expect(try Gzip.decompress([UInt8](compressed)) == [UInt8](plain), "\(name)")
            // A flipped bit in the data or the trailer is caught (CRC, length or a bad code).
            if compressed.count > 30 {
                for position in [12, compressed.count / 2, compressed.count - 6] {
                    var corrupt = [UInt8](compressed)
                    corrupt[position] ^= 0x10
                    #expect(throws: Gzip.Failure.self, "\(name) corrupted at \(position)") { _ = try Gzip.decompress(corrupt) }
                }
            }
            // A stream that would inflate past its limit stops there.
            if plain.count > 1 {
                #expect(throws: Gzip.Failure.self) { _ = try Gzip.decompress([UInt8](compressed), limit: plain.count / 2) }
            }
            // Truncation fails cleanly.
            #expect(throws: Gzip.Failure.self) { _ = try Gzip.decompress(Array([UInt8](compressed).dropLast(3))) }
        }
    }

    @Test("Malformed step arrays give clear errors")
    func malformedArrays() throws {
        let cases: [(JSONValue, String)] = [
            (.object(["__ndarray__": .string("b64:AAAA"), "dtype": .string("float32"), "shape": .array([.int(2)])]), "3 bytes for 2 float32"),
            (.object(["__ndarray__": .string("b64.gz:AAAA"), "dtype": .string("float32"), "shape": .array([.int(1)])]), "not valid gzip"),
            (.object(["__ndarray__": .string("hex:00"), "dtype": .string("float32"), "shape": .array([.int(1)])]), "b64"),
            (.object(["__ndarray__": .string("b64:AAAAAA=="), "dtype": .string("complex64"), "shape": .array([.int(1)])]), "complex64"),
            (.object(["dtype": .string("float32")]), "__ndarray__"),
            (.object(["__ndarray__": .array([.double(1), .double(2)]), "shape": .array([.int(3)])]), "2 values for shape [3]"),
        ]
        for (value, fragment) in cases {
            do {
                _ = try NumpyArrayJSON.decode(value, field: "x")
                Issue.record("expected an error mentioning \(fragment)")
            } catch {
                #expect(error.description.contains(fragment), "\(error.description)")
            }
        }
        // Fortran-ordered arrays are reordered; plain lists are read as numbers.
        let fortran = try NumpyArrayJSON.decode(
            .object(["__ndarray__": .array([1, 4, 2, 5, 3, 6].map { .double($0) }), "shape": .array([.int(2), .int(3)]), "Corder": .bool(false)]),
            field: "x")
        #expect(fortran.values == [1, 2, 3, 4, 5, 6])
    }
}
