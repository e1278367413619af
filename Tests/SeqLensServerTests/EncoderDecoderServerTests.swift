import Foundation
import Testing

@testable import SeqLensServer

/// The daemon with the tiny Marian (issue 11): load, tokenize and detokenize by side, greedy and
/// beam-search generate, and the errors of what encoder-decoder models cannot do yet. In process,
/// over real pipes; the expected values come from transformers (the fixture's reference.json).
@Suite struct EncoderDecoderServerTests {
    let reference: [String: Any]

    init() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: PackagePaths.fixtureModel("tiny-marian") + "/reference.json"))
        reference = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func daemon() throws -> InProcessDaemon {
        let daemon = InProcessDaemon()
        daemon.initialize()
        let loaded = try #require(daemon.client.call("model/load", ["path": .string(PackagePaths.fixtureModel("tiny-marian")), "id": "mt"]))
        #expect(loaded["architecture"] == "marian")
        #expect(loaded["isEncoderDecoder"] == true)
        #expect(loaded["encoderLayers"] == 2 && loaded["decoderLayers"] == 2)
        #expect(loaded["specialTokens"]?["decoder_start"] == 331)
        let sites = loaded["sites"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(sites.contains("encoder.blocks.1.resid_post") && sites.contains("decoder.blocks.0.cross_attn.pattern"))
        return daemon
    }

    func error(_ daemon: InProcessDaemon, _ method: String, _ params: RPCValue) throws -> (code: Int, message: String) {
        let id = daemon.client.request(method, params)
        let reply = try #require(daemon.client.response(to: id))
        let error = try #require(reply["error"], "\(method) \(params) should fail")
        return (try #require(error["code"]?.intValue), error["message"]?.stringValue ?? "")
    }

    @Test func tokenizeBySide() throws {
        let daemon = try daemon()
        let cases = try #require(reference["tokenizer"] as? [[String: Any]])
        // Strings whose two sides differ, so that `side` is really chosen.
        let differing = cases.filter { ($0["source"] as? [Int]) != ($0["target"] as? [Int]) }.prefix(10)
        try #require(differing.count == 10)
        let texts = RPCValue.array(differing.map { .string($0["text"] as! String) })
        for side in ["source", "target"] {
            let results = try #require(
                daemon.client.call("tokenize", ["model": "mt", "texts": texts, "side": .string(side), "returnOffsets": true])?["results"]?.arrayValue)
            for (entry, result) in zip(differing, results) {
                #expect(result["ids"]?.arrayValue?.compactMap { $0.intValue } == entry[side] as? [Int])
                #expect(result["offsets"]?.arrayValue?.count == (entry[side] as? [Int])?.count)
            }
        }
        let decodes = try #require(reference["decodes"] as? [[String: Any]])
        let ids = RPCValue.array(decodes.map { .array(($0["ids"] as! [Int]).map(RPCValue.integer)) })
        let texts2 = try #require(daemon.client.call("detokenize", ["model": "mt", "ids": ids, "skipSpecialTokens": true])?["texts"]?.arrayValue)
        #expect(texts2.compactMap { $0.stringValue } == decodes.map { $0["text"] as! String })
        #expect(try error(daemon, "tokenize", ["model": "mt", "texts": ["a"], "side": "both"]).code == -32602)
        #expect(try error(daemon, "tokenize", ["model": "mt", "texts": ["a"], "side": "both"]).message.contains("params.side"))
        _ = daemon.shutdown()
    }

    @Test func greedyAndBeamGenerate() throws {
        let daemon = try daemon()
        let greedy = try #require(reference["greedy"] as? [[String: Any]])
        for entry in greedy {
            let result = try #require(
                daemon.client.call("generate", ["model": "mt", "inputs": [.string(entry["source"] as! String)], "numBeams": 1, "maxNewTokens": 12])?["results"]?.arrayValue?.first)
            let ids = result["tokens"]?.arrayValue?.compactMap { $0["id"]?.intValue }
            #expect(ids.map { [331] + $0 } == entry["ids"] as? [Int])
            #expect(result["text"]?.stringValue == entry["text"] as? String)
            #expect(result["stopReason"] == "endOfSequence")
            #expect(result["beams"] == nil)
        }
        // numBeams comes from generation_config.json (4): beam search by default.
        let beams = try #require(reference["beam"] as? [[String: Any]])
        for entry in beams {
            let result = try #require(
                daemon.client.call("generate", ["model": "mt", "inputs": [.string(entry["source"] as! String)], "maxNewTokens": 12, "numReturnSequences": 4])?["results"]?.arrayValue?.first)
            let returned = try #require(result["beams"]?.arrayValue)
            let scores = try #require(entry["sequenceScores"] as? [Double])
            try #require(returned.count == 4)
            for (beam, (sequence, score)) in zip(returned, zip(entry["sequences"] as! [[Int]], scores)) {
                var expected = Array(sequence.dropFirst())
                while expected.last == 331 { expected.removeLast() }
                #expect(beam["ids"]?.arrayValue?.compactMap { $0.intValue } == expected)
                #expect(abs((beam["sequenceScore"]?.doubleValue ?? 0) - score) <= 1e-4)
                #expect(beam["transitionScores"]?.arrayValue?.count == expected.count)
            }
            #expect(result["text"] == returned[0]["text"])
        }
        _ = daemon.shutdown()
    }

    @Test func badInputIsAClearError() throws {
        let daemon = try daemon()
        for beams in [0, 65] {
            let (code, message) = try error(daemon, "generate", ["model": "mt", "inputs": ["Hello"], "numBeams": .integer(beams)])
            #expect(code == -32602 && message.contains("params.numBeams"))
        }
        let tooMany = try error(daemon, "generate", ["model": "mt", "inputs": ["Hello"], "numBeams": 2, "numReturnSequences": 3])
        #expect(tooMany.code == -32602 && tooMany.message.contains("numReturnSequences"))
        // A source longer than the model's 64 positions.
        let long = String(repeating: "the licence ", count: 80)
        #expect(try error(daemon, "generate", ["model": "mt", "inputs": [.string(long)]]).code == -32013)
        // What serves decoder-only models only names the model and what does work.
        let inspect = try error(daemon, "inspect/activations", ["model": "mt", "input": "Hello", "sites": ["embed"]])
        #expect(inspect.code == -32602 && inspect.message.contains("encoder-decoder"), "\(inspect.message)")
        let occlusion = try error(daemon, "attribute", ["model": "mt", "inputs": ["Hello"], "generatedTexts": ["Ciao"], "method": "occlusion"])
        #expect(occlusion.code == -32602 && occlusion.message.contains("encoder-decoder"), "\(occlusion.message)")
        let sampling = try error(daemon, "generate", ["model": "mt", "inputs": ["Hello"], "doSample": true])
        #expect(sampling.code == -32602 && sampling.message.contains("params.doSample"))
        // Defaults, as clients send them, are accepted.
        let defaults = daemon.client.call("generate", ["model": "mt", "inputs": ["Hello"], "doSample": false, "temperature": 1, "topK": 0,
                                                       "topP": 1, "seed": 0, "stopAtEos": true, "numBeams": 1, "maxNewTokens": 3,
                                                       "returnPromptTokens": true])
        let helloTokens = daemon.client.call("tokenize", ["model": "mt", "texts": ["Hello"]])?["results"]?.arrayValue?.first?["ids"]?.arrayValue
        #expect(defaults?["results"]?.arrayValue?.first?["promptTokens"]?.arrayValue?.compactMap { $0["id"] } == helloTokens)
        // On a decoder-only model: attributeTarget is refused by name; beam search is served, and
        // what it cannot combine with (sampling) or what needs it (lengthPenalty) is refused by name.
        try #require(daemon.client.call("model/load", ["path": .string(PackagePaths.fixtureModel("tiny-gpt2")), "id": "lm"]) != nil)
        let target = try error(daemon, "attribute", ["model": "lm", "inputs": ["Hello"], "attributeTarget": true])
        #expect(target.code == -32602 && target.message.contains("params.attributeTarget"))
        let sampled = try error(daemon, "generate", ["model": "lm", "inputs": ["Hello"], "numBeams": 4, "doSample": true])
        #expect(sampled.code == -32602 && sampled.message.contains("params.doSample"))
        let greedyPenalty = try error(daemon, "generate", ["model": "lm", "inputs": ["Hello"], "lengthPenalty": 2])
        #expect(greedyPenalty.code == -32602 && greedyPenalty.message.contains("params.lengthPenalty"))
        #expect(daemon.client.call("generate", ["model": "lm", "inputs": ["Hello"], "numBeams": 1, "maxNewTokens": 2]) != nil)
        _ = daemon.shutdown()
    }

    /// `attribute` with attributeTarget: source and target attributions as the engine gives them
    /// (the engine equals Inseq: EncoderDecoderFixtureTests), raw and aggregated.
    @Test func attributeWithSourceAndTarget() throws {
        let daemon = try daemon()
        let reply = try #require(daemon.client.call("attribute", [
            "model": "mt", "inputs": ["Hello world"], "generatedTexts": ["the program is free"], "method": "integrated_gradients",
            "methodArgs": ["nSteps": 20], "attributeTarget": true, "stepScores": ["probability"], "granular": true,
        ])?["results"]?.arrayValue?.first)
        #expect(reply["source"]?.arrayValue?.count == 11 && reply["target"]?.arrayValue?.count == 6)
        let source = try #require(reply["sourceAttributions"]?.arrayValue)
        let target = try #require(reply["targetAttributions"]?.arrayValue)
        #expect(source.count == 11 && target.count == 6 && source[0].arrayValue?.count == 5)
        // The default aggregation normalises each step over source and target together.
        for step in 0..<5 {
            let column = (source + target).compactMap { $0.arrayValue?[step].doubleValue }
            #expect(abs(column.reduce(0, +) - 1) <= 1e-5, "step \(step)")
        }
        // Target position t is null from step t on (the step predicting it cannot see it).
        #expect(target[5].arrayValue?.allSatisfy { $0 == .null } == true)
        #expect(target[0].arrayValue?.allSatisfy { $0 != .null } == true)
        #expect(reply["granularSourceAttributions"]?["shape"] == [11, 5, 32])
        #expect(reply["stepScores"]?["probability"]?.arrayValue?.count == 5)
        // Without attributeTarget: source only, normalised over the source.
        let plain = try #require(daemon.client.call("attribute", [
            "model": "mt", "inputs": ["Hello world"], "generatedTexts": ["the program is free"],
        ])?["results"]?.arrayValue?.first)
        #expect(plain["targetAttributions"] == .null)
        let column = (plain["sourceAttributions"]?.arrayValue ?? []).compactMap { $0.arrayValue?[0].doubleValue }
        #expect(column.count == 11 && abs(column.reduce(0, +) - 1) <= 1e-5)
        _ = daemon.shutdown()
    }

    /// Every encoder-decoder request and reply conforms to the OpenRPC spec.
    @Test func repliesConformToTheSpec() throws {
        let spec = try ProtocolSpecification()
        let daemon = InProcessDaemon()
        daemon.initialize()
        var sent: [RPCValue: String] = [:]
        var replies: [RPCValue] = []
        func exchange(_ method: String, _ params: RPCValue) {
            let message: RPCValue = ["jsonrpc": "2.0", "id": 1, "method": .string(method), "params": params]
            #expect(spec.problems(message, from: "client", requests: &sent).isEmpty, "\(method) \(params)")
            let id = daemon.client.request(method, params)
            sent[.integer(id)] = method
            if let reply = daemon.client.response(to: id) { replies.append(reply) }
        }
        exchange("model/load", ["path": .string(PackagePaths.fixtureModel("tiny-marian")), "id": "mt"])
        exchange("tokenize", ["model": "mt", "texts": ["Hello world"], "side": "target", "returnOffsets": true])
        exchange("detokenize", ["model": "mt", "ids": [[12, 0]], "side": "target"])
        exchange("generate", ["model": "mt", "inputs": ["Hello world"], "numBeams": 1, "maxNewTokens": 4, "returnTopK": 2])
        exchange("generate", ["model": "mt", "inputs": ["Hello world"], "numBeams": 3, "numReturnSequences": 2, "maxNewTokens": 4,
                              "lengthPenalty": 0.5, "earlyStopping": "never", "noRepeatNgramSize": 2, "repetitionPenalty": 1.2])
        exchange("attribute", ["model": "mt", "inputs": ["Hello world"], "generatedTexts": ["the program"], "attributeTarget": true,
                               "stepScores": ["probability"], "granular": true])
        exchange("model/list", [:])
        #expect(replies.count == 7 && replies.allSatisfy { $0["result"] != nil }, "\(replies.filter { $0["error"] != nil })")
        for reply in replies {
            let problems = spec.problems(reply, from: "server", requests: &sent)
            #expect(problems.isEmpty, "\(reply): \(problems)")
        }
        _ = daemon.shutdown()
    }
}

