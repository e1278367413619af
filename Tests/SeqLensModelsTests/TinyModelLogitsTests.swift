import Foundation
import Testing
import SeqLensTestSupport
@testable import SeqLensModels
import SeqLensTensor

@Suite("Tiny random checkpoints: logits and greedy generations equal transformers'")
struct TinyModelLogitsTests {
    static let models = ["tiny-gpt2", "tiny-gpt2-f16", "tiny-llama", "tiny-llama-sharded", "tiny-qwen2", "tiny-qwen3", "tiny-phi3", "tiny-gpt-neox", "tiny-opt", "tiny-opt-post-ln", "tiny-gemma", "tiny-llama3-rope", "tiny-llama-linear-rope"]

    func load(_ name: String) throws -> any CausalTransformer {
        let folder = Fixtures.path("models/\(name)")
        let config = try Data(contentsOf: URL(fileURLWithPath: folder + "/config.json"))
        return try ArchitectureRegistry.transformer(folder: folder, configuration: config).0
    }

    @Test(arguments: models)
    func logitsAtEveryPosition(model name: String) throws {
        let transformer = try load(name)
        // The sharded folder holds tiny-llama's weights: same reference.
        let reference = try Fixtures.json("models/\(name.replacingOccurrences(of: "-sharded", with: ""))/reference.json")
        let cases = try #require(reference["cases"] as? [[String: Any]])
        #expect(cases.count >= 3)
        var worst: Float = 0
        for item in cases {
            let ids = try #require(item["input_ids"] as? [Int])
            let expected = try #require(item["logits"] as? [Double]).map(Float.init)
            let hidden = transformer.hiddenStates(
                embeddings: Variable(constant: transformer.embed([ids])), positions: Array(ids.indices),
                cache: nil, probe: nil)
            let logits = transformer.logits(reshape(hidden, [ids.count, transformer.dimensions.hiddenSize])).value.scalars
            try #require(logits.count == expected.count)
            for (a, b) in zip(logits, expected) { worst = max(worst, abs(a - b)) }
        }
        print("\(name): max |logit difference| = \(worst)")
        #expect(worst <= 1e-4)
    }
}

@Suite("Tiny random checkpoints: greedy generations")
struct TinyModelGenerationTests {
    @Test(arguments: ["tiny-gpt2", "tiny-llama", "tiny-qwen2", "tiny-qwen3", "tiny-phi3", "tiny-gpt-neox", "tiny-opt", "tiny-opt-post-ln", "tiny-gemma", "tiny-llama3-rope", "tiny-llama-linear-rope"])
    func greedyTwentyTokens(model name: String) throws {
        let folder = Fixtures.path("models/\(name)")
        let config = try Data(contentsOf: URL(fileURLWithPath: folder + "/config.json"))
        let transformer = try ArchitectureRegistry.transformer(folder: folder, configuration: config).0
        let reference = try Fixtures.json("models/\(name)/reference.json")
        let eos = try #require(reference["eos_token_id"] as? Int)
        for item in try #require(reference["cases"] as? [[String: Any]]) {
            let ids = try #require(item["input_ids"] as? [Int])
            let generator = Generator(transformer: transformer, endOfSequence: [eos], tokenString: { _ in "" })
            var options = GenerationOptions()
            options.maxNewTokens = 20
            let stopping = try generator.generate(prompt: ids, options: options, onToken: { _, _ in })
            #expect(stopping.tokens.map(\.id) == (item["greedy_ids"] as? [Int]), "\(name): \(ids)")
            options.stopAtEOS = false
            let full = try generator.generate(prompt: ids, options: options, onToken: { _, _ in })
            #expect(full.tokens.map(\.id) == (item["greedy_ids_no_eos"] as? [Int]), "\(name): \(ids)")
            #expect(full.tokens.count == 20)
        }
    }
}

/// Windowed attention is not implemented, so a window limits the input instead: inside the
/// window, full attention is what the windowed model computes.
@Suite("A sliding window limits the input to the window")
struct SlidingWindowTests {
    func load(_ edit: (inout [String: Any]) -> Void) throws -> LanguageModel {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("seqlens-window-\(UUID().uuidString)").path
        try FileManager.default.copyItem(atPath: Fixtures.path("models/tiny-llama"), toPath: folder)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let url = URL(fileURLWithPath: folder + "/config.json")
        var config = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: url)
        return try LanguageModel.load(.path(folder))
    }

    @Test func mistralsWindowIsTheLimit() throws {
        let model = try load { $0["model_type"] = "mistral"; $0["sliding_window"] = 16 }
        #expect(model.info.maxPositions == 16)
        #expect(throws: ModelError.self) { try model.logits(Array(repeating: 5, count: 17)) }
        #expect(try model.logits(Array(repeating: 5, count: 16)).shape == [16, 512])
    }

    @Test func qwensWindowAppliesOnlyWhenUsed() throws {
        #expect(try load { $0["model_type"] = "qwen2"; $0["attention_bias"] = false; $0["sliding_window"] = 16 }.info.maxPositions == 128)
        #expect(try load {
            $0["model_type"] = "qwen2"; $0["attention_bias"] = false; $0["sliding_window"] = 16; $0["use_sliding_window"] = true
        }.info.maxPositions == 16)
    }
}
