import Foundation
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
        #expect(capabilities?["attributionMethods"]?.arrayValue != nil)
        #expect(capabilities?["stepFunctions"]?.arrayValue != nil)
        #expect(capabilities?["architectures"]?.arrayValue?.contains("llama") == true)
        #expect(capabilities?["checkpointFormats"] == ["safetensors", "gguf"])
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

    @Test func endOfInputAnswersQueuedRequestsAndExitsCleanly() throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        let load = daemon.client.request("model/load", ["path": "synthetic:a"])
        let tokenize = daemon.client.request("tokenize", ["model": "synthetic:a", "texts": ["hi"]])
        daemon.client.closeInput()
        #expect(daemon.client.response(to: load)?["result"]?["id"] == "synthetic:a")
        #expect(daemon.client.response(to: tokenize)?["result"]?["results"]?.arrayValue?.first?["ids"] == [256, 104, 105])
        #expect(daemon.waitForExit() == 0, "\(daemon.standardError)")
    }

    @Test func strayOutputGoesToStandardErrorNotTheProtocol() throws {
        // --log-level debug writes a line per request; none may reach the protocol channel.
        let daemon = try DaemonProcess(arguments: ["--log-level", "debug"])
        daemon.initialize()
        _ = daemon.client.call("model/load", ["path": "synthetic:a"])
        _ = daemon.client.call("generate", ["model": "synthetic:a", "inputs": ["x"], "maxNewTokens": 3])
        #expect(daemon.shutdown() == 0)
        #expect(daemon.client.waitForEndOfOutput())
        #expect(daemon.client.next(timeout: 0) == nil, "every frame on stdout was read and parsed")
        #expect(daemon.standardError.contains("seqlens[debug] generate"))
    }
}
