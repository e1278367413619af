import Foundation
import SeqLensAttribution
import Testing

@testable import SeqLensServer

/// protocol/seqlens.openrpc.json against the examples and against what the real daemon says.
@Suite struct ProtocolSpecTests {
    let spec: ProtocolSpecification

    init() throws { spec = try ProtocolSpecification() }

    static var exampleFiles: [String] {
        let folder = PackagePaths.root.appendingPathComponent("protocol/examples")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted()
    }

    @Test func theSpecDocumentsEveryMethodAndErrorCodeTheServerHas() {
        let requests = Set(spec.methods.filter { $0.value["x-notification"] != .bool(true) }.keys)
        let server = InProcessDaemon()
        server.initialize()
        #expect(requests == Set(server.server.methodNames))
        #expect(Set(spec.methods.keys).isSuperset(of: ServerInfo.clientNotifications + ServerInfo.serverNotifications))
        let codes: [ErrorCode] = [
            .parseError, .invalidRequest, .methodNotFound, .invalidParams, .internalError, .serverNotInitialized,
            .requestCancelled, .modelNotFound, .modelLoadFailed, .memoryBudgetExceeded, .inputTooLong, .computationFailed,
        ]
        #expect(Set(spec.errorCodes.values) == Set(codes.map(\.rawValue)))
        #expect(server.shutdown() == 0)
    }

    /// The spec's names are the engine's, so a method or step function added there shows up here.
    @Test func theSpecNamesTheEnginesMethodsAndStepFunctions() {
        let schemas = spec.document["components"]?["schemas"]
        #expect(schemas?["AttributionMethod"]?["enum"] == ServerInfo.attributionMethods.json)
        #expect(schemas?["StepFunction"]?["enum"] == ServerInfo.stepFunctions.json)
        let integration = schemas?["MethodArgs.integrated_gradients"]?["properties"]?["integration"]?["enum"]
        #expect(integration == IntegrationRule.allCases.map(\.rawValue).json)
        for handler in builtInHandlers {
            let params = spec.methods[handler.method]?["params"]?.arrayValue ?? []
            let documented = Set(params.compactMap { $0["name"]?.stringValue }).subtracting(["workDoneToken"])
            #expect(documented == handler.fields, "\(handler.method): the spec's params against the fields the handler accepts")
        }
    }

    /// Each registered method has a MethodArgs.<name> schema listing exactly the arguments its type
    /// decodes, and no schema names a method that is not registered.
    @Test func theSpecDocumentsEveryMethodsArguments() throws {
        let schemas = try #require(spec.document["components"]?["schemas"]?.objectValue)
        let documented = Set(schemas.keys.filter { $0.hasPrefix("MethodArgs.") }.map { String($0.dropFirst("MethodArgs.".count)) })
        #expect(documented == Set(AttributionMethods.names))
        for method in AttributionMethods.all {
            let properties = schemas["MethodArgs.\(method.name)"]?["properties"]?.objectValue ?? [:]
            #expect(Set(properties.keys) == Set(AttributionMethods.argumentNames(of: method)), "\(method.name)")
            #expect(schemas["MethodArgs.\(method.name)"]?["additionalProperties"] == .bool(false))
        }
    }

