import Foundation
import SeqLensModels
import Testing

@testable import SeqLensServer

/// The default model loaded in process, for reference results.
enum ReferenceEngine {
    static let loaded: Result<LanguageModel, any Error>? = PackagePaths.defaultModel.map { _ in
        Result { try LanguageModel.load(.defaultModel) }
    }

    static var model: LanguageModel {
        get throws {
            guard let loaded else { throw DaemonError.binaryMissing("default model") }
            return try loaded.get()
        }
    }
}

/// End to end with the real engine and the default model (SmolLM2-135M-Instruct), through the
/// real binary. Skipped, visibly, when the model is not in the cache (scripts/fetch-models.sh).
@Suite(.enabled(if: PackagePaths.defaultModel != nil, "SmolLM2 is not in the cache: run scripts/fetch-models.sh"))
struct DefaultModelTests {
    static let prompt = "The capital of France is"

    @Test func loadGenerateUnloadShutdownMatchesTheEngine() throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        let load = try #require(daemon.client.call("model/load", ["path": "default"], timeout: 120))
        #expect(load["architecture"] == "llama")
        #expect(load["layers"] == 30)
        #expect(load["vocabSize"] == 49152)
        let reply = try #require(
            daemon.client.call(
                "generate", ["model": "default", "inputs": [.string(Self.prompt)], "maxNewTokens": 8, "returnTopK": 3],
                timeout: 120))
        let served = try #require(reply["results"]?.arrayValue?.first)

        let model = try ReferenceEngine.model
        var options = GenerationOptions()
        options.maxNewTokens = 8
        options.returnTopK = 3
        let expected = try model.generate(prompt: model.encode(Self.prompt, addSpecialTokens: true), options: options)
        #expect(served["text"] == .string(expected.text))
        #expect(served["stopReason"] == .string(expected.stopReason.rawValue))
        let tokens = served["tokens"]?.arrayValue ?? []
        #expect(tokens.map { $0["id"]?.intValue } == expected.tokens.map(\.id))
        for (token, reference) in zip(tokens, expected.tokens) {
            // Probabilities travel as text with 9 significant digits: exact for float32.
            #expect(token["prob"]?.doubleValue.map(Float.init) == reference.probability)
            #expect(token["top"]?.arrayValue?.map { $0["id"]?.intValue } == reference.alternatives.map(\.id))
        }
        #expect(daemon.client.call("model/unload", ["model": "default"])?["id"] == "default")
        #expect(daemon.shutdown() == 0)
    }

    @Test func theSameFileIsNotReadTwiceAndTooLongInputsAreRefused() throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        let first = try #require(daemon.client.call("model/load", ["path": "default"], timeout: 120))
        let path = try #require(PackagePaths.defaultModel?.path)
        let started = Date()
        let second = try #require(daemon.client.call("model/load", ["path": .string(path), "id": "other"]))
        #expect(Date().timeIntervalSince(started) < 0.5)
        #expect(second["alreadyResident"] == true)
        #expect(second["id"] == first["id"])
        #expect(daemon.client.call("server/status")?["modelLoadsFromStorage"] == 1)

        let long = String(repeating: "word ", count: 9000)
        let id = daemon.client.request("generate", ["model": "default", "inputs": [.string(long)], "maxNewTokens": 1])
        let reply = daemon.client.response(to: id, timeout: 60)
        #expect(reply?["error"]?["code"] == .integer(ErrorCode.inputTooLong.rawValue))
        #expect(reply?["error"]?["message"]?.stringValue?.contains("exceed the model's limit of 8192 positions") == true)
        #expect(daemon.client.call("tokenize", ["model": "default", "texts": ["Hello world"]])?["results"] == [["ids": [19556, 905], "tokens": ["Hello", "Ġworld"]]])
        #expect(daemon.shutdown() == 0)
    }

    @Test func aLongGenerateIsCancelledWithinOneSecond() throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        _ = daemon.client.call("model/load", ["path": "default"], timeout: 120)
        let id = daemon.client.request(
            "generate", ["model": "default", "inputs": ["Once upon a time"], "maxNewTokens": 2000, "stopAtEos": false, "workDoneToken": "t"])
        // Cancellation takes effect at the next token: measure how long a token takes here.
        var reports: [Date] = []
        while reports.count < 4, let message = daemon.client.next(timeout: 60) {
            if message["params"]?["value"]?["kind"] == "report" { reports.append(Date()) }
        }
        #expect(reports.count == 4)
        let tokenSeconds = zip(reports, reports.dropFirst()).map { $1.timeIntervalSince($0) }.max() ?? 0
        let cancelledAt = Date()
        daemon.client.notify("$/cancelRequest", ["id": .integer(id)])
        let reply = daemon.client.response(to: id, timeout: 10) { _ in }
        let elapsed = Date().timeIntervalSince(cancelledAt)
        #expect(reply?["error"]?["code"] == .integer(ErrorCode.requestCancelled.rawValue))
        // Within 1 s, unless this (debug, loaded) machine takes longer than that for one token.
        #expect(elapsed < max(1, 1.5 * tokenSeconds), "cancelled after \(elapsed) s; one token took up to \(tokenSeconds) s")
        #expect(daemon.client.call("tokenize", ["model": "default", "texts": ["ok"]])?["results"]?.arrayValue?.count == 1)
        #expect(daemon.shutdown() == 0)
    }
}
