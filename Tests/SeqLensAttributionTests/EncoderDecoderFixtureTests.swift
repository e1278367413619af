import Foundation
import Testing
import SeqLensTestSupport
import SeqLensModels
@testable import SeqLensAttribution

/// Encoder-decoder attribution on the tiny Marian, BART, mBART, T5 and T5 v1.1 against Inseq 0.7.1 (patched for
/// transformers 5's double decoder scaling on Marian, see make_encoder_decoder_attribution_fixtures.py): raw granular
/// source and target attributions within 1e-4 × max |reference| with NaN exactly where Inseq has
/// NaN, and step scores within 1e-4.
@Suite struct EncoderDecoderFixtureTests {
    static func model(_ name: String) throws -> EncoderDecoderModel {
        guard case .encoderDecoder(let loaded) = try LoadedModel.load(.path(Fixtures.path("models/" + name))) else {
            throw MissingFixture(description: "\(name) did not load as an encoder-decoder model")
        }
        return loaded
    }

    /// Compares a flat reference (null = NaN) with SeqLens's tensor; returns the worst error / max.
    func compare(_ tensor: AttributionTensor?, _ reference: Any?, _ label: String) throws -> Float {
        guard let reference = reference as? [String: Any] else {
            #expect(tensor == nil, "\(label): Inseq has none")
            return 0
        }
        let tensor = try #require(tensor, "\(label): missing")
        #expect(tensor.shape == reference["shape"] as? [Int], "\(label): shape \(tensor.shape)")
        let data = try #require(reference["data"] as? [Any])
        try #require(data.count == tensor.values.count)
        let expected = data.map { ($0 as? Double).map(Float.init) }
        let scale = max(expected.compactMap { $0.map(abs) }.max() ?? 0, .leastNormalMagnitude)
        var worst: Float = 0
        for (value, reference) in zip(tensor.values, expected) {
            guard let reference else {
                #expect(value.isNaN, "\(label): NaN expected")
                continue
            }
            #expect(!value.isNaN, "\(label): a value expected")
            worst = max(worst, abs(value - reference) / scale)
        }
        return worst
    }

