import Foundation
import Testing
@testable import SeqLensModels
import SeqLensTokenizers

/// The checks every tiny encoder-decoder checkpoint's reference.json supports (the layout the
/// encoder-decoder fixture scripts share): tokenizer ids, logits at every decoder position,
/// greedy and 4-beam generations against transformers on the same files.
struct EncoderDecoderReferenceChecks {
    let model: EncoderDecoderModel
    let reference: [String: Any]
    let name: String

    /// Source and target ids of every recorded string equal the HF tokenizer's.
    func tokenizerIDs() throws {
        let cases = try #require(reference["tokenizer"] as? [[String: Any]])
        #expect(cases.count >= 150)
        var mismatches = 0
        for item in cases {
            let text = try #require(item["text"] as? String)
            for side in TextSide.allCases {
                let ids = model.tokenizer.encode(text, side: side, addSpecialTokens: true)
                if ids != item[side.rawValue] as? [Int] {
                    mismatches += 1
                    Issue.record("\(name) \(side) ids of \(text.debugDescription): \(ids) vs \(item[side.rawValue] ?? "nil")")
                }
            }
        }
        #expect(mismatches == 0)
    }

    /// Logits within `tolerance` at every decoder position; returns the worst difference.
    @discardableResult
    func logits(tolerance: Float = 1e-4) throws -> Float {
        let cases = try #require(reference["logits"] as? [[String: Any]])
        #expect(!cases.isEmpty)
        var worst: Float = 0
        for item in cases {
            let source = try #require(item["sourceIds"] as? [Int])
            let decoderInput = try #require(item["decoderInputIds"] as? [Int])
            let expected = try #require(item["logits"] as? [[Double]]).flatMap { $0.map(Float.init) }
            // The fixture's ids are what the tokenizer gives.
            #expect(model.tokenizer.encode(try #require(item["source"] as? String), side: .source, addSpecialTokens: true) == source)
            let logits = try model.logits(source: source, decoderInput: decoderInput).scalars
            try #require(logits.count == expected.count)
            for (a, b) in zip(logits, expected) { worst = max(worst, abs(a - b)) }
        }
        print("\(name): max |logit difference| = \(worst)")
        #expect(worst <= tolerance)
        return worst
    }

    /// Greedy ids (the decoder start first, as generate() returns them), processed scores and text.
    func greedy(newTokens: Int = 12) throws {
        let cases = try #require(reference["greedy"] as? [[String: Any]])
        #expect(!cases.isEmpty)
        for item in cases {
            let source = try #require(item["sourceIds"] as? [Int])
            let expected = try #require(item["ids"] as? [Int])
            let scores = try #require(item["chosenScores"] as? [Double])
            var options = EncoderDecoderGenerationOptions()
            options.maxNewTokens = newTokens
            options.numBeams = 1
            let generation = try model.generate(source: source, options: options)
            #expect([model.generation.decoderStartTokenID] + generation.tokens.map(\.id) == expected)
            #expect(generation.text == item["text"] as? String)
            #expect(generation.transitionScores.count == scores.count)
            for (a, b) in zip(generation.transitionScores, scores) { #expect(abs(a - Float(b)) <= 1e-4) }
        }
    }

    /// 4-beam sequences (transformers pads shorter ones with `pad`) and sequence scores.
    func beams(pad: Int, newTokens: Int = 12) throws {
        let cases = try #require(reference["beam"] as? [[String: Any]])
        #expect(!cases.isEmpty)
        for item in cases {
            let source = model.tokenizer.encode(try #require(item["source"] as? String), side: .source, addSpecialTokens: true)
            let sequences = try #require(item["sequences"] as? [[Int]])
            let scores = try #require(item["sequenceScores"] as? [Double])
            var options = EncoderDecoderGenerationOptions()
            options.maxNewTokens = newTokens
            options.numReturnSequences = sequences.count
            let generation = try model.generate(source: source, options: options)
            try #require(generation.beams.count == sequences.count)
            for (beam, (ids, score)) in zip(generation.beams, zip(sequences, scores)) {
                var expected = Array(ids.dropFirst())
                while expected.last == pad { expected.removeLast() }
                #expect(beam.ids == expected)
                #expect(abs(beam.sequenceScore - Float(score)) <= 1e-4, "\(beam.sequenceScore) vs \(score)")
            }
            #expect(generation.tokens.map(\.id) == generation.beams[0].ids)
        }
    }
}

extension EncoderDecoderGenerationOptions {
    /// The options of transformers' `generate(...)` keyword arguments as a fixture records them
    /// (num_beams, num_return_sequences, length_penalty, early_stopping, no_repeat_ngram_size,
    /// repetition_penalty).
    init(generateArguments given: [String: Any], maxNewTokens: Int) {
        self.init()
        self.maxNewTokens = maxNewTokens
        numBeams = given["num_beams"] as? Int
        numReturnSequences = given["num_return_sequences"] as? Int
        lengthPenalty = (given["length_penalty"] as? Double).map(Float.init)
        noRepeatNgramSize = given["no_repeat_ngram_size"] as? Int
        repetitionPenalty = (given["repetition_penalty"] as? Double).map(Float.init)
        switch given["early_stopping"] {
        case let flag as Bool: earlyStopping = flag ? .yes : .no
        case let word as String: earlyStopping = word == "never" ? .never : nil
        default: break
        }
    }
}
