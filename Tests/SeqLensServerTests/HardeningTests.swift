import Foundation
import Testing

@testable import SeqLensServer

/// A scratch folder per test, removed at the end.
final class ScratchFolder {
    let path: String

    init(_ name: String = #function) {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        path = FileManager.default.temporaryDirectory.appendingPathComponent("seqlens-\(safe)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// A copy of a fixture model folder with config.json edited.
    func model(_ fixture: String, named name: String, edit: (inout [String: Any]) -> Void = { _ in }) throws -> String {
        let folder = path + "/" + name
        try FileManager.default.copyItem(atPath: PackagePaths.fixtureModel(fixture), toPath: folder)
        let configURL = URL(fileURLWithPath: folder + "/config.json")
        var config = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any])
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        return folder
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A config.json value that once crashed the daemon (issue 10, item 1), and what the error names.
struct BadDimension: Sendable, CustomTestStringConvertible {
    var fixture: String
    var field: String
    /// nil removes the field.
    var value: Int?
    var mentions: String
    var testDescription: String { "\(fixture) \(field) = \(value.map(String.init) ?? "(missing)")" }

    static let all: [BadDimension] = [
        BadDimension(fixture: "tiny-llama", field: "num_hidden_layers", value: -1, mentions: "num_hidden_layers must be a positive integer, got -1"),
        BadDimension(fixture: "tiny-llama", field: "num_hidden_layers", value: 1_000_000_000, mentions: "num_hidden_layers is 1000000000, more than the supported"),
        BadDimension(fixture: "tiny-llama", field: "num_hidden_layers", value: 1 << 31, mentions: "num_hidden_layers is 2147483648"),
        BadDimension(fixture: "tiny-llama", field: "num_hidden_layers", value: 3, mentions: "num_hidden_layers is 3, but the checkpoint has no tensor 'model.layers.2.input_layernorm.weight'"),
        BadDimension(fixture: "tiny-llama", field: "num_attention_heads", value: 0, mentions: "num_attention_heads must be a positive integer, got 0"),
        BadDimension(fixture: "tiny-llama", field: "num_attention_heads", value: 1 << 62, mentions: "num_attention_heads is 4611686018427387904"),
        BadDimension(fixture: "tiny-llama", field: "head_dim", value: -16, mentions: "head_dim must be a positive integer, got -16"),
        BadDimension(fixture: "tiny-llama", field: "max_position_embeddings", value: -5, mentions: "max_position_embeddings must be a positive integer, got -5"),
        BadDimension(fixture: "tiny-llama", field: "hidden_size", value: nil, mentions: "missing field 'hidden_size'"),
        BadDimension(fixture: "tiny-gpt2", field: "n_embd", value: nil, mentions: "missing field 'n_embd'"),
        BadDimension(fixture: "tiny-qwen2", field: "num_attention_heads", value: 0, mentions: "num_attention_heads must be a positive integer"),
        BadDimension(fixture: "tiny-gpt2", field: "n_layer", value: -1, mentions: "n_layer must be a positive integer, got -1"),
        BadDimension(fixture: "tiny-gpt2", field: "n_layer", value: 1_000_000_000, mentions: "n_layer is 1000000000"),
        BadDimension(fixture: "tiny-gpt2", field: "n_head", value: 0, mentions: "n_head must be a positive integer, got 0"),
        BadDimension(fixture: "tiny-gpt2", field: "n_positions", value: -1, mentions: "n_positions must be a positive integer"),
        BadDimension(fixture: "tiny-gpt2", field: "n_embd", value: 1 << 62, mentions: "n_embd is 4611686018427387904"),
        BadDimension(fixture: "tiny-gpt2", field: "vocab_size", value: 100, mentions: "tensor 'transformer.wte.weight' has shape [512, 64], but the configuration's sizes make it [100, 64]"),
    ]
}

/// Issue 10's crashes, wedges and unsafe writes, each shown impossible against the real binary.
@Suite(.serialized) struct HardeningTests {
    /// One daemon answers every bad configuration with -32011 naming the field, then still works.
    @Test func badDimensionsAreRefusedByName() throws {
        let scratch = ScratchFolder()
        let daemon = try DaemonProcess()
        daemon.initialize()
        for (index, bad) in BadDimension.all.enumerated() {
            let folder = try scratch.model(bad.fixture, named: "m\(index)") { config in
                if let value = bad.value { config[bad.field] = value } else { config.removeValue(forKey: bad.field) }
            }
            let reply = daemon.client.response(to: daemon.client.request("model/load", ["path": .string(folder)]))
            #expect(reply?["error"]?["code"] == .integer(ErrorCode.modelLoadFailed.rawValue), "\(bad): \(String(describing: reply))")
            let message = reply?["error"]?["message"]?.stringValue ?? ""
            #expect(message.contains(bad.mentions), "\(bad): '\(message)'")
        }
        #expect(daemon.client.call("model/load", ["path": .string(TinyModels.llamaPath)])?["id"] == "tiny-llama")
        #expect(daemon.shutdown() == 0, "\(daemon.standardError)")
    }

