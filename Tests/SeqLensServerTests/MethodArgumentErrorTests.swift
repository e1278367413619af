import Testing

@testable import SeqLensServer

/// Method arguments over the wire: each method's own type validates them, and every refusal is a
/// -32602 naming the field; the daemon keeps serving. Also the new methods answer in Inseq's raw
/// shapes with `granular`.
@Suite struct MethodArgumentErrorTests {
    static let bad: [(method: String, arguments: RPCValue, message: String)] = [
        ("occlusion", ["nSteps": 4], "params.methodArgs.nSteps: unknown argument (this method takes: slidingWindowShapes, strides)"),
        ("integrated_gradients", ["nSteps": "many"], "params.methodArgs.nSteps: expected an integer, got a string"),
        ("gradient_shap", ["nSamples": 0], "params.methodArgs.nSamples: expected an integer in 1...10000, got 0"),
        ("occlusion", ["slidingWindowShapes": 40], "params.methodArgs.slidingWindowShapes: a window of 40 tokens is larger than the shortest attributed prefix (2 tokens)"),
        ("occlusion", ["slidingWindowShapes": [1, 7]], "params.methodArgs.slidingWindowShapes: windows cover whole token embeddings: the second size must be the hidden size 64, got 7"),
        ("attention", ["layers": [5]], "params.methodArgs.layers: index 5 is out of range for 2 (valid: -2...1)"),
        ("attention", ["headAggregation": "median"], "params.methodArgs.headAggregation: expected one of 'sum', 'mean', 'max', 'min', 'prod', 'absmax', 'vnorm', got 'median'"),
        ("attention_rollout", ["residualWeight": 2], "params.methodArgs.residualWeight: expected a number in 0.0...1.0, got 2.0"),
        ("value_zeroing", ["similarityMetric": "manhattan"], "params.methodArgs.similarityMetric: expected one of 'cosine', 'euclidean', got 'manhattan'"),
        ("value_zeroing", ["decoderZeroedUnitsIndices": ["7": [0]]], "params.methodArgs.decoderZeroedUnitsIndices.7: no layer 7 (the model has 2)"),
        ("saliency", "abs", "params.methodArgs: expected an object (the method's arguments by name), got a string"),
    ]

    @Test func everyBadArgumentIsRefusedByName() throws {
        let daemon = try AttributeTests.startDaemon()
        for bad in Self.bad {
            let id = daemon.client.request("attribute", AttributeTests.params([
                "inputs": ["Hi"], "generatedTexts": ["Hi there you"], "method": .string(bad.method), "methodArgs": bad.arguments,
            ]))
            let error = daemon.client.response(to: id)?["error"]
            #expect(error?["code"] == .integer(ErrorCode.invalidParams.rawValue), "\(bad.method) \(bad.arguments)")
            #expect(error?["message"]?.stringValue == bad.message, "\(bad.method) \(bad.arguments)")
        }
        // Still serving.
        let reply = daemon.client.call("attribute", AttributeTests.params([
            "inputs": ["Hi"], "generatedTexts": ["Hi there you"], "method": "occlusion", "granular": true,
        ]))
        #expect(reply?["results"]?.arrayValue?.count == 1)
        #expect(daemon.shutdown() == 0)
    }

    /// Raw shapes as Inseq's: [position, step], [position, step, layer], [position, step, layer, head].
    @Test(arguments: [("occlusion", [5, 3]), ("value_zeroing", [5, 3, 2]), ("attention", [5, 3, 2, 4]), ("attention_rollout", [5, 3])])
    func granularValuesComeInInseqsRawShapes(method: String, shape: [Int]) throws {
        let daemon = try AttributeTests.startDaemon()
        let reply = daemon.client.call("attribute", AttributeTests.params([
            "inputs": ["Hi"], "generatedTexts": ["Hi there you"], "method": .string(method), "granular": true,
        ]))
        let result = reply?["results"]?.arrayValue?.first
        #expect(result?["granularTargetAttributions"]?["shape"] == .array(shape.map { .integer($0) }))
        // Aggregated: one value per position and step.
        #expect(result?["targetAttributions"]?.arrayValue?.count == shape[0])
        #expect(result?["targetAttributions"]?.arrayValue?.first?.arrayValue?.count == shape[1])
        #expect(daemon.shutdown() == 0)
    }
}
