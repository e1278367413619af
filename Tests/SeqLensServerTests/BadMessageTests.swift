import Foundation
import Testing

@testable import SeqLensServer

/// One malformed input, the error it must get, and words its message must contain.
struct BadMessage: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    var code: ErrorCode
    var mentions: String
    /// The id the error must carry: nil for `null`.
    var id: Int? = nil

    var testDescription: String { name }

    static func request(_ method: String, _ params: RPCValue?, id: Int = 77) -> [UInt8] {
        var message: [String: RPCValue] = ["jsonrpc": "2.0", "id": .integer(id), "method": .string(method)]
        if let params { message["params"] = params }
        return RPCTestClient.frame(JanssonCodec.encode(.object(message)))
    }

    static func framed(_ text: String) -> [UInt8] { RPCTestClient.frame(Array(text.utf8)) }
    static func raw(_ text: String) -> [UInt8] { Array(text.utf8) }

    static let all: [BadMessage] = [
        // Broken frames and bodies that are not JSON: -32700.
        BadMessage(name: "binary garbage", bytes: [1, 2, 3, 0xFF], code: .parseError, mentions: "expected a 'Content-Length: N' header"),
        BadMessage(name: "JSON without a header", bytes: raw(#"{"jsonrpc":"2.0","id":1,"method":"model/list"}"#), code: .parseError, mentions: "expected a 'Content-Length: N' header"),
        BadMessage(name: "text line instead of a header", bytes: raw("hello world\r\n"), code: .parseError, mentions: "invalid header line 'hello world"),
        BadMessage(name: "header with bare LF", bytes: raw("Content-Length: 2\n\n{}"), code: .parseError, mentions: "invalid header line"),
        BadMessage(name: "non-numeric length", bytes: raw("Content-Length: abc\r\n\r\n{}"), code: .parseError, mentions: "Content-Length 'abc'"),
        BadMessage(name: "negative length", bytes: raw("Content-Length: -5\r\n\r\n{}"), code: .parseError, mentions: "Content-Length '-5'"),
        BadMessage(name: "no Content-Length field", bytes: raw("Content-Type: application/json\r\n\r\n{}"), code: .parseError, mentions: "no Content-Length"),
        BadMessage(name: "absurd length", bytes: raw("Content-Length: 99999999999999999999999999\r\n\r\n{}"), code: .parseError, mentions: "exceeds the limit"),
        BadMessage(name: "length over the message limit", bytes: raw("Content-Length: 2000000\r\n\r\n{}"), code: .parseError, mentions: "exceeds the limit of 1048576 bytes"),
        BadMessage(name: "length too short (truncated frame)", bytes: raw("Content-Length: 12\r\n\r\n" + #"{"jsonrpc":"2.0","id":5,"method":"model/list"}"#), code: .parseError, mentions: "not valid JSON"),
        BadMessage(name: "length too long", bytes: raw("Content-Length: 90\r\n\r\n" + #"{"jsonrpc":"2.0","id":77,"method":"model/list"}"#), code: .parseError, mentions: "does not match", id: 77),
        BadMessage(name: "length too long with trailing bytes in the body", bytes: framed(#"{"jsonrpc":"2.0","id":77,"method":"model/list"} xyz"#), code: .parseError, mentions: "its JSON ends after", id: 77),
        BadMessage(name: "empty body", bytes: raw("Content-Length: 0\r\n\r\n"), code: .parseError, mentions: "empty message body"),
        BadMessage(name: "body not JSON", bytes: framed("{not json}"), code: .parseError, mentions: "not valid JSON"),
        BadMessage(name: "body not UTF-8", bytes: RPCTestClient.frame([0x22, 0xC3, 0x28, 0x22]), code: .parseError, mentions: "not valid JSON"),
        // Valid JSON that is not a request: -32600.
        BadMessage(name: "a number", bytes: framed("42"), code: .invalidRequest, mentions: "must be a JSON object, got an integer"),
        BadMessage(name: "a batch", bytes: framed(#"[{"jsonrpc":"2.0","id":1,"method":"model/list"}]"#), code: .invalidRequest, mentions: "batches are not supported"),
        BadMessage(name: "a string", bytes: framed(#""model/list""#), code: .invalidRequest, mentions: "got a string"),
        BadMessage(name: "no jsonrpc field", bytes: framed(#"{"id":77,"method":"model/list"}"#), code: .invalidRequest, mentions: "'jsonrpc' must be the string \"2.0\", it is missing", id: 77),
        BadMessage(name: "wrong jsonrpc version", bytes: framed(#"{"jsonrpc":"1.0","id":77,"method":"model/list"}"#), code: .invalidRequest, mentions: "'jsonrpc'", id: 77),
        BadMessage(name: "no method", bytes: framed(#"{"jsonrpc":"2.0","id":77}"#), code: .invalidRequest, mentions: "'method' must be a string, it is missing", id: 77),
        BadMessage(name: "method not a string", bytes: framed(#"{"jsonrpc":"2.0","id":77,"method":12}"#), code: .invalidRequest, mentions: "'method' must be a string, got an integer", id: 77),
        BadMessage(name: "id an object", bytes: framed(#"{"jsonrpc":"2.0","id":{"a":1},"method":"model/list"}"#), code: .invalidRequest, mentions: "'id' must be a string or an integer, got an object"),
        BadMessage(name: "id a boolean", bytes: framed(#"{"jsonrpc":"2.0","id":true,"method":"model/list"}"#), code: .invalidRequest, mentions: "got a boolean"),
        BadMessage(name: "initialize twice", bytes: request("initialize", [:]), code: .invalidRequest, mentions: "already received", id: 77),
        // Unknown method: -32601.
        BadMessage(name: "unknown method", bytes: request("model/explode", [:]), code: .methodNotFound, mentions: "unknown method 'model/explode'", id: 77),
        // Wrong parameters: -32602, naming the field and the expected type.
        BadMessage(name: "params an array", bytes: request("tokenize", ["s", ["a"]]), code: .invalidParams, mentions: "params: expected an object", id: 77),
        BadMessage(name: "missing model", bytes: request("tokenize", ["texts": ["a"]]), code: .invalidParams, mentions: "params.model: expected a string, it is missing", id: 77),
        BadMessage(name: "model not a string", bytes: request("tokenize", ["model": 3, "texts": ["a"]]), code: .invalidParams, mentions: "params.model: expected a string, got an integer", id: 77),
        BadMessage(name: "texts not an array", bytes: request("tokenize", ["model": "s", "texts": "a"]), code: .invalidParams, mentions: "params.texts: expected an array of strings, got a string", id: 77),
        BadMessage(name: "texts with a number", bytes: request("tokenize", ["model": "s", "texts": ["a", 1]]), code: .invalidParams, mentions: "params.texts[1]: expected a string, got an integer", id: 77),
        BadMessage(name: "addSpecialTokens not a boolean", bytes: request("tokenize", ["model": "s", "texts": ["a"], "addSpecialTokens": "yes"]), code: .invalidParams, mentions: "params.addSpecialTokens: expected a boolean", id: 77),
        BadMessage(name: "ids not nested", bytes: request("detokenize", ["model": "s", "ids": [1, 2]]), code: .invalidParams, mentions: "params.ids[0]: expected an array of integers, got an integer", id: 77),
        BadMessage(name: "id outside the vocabulary", bytes: request("detokenize", ["model": "s", "ids": [[97, 100000]]]), code: .invalidParams, mentions: "params.ids[0][1]: expected a token id in 0..<512, got 100000", id: 77),
        BadMessage(name: "negative maxNewTokens", bytes: request("generate", ["model": "s", "inputs": ["a"], "maxNewTokens": -1]), code: .invalidParams, mentions: "params.maxNewTokens: expected an integer in 0...", id: 77),
        BadMessage(name: "temperature a string", bytes: request("generate", ["model": "s", "inputs": ["a"], "temperature": "hot"]), code: .invalidParams, mentions: "params.temperature: expected a number, got a string", id: 77),
        BadMessage(name: "topP above 1", bytes: request("generate", ["model": "s", "inputs": ["a"], "topP": 2]), code: .invalidParams, mentions: "params.topP", id: 77),
        BadMessage(name: "inputs missing", bytes: request("generate", ["model": "s"]), code: .invalidParams, mentions: "params.inputs: expected an array of strings, it is missing", id: 77),
        BadMessage(name: "path missing", bytes: request("model/load", [:]), code: .invalidParams, mentions: "params.path: expected a string, it is missing", id: 77),
        BadMessage(name: "path not a string", bytes: request("model/load", ["path": ["a"]]), code: .invalidParams, mentions: "params.path: expected a string, got an array", id: 77),
        BadMessage(name: "workDoneToken an object", bytes: request("generate", ["model": "s", "inputs": ["a"], "workDoneToken": [:]]), code: .invalidParams, mentions: "params.workDoneToken: expected a string or an integer", id: 77),
        // `attribute`: Inseq's arguments checked, each problem named.
        BadMessage(name: "unknown attribution method", bytes: request("attribute", ["model": "s", "inputs": ["a"], "method": "magic"]), code: .invalidParams, mentions: "params.method: unknown attribution method 'magic' (known: saliency, input_x_gradient", id: 77),
        BadMessage(name: "unknown step function", bytes: request("attribute", ["model": "s", "inputs": ["a"], "stepScores": ["probability", "surprise"]]), code: .invalidParams, mentions: "params.stepScores[1]: expected one of logit, probability", id: 77),
        BadMessage(name: "unknown attributed function", bytes: request("attribute", ["model": "s", "inputs": ["a"], "attributedFn": "prob"]), code: .invalidParams, mentions: "params.attributedFn: expected one of logit", id: 77),
        BadMessage(name: "generated text not continuing the input", bytes: request("attribute", ["model": "s", "inputs": ["Hello"], "generatedTexts": ["World"]]), code: .invalidParams, mentions: "params.generatedTexts[0]: expected a text that starts with its input 'Hello'", id: 77),
        BadMessage(name: "contrast targets of the wrong count", bytes: request("attribute", ["model": "s", "inputs": ["a", "b"], "contrastTargets": ["a x"]]), code: .invalidParams, mentions: "params.contrastTargets: expected 2 (one per input), got 1", id: 77),
        BadMessage(name: "contrast alignment not a pair", bytes: request("attribute", ["model": "s", "inputs": ["a"], "contrastTargets": ["a x"], "contrastTargetsAlignments": [[[1]]]]), code: .invalidParams, mentions: "params.contrastTargetsAlignments[0][0]: expected a pair", id: 77),
        BadMessage(name: "contrastive function without contrast targets", bytes: request("attribute", ["model": "s", "inputs": ["a"], "generatedTexts": ["a b"], "attributedFn": "contrast_prob_diff"]), code: .invalidParams, mentions: "step function 'contrast_prob_diff' needs contrastTargets", id: 77),
        BadMessage(name: "attributed positions out of range", bytes: request("attribute", ["model": "s", "inputs": ["Hello"], "generatedTexts": ["Hello world"], "attrPosStart": 100]), code: .invalidParams, mentions: "params.attrPosStart / params.attrPosEnd: attribution positions 100..<", id: 77),
        BadMessage(name: "nSteps zero", bytes: request("attribute", ["model": "s", "inputs": ["a"], "method": "integrated_gradients", "methodArgs": ["nSteps": 0]]), code: .invalidParams, mentions: "params.methodArgs.nSteps: expected an integer in 1...10000, got 0", id: 77),
        BadMessage(name: "misspelt method argument", bytes: request("attribute", ["model": "s", "inputs": ["a"], "methodArgs": ["n_steps": 5]]), code: .invalidParams, mentions: "params.methodArgs.n_steps: unknown argument (this method takes: abs)", id: 77),
        BadMessage(name: "unknown layer", bytes: request("attribute", ["model": "s", "inputs": ["a"], "generatedTexts": ["a b"], "method": "layer_integrated_gradients", "methodArgs": ["layer": "blocks.7.mlp.out"]]), code: .invalidParams, mentions: "params.methodArgs.layer: unknown activation site 'blocks.7.mlp.out'", id: 77),
        // Server codes.
        BadMessage(name: "unknown model id", bytes: request("tokenize", ["model": "nope", "texts": ["a"]]), code: .modelNotFound, mentions: "no resident model with id 'nope'; resident: s", id: 77),
        BadMessage(name: "unload an unknown model", bytes: request("model/unload", ["model": "nope"]), code: .modelNotFound, mentions: "'nope'", id: 77),
        BadMessage(name: "path that does not exist", bytes: request("model/load", ["path": "/nonexistent/model.gguf"]), code: .modelLoadFailed, mentions: "cannot load '/nonexistent/model.gguf'", id: 77),
        BadMessage(name: "corrupt model", bytes: request("model/load", ["path": .string(TinyModels.corruptCheckpoint)]), code: .modelLoadFailed, mentions: "unsupported GGUF version", id: 77),
        BadMessage(name: "model over the memory budget", bytes: request("model/load", ["path": .string(TinyModels.gpt2Path)]), code: .memoryBudgetExceeded, mentions: "memory budget is 500000 bytes", id: 77),
        BadMessage(name: "input over the length limit", bytes: request("generate", ["model": "s", "inputs": [.string(String(repeating: "long ", count: 100))], "maxNewTokens": 4]), code: .inputTooLong, mentions: "prompt tokens + maxNewTokens 4 exceed the model's limit of 128 positions", id: 77),
    ]
}

/// Each bad message gets its documented error from the real binary, and the daemon then still
/// answers a valid request correctly.
@Suite(.serialized) struct BadMessageTests {
    @Test func thereAreAtLeastThirtyCases() {
        #expect(BadMessage.all.count >= 30)
        #expect(Set(BadMessage.all.map(\.name)).count == BadMessage.all.count)
    }

    /// The probe model is tiny-qwen2 (about 430 kB resident); the 500 000-byte budget admits it
    /// but not tiny-gpt2 (about 560 kB) on its own.
    @Test func everyBadMessageIsAnsweredAndTheDaemonKeepsServing() throws {
        let expectedIDs = try TinyModels.qwen2.get().encode("abc", addSpecialTokens: true).json
        let daemon = try DaemonProcess(arguments: ["--memory-budget", "500000", "--max-message-bytes", "1M"])
        daemon.initialize()
        let load = daemon.client.call("model/load", ["path": .string(TinyModels.qwen2Path), "id": "s"])
        #expect(load?["id"] == "s")
        var requestID = 5000
        for bad in BadMessage.all {
            daemon.client.writeRaw(bad.bytes)
            requestID += 1
            let probe = daemon.client.request("tokenize", ["model": "s", "texts": ["abc"]], id: requestID)
            var errors: [RPCValue] = []
            var answer: RPCValue?
            while let message = daemon.client.next(timeout: 10) {
                if message["id"] == .integer(probe) {
                    answer = message
                    break
                }
                errors.append(message)
            }
            #expect(errors.count == 1, "\(bad.name): expected one error, got \(errors)")
            for error in errors {
                #expect(error["error"]?["code"] == .integer(bad.code.rawValue), "\(bad.name): \(error)")
                let message = error["error"]?["message"]?.stringValue ?? ""
                #expect(message.contains(bad.mentions), "\(bad.name): message '\(message)' should mention '\(bad.mentions)'")
                #expect(error["id"] == (bad.id.map(RPCValue.integer) ?? .null), "\(bad.name): \(error)")
            }
            #expect(
                answer?["result"]?["results"]?.arrayValue?.first?["ids"] == expectedIDs,
                "\(bad.name): the valid request after it got \(String(describing: answer))")
        }
        #expect(daemon.shutdown() == 0)
    }
}
