import Foundation
import Testing
import SeqLensTestSupport
@testable import SeqLensModels
import SeqLensTensor
import SeqLensTokenizers

/// The tiny random BART of scripts/fixtures/make_bart_fixtures.py against transformers 5.24 on
/// the same files: byte-level BPE ids on both sides, logits, greedy (forced <s> first, forced
/// </s> last) and 4-beam generations.
@Suite("Tiny BART: ids, logits and generations equal transformers'")
struct TinyBartTests {
    let model: EncoderDecoderModel
    let checks: EncoderDecoderReferenceChecks

    init() throws {
        guard case .encoderDecoder(let loaded) = try LoadedModel.load(.path(Fixtures.path("models/tiny-bart"))) else {
            throw MissingFixture(description: "tiny-bart did not load as an encoder-decoder model")
        }
        model = loaded
        checks = EncoderDecoderReferenceChecks(
            model: loaded, reference: try Fixtures.json("models/tiny-bart/reference.json"), name: "tiny-bart")
    }

    @Test func loadsAsBart() {
        #expect(model.info.architecture == "bart")
        #expect(model.encoderLayerCount == 2 && model.info.layerCount == 2)
        #expect(model.info.vocabularySize == 421 && model.info.maxPositions == 64)
        #expect(model.generation.decoderStartTokenID == 2)
        #expect(model.generation.forcedBOSTokenID == 0 && model.generation.forcedEOSTokenIDs == [2])
        #expect(model.generation.numBeams == 4)
        #expect(model.tokenizer.specialTokens == SpecialTokens(bos: 0, eos: 2, unk: 3, pad: 1))
    }

    @Test func tokenizerIDsEqualTransformers() throws { try checks.tokenizerIDs() }
    @Test func logitsAtEveryDecoderPosition() throws { try checks.logits() }

    @Test func greedyEqualsTransformers() throws {
        try checks.greedy()
        // The forced BOS: every greedy continuation starts with <s>.
        let first = try model.generate(source: model.tokenizer.encode("Hello world", side: .source, addSpecialTokens: true),
                                       options: EncoderDecoderGenerationOptions())
        #expect(first.tokens.first?.id == 0)
    }

    @Test func beamSearchEqualsTransformers() throws { try checks.beams(pad: 1) }

    /// Learned positions stop at max_position_embeddings: a longer source is an error, not a crash.
    @Test func sourceBeyondThePositionsIsAnError() {
        #expect(throws: ModelError.inputTooLong(tokens: 65, limit: 64)) {
            try model.logits(source: Array(repeating: 5, count: 65), decoderInput: [2])
        }
    }
}
