import Foundation
import Testing
import SeqLensTestSupport
@testable import SeqLensModels
import SeqLensTensor
import SeqLensTokenizers

/// The tiny random Marian of scripts/fixtures/make_encoder_decoder_fixtures.py against
/// transformers 5.24 on the same files: logits, greedy and 4-beam generations.
@Suite("Tiny Marian: logits and generations equal transformers'")
struct TinyMarianTests {
    let model: EncoderDecoderModel
    let reference: [String: Any]

    init() throws {
        guard case .encoderDecoder(let loaded) = try LoadedModel.load(.path(Fixtures.path("models/tiny-marian"))) else {
            throw MissingFixture(description: "tiny-marian did not load as an encoder-decoder model")
        }
        model = loaded
        reference = try Fixtures.json("models/tiny-marian/reference.json")
    }

    @Test func loadsAsMarian() {
        #expect(model.info.architecture == "marian")
        #expect(model.encoderLayerCount == 2 && model.info.layerCount == 2)
        #expect(model.generation.decoderStartTokenID == 331)
        #expect(model.generation.numBeams == 4)
        #expect(model.generation.badWordsIDs == [[331]])
        #expect(model.generation.forcedEOSTokenIDs == [0])
        #expect(model.generation.renormalizeLogits)
        #expect(model.info.specialTokens["decoder_start"] == 331)
    }

    var checks: EncoderDecoderReferenceChecks {
        EncoderDecoderReferenceChecks(model: model, reference: reference, name: "tiny-marian")
    }

    @Test func logitsAtEveryDecoderPosition() throws {
        #expect((reference["logits"] as? [Any])?.count == 3)
        try checks.logits()
    }

    @Test func greedyEqualsTransformers() throws {
        // The processed scores: bad words banned, EOS forced at the 12th token, renormalised.
        try checks.greedy()
        var options = EncoderDecoderGenerationOptions()
        options.maxNewTokens = 12
        options.numBeams = 1
        for item in try #require(reference["greedy"] as? [[String: Any]]) {
            let generation = try model.generate(source: try #require(item["sourceIds"] as? [Int]), options: options)
            #expect(generation.tokens.count == 12 && generation.stopReason == .endOfSequence)
        }
    }

    @Test func beamSearchEqualsTransformers() throws { try checks.beams(pad: 331) }

    /// no_repeat_ngram_size, repetition_penalty, length_penalty and early_stopping (true, "never"),
    /// greedy and beam, each against transformers.
    @Test func logitsProcessorsAndSearchOptionsEqualTransformers() throws {
        let cases = try #require(reference["processors"] as? [[String: Any]])
        #expect(cases.count == 16)
        for item in cases {
            let source = model.tokenizer.encode(try #require(item["source"] as? String), side: .source, addSpecialTokens: true)
            let given = try #require(item["options"] as? [String: Any])
            let options = EncoderDecoderGenerationOptions(generateArguments: given, maxNewTokens: 12)
            let generation = try model.generate(source: source, options: options)
            let sequences = try #require(item["sequences"] as? [[Int]])
            func trimmed(_ ids: [Int]) -> [Int] {
                var ids = Array(ids.dropFirst())
                while ids.last == 331 { ids.removeLast() }
                return ids
            }
            if options.numBeams == 1 {
                #expect(generation.tokens.map(\.id) == trimmed(sequences[0]), "\(given)")
            } else {
                let scores = try #require(item["sequenceScores"] as? [Double])
                try #require(generation.beams.count == sequences.count, "\(given)")
                for (beam, (ids, score)) in zip(generation.beams, zip(sequences, scores)) {
                    #expect(beam.ids == trimmed(ids), "\(given)")
                    #expect(abs(beam.sequenceScore - Float(score)) <= 1e-4, "\(given): \(beam.sequenceScore) vs \(score)")
                }
            }
        }
    }

    @Test func badInputIsAnError() throws {
        #expect(throws: ModelError.emptyInput) { try model.logits(source: [], decoderInput: [331]) }
        let long = Array(repeating: 5, count: 65)
        #expect(throws: ModelError.inputTooLong(tokens: 65, limit: 64)) { try model.logits(source: long, decoderInput: [331]) }
        #expect(throws: ModelError.tokenOutOfRange(id: 400, vocabularySize: 332)) {
            try model.generate(source: [400], options: EncoderDecoderGenerationOptions())
        }
        // A decoder-only entry point refuses the encoder-decoder folder by name.
        #expect(throws: ModelError.encoderDecoderModel("marian")) {
            try LanguageModel.load(.path(Fixtures.path("models/tiny-marian")))
        }
    }
}