/// `seqlens generate` and `seqlens tokenize` with an encoder-decoder model, through the binary.
@Suite struct EncoderDecoderCommandTests {
    static func run(_ arguments: [String]) throws -> (Int32, Any?, String) {
        let process = Process()
        process.executableURL = try #require(PackagePaths.binary)
        process.arguments = arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, try? JSONSerialization.jsonObject(with: out), String(decoding: err, as: UTF8.self))
    }

    @Test func generateAndTokenizeFromTheCommandLine() throws {
        let folder = PackagePaths.fixtureModel("tiny-marian")
        let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/reference.json"))
        let reference = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let greedy = try #require((reference["greedy"] as? [[String: Any]])?.first)
        let (status, json, err) = try Self.run(
            ["generate", "-m", folder, "--num-beams", "1", "--max-new-tokens", "12", "--json", try #require(greedy["source"] as? String)])
        #expect(status == 0, "\(err)")
        let result = try #require((json as? [[String: Any]])?.first)
        let ids = try #require(result["tokens"] as? [[String: Any]]).compactMap { $0["id"] as? Int }
        #expect([331] + ids == greedy["ids"] as? [Int])
        #expect(result["text"] as? String == greedy["text"] as? String)

        let differing = try #require((reference["tokenizer"] as? [[String: Any]])?.first { ($0["source"] as? [Int]) != ($0["target"] as? [Int]) })
        let (tokenizeStatus, tokens, _) = try Self.run(
            ["tokenize", "-m", folder, "--side", "target", "--add-special-tokens", "--json", try #require(differing["text"] as? String)])
        #expect(tokenizeStatus == 0)
        #expect((tokens as? [[String: Any]])?.first?["ids"] as? [Int] == differing["target"] as? [Int])

        // Attribution over source and target; what is not served is a clear failure, not a crash.
        let (attributeStatus, attributed, attributeErrors) = try Self.run(
            ["attribute", "-m", folder, "Hello world", "--generated-text", "the program", "--attribute-target", "--json"])
        #expect(attributeStatus == 0, "\(attributeErrors)")
        let sequence = try #require((attributed as? [[String: Any]])?.first)
        #expect((sequence["sourceAttributions"] as? [[Any]])?.count == 11)
        #expect((sequence["targetAttributions"] as? [[Any]])?.count == (sequence["target"] as? [String])?.count)
        let (occlusionStatus, _, message) = try Self.run(["attribute", "-m", folder, "Hello", "--generated-text", "Ciao", "--method", "occlusion"])
        #expect(occlusionStatus == 1 && message.contains("encoder-decoder"))
    }

    /// The BART family over the wire: load, greedy generation with the forced <s>, attribution.
    @Test func bartServesGenerateAndAttribute() throws {
        let folder = PackagePaths.fixtureModel("tiny-bart")
        let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/reference.json"))
        let bart = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let daemon = InProcessDaemon()
        daemon.initialize()
        let loaded = try #require(daemon.client.call("model/load", ["path": .string(folder), "id": "bart"]))
        #expect(loaded["architecture"] == "bart" && loaded["isEncoderDecoder"] == true)
        #expect(loaded["specialTokens"]?["decoder_start"] == 2 && loaded["specialTokens"]?["bos"] == 0)
        for entry in try #require(bart["greedy"] as? [[String: Any]]) {
            let source = try #require(entry["source"] as? String)
            let result = try #require(daemon.client.call("generate", [
                "model": "bart", "inputs": [.string(source)], "numBeams": 1, "maxNewTokens": 12,
            ])?["results"]?.arrayValue?.first)
            let ids = result["tokens"]?.arrayValue?.compactMap { $0["id"]?.intValue }
            #expect(ids.map { [2] + $0 } == entry["ids"] as? [Int])
        }
        let reply = try #require(daemon.client.call("attribute", [
            "model": "bart", "inputs": ["Hello world"], "generatedTexts": ["the program is free"], "method": "saliency",
            "attributeTarget": true,
        ])?["results"]?.arrayValue?.first)
        // <s> Hello world </s> as the source; </s> <s> ... </s> as the target (start token first).
        let target = try #require(reply["target"]?.arrayValue?.compactMap { $0["id"]?.intValue })
        #expect(reply["source"]?.arrayValue?.first?["id"] == 0 && target.prefix(2) == [2, 0] && target.last == 2)
        #expect(reply["sourceAttributions"]?.arrayValue?.count == reply["source"]?.arrayValue?.count)
    }

    /// T5 over the wire: relative positions and sentinels through load, generate and attribute.
    @Test func t5ServesGenerateAndAttribute() throws {
        let folder = PackagePaths.fixtureModel("tiny-t5-v1.1")
        let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/reference.json"))
        let t5 = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let daemon = InProcessDaemon()
        daemon.initialize()
        let loaded = try #require(daemon.client.call("model/load", ["path": .string(folder), "id": "t5"]))
        #expect(loaded["architecture"] == "t5" && loaded["isEncoderDecoder"] == true)
        let sites = loaded["sites"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(sites.contains("encoder.blocks.1.mlp.out") && sites.contains("decoder.blocks.1.cross_attn.pattern"))
        let entry = try #require((t5["greedy"] as? [[String: Any]])?.first)
        let source = try #require(entry["source"] as? String)
        let result = try #require(daemon.client.call("generate", [
            "model": "t5", "inputs": [.string(source)], "numBeams": 1, "maxNewTokens": 12,
        ])?["results"]?.arrayValue?.first)
        let ids = try #require(result["tokens"]?.arrayValue?.compactMap { $0["id"]?.intValue })
        #expect([0] + ids == entry["ids"] as? [Int])
        let reply = try #require(daemon.client.call("attribute", [
            "model": "t5", "inputs": ["Hello <extra_id_0> world"], "generatedTexts": ["the program"], "method": "input_x_gradient",
        ])?["results"]?.arrayValue?.first)
        let sourceIDs = try #require(reply["source"]?.arrayValue?.compactMap { $0["id"]?.intValue })
        // The sentinel stays one token: the id tokenize gives it alone, before </s>.
        let sentinel = daemon.client.call("tokenize", ["model": "t5", "texts": ["<extra_id_0>"]])?["results"]?.arrayValue?.first?["ids"]?.arrayValue?.first?.intValue
        #expect(sourceIDs.last == 1 && sentinel != nil && sourceIDs.contains(sentinel!))
        #expect(reply["sourceAttributions"]?.arrayValue?.count == sourceIDs.count)
    }

    /// Beam search on a decoder-only model over the wire equals transformers' (the fixture of
    /// DecoderOnlyBeamSearchTests): beams with ids and sequence scores, the best one's tokens.
    @Test func decoderOnlyBeamSearch() throws {
        let data = try Data(contentsOf: PackagePaths.root.appendingPathComponent("Tests/Fixtures/generation/decoder-only-beams.json"))
        let fixture = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let item = try #require((fixture["cases"] as? [[String: Any]])?.first { ($0["model"] as? String) == "tiny-gpt2" })
        let daemon = InProcessDaemon()
        daemon.initialize()
        try #require(daemon.client.call("model/load", ["path": .string(PackagePaths.fixtureModel("tiny-gpt2")), "id": "lm"]) != nil)
        let prompt = try #require(item["prompt"] as? String)
        let result = try #require(daemon.client.call("generate", [
            "model": "lm", "inputs": [.string(prompt)], "numBeams": 4, "numReturnSequences": 4, "maxNewTokens": 12,
        ])?["results"]?.arrayValue?.first)
        let promptCount = try #require(item["promptIds"] as? [Int]).count
        let sequences = try #require(item["sequences"] as? [[Int]]), scores = try #require(item["sequenceScores"] as? [Double])
        let beams = try #require(result["beams"]?.arrayValue)
        try #require(beams.count == 4)
        for (beam, (sequence, score)) in zip(beams, zip(sequences, scores)) {
            #expect(beam["ids"]?.arrayValue?.compactMap(\.intValue) == Array(sequence.dropFirst(promptCount)))
            #expect(abs((beam["sequenceScore"]?.doubleValue ?? 0) - score) <= 1e-4)
        }
        #expect(result["tokens"]?.arrayValue?.compactMap { $0["id"]?.intValue } == beams[0]["ids"]?.arrayValue?.compactMap(\.intValue))
        _ = daemon.shutdown()
        // The same from the command line.
        let (status, json, err) = try EncoderDecoderCommandTests.run(
            ["generate", "-m", PackagePaths.fixtureModel("tiny-gpt2"), "--num-beams", "4", "--num-return-sequences", "4",
             "--max-new-tokens", "12", "--json", prompt])
        #expect(status == 0, "\(err)")
        let printed = try #require((json as? [[String: Any]])?.first?["beams"] as? [[String: Any]])
        #expect(printed.compactMap { $0["ids"] as? [Int] } == sequences.map { Array($0.dropFirst(promptCount)) })
    }
}