    /// A rotary scaling the engine does not implement is refused, not ignored (it gave wrong logits).
    @Test func unsupportedRopeScalingIsRefused() throws {
        let scratch = ScratchFolder()
        let daemon = try DaemonProcess()
        daemon.initialize()
        for (index, (field, value)) in [
            ("rope_scaling", ["rope_type": "dynamic", "factor": 8.0] as [String: Any]), ("rope_scaling", ["type": "longrope", "factor": 2.0]),
            ("rope_parameters", ["rope_type": "yarn", "rope_theta": 10000.0]),
        ].enumerated() {
            let folder = try scratch.model("tiny-llama", named: "rope\(index)") { $0[field] = value }
            let reply = daemon.client.response(to: daemon.client.request("model/load", ["path": .string(folder)]))
            let message = reply?["error"]?["message"]?.stringValue ?? ""
            #expect(reply?["error"]?["code"] == .integer(ErrorCode.modelLoadFailed.rawValue), "\(String(describing: reply))")
            #expect(message.contains("\(field) type") && message.contains("is not supported"), "\(message)")
        }
        let plain = try scratch.model("tiny-llama", named: "rope-default") { $0["rope_scaling"] = NSNull() }
        #expect(daemon.client.call("model/load", ["path": .string(plain)])?["layers"] == 2)
        #expect(daemon.shutdown() == 0)
    }

    /// The command line loads through the same checks: an error message and exit status 1, no crash.
    @Test func commandLineRefusesBadDimensions() throws {
        let scratch = ScratchFolder()
        let folder = try scratch.model("tiny-llama", named: "layers") { $0["num_hidden_layers"] = -1 }
        let process = Process()
        process.executableURL = try #require(PackagePaths.binary)
        process.arguments = ["generate", "--model", folder, "hi", "--max-new-tokens", "2"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = Pipe()
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationReason == .exit && process.terminationStatus == 1, "\(text)")
        #expect(text.contains("num_hidden_layers must be a positive integer, got -1"), "\(text)")
    }

    /// NaN or infinite weights are a load error naming the tensor, not "prob": null later.
    @Test func nonFiniteWeightsAreRefused() throws {
        let scratch = ScratchFolder()
        let folder = try scratch.model("tiny-llama", named: "nan")
        let file = folder + "/model.safetensors"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        let headerLength = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try #require(JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)])) as? [String: Any])
        let entry = try #require(header["model.norm.weight"] as? [String: Any])
        let start = try #require((entry["data_offsets"] as? [Int])?.first) + 8 + headerLength
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { bytes.replaceSubrange((start + 4)..<(start + 8), with: $0) }
        try Data(bytes).write(to: URL(fileURLWithPath: file))

        let daemon = try DaemonProcess()
        daemon.initialize()
        let reply = daemon.client.response(to: daemon.client.request("model/load", ["path": .string(folder)]))
        #expect(reply?["error"]?["code"] == .integer(ErrorCode.modelLoadFailed.rawValue))
        #expect(reply?["error"]?["message"]?.stringValue?.contains("tensor 'model.norm.weight': element 1 is nan") == true, "\(String(describing: reply))")
        #expect(daemon.shutdown() == 0)
    }

