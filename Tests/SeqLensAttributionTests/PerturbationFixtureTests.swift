import Foundation
import Testing
import SeqLensTestSupport
@testable import SeqLensAttribution
import SeqLensModels

/// The forward-only methods against scripts/fixtures/make_perturbation_fixtures.py's references
/// (Inseq 0.7.1's attention, occlusion and value zeroing; Captum 0.9's FeatureAblation; a torch
/// attention rollout) on the tiny checkpoints: raw values within 1e-4 × max |reference|, NaN
/// exactly where the reference has NaN, and Inseq's default `aggregate()` too.
@Suite("Perturbation and attention methods equal their references")
struct PerturbationFixtureTests {
    static var cases: [(String, String)] {
        InseqFixtureTests.modelNames.flatMap { name -> [(String, String)] in
            guard let index = try? Fixtures.json("attribution/\(name)/perturbation-index.json"),
                  let cases = index["cases"] as? [[String: Any]] else { return [] }
            return cases.compactMap { ($0["id"] as? String).map { (name, $0) } }
        }
    }

    /// The SeqLens arguments of each case. Inseq's attention method takes no selection: its cases
    /// select and reduce in `aggregate()` (recorded as aggregate_calls), which SeqLens's
    /// `layers`/`heads`/`headAggregation`/`layerAggregation` express.
    static func arguments(_ caseID: String, _ kwargs: [String: Any]) -> [String: JSONValue] {
        switch caseID {
        case "attention_max_heads": return ["headAggregation": .string("max")]
        case "attention_min_heads_max_layers": return ["headAggregation": .string("min"), "layerAggregation": .string("max")]
        case "attention_heads_span_1_3": return ["heads": .array([.int(1), .int(2)])]
        case "attention_heads_list_0_3_last_layer":
            return ["heads": .array([.int(0), .int(3)]), "headAggregation": .string("max"), "layers": .int(-1)]
        case "attention_head_2_layer_0": return ["heads": .int(2), "layers": .array([.int(0)])]
        default: break
        }
        var arguments: [String: JSONValue] = [:]
        if let metric = kwargs["similarity_metric"] as? String { arguments["similarityMetric"] = .string(metric) }
        if let reduction = kwargs["head_reduction"] as? String { arguments["headReduction"] = .string(reduction) }
        if let weight = kwargs["residual_weight"] as? Double { arguments["residualWeight"] = .double(weight) }
        switch kwargs["decoder_zeroed_units_indices"] {
        case let unit as Int: arguments["decoderZeroedUnitsIndices"] = .int(unit)
        case let perLayer as [String: [Int]]:
            arguments["decoderZeroedUnitsIndices"] = .object(perLayer.mapValues { .array($0.map { .int($0) }) })
        default: break
        }
        return arguments
    }

    static func compare(_ ours: AttributionTensor?, _ reference: Any?, _ label: String) throws {
        let reference = try #require(reference as? [String: Any])
        let shape = try #require(reference["shape"] as? [Int])
        let expected = try #require(reference["data"] as? [Any]).map { ($0 as? Double).map(Float.init) ?? .nan }
        let ours = try #require(ours)
        #expect(ours.shape == shape, "\(label): shape \(ours.shape) vs \(shape)")
        let scale = expected.filter { !$0.isNaN }.map(abs).max() ?? 1
        var worst: Float = 0, nanMismatches = 0
        for (a, b) in zip(ours.values, expected) {
            if a.isNaN != b.isNaN { nanMismatches += 1; continue }
            if !a.isNaN { worst = max(worst, abs(a - b)) }
        }
        print("\(label): max |Δ| = \(worst) (\(worst / max(scale, 1e-30)) of max |reference| \(scale))")
        #expect(nanMismatches == 0, "\(label): NaN in different places")
        #expect(worst <= 1e-4 * max(scale, 1e-12), "\(label)")
    }

    /// Inseq 0.7.1's euclidean value zeroing raises (torch.cdist gives an n × n matrix); patched to
    /// run (the fixture's euclidean_paired) it scores 1 − distance, so every token whose zeroing
    /// moves the state by more than 1 scores 0. SeqLens scores the distance itself, as 1 − cos is
    /// a distance. With Inseq's formula SeqLens reproduces the reference, so the distances are
    /// the same; with its own, the tokens Inseq zeroes get the largest scores.
    func euclideanIsADistance(_ request: AttributionRequest, name: String, item: [String: Any]) throws {
        let model = try InseqFixtureTests.model(name)
        var inseqFormula = request
        var method = try #require(request.method as? ValueZeroing)
        method.scoresDistanceAsSimilarity = true
        inseqFormula.method = method
        let reproduced = try #require(try Attributor(model: model).attribute(inseqFormula).sequenceAttributions.first)
        try Self.compare(reproduced.targetAttributions, item["target_attributions"], "\(name)/value_zeroing_euclidean as Inseq scores it")
        let ours = try #require(try Attributor(model: model).attribute(request).sequenceAttributions.first?.targetAttributions)
        let inseq = try #require(reproduced.targetAttributions)
        // Where Inseq's score is 0 (distance > 1, or < 1e-5 away from 1), SeqLens's is positive.
        let zeroedByInseq = zip(inseq.values, ours.values).filter { !$0.0.isNaN && $0.0 == 0 }
        #expect(!zeroedByInseq.isEmpty && zeroedByInseq.allSatisfy { $0.1 > 0 })
        #expect(ours.values.filter { !$0.isNaN }.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    @Test(arguments: cases)
    func matchesTheReference(model name: String, caseID: String) throws {
        let index = try Fixtures.json("attribution/\(name)/perturbation-index.json")
        let item = try #require((index["cases"] as? [[String: Any]])?.first { ($0["id"] as? String) == caseID })
        let kwargs = item["attribute_kwargs"] as? [String: Any] ?? [:]
        var request = AttributionRequest(inputs: [try #require(kwargs["input_texts"] as? String)])
        request.generatedTexts = [try #require(kwargs["generated_texts"] as? String)]
        request.method = try AttributionMethods.make(try #require(item["method"] as? String),
                                                     arguments: .object(Self.arguments(caseID, kwargs)))
        request.stepScores = [.probability]
        if caseID == "value_zeroing_euclidean" {
            try euclideanIsADistance(request, name: name, item: item)
            return
        }
        let sequence = try #require(try Attributor(model: try InseqFixtureTests.model(name)).attribute(request).sequenceAttributions.first)
        #expect(sequence.target.map(\.id) == index["target_ids"] as? [Int])
        // Inseq's attention cases hold every layer and head; a selection compares after aggregation.
        let selects = Self.arguments(caseID, kwargs)["heads"] != nil || Self.arguments(caseID, kwargs)["layers"] != nil
        if !selects { try Self.compare(sequence.targetAttributions, item["target_attributions"], "\(name)/\(caseID) raw") }
        try Self.compare(try sequence.aggregated().targetAttributions, item["aggregated"], "\(name)/\(caseID) aggregated")
        if let probability = (item["step_scores"] as? [String: [Double]])?["probability"] {
            let ours = try #require(sequence.stepScores["probability"]).values
            #expect(zip(ours, probability).allSatisfy { abs(Double($0) - $1) <= 1e-5 }, "\(ours) vs \(probability)")
        }
    }
}
