import Foundation
import Testing
import SeqLensTestSupport
@testable import SeqLensModels

/// Beam search on decoder-only models (the tiny GPT-2 and Llama) against transformers 5.24's
/// generate(num_beams=...) (scripts/fixtures/make_beam_fixtures.py): the returned beams' ids and
/// sequence scores, with length penalty, early stopping, n-gram and repetition penalties.
@Suite struct DecoderOnlyBeamSearchTests {
    @Test func beamsEqualTransformers() throws {
        let cases = try #require(try Fixtures.json("generation/decoder-only-beams.json")["cases"] as? [[String: Any]])
        #expect(cases.count == 12)
        var models: [String: LanguageModel] = [:]
        for item in cases {
            let name = try #require(item["model"] as? String)
            let model = try models[name] ?? LanguageModel.load(.path(Fixtures.path("models/" + name)))
            models[name] = model
            let prompt = try #require(item["promptIds"] as? [Int])
            #expect(model.encode(try #require(item["prompt"] as? String)) == prompt)
            let given = try #require(item["options"] as? [String: Any])
            let options = EncoderDecoderGenerationOptions(generateArguments: given, maxNewTokens: 12)
            let generation = try model.beamSearch(prompt: prompt, options: options)
            let sequences = try #require(item["sequences"] as? [[Int]])
            let scores = try #require(item["sequenceScores"] as? [Double])
            try #require(generation.beams.count == sequences.count, "\(name) \(given)")
            for (beam, (sequence, score)) in zip(generation.beams, zip(sequences, scores)) {
                // transformers pads a beam that ended early; its ids stop at the first EOS.
                var expected = Array(sequence.dropFirst(prompt.count))
                if let end = expected.firstIndex(where: model.endOfSequence.contains) { expected = Array(expected[...end]) }
                #expect(beam.ids == expected, "\(name) \(given)")
                #expect(abs(beam.sequenceScore - Float(score)) <= 1e-4, "\(name) \(given): \(beam.sequenceScore) vs \(score)")
            }
            #expect(generation.tokens.map(\.id) == generation.beams[0].ids)
            #expect(generation.promptIds == prompt)
        }
    }

    @Test func badInputIsAnError() throws {
        let model = try LanguageModel.load(.path(Fixtures.path("models/tiny-gpt2")))
        var options = EncoderDecoderGenerationOptions()
        options.numBeams = 2
        options.maxNewTokens = 200
        #expect(throws: ModelError.inputTooLong(tokens: 201, limit: 128)) { try model.beamSearch(prompt: [5], options: options) }
        #expect(throws: ModelError.emptyInput) { try model.beamSearch(prompt: [], options: options) }
    }
}