    @Test(arguments: ["tiny-marian", "tiny-bart", "tiny-mbart", "tiny-t5", "tiny-t5-v1.1"])
    func attributionsEqualInseq(modelName: String) throws {
        let model = try Self.model(modelName)
        let index = try Fixtures.json("attribution/\(modelName)/index.json")
        let cases = try #require(index["cases"] as? [[String: Any]])
        #expect(cases.count == 12)
        for item in cases {
            let id = try #require(item["id"] as? String)
            let kwargs = try #require(item["attribute_kwargs"] as? [String: Any])
            var arguments: [String: JSONValue] = [:]
            if let steps = kwargs["n_steps"] as? Int { arguments["nSteps"] = .int(steps) }
            var request = AttributionRequest(inputs: [try #require(item["source_text"] as? String)])
            request.generatedTexts = [try #require(item["target_text"] as? String)]
            request.method = try AttributionMethods.make(try #require(item["method"] as? String), arguments: .object(arguments))
            let scores = try #require(item["step_scores"] as? [String: Any])
            request.stepScores = try scores.keys.sorted().map { try #require(StepFunction(rawValue: $0)) }
            if let contrast = item["contrast_text"] as? String {
                request.contrastTargets = [contrast]
                let function = try #require(kwargs["attributed_fn"] as? String)
                request.attributedFunction = try #require(StepFunction(rawValue: function))
            }
            let attributor = EncoderDecoderAttributor(model: model, attributeTarget: kwargs["attribute_target"] as? Bool ?? false)
            let sequence = try #require(try attributor.attribute(request).sequenceAttributions.first)
            #expect(sequence.source.map(\.id) == item["source_ids"] as? [Int], "\(id)")
            #expect(sequence.target.map(\.id) == item["target_ids"] as? [Int], "\(id)")
            #expect(sequence.source.map(\.token) == item["source_tokens"] as? [String], "\(id)")
            #expect(sequence.target.map(\.token) == item["target_tokens"] as? [String], "\(id)")
            #expect(sequence.attrPosStart == item["attr_pos_start"] as? Int && sequence.attrPosEnd == item["attr_pos_end"] as? Int)
            let source = try compare(sequence.sourceAttributions, item["source_attributions"], "\(id) source")
            let target = try compare(sequence.targetAttributions, item["target_attributions"], "\(id) target")
            print("\(modelName) \(id): source \(source), target \(target) × max")
            #expect(source <= 1e-4 && target <= 1e-4, "\(id)")
            for (name, expected) in try #require(item["step_scores"] as? [String: [Double]]) {
                let values = try #require(sequence.stepScores[name]?.values, "\(id) \(name)")
                try #require(values.count == expected.count)
                for (a, b) in zip(values, expected) { #expect(abs(a - Float(b)) <= 1e-4, "\(id) \(name): \(a) vs \(b)") }
            }
        }
    }

    @Test func unservedRequestsAreClearErrors() throws {
        let model = try Self.model("tiny-marian")
        var request = AttributionRequest(inputs: ["Hello world"])
        request.generatedTexts = ["the program"]
        request.method = try AttributionMethods.make("occlusion")
        #expect { try EncoderDecoderAttributor(model: model).attribute(request) } throws: { "\($0)".contains("encoder-decoder") }
        request.method = try AttributionMethods.make("saliency")
        // A contrastive function needs contrastTargets, one per input; pcxmi is not served yet.
        request.attributedFunction = .contrastProbDiff
        #expect { try EncoderDecoderAttributor(model: model).attribute(request) } throws: { "\($0)".contains("contrast_prob_diff") }
        request.contrastTargets = ["the code", "a second"]
        #expect { try EncoderDecoderAttributor(model: model).attribute(request) } throws: { "\($0)".contains("2 contrast targets for 1 inputs") }
        request.contrastTargets = ["the code"]
        request.stepScores = [.pcxmi]
        #expect { try EncoderDecoderAttributor(model: model).attribute(request) } throws: { "\($0)".contains("pcxmi") }
    }

    /// What SeqLens saves for an encoder-decoder attribution is what real Inseq was shown to load:
    /// the fixture script saved it with `seqlens attribute --save`, loaded it with
    /// FeatureAttributionOutput.load and compared it with Inseq's own values (`seqlens_file`); the
    /// same attribution saved today reads back equal to that file.
    @Test(arguments: ["tiny-marian", "tiny-bart", "tiny-mbart", "tiny-t5", "tiny-t5-v1.1"])
    func savedFilesAreTheOnesInseqLoads(modelName: String) throws {
        let index = try Fixtures.json("attribution/\(modelName)/index.json")
        let record = try #require(index["seqlens_file"] as? [String: Any])
        #expect(record["loaded_by_inseq_as"] as? String == "GranularFeatureAttributionSequenceOutput")
        #expect(try #require(record["max_difference_of_max"] as? Double) < 1e-4)
        let item = try #require((index["cases"] as? [[String: Any]])?.first { ($0["id"] as? String) == record["case"] as? String })
        var request = AttributionRequest(inputs: [try #require(item["source_text"] as? String)])
        request.generatedTexts = [try #require(item["target_text"] as? String)]
        request.method = try AttributionMethods.make("input_x_gradient")
        request.stepScores = [.probability]
        let output = try EncoderDecoderAttributor(model: try Self.model(modelName), attributeTarget: true).attribute(request)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("seqlens-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try output.save(to: path, overwrite: true)
        let mine = try #require(try FeatureAttributionOutput.load(from: path).sequenceAttributions.first)
        let file = Fixtures.path("attribution/\(modelName)/" + (try #require(record["file"] as? String)))
        let committed = try #require(try FeatureAttributionOutput.load(from: file).sequenceAttributions.first)
        #expect(mine.source == committed.source && mine.target == committed.target)
        for (a, b) in [(mine.sourceAttributions, committed.sourceAttributions), (mine.targetAttributions, committed.targetAttributions)] {
            let a = try #require(a), b = try #require(b)
            #expect(a.shape == b.shape)
            let scale = b.values.filter { !$0.isNaN }.map(abs).max() ?? 1
            for (x, y) in zip(a.values, b.values) {
                #expect(x.isNaN == y.isNaN)
                if !x.isNaN { #expect(abs(x - y) <= 1e-5 * scale) }
            }
        }
        #expect(mine.stepScores["probability"]?.values.count == committed.stepScores["probability"]?.values.count)
    }
}
