import Foundation
import SeqLensAttribution
import SeqLensModels
import Testing

@testable import SeqLensServer

/// The LSP lifecycle against the real binary: initialize, shutdown, exit, end of input.
@Suite struct LifecycleTests {
    @Test func requestsBeforeInitializeGetServerNotInitialized() throws {
        let daemon = try DaemonProcess()
        let id = daemon.client.request("model/list")
        let reply = daemon.client.response(to: id)
        #expect(reply?["error"]?["code"] == .integer(ErrorCode.serverNotInitialized.rawValue))
        #expect(reply?["error"]?["message"]?.stringValue?.contains("send 'initialize' before 'model/list'") == true)
        daemon.initialize()
        #expect(daemon.client.call("model/list") == ["models": []])
        #expect(daemon.shutdown() == 0)
    }

    @Test func initializeDescribesTheServer() throws {
        let daemon = try DaemonProcess()
        let result = daemon.initialize(["memoryBudgetBytes": 12345])
        #expect(result?["serverInfo"] == ["name": "seqlens", "version": .string(ServerInfo.version)])
        let capabilities = result?["capabilities"]
        let methods = capabilities?["methods"]?.arrayValue?.compactMap(\.stringValue) ?? []
        for method in ["initialize", "shutdown", "model/load", "model/unload", "model/list", "server/status", "tokenize", "detokenize", "generate"] {
            #expect(methods.contains(method), "missing \(method)")
        }
        // The engine's own lists.
        #expect(capabilities?["attributionMethods"] == AttributionMethods.names.json)
        #expect(capabilities?["attributionMethods"]?.arrayValue?.contains("integrated_gradients") == true)
        #expect(capabilities?["stepFunctions"] == StepFunction.allCases.map(\.rawValue).json)
        #expect(capabilities?["stepFunctions"]?.arrayValue?.contains("contrast_prob_diff") == true)
        #expect(capabilities?["architectures"] == LanguageModel.supportedArchitectures.json)
        #expect(capabilities?["architectures"]?.arrayValue?.contains("llama") == true)
        #expect(capabilities?["checkpointFormats"] == LanguageModel.supportedFormats.json)
        #expect(capabilities?["checkpointFormats"]?.arrayValue?.contains("gguf") == true)
        #expect(capabilities?["tokenizers"] == ["byte_level_bpe", "unigram", "sentencepiece", "marian", "mbart"])
        #expect(capabilities?["architectures"]?.arrayValue?.contains("mbart") == true)
        #expect(capabilities?["memoryBudgetBytes"] == 12345)
        #expect(daemon.shutdown() == 0)
    }

    @Test func exitWithoutShutdownExitsWithStatusOne() throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        daemon.client.notify("exit")
        #expect(daemon.waitForExit() == 1)
    }

    @Test func afterShutdownOnlyExitIsAccepted() throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        #expect(daemon.client.call("shutdown") == .null)
        let id = daemon.client.request("model/list")
        let reply = daemon.client.response(to: id)
        #expect(reply?["error"]?["code"] == .integer(ErrorCode.invalidRequest.rawValue))
        daemon.client.notify("exit")
        #expect(daemon.waitForExit() == 0)
    }

    /// At end of input the client is gone: what is queued is cancelled, what runs stops at its next
    /// cancellation point, and every request still gets exactly one answer before the daemon exits.
    @Test func endOfInputAnswersEveryRequestOnceAndExitsCleanly() throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        let load = daemon.client.request("model/load", ["path": .string(TinyModels.gpt2Path)])
        let tokenize = daemon.client.request("tokenize", ["model": "tiny-gpt2", "texts": ["hi there"]])
        daemon.client.closeInput()
        var answers: [Int: [RPCValue]] = [:]
        while let message = daemon.client.next(timeout: 10) {
            if let id = message["id"]?.intValue { answers[id, default: []].append(message) }
        }
        #expect(daemon.client.waitForEndOfOutput())
        #expect(Set(answers.keys) == [load, tokenize] && answers.values.allSatisfy { $0.count == 1 }, "\(answers)")
        let cancelled: RPCValue = .integer(ErrorCode.requestCancelled.rawValue)
        let loaded = answers[load]?.first
        #expect(loaded?["result"]?["id"] == "tiny-gpt2" || loaded?["error"]?["code"] == cancelled, "\(String(describing: loaded))")
        let tokenized = answers[tokenize]?.first
        let expected = try TinyModels.gpt2.get().encode("hi there", addSpecialTokens: true)
        #expect(
            tokenized?["result"]?["results"]?.arrayValue?.first?["ids"] == expected.json || tokenized?["error"]?["code"] == cancelled,
            "\(String(describing: tokenized))")
        #expect(daemon.waitForExit() == 0, "\(daemon.standardError)")
    }

    @Test func strayOutputGoesToStandardErrorNotTheProtocol() throws {
        // --log-level debug writes a line per request; none may reach the protocol channel.
        let daemon = try DaemonProcess(arguments: ["--log-level", "debug"])
        daemon.initialize()
        _ = daemon.client.call("model/load", ["path": .string(TinyModels.gpt2Path)])
        _ = daemon.client.call("generate", ["model": "tiny-gpt2", "inputs": ["x"], "maxNewTokens": 3])
        #expect(daemon.shutdown() == 0)
        #expect(daemon.client.waitForEndOfOutput())
        #expect(daemon.client.next(timeout: 0) == nil, "every frame on stdout was read and parsed")
        #expect(daemon.standardError.contains("seqlens[debug] generate"))
    }
}
