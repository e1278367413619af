import Foundation
import SeqLensAttribution
import SeqLensModels
import Testing

@testable import SeqLensServer

/// `inspect/*` against the real binary: replies equal the engine's in-process results, conform to
/// the spec, and bad arguments are -32602 naming the field.
@Suite(.serialized) struct InspectTests {
    let spec: ProtocolSpecification

    init() throws { spec = try ProtocolSpecification() }

    static func floats(_ tensor: RPCValue?) -> [Float] {
        guard case .string(let base64)? = tensor?["data"], let data = Data(base64Encoded: base64) else { return [] }
        return data.withUnsafeBytes { raw in (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.load(fromByteOffset: $0 * 4, as: UInt32.self))) } }
    }

    @Test func repliesEqualTheEngineAndConformToTheSpec() throws {
        let model = try TinyModels.llama.get()
        let daemon = try DaemonProcess()
        daemon.initialize()
        var sent: [RPCValue: String] = [:]
        var replies: [RPCValue] = []
        func call(_ method: String, _ params: [String: RPCValue]) -> RPCValue? {
            var members = params
            members["model"] = "m"
            let id = daemon.client.request(method, .object(members))
            sent[.integer(id)] = method
            let reply = daemon.client.response(to: id)
            if let reply { replies.append(reply) }
            return reply
        }
        let load = daemon.client.request("model/load", ["path": .string(TinyModels.llamaPath), "id": "m"])
        sent[.integer(load)] = "model/load"
        let loaded = try #require(daemon.client.response(to: load))
        replies.append(loaded)
        let sites = try #require(loaded["result"]?["sites"]?.arrayValue)
        #expect(sites.count == model.sites.all.count)
        #expect(sites.first == ["name": "embed", "shape": [.null, 64]])
        #expect(sites.contains(["name": "blocks.1.attn.pattern", "shape": [4, .null, .null]]))

        let text = "hello world"
        let ids = model.encode(text, addSpecialTokens: true)
        let activations = try #require(call("inspect/activations", [
            "input": .string(text), "sites": ["blocks.*.attn.z", "final_norm.out"], "positions": [1, 0],
        ])?["result"])
        #expect(activations["tokens"]?.arrayValue?.map { $0["id"] } == ids.map { .integer($0) })
        let engine = try Inspector(model: model).activations(
            ids: ids, sites: [.block(0, .attentionZ), .block(1, .attentionZ), Site(.finalNormOut)], positions: [1, 0])
        #expect(activations["activations"]?["blocks.1.attn.z"]?["shape"] == [2, 4, 16])
        #expect(Self.floats(activations["activations"]?["blocks.1.attn.z"]) == engine[.block(1, .attentionZ)]?.scalars)
        #expect(Self.floats(activations["activations"]?["final_norm.out"]) == engine[Site(.finalNormOut)]?.scalars)

        // With savePath the same tensors go to a safetensors file, the reply lists their shapes.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("seqlens-inspect-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("cache.safetensors").path
        let saved = try #require(call("inspect/activations", [
            "input": .string(text), "sites": ["blocks.*.attn.z", "final_norm.out"], "positions": [1, 0], "savePath": .string(file),
        ])?["result"])
        #expect(saved["savedTo"] == .string(file))
        #expect(saved["activations"]?["blocks.1.attn.z"] == ["shape": [2, 4, 16], "dtype": "float32"])
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        let headerLength = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(headerLength % 8 == 0)
        let header = try #require(try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)])) as? [String: Any])
        #expect((header["__metadata__"] as? [String: String])?["token_ids"] == "\(ids)")
        for (site, expected) in [("blocks.1.attn.z", engine[.block(1, .attentionZ)]!), ("final_norm.out", engine[Site(.finalNormOut)]!)] {
            let entry = try #require(header[site] as? [String: Any])
            #expect(entry["dtype"] as? String == "F32" && entry["shape"] as? [Int] == expected.shape)
            let offsets = try #require(entry["data_offsets"] as? [Int])
            let start = 8 + headerLength + offsets[0]
            let values = (0..<((offsets[1] - offsets[0]) / 4)).map { i in
                Float(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[start + 4 * i + $1]) << (8 * $1) })
            }
            #expect(values == expected.scalars, "\(site) in the file")
        }
        let again = call("inspect/activations", ["input": .string(text), "sites": ["embed"], "savePath": .string(file)])
        #expect(again?["error"]?["message"]?.stringValue?.contains("params.savePath") == true, "an existing file is kept without overwrite")

        let lens = try #require(call("inspect/logitLens", ["input": .string(text), "topK": 3, "targets": [5, "d"]])?["result"])
        #expect(lens["layers"]?.arrayValue?.map { $0["site"] } == ["blocks.0.resid_pre", "blocks.0.resid_post", "blocks.1.resid_post"])
        let logits = try model.logits(ids)
        let v = logits.shape[1], last = ids.count - 1
        let top = lens["layers"]?.arrayValue?.last?["positions"]?.arrayValue?[last]
        #expect(top?["targets"]?.arrayValue?.first?["logit"]?.doubleValue.map(Float.init) == logits.scalars[last * v + 5])
        #expect(top?["top"]?.arrayValue?.count == 3)

        let patch = try #require(call("inspect/patch", [
            "clean": "hello world", "corrupted": "hello there", "sites": ["blocks.0.resid_pre"],
            "metric": ["kind": "logprob", "target": 5],
        ]))
        // Different token counts: refused before any work.
        let counts = (model.encode("hello world", addSpecialTokens: true).count, model.encode("hello there", addSpecialTokens: true).count)
        if counts.0 != counts.1 {
            #expect(patch["error"]?["message"]?.stringValue?.contains("same number of tokens") == true, "\(patch)")
        }
        let same = try #require(call("inspect/patch", [
            "clean": "hello world", "corrupted": "hello wordl", "sites": ["blocks.*.mlp.out", "blocks.0.attn.z"], "positions": [0, 3],
            "metric": ["kind": "logit_diff", "target": 5, "contrast": 6], "workDoneToken": "p",
        ])?["result"])
        #expect(same["results"]?.arrayValue?.count == 3)
        #expect(same["results"]?.arrayValue?.allSatisfy { $0["values"]?.arrayValue?.count == 2 } == true)

        let ablated = try #require(call("inspect/ablate", [
            "input": .string(text), "target": 5, "ablations": [["site": "blocks.0.attn.z", "heads": [1], "mode": "mean"]],
        ])?["result"])
        let engineAblation = try Ablator(model: model).ablate(
            ids: ids, ablations: [Ablation(site: .block(0, .attentionZ), heads: [1], mode: .mean)], target: 5)
        #expect(ablated["ablated"]?["logprob"]?.doubleValue.map(Float.init) == engineAblation.ablated)
        let sweep = try #require(call("inspect/ablate", ["input": .string(text), "target": 5, "sweep": "heads"])?["result"])
        #expect(sweep["grid"]?.arrayValue?.map { $0.arrayValue?.count } == [4, 4])

        // Interventions on generate and attribute are the engine's intervened model.
        let vector: [Float] = (0..<64).map { Float($0 % 7) - 3 }
        let steering: RPCValue = [["site": "blocks.0.resid_post", "positions": [1], "op": "add", "vector": .array(vector.map { .number(Double($0)) })],
                                  ["site": "blocks.1.attn.z", "op": "zero"]]
        let steered = try model.intervened([
            Intervention(site: .block(0, .residPost), positions: [1], operation: .add(vector)),
            Intervention(site: .block(1, .attentionZ), operation: .zero),
        ])
        let generated = try #require(call("generate", ["inputs": [.string(text)], "maxNewTokens": 4, "stopAtEos": false, "interventions": steering])?["result"])
        var options = GenerationOptions()
        options.maxNewTokens = 4
        options.stopAtEOS = false
        let engineTokens = try steered.generate(prompt: ids, options: options).tokens.map { RPCValue.integer($0.id) }
        #expect(generated["results"]?.arrayValue?.first?["tokens"]?.arrayValue?.map { $0["id"] ?? .null } == engineTokens)
        let attributed = try #require(call("attribute", ["inputs": [.string(text)], "generatedTexts": [.string(text + " there")], "interventions": steering,
                                                        "stepScores": ["probability"]])?["result"])
        var request = AttributionRequest(inputs: [text])
        request.generatedTexts = [text + " there"]
        request.stepScores = [.probability]
        let engineScores = try Attributor(model: steered).attribute(request).sequenceAttributions[0].stepScores["probability"]?.values
        #expect(attributed["results"]?.arrayValue?.first?["stepScores"]?["probability"]?.arrayValue?.compactMap { $0.doubleValue.map(Float.init) } == engineScores)

        let bad: [(String, [String: RPCValue], String)] = [
            ("generate", ["inputs": ["x"], "interventions": [["site": "blocks.0.resid_post", "op": "add", "vector": [1, 2]]]], "params.interventions: invalid intervention: blocks.0.resid_post is 64 wide, the vector has 2 values"),
            ("generate", ["inputs": ["x"], "interventions": [["site": "blocks.0.resid_post", "op": "steer"]]], "params.interventions[0].op: expected one of add, scale, zero, replace"),
            ("attribute", ["inputs": ["x"], "interventions": [["site": "blocks.0.attn.pattern", "op": "zero"]]], "interventions apply to sites other than attention patterns"),
            ("attribute", ["inputs": ["x"], "interventions": [["site": "blocks.0.mlp.out", "op": "scale"]]], "params.interventions[0].factor: expected a number"),
            ("inspect/activations", ["input": "x", "sites": ["blocks.9.resid_post"]], "params.sites[0]: unknown activation site 'blocks.9.resid_post': the model has 2 layers"),
            ("inspect/activations", ["input": "x", "sites": ["embed"], "positions": [50]], "params.positions[0]: position 50 is outside"),
            ("inspect/activations", ["input": "x", "sites": ["embed", "blocks.0.resid_sideways"]], "params.sites[1]: unknown activation site 'blocks.0.resid_sideways'"),
            ("inspect/activations", ["input": "x", "sites": ["encoder.blocks.*.resid_post"]], "params.sites[0]:"),
            ("inspect/patch", ["clean": "x", "corrupted": "x", "sites": ["decoder.blocks.*.cross_attn.pattern"], "metric": ["kind": "logprob", "target": 5]], "params.sites[0]:"),
            ("inspect/activations", ["input": "x", "sites": ["embed"], "layer": 1], "params.layer: unknown field"),
            ("inspect/logitLens", ["input": "x", "targets": ["hello world"]], "params.targets[0]: 'hello world' encodes to"),
            ("inspect/logitLens", ["input": "x", "sites": ["blocks.0.attn.pattern"]], "params.sites"),
            ("inspect/patch", ["clean": "x", "corrupted": "x", "sites": ["embed"], "metric": ["kind": "kl"]], "params.metric.kind: expected one of logit_diff, logprob"),
            ("inspect/ablate", ["input": "x", "target": 5], "give either ablations or sweep"),
            ("inspect/ablate", ["input": "x", "target": 5, "ablations": [["site": "blocks.0.mlp.out", "heads": [0]]]], "heads apply to attn.z sites"),
            ("inspect/ablate", ["input": "x", "target": 99999, "sweep": "heads"], "params.target: expected a token id in 0..<512"),
        ]
        for (method, params, mentions) in bad {
            let reply = call(method, params)
            #expect(reply?["error"]?["code"] == .integer(ErrorCode.invalidParams.rawValue), "\(method) \(params): \(String(describing: reply))")
            #expect(reply?["error"]?["message"]?.stringValue?.contains(mentions) == true, "\(method): \(String(describing: reply))")
        }
        #expect(daemon.shutdown() == 0)
        for reply in replies {
            let problems = spec.problems(reply, from: "server", requests: &sent)
            #expect(problems.isEmpty, "\(reply): \(problems)")
        }
    }
}
