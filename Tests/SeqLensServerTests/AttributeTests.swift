import Foundation
import SeqLensAttribution
import SeqLensModels
import Testing

@testable import SeqLensServer

/// `attribute` through the real binary with tiny-gpt2, against the engine's `Attributor` in process.
@Suite struct AttributeTests {
    /// One request in the protocol's terms and the same request for the engine.
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var params: RPCValue
        var request: AttributionRequest
        var testDescription: String { name }
    }

    static let cases: [Case] = {
        var saliency = AttributionRequest(inputs: ["Hello world", "The cat sat"])
        saliency.generation.maxNewTokens = 4
        saliency.stepScores = [.probability]

        var integrated = AttributionRequest(inputs: ["Hello world"])
        integrated.generatedTexts = ["Hello world, and more"]
        integrated.method = IntegratedGradients(steps: 8, integration: .riemannMiddle)
        integrated.stepScores = [.probability, .entropy]

        var contrastive = AttributionRequest(inputs: ["Hello world"])
        contrastive.generatedTexts = ["Hello world and more"]
        contrastive.contrastTargets = ["Hello world or less"]
        contrastive.contrastAlignments = [[AlignmentPair(target: 9, contrast: 9)]]
        contrastive.method = InputXGradient()
        contrastive.attributedFunction = .contrastProbDiff
        contrastive.functionOptions.logProbability = true
        contrastive.stepScores = [.contrastProbDiff, .probability]
        contrastive.attrPosStart = 9

        return [
            Case(
                name: "saliency, generated, two inputs",
                params: [
                    "inputs": ["Hello world", "The cat sat"], "generationArgs": ["maxNewTokens": 4],
                    "stepScores": ["probability"],
                ],
                request: saliency),
            Case(
                name: "integrated gradients, forced",
                params: [
                    "inputs": ["Hello world"], "generatedTexts": ["Hello world, and more"],
                    "method": "integrated_gradients",
                    "methodArgs": ["nSteps": 8, "integration": "riemann_middle"],
                    "stepScores": ["probability", "entropy"],
                ],
                request: integrated),
            Case(
                name: "contrastive",
                params: [
                    "inputs": ["Hello world"], "generatedTexts": ["Hello world and more"],
                    "contrastTargets": ["Hello world or less"],
                    "contrastTargetsAlignments": [[[9, 9]]], "method": "input_x_gradient",
                    "attributedFn": "contrast_prob_diff",
                    "attributedFnArgs": ["logprob": true], "stepScores": ["contrast_prob_diff", "probability"],
                    "attrPosStart": 9,
                ],
                request: contrastive),
        ]
    }()

    static func params(_ base: RPCValue, _ extra: [String: RPCValue] = [:]) -> RPCValue {
        var members = base.objectValue ?? [:]
        members["model"] = "tiny-gpt2"
        for (key, value) in extra { members[key] = value }
        return .object(members)
    }

    static func startDaemon() throws -> DaemonProcess {
        let daemon = try DaemonProcess()
        daemon.initialize()
        _ = daemon.client.call("model/load", ["path": .string(TinyModels.gpt2Path)])
        return daemon
    }

    /// Values as the protocol carries them: numbers, null for NaN.
    static func floats(_ json: RPCValue?) -> [Float?] {
        switch json {
        case .array(let elements)?: return elements.flatMap { floats($0) }
        case .null?: return [Float.nan]
        case let value?: return [value.doubleValue.map(Float.init)]
        case nil: return []
        }
    }

    static func sameValues(_ served: [Float?], _ expected: [Float]) -> Bool {
        served.count == expected.count
            && zip(served, expected).allSatisfy { value, reference in
                guard let value else { return false }
                return value == reference || (value.isNaN && reference.isNaN)
            }
    }

    static func tokens(_ list: [TokenWithId]) -> RPCValue {
        .array(list.map { ["token": .string($0.token), "id": .integer($0.id)] })
    }

    /// The daemon's aggregated result, and its granular values, equal the engine's exactly
    /// (float32 travels as 9 significant digits, which round-trips).
    @Test(arguments: cases)
    func aggregatedAndGranularAttributionsEqualTheEngine(_ example: Case) throws {
        let model = try TinyModels.gpt2.get()
        let output = try Attributor(model: model).attribute(example.request)
        let aggregated = try output.aggregated()
        let daemon = try Self.startDaemon()
        let reply = try #require(daemon.client.call("attribute", Self.params(example.params, ["granular": true])))
        let results = try #require(reply["results"]?.arrayValue)
        #expect(results.count == example.request.inputs.count)
        for (served, (expected, raw)) in zip(results, zip(aggregated.sequenceAttributions, output.sequenceAttributions))
        {
            #expect(served["source"] == Self.tokens(expected.source))
            #expect(served["target"] == Self.tokens(expected.target))
            #expect(served["attrPosStart"] == .integer(expected.attrPosStart))
            #expect(served["attrPosEnd"] == .integer(expected.attrPosEnd))
            let attributions = try #require(expected.targetAttributions)
            #expect(attributions.rank == 2)
            #expect(served["targetAttributions"]?.arrayValue?.count == attributions.shape[0])
            #expect(served["targetAttributions"]?.arrayValue?.first?.arrayValue?.count == attributions.shape[1])
            #expect(Self.sameValues(Self.floats(served["targetAttributions"]), attributions.values))
            // Steps attribute only the positions before them: NaN (null) above the diagonal.
            #expect(attributions.values.contains { $0.isNaN })
            let names = example.request.stepScores.map(\.rawValue)
            #expect(served["stepScores"]?.objectValue.map { Set($0.keys) } == Set(names))
            for name in names {
                let expectedScores = try #require(expected.stepScores[name])
                #expect(Self.sameValues(Self.floats(served["stepScores"]?[name]), expectedScores.values), "\(name)")
            }
            let granular = try #require(served["granularTargetAttributions"])
            let rawAttributions = try #require(raw.targetAttributions)
            #expect(granular["shape"] == rawAttributions.shape.json)
            #expect(granular["dtype"] == "float32")
            let bytes = try #require(granular["data"]?.stringValue.flatMap { Data(base64Encoded: $0) })
            let decoded = stride(from: 0, to: bytes.count, by: 4).map { offset in
                Float(
                    bitPattern: bytes[offset..<offset + 4].enumerated().reduce(UInt32(0)) {
                        $0 | UInt32($1.element) << (8 * $1.offset)
                    })
            }
            #expect(
                AttributionTensor(shape: [decoded.count], values: decoded)
                    == AttributionTensor(shape: [rawAttributions.count], values: rawAttributions.values))
        }
        #expect(daemon.shutdown() == 0)
    }

    @Test func withoutAggregationTheRawValuesComeAsNestedArrays() throws {
        let example = Self.cases[0]
        let output = try Attributor(model: TinyModels.gpt2.get()).attribute(example.request)
        let daemon = try Self.startDaemon()
        let reply = try #require(daemon.client.call("attribute", Self.params(example.params, ["aggregate": false])))
        for (served, expected) in zip(reply["results"]?.arrayValue ?? [], output.sequenceAttributions) {
            let raw = try #require(expected.targetAttributions)
            #expect(raw.rank == 3)
            #expect(
                served["targetAttributions"]?.arrayValue?.first?.arrayValue?.first?.arrayValue?.count == raw.shape[2])
            #expect(Self.sameValues(Self.floats(served["targetAttributions"]), raw.values))
            #expect(served["granularTargetAttributions"] == nil)
        }
        #expect(daemon.shutdown() == 0)
    }

    /// With outputStepAttributions each result lists the engine's step outputs: aggregated
    /// columns cut at the step's prefix, the raw values with granular, the step's scores.
    @Test(arguments: [cases[0], cases[2]])
    func stepAttributionsAreTheEnginesStepOutputs(_ example: Case) throws {
        var request = example.request
        request.outputStepAttributions = true
        let output = try Attributor(model: TinyModels.gpt2.get()).attribute(request)
        let aggregated = try output.aggregated()
        let daemon = try Self.startDaemon()
        let reply = try #require(daemon.client.call(
            "attribute", Self.params(example.params, ["outputStepAttributions": true, "granular": true])))
        var rawSteps = output.stepAttributions?[...] ?? []
        for (served, sequence) in zip(reply["results"]?.arrayValue ?? [], aggregated.sequenceAttributions) {
            let steps = try #require(served["steps"]?.arrayValue)
            #expect(steps.count == sequence.stepCount)
            for (index, (step, expected)) in zip(steps, sequence.stepOutputs()).enumerated() {
                let position = sequence.attrPosStart + index
                #expect(step["position"] == .integer(position))
                #expect(step["target"] == Self.tokens([sequence.target[position]]).arrayValue?.first)
                let column = try #require(expected.targetAttributions)
                #expect(column.shape == [1, position])
                #expect(Self.sameValues(Self.floats(step["attributions"]), column.values))
                #expect(!column.values.contains { $0.isNaN })
                for (name, scores) in sequence.stepScores {
                    #expect(step["stepScores"]?[name]?.doubleValue.map(Float.init) == scores.values[index])
                }
                // The engine's own step outputs (plain prefixes) carry the same raw values.
                let next = rawSteps.popFirst()
                let rawStep = try #require(next)
                #expect(rawStep.targetAttributions?.values.count == position * 64)
                #expect(step["granularAttributions"]?["shape"] == [position, 64].json)
            }
        }
        #expect(rawSteps.isEmpty)
        let plain = try #require(daemon.client.call("attribute", Self.params(example.params)))
        #expect(plain["results"]?.arrayValue?.allSatisfy { $0["steps"] == nil } == true)
        #expect(daemon.shutdown() == 0)
    }

    @Test func savePathWritesInseqJSONAndRefusesToOverwrite() throws {
        let example = Self.cases[1]
        let output = try Attributor(model: TinyModels.gpt2.get()).attribute(example.request)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("seqlens-attribute-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("out.json").path
        let daemon = try Self.startDaemon()
        let reply = daemon.client.call("attribute", Self.params(example.params, ["savePath": .string(path)]))
        #expect(reply?["savedTo"] == .string(path))
        let saved = try FeatureAttributionOutput.load(from: path)
        #expect(saved.sequenceAttributions == output.sequenceAttributions)
        #expect(saved.info["attribution_method"] == .string("integrated_gradients"))

        let again = daemon.client.request("attribute", Self.params(example.params, ["savePath": .string(path)]))
        let refused = daemon.client.response(to: again)?["error"]
        #expect(refused?["code"] == .integer(ErrorCode.invalidParams.rawValue))
        #expect(refused?["message"]?.stringValue?.contains("params.savePath: \(path) already exists") == true)
        let overwritten = daemon.client.call(
            "attribute", Self.params(example.params, ["savePath": .string(path), "overwrite": true]))
        #expect(overwritten?["savedTo"] == .string(path))
        #expect(daemon.shutdown() == 0)
    }

    @Test func progressIsReportedPerSequence() throws {
        let daemon = try Self.startDaemon()
        let id = daemon.client.request(
            "attribute",
            Self.params(["inputs": ["a", "b", "c", "d"], "generationArgs": ["maxNewTokens": 2], "workDoneToken": "w"]))
        var values: [RPCValue] = []
        let reply = daemon.client.response(to: id) { values.append($0["params"]?["value"] ?? .null) }
        #expect(reply?["result"]?["results"]?.arrayValue?.count == 4)
        #expect(values.first?["kind"] == "begin")
        #expect(values.first?["title"] == "attribute")
        // Reports at each generated token and each pass, rising through all four sequences.
        let percentages = values.dropFirst().dropLast().compactMap { $0["percentage"]?.intValue }
        #expect(percentages.count >= 8)
        #expect(zip(percentages, percentages.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(percentages.contains { $0 >= 75 } && percentages.allSatisfy { $0 < 100 })
        #expect(values.dropLast().last?["message"]?.stringValue?.hasPrefix("sequence 4 of 4") == true)
        #expect(values.last == ["kind": "end", "message": "done"])
        #expect(daemon.shutdown() == 0)
    }

    /// 100 sequences of integrated gradients (about 70 ms each in a debug build): cancelled at the
    /// next sequence boundary, well within a second; the daemon then serves the next request.
    @Test func aLongAttributeIsCancelledBetweenSequences() throws {
        let daemon = try Self.startDaemon()
        let inputs: [RPCValue] = (0..<100).map { .string("Hello world \($0)") }
        let id = daemon.client.request(
            "attribute",
            Self.params([
                "inputs": .array(inputs), "method": "integrated_gradients", "methodArgs": ["nSteps": 16],
                "generationArgs": ["maxNewTokens": 5], "workDoneToken": "long",
            ]))
        var lastPercentage: Int?
        while lastPercentage == nil, let message = daemon.client.next(timeout: 10) {
            if message["params"]?["value"]?["kind"] == "report" {
                lastPercentage = message["params"]?["value"]?["percentage"]?.intValue
            }
        }
        let cancelledAt = Date()
        daemon.client.notify("$/cancelRequest", ["id": .integer(id)])
        var end: RPCValue?
        let reply = daemon.client.response(to: id, timeout: 5) { notification in
            let value = notification["params"]?["value"]
            if value?["kind"] == "report" { lastPercentage = value?["percentage"]?.intValue }
            if value?["kind"] == "end" { end = value }
        }
        let elapsed = Date().timeIntervalSince(cancelledAt)
        #expect(reply?["error"]?["code"] == .integer(ErrorCode.requestCancelled.rawValue))
        #expect(elapsed < 1, "cancellation took \(elapsed) s")
        #expect((lastPercentage ?? 100) < 50)
        #expect(end == ["kind": "end", "message": "cancelled"])
        let next = daemon.client.call(
            "attribute", Self.params(["inputs": ["ok"], "generationArgs": ["maxNewTokens": 1]]))
        #expect(next?["results"]?.arrayValue?.count == 1)
        #expect(daemon.shutdown() == 0)
    }
}