    /// A FIFO where a checkpoint file should be does not block the compute queue (item 3).
    @Test func fifosAreRefusedWithoutBlocking() throws {
        let scratch = ScratchFolder()
        let fifoGGUF = scratch.path + "/model.gguf"
        #expect(mkfifo(fifoGGUF, 0o600) == 0)
        let fifoConfig = try scratch.model("tiny-gpt2", named: "fifo-config")
        try FileManager.default.removeItem(atPath: fifoConfig + "/config.json")
        #expect(mkfifo(fifoConfig + "/config.json", 0o600) == 0)
        let fifoTokenizer = try scratch.model("tiny-gpt2", named: "fifo-tokenizer")
        try FileManager.default.removeItem(atPath: fifoTokenizer + "/tokenizer.json")
        #expect(mkfifo(fifoTokenizer + "/tokenizer.json", 0o600) == 0)

        let daemon = try DaemonProcess()
        daemon.initialize()
        for path in [fifoGGUF, fifoConfig, fifoTokenizer] {
            let reply = daemon.client.response(to: daemon.client.request("model/load", ["path": .string(path)]), timeout: 5)
            #expect(reply?["error"]?["code"] == .integer(ErrorCode.modelLoadFailed.rawValue), "\(path): \(String(describing: reply))")
            #expect(reply?["error"]?["message"]?.stringValue?.contains("regular file") == true, "\(String(describing: reply))")
        }
        #expect(daemon.client.call("model/load", ["path": .string(TinyModels.gpt2Path)])?["id"] == "tiny-gpt2")
        #expect(daemon.shutdown() == 0)
    }

    /// A path with a NUL byte is refused, never truncated (item 4).
    @Test func nulBytesInPathsAreRefused() throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        _ = daemon.client.call("model/load", ["path": .string(TinyModels.gpt2Path), "id": "m"])
        for path in ["/etc/passwd\u{0}.gguf", TinyModels.gpt2Path + "\u{0}/extra"] {
            let reply = daemon.client.response(to: daemon.client.request("model/load", ["path": .string(path)]))
            #expect(reply?["error"]?["code"] == .integer(ErrorCode.invalidParams.rawValue), "\(String(describing: reply))")
            #expect(reply?["error"]?["message"]?.stringValue?.contains("NUL byte") == true)
        }
        let save = daemon.client.response(to: daemon.client.request("attribute", [
            "model": "m", "inputs": ["a"], "generatedTexts": ["a b"], "savePath": "/tmp/x\u{0}.json",
        ]))
        #expect(save?["error"]?["message"]?.stringValue?.contains("params.savePath") == true, "\(String(describing: save))")
        #expect(save?["error"]?["message"]?.stringValue?.contains("NUL byte") == true)
        #expect(daemon.client.call("model/list")?["models"]?.arrayValue?.count == 1)
        #expect(daemon.shutdown() == 0)
    }

