import Foundation
import Testing
import SeqLensTestSupport
@testable import SeqLensModels
import SeqLensTokenizers

/// The tiny random T5 v1.0, T5 v1.1 and mT5 of scripts/fixtures/make_t5_fixtures.py against
/// transformers 5.24 on the same files: Unigram ids with the sentinels, logits at every decoder
/// position (relative position buckets, unscaled attention, d_kv × heads ≠ d_model, the output
/// scaling only where transformers applies it), greedy and 4-beam generations.
@Suite("Tiny T5 family: ids, logits and generations equal transformers'")
struct TinyT5Tests {
    static let names = ["tiny-t5", "tiny-t5-v1.1", "tiny-mt5"]

    func checks(_ name: String) throws -> (EncoderDecoderModel, EncoderDecoderReferenceChecks) {
        guard case .encoderDecoder(let model) = try LoadedModel.load(.path(Fixtures.path("models/" + name))) else {
            throw MissingFixture(description: "\(name) did not load as an encoder-decoder model")
        }
        let reference = try Fixtures.json("models/\(name)/reference.json")
        return (model, EncoderDecoderReferenceChecks(model: model, reference: reference, name: name))
    }

    @Test(arguments: names) func loads(name: String) throws {
        let (model, _) = try checks(name)
        #expect(model.info.architecture == (name == "tiny-mt5" ? "mt5" : "t5"))
        #expect(model.info.hiddenSize == 32 && model.info.headCount == 4 && model.encoderLayerCount == 2)
        #expect(model.generation.decoderStartTokenID == 0 && model.generation.endOfSequence == [1])
        let transformer = try #require(model.transformer as? T5Transformer)
        #expect(transformer.dimensions.headDimension == 16)
        #expect(transformer.scalesOutputs == (name == "tiny-t5"))
        // A sentinel is one token on both sides.
        let sentinel = try #require(model.tokenizer.id(of: "<extra_id_0>"))
        #expect(model.tokenizer.encode("<extra_id_0>", side: .target, addSpecialTokens: true) == [sentinel, 1])
    }

    @Test(arguments: names) func tokenizerIDsEqualTransformers(name: String) throws { try checks(name).1.tokenizerIDs() }
    @Test(arguments: names) func logitsAtEveryDecoderPosition(name: String) throws { try checks(name).1.logits() }
    @Test(arguments: names) func greedyEqualsTransformers(name: String) throws { try checks(name).1.greedy() }
    @Test(arguments: names) func beamSearchEqualsTransformers(name: String) throws { try checks(name).1.beams(pad: 0) }

    /// The buckets of T5Attention._relative_position_bucket for 8 buckets up to distance 20, as
    /// transformers computes them (printed by torch for -25...25).
    @Test func relativePositionBuckets() throws {
        let (model, _) = try checks("tiny-t5")
        let transformer = try #require(model.transformer as? T5Transformer)
        let relative = Array(-25...25)
        let bidirectional = relative.map { transformer.bucket($0, bidirectional: true) }
        let causal = relative.map { transformer.bucket($0, bidirectional: false) }
        let reference = try #require(try Fixtures.json("models/tiny-t5/reference.json")["buckets"] as? [String: [Int]])
        #expect(bidirectional == reference["bidirectional"])
        #expect(causal == reference["causal"])
    }
}
