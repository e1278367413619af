import Foundation
import Testing

@testable import SeqLensServer

/// Several models resident, reuse without re-reading, the memory budget, over the protocol.
@Suite struct ResidentModelTests {
    @Test func twoModelsResidentAndTheSamePathIsNotReadTwice() throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        let first = daemon.client.call("model/load", ["path": "synthetic:one"])
        let second = daemon.client.call("model/load", ["path": "synthetic:two?memory=2048"])
        let again = daemon.client.call("model/load", ["path": "synthetic:one"])
        #expect(first?["alreadyResident"] == false)
        #expect(again?["alreadyResident"] == true)
        #expect(again?["id"] == first?["id"])
        let status = daemon.client.call("server/status")
        #expect(status?["modelLoadsFromStorage"] == 2)
        #expect(status?["models"]?.arrayValue?.count == 2)
        #expect(status?["memory"]?["residentBytes"] == .integer((1 << 20) + 2048))
        // Both answer.
        for model in ["synthetic:one", "synthetic:two"] {
            let result = daemon.client.call("tokenize", ["model": .string(model), "texts": ["a"], "addSpecialTokens": false])
            #expect(result?["results"] == [["ids": [97], "tokens": ["a"]]])
        }
        #expect(daemon.client.call("model/unload", ["model": "synthetic:one"])?["freedBytes"] == .integer(1 << 20))
        #expect(daemon.client.call("model/list")?["models"]?.arrayValue?.map { $0["id"] } == ["synthetic:two"])
        #expect(daemon.shutdown() == 0)
    }

    /// Real checkpoints from Tests/Fixtures (no download): two architectures resident at once.
    @Test func twoFixtureModelsResidentThroughTheEngine() throws {
        let fixtures = PackagePaths.root.appendingPathComponent("Tests/Fixtures/models")
        let daemon = try DaemonProcess(synthetic: false)
        daemon.initialize()
        let gpt2 = try #require(daemon.client.call("model/load", ["path": .string(fixtures.appendingPathComponent("tiny-gpt2").path)]))
        let llama = try #require(daemon.client.call("model/load", ["path": .string(fixtures.appendingPathComponent("tiny-llama").path)]))
        #expect(gpt2["id"] == "tiny-gpt2")
        #expect(gpt2["architecture"] == "gpt2")
        #expect(llama["architecture"] == "llama")
        let again = daemon.client.call("model/load", ["path": .string(fixtures.appendingPathComponent("tiny-gpt2/").path)])
        #expect(again?["alreadyResident"] == true)
        let status = try #require(daemon.client.call("server/status"))
        #expect(status["modelLoadsFromStorage"] == 2)
        #expect(status["models"]?.arrayValue?.count == 2)
        let memory = (gpt2["memoryBytes"]?.intValue ?? 0) + (llama["memoryBytes"]?.intValue ?? 0)
        #expect(status["memory"]?["residentBytes"] == .integer(memory))
        for id in ["tiny-gpt2", "tiny-llama"] {
            let generated = daemon.client.call("generate", ["model": .string(id), "inputs": ["Hello"], "maxNewTokens": 3, "stopAtEos": false])
            #expect(generated?["results"]?.arrayValue?.first?["tokens"]?.arrayValue?.count == 3, "\(id)")
        }
        #expect(daemon.shutdown() == 0)
    }

    @Test func theBudgetUnloadsTheLeastRecentlyUsedModel() throws {
        let daemon = InProcessDaemon()
        daemon.initialize(["memoryBudgetBytes": 300])
        _ = daemon.client.call("model/load", ["path": "synthetic:a?memory=100", "id": "a"])
        _ = daemon.client.call("model/load", ["path": "synthetic:b?memory=100", "id": "b"])
        _ = daemon.client.call("tokenize", ["model": "a", "texts": ["x"]])
        let third = daemon.client.call("model/load", ["path": "synthetic:c?memory=150", "id": "c"])
        #expect(third?["evicted"] == ["b"])
        let ids = daemon.client.call("model/list")?["models"]?.arrayValue?.compactMap { $0["id"]?.stringValue }
        #expect(ids.map(Set.init) == ["a", "c"])
        #expect(daemon.shutdown() == 0)
    }

    @Test func tokenizeDetokenizeAndGenerateShapes() throws {
        let daemon = InProcessDaemon()
        daemon.initialize()
        _ = daemon.client.call("model/load", ["path": "synthetic:m", "id": "m"])
        let tokens = daemon.client.call("tokenize", ["model": "m", "texts": ["a b", ""]])
        #expect(tokens?["results"] == [["ids": [256, 97, 32, 98], "tokens": ["<s>", "a", "Ġ", "b"]], ["ids": [256], "tokens": ["<s>"]]])
        let texts = daemon.client.call("detokenize", ["model": "m", "ids": [[256, 104, 105], []], "skipSpecialTokens": true])
        #expect(texts == ["texts": ["hi", ""]])
        let generated = daemon.client.call(
            "generate", ["model": "m", "inputs": ["xy"], "maxNewTokens": 2, "returnTopK": 2, "returnPromptTokens": true])
        let result = generated?["results"]?.arrayValue?.first
        #expect(result?["text"] == "za")
        #expect(result?["stopReason"] == "maxNewTokens")
        #expect(result?["promptTokens"] == [["id": 256, "token": "<s>"], ["id": 120, "token": "x"], ["id": 121, "token": "y"]])
        #expect(
            result?["tokens"]?.arrayValue?.first
                == ["id": 122, "token": "z", "prob": 0.5, "top": [["id": 122, "token": "z", "prob": 0.5], ["id": 97, "token": "a", "prob": 0.25]]])
        let eos = daemon.client.call("generate", ["model": "m", "inputs": ["a"], "maxNewTokens": 3])
        #expect(eos?["results"]?.arrayValue?.first?["tokens"]?.arrayValue?.count == 3)
        #expect(daemon.shutdown() == 0)
    }
}