    /// Writes never follow a link at the final component, never block on a FIFO, and are confined
    /// to the save root when there is one (item 4).
    @Test func savePathsAreSafe() throws {
        let scratch = ScratchFolder()
        let root = scratch.path + "/root"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let outside = scratch.path + "/outside.json"
        let dangling = root + "/dangling.json"
        #expect(symlink(scratch.path + "/created-through-link.json", dangling) == 0)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: outside))
        let linkToExisting = root + "/link.json"
        #expect(symlink(outside, linkToExisting) == 0)
        let fifo = root + "/fifo.json"
        #expect(mkfifo(fifo, 0o600) == 0)

        let daemon = try DaemonProcess(arguments: ["--save-root", root])
        daemon.initialize()
        _ = daemon.client.call("model/load", ["path": .string(TinyModels.gpt2Path), "id": "m"])
        func save(_ path: String, overwrite: Bool = true) -> RPCValue? {
            daemon.client.response(to: daemon.client.request("attribute", [
                "model": "m", "inputs": ["a"], "generatedTexts": ["a b"], "savePath": .string(path), "overwrite": .bool(overwrite),
            ]), timeout: 5)
        }
        let refusals: [(String, String)] = [
            (dangling, "symbolic link"),
            (linkToExisting, "symbolic link"),
            (fifo, "not a regular file"),
            (outside, "outside the save root"),
            (root + "/../escape.json", "outside the save root"),
            ("../escape.json", "outside the save root"),
            ("/proc/seqlens-test.json", "outside the save root"),
        ]
        for (path, reason) in refusals {
            let reply = save(path)
            #expect(reply?["error"]?["code"] == .integer(ErrorCode.invalidParams.rawValue), "\(path): \(String(describing: reply))")
            let message = reply?["error"]?["message"]?.stringValue ?? ""
            #expect(message.contains("params.savePath") && message.contains(reason), "\(path): '\(message)'")
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/created-through-link.json"))
        #expect(try String(contentsOfFile: outside, encoding: .utf8) == "keep")

        let relative = save("sub/../out.json")
        #expect(relative?["result"]?["savedTo"] == .string(root + "/out.json"), "\(String(describing: relative))")
        let written = try String(contentsOfFile: root + "/out.json", encoding: .utf8)
        #expect(written.contains("\"attribution_method\""))
        let again = save(root + "/out.json", overwrite: false)
        #expect(again?["error"]?["message"]?.stringValue?.contains("already exists") == true)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.hasSuffix(".part") }
        #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
        #expect(daemon.shutdown() == 0)
    }

    /// Without a root, relative paths are refused; an unwritable folder's error says what and where.
    @Test func unconfinedSavePaths() throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        _ = daemon.client.call("model/load", ["path": .string(TinyModels.gpt2Path), "id": "m"])
        for (path, mentions) in [
            ("out.json", "the path is relative"),
            ("/proc/seqlens-test.json", "cannot create a file in its folder"),
            ("/nonexistent-folder/out.json", "its folder does not exist"),
        ] {
            let reply = daemon.client.response(to: daemon.client.request("attribute", [
                "model": "m", "inputs": ["a"], "generatedTexts": ["a b"], "savePath": .string(path),
            ]))
            let message = reply?["error"]?["message"]?.stringValue ?? ""
            #expect(message.contains(path) && message.contains(mentions), "\(path): '\(message)'")
            #expect(!message.contains("NSCocoaErrorDomain"))
        }
        #expect(daemon.shutdown() == 0)
    }

    /// A client may narrow the save root in `initialize`, never widen it.
    @Test func initializationOptionsNarrowTheSaveRoot() throws {
        let scratch = ScratchFolder()
        let inner = scratch.path + "/inner"
        try FileManager.default.createDirectory(atPath: inner, withIntermediateDirectories: true)
        let widening = try DaemonProcess(arguments: ["--save-root", inner])
        let refused = widening.client.response(to: widening.client.request("initialize", [
            "initializationOptions": ["saveRoot": .string(scratch.path)],
        ]))
        #expect(refused?["error"]?["message"]?.stringValue?.contains("outside the daemon's save root") == true, "\(String(describing: refused))")
        widening.client.closeInput()
        #expect(widening.waitForExit() == 0)

        let narrowing = try DaemonProcess()
        narrowing.initialize(["saveRoot": .string(inner)])
        _ = narrowing.client.call("model/load", ["path": .string(TinyModels.gpt2Path), "id": "m"])
        let reply = narrowing.client.response(to: narrowing.client.request("attribute", [
            "model": "m", "inputs": ["a"], "generatedTexts": ["a b"], "savePath": .string(scratch.path + "/x.json"),
        ]))
        #expect(reply?["error"]?["message"]?.stringValue?.contains("outside the save root") == true, "\(String(describing: reply))")
        #expect(narrowing.shutdown() == 0)
    }

    static let unknownFieldCases: [(String, RPCValue, String)] = [
        ("generate", ["model": "m", "inputs": ["a"], "maxNewToken": 3], "params.maxNewToken: unknown field"),
        ("tokenize", ["model": "m", "texts": ["a"], "direction": "left"], "params.direction: unknown field"),
        ("detokenize", ["model": "m", "ids": [[1]], "skip": true], "params.skip: unknown field"),
        ("model/load", ["path": "x", "name": "y"], "params.name: unknown field"),
        ("model/unload", ["model": "m", "force": true], "params.force: unknown field"),
        ("model/list", ["verbose": true], "params.verbose: unknown field"),
        ("server/status", ["x": 1], "params.x: unknown field"),
        ("attribute", ["model": "m", "inputs": ["a"], "nSteps": 3], "params.nSteps: unknown field"),
    ]

