import Foundation
import SeqLensModels
import Testing

@testable import SeqLensServer

/// Several models resident, reuse without re-reading, the memory budget, over the protocol, with
/// the committed tiny checkpoints.
@Suite struct ResidentModelTests {
    /// Two architectures resident at once; the same folder (spelled differently) is not read again.
    @Test func twoModelsResidentAndTheSamePathIsNotReadTwice() throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        let gpt2 = try #require(daemon.client.call("model/load", ["path": .string(TinyModels.gpt2Path)]))
        let llama = try #require(daemon.client.call("model/load", ["path": .string(TinyModels.llamaPath)]))
        #expect(gpt2["id"] == "tiny-gpt2")
        #expect(gpt2["architecture"] == "gpt2")
        #expect(gpt2["alreadyResident"] == false)
        #expect(llama["architecture"] == "llama")
        let again = daemon.client.call("model/load", ["path": .string(TinyModels.gpt2Path + "/")])
        #expect(again?["alreadyResident"] == true)
        #expect(again?["id"] == "tiny-gpt2")
        let status = try #require(daemon.client.call("server/status"))
        #expect(status["modelLoadsFromStorage"] == 2)
        #expect(status["models"]?.arrayValue?.count == 2)
        let memory = (gpt2["memoryBytes"]?.intValue ?? 0) + (llama["memoryBytes"]?.intValue ?? 0)
        #expect(status["memory"]?["residentBytes"] == .integer(memory))
        // Both answer, each with its own engine result.
        for (id, reference) in [("tiny-gpt2", TinyModels.gpt2), ("tiny-llama", TinyModels.llama)] {
            let model = try reference.get()
            let generated = daemon.client.call(
                "generate", ["model": .string(id), "inputs": ["Hello"], "maxNewTokens": 3, "stopAtEos": false])
            let expected = try TinyModels.greedy(model, "Hello", maxNewTokens: 3, stopAtEOS: false)
            #expect(generated?["results"]?.arrayValue?.first?["text"] == .string(expected.text), "\(id)")
            #expect(generated?["results"]?.arrayValue?.first?["tokens"]?.arrayValue?.count == 3, "\(id)")
        }
        #expect(daemon.client.call("model/unload", ["model": "tiny-gpt2"])?["freedBytes"] == gpt2["memoryBytes"])
        #expect(daemon.client.call("model/list")?["models"]?.arrayValue?.map { $0["id"] } == ["tiny-llama"])
        #expect(daemon.shutdown() == 0)
    }

    @Test func theBudgetUnloadsTheLeastRecentlyUsedModel() throws {
        let sizes = try [TinyModels.gpt2, TinyModels.llama, TinyModels.qwen2].map { try $0.get().info.memoryBytes }
        let daemon = InProcessDaemon()
        // One byte short of all three: loading the third must unload one.
        daemon.initialize(["memoryBudgetBytes": .integer(sizes.reduce(0, +) - 1)])
        _ = daemon.client.call("model/load", ["path": .string(TinyModels.gpt2Path), "id": "a"])
        _ = daemon.client.call("model/load", ["path": .string(TinyModels.llamaPath), "id": "b"])
        _ = daemon.client.call("tokenize", ["model": "a", "texts": ["x"]])
        let third = daemon.client.call("model/load", ["path": .string(TinyModels.qwen2Path), "id": "c"])
        #expect(third?["evicted"] == ["b"])
        let ids = daemon.client.call("model/list")?["models"]?.arrayValue?.compactMap { $0["id"]?.stringValue }
        #expect(ids.map(Set.init) == ["a", "c"])
        #expect(daemon.shutdown() == 0)
    }

    @Test func tokenizeDetokenizeAndGenerateMatchTheEngine() throws {
        let model = try TinyModels.gpt2.get()
        let daemon = InProcessDaemon()
        daemon.initialize()
        _ = daemon.client.call("model/load", ["path": .string(TinyModels.gpt2Path), "id": "m"])
        let tokens = daemon.client.call("tokenize", ["model": "m", "texts": ["a b", "Hello world"]])
        let expected: [RPCValue] = ["a b", "Hello world"].map { text in
            let ids = model.encode(text, addSpecialTokens: true)
            return ["ids": ids.json, "tokens": model.tokenStrings(ids).json]
        }
        #expect(tokens?["results"] == .array(expected))
        let ids = model.encode("Hello world", addSpecialTokens: false)
        let texts = daemon.client.call("detokenize", ["model": "m", "ids": [ids.json, []], "skipSpecialTokens": true])
        #expect(texts == ["texts": ["Hello world", ""]])

        let generated = daemon.client.call(
            "generate", ["model": "m", "inputs": ["xy"], "maxNewTokens": 2, "returnTopK": 2, "returnPromptTokens": true])
        let result = generated?["results"]?.arrayValue?.first
        var options = GenerationOptions()
        options.maxNewTokens = 2
        options.returnTopK = 2
        let prompt = model.encode("xy", addSpecialTokens: true)
        let reference = try model.generate(prompt: prompt, options: options)
        #expect(result?["text"] == .string(reference.text))
        #expect(result?["stopReason"] == .string(reference.stopReason.rawValue))
        #expect(result?["promptTokens"] == .array(zip(prompt, model.tokenStrings(prompt)).map { ["id": .integer($0), "token": .string($1)] }))
        let served = result?["tokens"]?.arrayValue ?? []
        #expect(served.map { $0["id"]?.intValue } == reference.tokens.map(\.id))
        #expect(served.map { $0["token"]?.stringValue } == reference.tokens.map(\.token))
        // Probabilities travel as text with 9 significant digits: exact for float32.
        #expect(served.map { $0["prob"]?.doubleValue.map(Float.init) } == reference.tokens.map(\.probability))
        #expect(served.map { $0["top"]?.arrayValue?.map { $0["id"]?.intValue } } == reference.tokens.map { $0.alternatives.map(\.id) })
        #expect(reference.tokens.first?.alternatives.count == 2)
        #expect(daemon.shutdown() == 0)
    }
}
