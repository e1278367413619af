import Foundation
import Testing
import SeqLensTestSupport
@testable import SeqLensModels
import SeqLensTokenizers

/// The tiny random mBART of scripts/fixtures/make_bart_fixtures.py against transformers 5.24 on
/// the same files: the Unigram tokenizer.json's ids with each side's language code, pre-LN
/// logits with the final norms, greedy (the target language forced first) and 4-beam generations.
@Suite("Tiny mBART: ids, logits and generations equal transformers'")
struct TinyMBartTests {
    let model: EncoderDecoderModel
    let checks: EncoderDecoderReferenceChecks

    init() throws {
        guard case .encoderDecoder(let loaded) = try LoadedModel.load(.path(Fixtures.path("models/tiny-mbart"))) else {
            throw MissingFixture(description: "tiny-mbart did not load as an encoder-decoder model")
        }
        model = loaded
        checks = EncoderDecoderReferenceChecks(
            model: loaded, reference: try Fixtures.json("models/tiny-mbart/reference.json"), name: "tiny-mbart")
    }

    @Test func loadsAsMBart() throws {
        #expect(model.info.architecture == "mbart")
        #expect(model.encoderLayerCount == 2 && model.info.layerCount == 2)
        let romanian = try #require(model.tokenizer.id(of: "ro_RO"))
        #expect(model.generation.decoderStartTokenID == 2 && model.generation.forcedBOSTokenID == romanian)
        #expect(model.tokenizer.specialTokens == SpecialTokens(bos: 0, eos: 2, unk: 3, pad: 1))
        // Each side ends with </s> and its language code.
        let english = try #require(model.tokenizer.id(of: "en_XX"))
        #expect(model.tokenizer.encode("Hello", side: .source, addSpecialTokens: true).suffix(2) == [2, english])
        #expect(model.tokenizer.encode("Hello", side: .target, addSpecialTokens: true).suffix(2) == [2, romanian])
    }

    @Test func tokenizerIDsEqualTransformers() throws { try checks.tokenizerIDs() }
    @Test func logitsAtEveryDecoderPosition() throws { try checks.logits() }
    @Test func greedyEqualsTransformers() throws { try checks.greedy() }
    @Test func beamSearchEqualsTransformers() throws { try checks.beams(pad: 1) }
}

/// A broken Unigram tokenizer.json is a clear error at load time, never a crash.
@Suite struct BrokenUnigramTokenizerTests {
    func folder(replacing tokenizer: String) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("seqlens-mbart-\(UUID().uuidString)").path
        try FileManager.default.copyItem(atPath: Fixtures.path("models/tiny-mbart"), toPath: folder)
        try tokenizer.write(toFile: folder + "/tokenizer.json", atomically: true, encoding: .utf8)
        return folder
    }

    @Test(arguments: [
        ("{", "JSON"),
        (#"{"model": {"type": "Unigram", "vocab": [["a", "x"]], "unk_id": 0}, "added_tokens": []}"#, "vocab[0]"),
        (#"{"model": {"type": "Unigram", "vocab": [["a", -1.0]], "unk_id": 7}, "added_tokens": []}"#, "unk_id"),
        (#"{"model": {"type": "Unigram", "vocab": [["a", -1.0]], "unk_id": 0}, "added_tokens": [], "pre_tokenizer": {"type": "Punctuation"}}"#, "Punctuation"),
    ])
    func loadFails(tokenizer: String, mentions: String) throws {
        let path = try folder(replacing: tokenizer)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect { try LoadedModel.load(.path(path)) } throws: { "\($0)".contains(mentions) }
    }
}
