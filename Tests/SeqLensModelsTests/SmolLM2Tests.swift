import Foundation
import Testing
import SeqLensTestSupport
@testable import SeqLensModels

/// The real default model (SmolLM2-135M-Instruct, Q4_1 GGUF) against transformers reading the
/// same file (Tests/Fixtures/smollm2/reference.json, from scripts/fixtures/make_model_fixtures.py).
@Suite(
    "SmolLM2 GGUF agrees with transformers", .serialized,
    .enabled(if: Fixtures.smolLM2IsCached, Comment(rawValue: Fixtures.smolLM2Missing)))
struct SmolLM2Tests {
    static let model = Result { try LanguageModel.load(.path(Fixtures.smolLM2())) }

    func cases() throws -> [[String: Any]] {
        try #require(Fixtures.json("smollm2/reference.json")["cases"] as? [[String: Any]])
    }

    @Test func loadsWithTheRightShape() throws {
        let model = try Self.model.get()
        #expect(model.info.architecture == "llama")
        #expect(model.info.layerCount == 30 && model.info.hiddenSize == 576)
        #expect(model.info.headCount == 9 && model.info.keyValueHeadCount == 3)
        #expect(model.info.vocabularySize == 49152)
    }

    @Test func nextTokenProbabilities() throws {
        let model = try Self.model.get()
        let cases = try cases()
        #expect(cases.count >= 10)
        var worst: Float = 0
        for item in cases {
            let prompt = try #require(item["prompt"] as? String)
            let ids = try #require(item["input_ids"] as? [Int])
            #expect(model.encode(prompt) == ids, "tokenization of \(prompt)")
            let logits = try model.logits(ids)
            let v = model.info.vocabularySize
            let last = Array(logits.scalars[((ids.count - 1) * v)..<(ids.count * v)])
            let probabilities = Sampler.softmax(last)
            let top = try #require(item["top200"] as? [String: Any])
            let topIds = try #require(top["ids"] as? [Int]), topProbs = try #require(top["probs"] as? [Double])
            for (id, p) in zip(topIds, topProbs) { worst = max(worst, abs(probabilities[id] - Float(p))) }
            // Every token outside the reference's top 200 is below its 200th probability.
            let floor = Float(topProbs.last!)
            let outside = Set(0..<v).subtracting(topIds)
            #expect(outside.allSatisfy { probabilities[$0] <= floor + 1e-3 })
        }
        print("SmolLM2: max |probability difference| over 200 top tokens x \(cases.count) prompts = \(worst)")
        #expect(worst <= 1e-3)
    }

    @Test func fullLogitsWhereRecorded() throws {
        let model = try Self.model.get()
        var checked = 0
        for item in try cases() {
            guard let expected = item["logits"] as? [Double], expected.count == model.info.vocabularySize,
                  let ids = item["input_ids"] as? [Int] else { continue }
            let logits = try model.logits(ids)
            let v = model.info.vocabularySize
            let last = logits.scalars[((ids.count - 1) * v)...]
            let worst = zip(last, expected).map { abs($0 - Float($1)) }.max() ?? 0
            print("SmolLM2: max |logit difference| over the vocabulary for \(item["prompt"] ?? "") = \(worst)")
            #expect(worst <= 5e-3)
            checked += 1
        }
        #expect(checked >= 2)
    }

    @Test func capitalOfFranceIsParis() throws {
        let model = try Self.model.get()
        let item = try #require(try cases().first { ($0["prompt"] as? String) == "The capital of France is" })
        var options = GenerationOptions()
        options.maxNewTokens = 1
        let generation = try model.generate(prompt: model.encode("The capital of France is"), options: options)
        let first = try #require(generation.tokens.first)
        #expect(first.token == "ĠParis")
        let reference = try #require((item["top200"] as? [String: Any])?["probs"] as? [Double]).first!
        print("SmolLM2: p(' Paris') = \(first.probability), transformers \(reference)")
        #expect((first.probability * 1000).rounded() == (Float(reference) * 1000).rounded())
    }

    @Test func greedyGenerationsAreIdentical() throws {
        let model = try Self.model.get()
        for item in try cases() {
            let ids = try #require(item["input_ids"] as? [Int])
            let expected = try #require(item["greedy_ids"] as? [Int])
            var options = GenerationOptions()
            options.maxNewTokens = 20
            let generation = try model.generate(prompt: ids, options: options)
            #expect(generation.tokens.map(\.id) == expected, "\(item["prompt"] ?? "")")
        }
    }
}