    /// `attribute` replies from the real binary (tiny-gpt2), progress included, conform to the spec.
    @Test func realAttributeRepliesConformToTheSpec() throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        let client = daemon.client
        var sent: [RPCValue: String] = [:]
        var replies: [RPCValue] = []
        func exchange(_ params: RPCValue) {
            var members = params.objectValue ?? [:]
            members["model"] = "tiny-gpt2"
            let id = client.request("attribute", .object(members))
            sent[.integer(id)] = "attribute"
            if let reply = client.response(to: id, onNotification: { replies.append($0) }) { replies.append(reply) }
        }
        _ = client.call("model/load", ["path": .string(TinyModels.gpt2Path)])
        exchange(["inputs": ["Hello world", "A cat"], "generationArgs": ["maxNewTokens": 3], "stepScores": ["probability"], "workDoneToken": "s"])
        exchange([
            "inputs": ["Hello world"], "generatedTexts": ["Hello world and more"], "method": "integrated_gradients",
            "methodArgs": ["nSteps": 4, "returnConvergenceDelta": true], "stepScores": ["probability"], "granular": true,
        ])
        exchange([
            "inputs": ["Hello world"], "generatedTexts": ["Hello world and more"], "contrastTargets": ["Hello world or less"],
            "contrastTargetsAlignments": [[[8, 8], [9, 9]]], "attributedFn": "contrast_prob_diff",
            "stepScores": ["contrast_prob_diff", "probability"],
        ])
        exchange(["inputs": ["Hello"], "generationArgs": ["maxNewTokens": 2], "aggregate": false])
        exchange(["inputs": ["Hello"], "generationArgs": ["maxNewTokens": 2], "outputStepAttributions": true, "granular": true,
                  "stepScores": ["probability"]])
        exchange(["inputs": ["Hello"], "generationArgs": ["maxNewTokens": 2], "method": "dummy", "stepScores": ["entropy", "perplexity"]])
        exchange(["inputs": ["Hello"], "method": "integrated_gradients", "methodArgs": ["nSteps": 0]])
        exchange(["inputs": ["Hello"], "generatedTexts": ["Hello there"], "attrPosEnd": 99])
        exchange(["inputs": [.string(String(repeating: "x", count: 200))]])
        #expect(daemon.shutdown() == 0)
        let results = replies.compactMap { $0["result"]?["results"]?.arrayValue }
        #expect(results.map(\.count) == [2, 1, 1, 1, 1, 1])
        #expect(results[4].first?["steps"]?.arrayValue?.count == 2)
        #expect(results.last?.first?["targetAttributions"] == .null)
        #expect(results[1].first?["stepScores"]?["deltas"]?.arrayValue?.count == 4)
        #expect(Set(replies.compactMap { $0["error"]?["code"]?.intValue }) == [-32602, -32013])
        #expect(replies.contains { $0["method"] == "$/progress" })
        for reply in replies {
            let problems = spec.problems(reply, from: "server", requests: &sent)
            #expect(problems.isEmpty, "\(reply): \(problems)")
        }
    }

    @Test func thereAreExamples() {
        #expect(Self.exampleFiles.count >= 5)
    }

    @Test(arguments: exampleFiles)
    func everyExampleMessageConformsToTheSpec(file: String) throws {
        let url = PackagePaths.root.appendingPathComponent("protocol/examples/\(file)")
        let example = try JanssonCodec.decode(Array(try Data(contentsOf: url))).value
        let messages = try #require(example["messages"]?.arrayValue)
        #expect(!messages.isEmpty)
        var requests: [RPCValue: String] = [:]
        for entry in messages {
            let sender = try #require(entry["from"]?.stringValue)
            // Bytes that are not a message at all, shown as text.
            if entry["raw"] != nil { continue }
            let message = try #require(entry["message"])
            let problems = spec.problems(message, from: sender, requests: &requests)
            if entry["invalid"] == .bool(true) {
                #expect(!problems.isEmpty, "\(file): \(message) is marked invalid but conforms")
            } else {
                #expect(problems.isEmpty, "\(file): \(message): \(problems)")
            }
        }
    }

    @Test func theSchemasRejectWhatTheyShould() {
        var requests: [RPCValue: String] = [2: "model/list"]
        let extraField: RPCValue = ["jsonrpc": "2.0", "id": 2, "result": ["models": [], "extra": 1]]
        #expect(!spec.problems(extraField, from: "server", requests: &requests).isEmpty)
        let wrongType: RPCValue = ["jsonrpc": "2.0", "id": 3, "method": "tokenize", "params": ["model": "m", "texts": [1]]]
        #expect(!spec.problems(wrongType, from: "client", requests: &requests).isEmpty)
        let undocumented: RPCValue = ["jsonrpc": "2.0", "id": 2, "error": ["code": -32099, "message": "x"]]
        #expect(!spec.problems(undocumented, from: "server", requests: &requests).isEmpty)
    }

    /// Every method and several errors, from the real binary; every message it sends must conform.
    @Test func realDaemonResponsesConformToTheSpec() throws {
        let daemon = try DaemonProcess()
        let client = daemon.client
        var sent: [RPCValue: String] = [:]
        var replies: [RPCValue] = []
        func exchange(_ method: String, _ params: RPCValue?) {
            let id = client.request(method, params)
            sent[.integer(id)] = method
            if let reply = client.response(to: id, onNotification: { replies.append($0) }) { replies.append(reply) }
        }
        exchange("model/list", nil)  // before initialize: -32002
        exchange("initialize", ["processId": .integer(Int(getpid())), "clientInfo": ["name": "tests"], "initializationOptions": ["memoryBudgetBytes": 1_200_000]])
        client.notify("initialized", [:])
        exchange("model/load", ["path": .string(TinyModels.gpt2Path), "id": "a"])
        exchange("model/load", ["path": .string(TinyModels.gpt2Path)])
        exchange("model/load", ["path": .string(TinyModels.qwen2Path)])
        exchange("model/load", ["path": "/no/such/model.gguf"])
        exchange("model/load", ["path": .string(TinyModels.corruptCheckpoint)])
        exchange("model/list", nil)
        exchange("server/status", nil)
        exchange("tokenize", ["model": "a", "texts": ["hello", "é"], "addSpecialTokens": false])
        exchange("tokenize", ["model": "zzz", "texts": ["x"]])
        // Over the budget: unloads tiny-qwen2, used less recently than a.
        exchange("model/load", ["path": .string(TinyModels.llamaPath)])
        exchange("detokenize", ["model": "a", "ids": [[104, 105]], "skipSpecialTokens": true])
        exchange("generate", ["model": "a", "inputs": ["ab", "c"], "maxNewTokens": 3, "returnTopK": 2, "returnPromptTokens": true, "workDoneToken": "p"])
        exchange("generate", ["model": "a", "inputs": [.string(String(repeating: "x", count: 200))]])
        exchange("generate", ["model": "a", "inputs": ["x"], "topP": 3])
        exchange("model/unload", ["model": "tiny-llama"])
        exchange("nope", [:])
        exchange("shutdown", nil)
        client.notify("exit")
        #expect(daemon.waitForExit() == 0)
        #expect(replies.count >= 20)
        let codes = Set(replies.compactMap { $0["error"]?["code"]?.intValue })
        #expect(codes == [-32002, -32011, -32010, -32013, -32602, -32601])
        let evictions = replies.compactMap { $0["result"]?["evicted"]?.arrayValue }.filter { !$0.isEmpty }
        #expect(evictions == [["tiny-qwen2"]])
        for reply in replies {
            let problems = spec.problems(reply, from: "server", requests: &sent)
            #expect(problems.isEmpty, "\(reply): \(problems)")
        }
    }
}
