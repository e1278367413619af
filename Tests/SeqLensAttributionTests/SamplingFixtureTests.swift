import Foundation
import Testing
import SeqLensTestSupport
@testable import SeqLensAttribution

/// LIME (Inseq 0.7.1) and Shapley value sampling (Captum 0.9) against
/// scripts/fixtures/make_sampling_fixtures.py, fed the same random draws the reference made:
/// raw values within 1e-4 × max |reference| (measured ≤ 2e-6), NaN where the reference has NaN,
/// and the default aggregate. LIME's ridge regression over n·D features is solved as the
/// equivalent n-token system, so this also checks that reduction.
@Suite("Sampling methods equal their references given the same draws")
struct SamplingFixtureTests {
    static var cases: [(String, String)] {
        InseqFixtureTests.modelNames.flatMap { name -> [(String, String)] in
            guard let index = try? Fixtures.json("attribution/\(name)/sampling-index.json"),
                  let cases = index["cases"] as? [[String: Any]] else { return [] }
            return cases.compactMap { item in
                guard let id = item["id"] as? String, ["lime", "shapley_value_sampling", "reagent"].contains(item["method"] as? String) else { return nil }
                return (name, id)
            }
        }
    }

    @Test(arguments: cases)
    func matchesTheReference(model name: String, caseID: String) throws {
        let index = try Fixtures.json("attribution/\(name)/sampling-index.json")
        let item = try #require((index["cases"] as? [[String: Any]])?.first { ($0["id"] as? String) == caseID })
        let kwargs = item["attribute_kwargs"] as? [String: Any] ?? [:]
        let defaults = item["defaults"] as? [String: Any] ?? [:]
        let draws = try #require((item["random_draws"] as? [String: Any])?["steps"] as? [[String: Any]])
        var request = AttributionRequest(inputs: [try #require(kwargs["input_texts"] as? String)])
        request.generatedTexts = [try #require(kwargs["generated_texts"] as? String)]
        request.stepScores = [.probability]
        let samples = defaults["n_samples"] as? Int ?? 0
        if item["method"] as? String == "reagent" {
            var reagent = ReAgent(
                keepTopN: try #require(defaults["keep_top_n"] as? Int),
                stoppingConditionTopK: try #require(defaults["stopping_condition_top_k"] as? Int),
                replacingRatio: Float(try #require(defaults["replacing_ratio"] as? Double)),
                maxProbeSteps: try #require(defaults["max_probe_steps"] as? Int),
                numProbes: try #require(defaults["num_probes"] as? Int))
            func floats(_ value: Any?) throws -> [[Float]] { try #require(value as? [[Double]]).map { $0.map(Float.init) } }
            reagent.draws = try draws.map { step in
                ReAgent.Draws(
                    initialScores: try floats(step["initial_scores"]),
                    iterations: try (try #require(step["iterations"] as? [[String: Any]])).map {
                        (try floats($0["replace_uniform"]), try floats($0["token_uniform"]), try floats($0["stop_token_uniform"]))
                    })
            }
            request.method = reagent
        } else if item["method"] as? String == "lime" {
            var lime = Lime(samples: samples, maskProbability: Float(try #require(defaults["mask_prob"] as? Double)))
            lime.masks = try draws.map { step in try #require(step["masks"] as? [[Int]]).map { $0.map { $0 == 1 } } }
            request.method = lime
        } else {
            var shapley = ShapleyValueSampling(samples: samples)
            shapley.orders = try draws.map { try #require($0["permutations"] as? [[Int]]) }
            request.method = shapley
        }
        let sequence = try #require(try Attributor(model: try InseqFixtureTests.model(name)).attribute(request).sequenceAttributions.first)
        let tolerance: Float = 1e-4
        try Self.compare(sequence.targetAttributions, item["target_attributions"], tolerance, "\(name)/\(caseID) raw")
        try Self.compare(try sequence.aggregated().targetAttributions, item["aggregated"], tolerance, "\(name)/\(caseID) aggregated")
    }

    static var digCases: [(String, String)] {
        InseqFixtureTests.modelNames.flatMap { name -> [(String, String)] in
            guard let index = try? Fixtures.json("attribution/\(name)/sampling-index.json"),
                  let cases = index["cases"] as? [[String: Any]] else { return [] }
            return cases.compactMap { item in
                guard let id = item["id"] as? String, item["method"] as? String == "discretized_integrated_gradients" else { return nil }
                return (name, id)
            }
        }
    }

    /// Discretized integrated gradients (deterministic): the anchor words of every token's path
    /// as Inseq chose them, and the attributions.
    @Test(arguments: digCases)
    func discretizedIntegratedGradientsMatchInseq(model name: String, caseID: String) throws {
        let index = try Fixtures.json("attribution/\(name)/sampling-index.json")
        let item = try #require((index["cases"] as? [[String: Any]])?.first { ($0["id"] as? String) == caseID })
        let kwargs = item["attribute_kwargs"] as? [String: Any] ?? [:]
        let defaults = item["defaults"] as? [String: Any] ?? [:]
        let steps = try #require(defaults["n_steps"] as? Int)
        let strategyName = try #require(defaults["method"] as? String)
        let strategy = try #require(DiscretizedIntegratedGradients.Strategy(rawValue: strategyName))
        var request = AttributionRequest(inputs: [try #require(kwargs["input_texts"] as? String)])
        request.generatedTexts = [try #require(kwargs["generated_texts"] as? String)]
        request.method = DiscretizedIntegratedGradients(steps: steps, strategy: strategy)
        let model = try InseqFixtureTests.model(name)
        if let anchors = (item["dig_path"] as? [String: Any])?["anchors"] as? [String: [Int]] {
            let neighbours = VocabularyNeighbours(table: model.transformer.embed([Array(0..<model.transformer.dimensions.vocabularySize)]).scalars,
                                                  width: model.transformer.dimensions.hiddenSize)
            for (word, expected) in anchors {
                let id = try #require(Int(word))
                #expect(neighbours.words(word: id, baseline: 0, steps: steps, strategy: strategy, special: []) == expected, "\(name) word \(id)")
            }
        }
        let sequence = try #require(try Attributor(model: model).attribute(request).sequenceAttributions.first)
        try Self.compare(sequence.targetAttributions, item["target_attributions"], 1e-4, "\(name)/\(caseID) raw")
        try Self.compare(try sequence.aggregated().targetAttributions, item["aggregated"], 1e-4, "\(name)/\(caseID) aggregated")
    }

    static func compare(_ ours: AttributionTensor?, _ reference: Any?, _ tolerance: Float, _ label: String) throws {
        let reference = try #require(reference as? [String: Any])
        let expected = try #require(reference["data"] as? [Any]).map { ($0 as? Double).map(Float.init) ?? .nan }
        let ours = try #require(ours)
        #expect(ours.shape == reference["shape"] as? [Int], "\(label): shape \(ours.shape)")
        let scale = expected.filter { !$0.isNaN }.map(abs).max() ?? 1
        var worst: Float = 0, nanMismatches = 0
        for (a, b) in zip(ours.values, expected) {
            if a.isNaN != b.isNaN { nanMismatches += 1; continue }
            if !a.isNaN { worst = max(worst, abs(a - b)) }
        }
        print("\(label): max |Δ| = \(worst) (\(worst / max(scale, 1e-30)) of max |reference| \(scale))")
        #expect(nanMismatches == 0, "\(label)")
        #expect(worst <= tolerance * max(scale, 1e-12), "\(label)")
    }
}