    /// Every method rejects a field it does not know, naming it (item 8).
    @Test(arguments: unknownFieldCases)
    func unknownFieldsAreRejected(method: String, params: RPCValue, mentions: String) throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        let reply = daemon.client.response(to: daemon.client.request(method, params))
        #expect(reply?["error"]?["code"] == .integer(ErrorCode.invalidParams.rawValue), "\(String(describing: reply))")
        #expect(reply?["error"]?["message"]?.stringValue?.contains(mentions) == true, "\(String(describing: reply))")
        #expect(daemon.shutdown() == 0)
    }

    /// Work per request is bounded before anything is computed (item 3).
    @Test func workLimitsAreEnforced() throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        _ = daemon.client.call("model/load", ["path": .string(TinyModels.gpt2Path), "id": "m"])
        let cases: [(RPCValue, String)] = [
            (["model": "m", "inputs": ["a"], "method": "integrated_gradients", "methodArgs": ["nSteps": 1_000_000]],
             "params.methodArgs.nSteps: expected an integer in 1...10000, got 1000000"),
            (["model": "m", "inputs": ["a"], "method": "gradient_shap", "methodArgs": ["nSamples": 100_000]],
             "params.methodArgs.nSamples: expected an integer in 1...10000"),
            (["model": "m", "inputs": .array(Array(repeating: "a", count: 1001))],
             "params.inputs: expected at most 1000 elements, got 1001"),
            (["model": "m", "inputs": ["a"], "generationArgs": ["maxNewTokens": 500]],
             "exceeds the model's limit of 128 positions"),
        ]
        for (params, mentions) in cases {
            let started = Date()
            let reply = daemon.client.response(to: daemon.client.request("attribute", params), timeout: 5)
            #expect(reply?["error"]?["message"]?.stringValue?.contains(mentions) == true, "\(String(describing: reply))")
            #expect(Date().timeIntervalSince(started) < 5)
        }
        #expect(daemon.shutdown() == 0)
    }

    /// Long loops inside one request stop at cancellation: 10,000 Monte Carlo dropout passes.
    @Test func dropoutPassesStopWhenCancelled() throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        _ = daemon.client.call("model/load", ["path": .string(TinyModels.gpt2Path), "id": "m"])
        let id = daemon.client.request("attribute", [
            "model": "m", "inputs": ["a b c"], "generatedTexts": ["a b c d e f"], "method": "dummy",
            "stepScores": ["mc_dropout_prob_avg"], "attributedFnArgs": ["nMcdSteps": 10_000],
        ])
        usleep(200_000)
        let cancelled = Date()
        daemon.client.notify("$/cancelRequest", ["id": .integer(id)])
        let reply = daemon.client.response(to: id, timeout: 10)
        #expect(reply?["error"]?["code"] == .integer(ErrorCode.requestCancelled.rawValue), "\(String(describing: reply))")
        #expect(Date().timeIntervalSince(cancelled) < 2)
        #expect(daemon.shutdown() == 0)
    }

    /// When input ends, the running request is cancelled and the daemon exits; each request is
    /// answered once (item 3).
    @Test func endOfInputCancelsWorkAndExits() throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        _ = daemon.client.call("model/load", ["path": .string(TinyModels.gpt2Path), "id": "m"])
        let long = daemon.client.request("attribute", [
            "model": "m", "inputs": ["a b c d e f g h"], "generationArgs": ["maxNewTokens": 60],
            "method": "integrated_gradients", "methodArgs": ["nSteps": 10_000],
        ])
        let queued = daemon.client.request("generate", ["model": "m", "inputs": ["x"], "maxNewTokens": 2])
        usleep(300_000)
        let closed = Date()
        daemon.client.closeInput()
        #expect(daemon.waitForExit(timeout: 10) == 0, "\(daemon.standardError)")
        #expect(Date().timeIntervalSince(closed) < 10)
        var answers: [Int: Int] = [:]
        while let message = daemon.client.next(timeout: 1) {
            if let id = message["id"]?.intValue {
                answers[id, default: 0] += 1
                #expect(message["error"]?["code"] == .integer(ErrorCode.requestCancelled.rawValue), "\(message)")
            }
        }
        #expect(answers == [long: 1, queued: 1])
    }
}
