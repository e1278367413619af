import Foundation
import Testing
import SeqLensTestSupport
@testable import SeqLensAttribution
import SeqLensModels

/// Step scores of a generated continuation come from the logits generation already computed
/// (one-row products, packed weights where the checkpoint has them); the same continuation
/// forced as `generatedTexts` goes through a full forward pass. Both must agree.
@Suite("Step scores reuse generation's logits", .serialized)
struct StepScoresFromGenerationTests {
    /// Whether generating `newTokens` after `prompt` gives a text that re-encodes to the same ids.
    static func roundTrips(_ model: LanguageModel, prompt: String, newTokens: Int) throws -> Bool {
        var options = GenerationOptions()
        options.maxNewTokens = newTokens
        options.stopAtEOS = false
        let generation = try model.generate(prompt: model.encode(prompt), options: options)
        return model.encode(prompt + generation.text) == generation.promptIds + generation.tokens.map(\.id)
    }

    static func compare(_ model: LanguageModel, prompt: String, newTokens: Int = 12) throws {
        var request = AttributionRequest(inputs: [prompt])
        request.method = DummyMethod()
        request.generation.maxNewTokens = newTokens
        request.generation.stopAtEOS = false
        request.stepScores = [.probability, .entropy, .logit]
        let generated = try #require(try Attributor(model: model).attribute(request).sequenceAttributions.first)
        let ids = generated.target.map(\.id)
        var options = request.generation
        options.keepsStepLogits = true
        let generation = try model.generate(prompt: model.encode(prompt), options: options)
        // The reuse applies: re-encoding the text gives back the generated ids.
        #expect(ids == generation.promptIds + generation.tokens.map(\.id))
        #expect(Attributor.generationLogits(generation, ids: ids, start: generation.promptIds.count, end: ids.count) != nil)

        request.generatedTexts = [prompt + generation.text]
        let forced = try #require(try Attributor(model: model).attribute(request).sequenceAttributions.first)
        #expect(forced.target.map(\.id) == ids)
        for name in ["probability", "entropy", "logit"] {
            let reused = try #require(generated.stepScores[name]).values, computed = try #require(forced.stepScores[name]).values
            #expect(reused.count == newTokens)
            let scale = computed.map(abs).max() ?? 1
            let worst = zip(reused, computed).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-5 * max(scale, 1), "\(name): \(reused) vs \(computed)")
        }
    }

    @Test func tinyGPT2() throws {
        // The random model's continuations often re-tokenize differently; use one that does not.
        let model = try InseqFixtureTests.model("tiny-gpt2")
        let prompts = ["The code is free", "The software is", "Free software", "The license of the code", "A program"]
        let prompt = try #require(try prompts.first { try Self.roundTrips(model, prompt: $0, newTokens: 6) })
        try Self.compare(model, prompt: prompt, newTokens: 6)
    }

    @Test(.enabled(if: Fixtures.smolLM2IsCached, Comment(rawValue: Fixtures.smolLM2Missing)))
    func smolLM2() throws {
        let model = try SmolLM2AttributionTests.model.get()
        try Self.compare(model, prompt: "The capital of France is")
    }

    @Test func retokenizedContinuationFallsBackToAForwardPass() {
        let generation = Generation(promptIds: [1, 2], tokens: [GeneratedToken(id: 3, token: "c", probability: 0.5, alternatives: [])],
                                    text: "c", stopReason: .maxNewTokens, stepLogits: [[0, 1, 2, 3]])
        #expect(Attributor.generationLogits(generation, ids: [1, 2, 3], start: 2, end: 3)?.scalars == [0, 1, 2, 3])
        // Re-encoding merged or split tokens, or positions inside the prompt: no reuse.
        #expect(Attributor.generationLogits(generation, ids: [1, 2, 4], start: 2, end: 3) == nil)
        #expect(Attributor.generationLogits(generation, ids: [1, 2, 3], start: 1, end: 3) == nil)
    }
}
