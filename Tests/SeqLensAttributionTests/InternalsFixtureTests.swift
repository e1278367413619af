import Foundation
import SeqLensModels
import SeqLensTensor
import SeqLensTestSupport
import Testing

@testable import SeqLensAttribution

/// Activations, logit lens, patching and ablation against transformers' forward read and
/// edited with PyTorch hooks (Tests/Fixtures/internals, from scripts/fixtures/make_internals_fixtures.py):
/// every value within 1e-4 × max |reference|.
@Suite("Internals equal transformers'")
struct InternalsFixtureTests {
    static let models = ["tiny-gpt2", "tiny-llama"]

    struct Case {
        let fixture: [String: Any]
        let model: LanguageModel
        let ids: [Int]

        init(_ name: String) throws {
            fixture = try Fixtures.json("internals/\(name).json")
            model = try LanguageModel.load(.path(Fixtures.path("models/\(name)")))
            ids = try #require(fixture["ids"] as? [Int])
            let text = try #require(fixture["text"] as? String)
            try #require(model.encode(text, addSpecialTokens: true) == ids, "the tokenizer gives the reference's ids")
        }

        func section(_ key: String) throws -> [String: Any] { try #require(fixture[key] as? [String: Any]) }
    }

    /// max |a − b| ≤ 1e-4 · max |b|, printed.
    static func expectClose(_ actual: [Float], _ expected: [Double], _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(actual.count == expected.count, "\(label): \(actual.count) values for \(expected.count)", sourceLocation: sourceLocation)
        let scale = max(1e-6, expected.map(abs).max() ?? 0)
        let worst = zip(actual, expected).map { abs(Double($0) - $1) }.max() ?? 0
        #expect(worst <= 1e-4 * scale, "\(label): max |Δ| = \(worst) for max |reference| \(scale)", sourceLocation: sourceLocation)
    }

    @Test(arguments: models)
    func activationsOfEverySite(model name: String) throws {
        let item = try Case(name)
        let expected = try item.section("activations")
        let sites = item.model.sites.all
        #expect(sites.count == expected.count, "the catalog lists every site the reference recorded")
        let values = try Inspector(model: item.model).activations(ids: item.ids, sites: sites)
        var worst: (Double, String) = (0, "")
        for site in sites {
            let reference = try #require(expected[site.description] as? [String: Any], "\(site) in the fixture")
            let shape = try #require(reference["shape"] as? [Int])
            let data = try #require(reference["data"] as? [Double])
            let actual = try #require(values[site])
            #expect(actual.shape == shape, "\(site): shape \(actual.shape), reference \(shape)")
            Self.expectClose(actual.scalars, data, "\(name) \(site)")
            let scale = max(1e-6, data.map(abs).max() ?? 0)
            let error = zip(actual.scalars, data).map { abs(Double($0) - $1) }.max()! / scale
            if error > worst.0 { worst = (error, site.description) }
        }
        print("\(name) activations: worst relative max |Δ| = \(worst.0) at \(worst.1)")
        // Selected positions are rows of the full tensors (query rows of a pattern).
        let some = try Inspector(model: item.model).activations(
            ids: item.ids, sites: [.block(1, .attentionPattern), .block(0, .attentionZ)], positions: [2, 0])
        #expect(some[.block(1, .attentionPattern)]?.shape == [item.model.info.headCount, 2, item.ids.count])
        #expect(some[.block(0, .attentionZ)]?.scalars == Inspector.rows(values[.block(0, .attentionZ)]!, [2, 0], patternRows: false).scalars)
    }

    @Test(arguments: models)
    func logitLens(model name: String) throws {
        let item = try Case(name)
        let lens = try item.section("logit_lens")
        let targets = try #require(lens["targets"] as? [Int])
        let references = try #require(lens["sites"] as? [[String: Any]])
        let sites = try references.map { try item.model.sites.resolveOne(try #require($0["site"] as? String)) }
        #expect(sites == (try item.model.sites.resolve("blocks.0.resid_pre") + item.model.sites.resolve("blocks.*.resid_post")))
        let readings = try Inspector(model: item.model).logitLens(ids: item.ids, sites: sites, topK: 5, targets: targets)
        for (reading, reference) in zip(readings, references) {
            let topIDs = try #require(reference["top_ids"] as? [[Int]])
            let topProbabilities = try #require(reference["top_probs"] as? [[Double]])
            let targetProbabilities = try #require(reference["target_probs"] as? [[Double]])
            let targetLogits = try #require(reference["target_logits"] as? [[Double]])
            for position in item.ids.indices {
                Self.expectClose(reading.top[position].map(\.probability), topProbabilities[position], "\(name) \(reading.site) top p @\(position)")
                // Ids agree where the probabilities are not tied within the tolerance.
                let ids = reading.top[position].map(\.id)
                for (k, id) in ids.enumerated() where k + 1 >= ids.count || topProbabilities[position][k] - topProbabilities[position][k + 1] > 1e-5 {
                    #expect(id == topIDs[position][k], "\(name) \(reading.site) top \(k) @\(position)")
                }
                Self.expectClose(reading.targets[position].map(\.probability), targetProbabilities[position], "\(name) \(reading.site) target p")
                Self.expectClose(reading.targets[position].map(\.logit), targetLogits[position], "\(name) \(reading.site) target logit")
            }
        }
        // The top layer's reading is the model's own distribution.
        let logits = try item.model.logits(item.ids)
        let v = logits.shape[1], last = item.ids.count - 1
        let own = Array(logits.scalars[(last * v)..<((last + 1) * v)])
        #expect(readings.last!.targets[last].map(\.logit) == targets.map { own[$0] })
    }

    @Test(arguments: models)
    func activationPatching(model name: String) throws {
        let item = try Case(name)
        let patch = try item.section("patch")
        let clean = try #require(patch["clean_ids"] as? [Int]), corrupted = try #require(patch["corrupted_ids"] as? [Int])
        #expect(item.model.encode(try #require(patch["clean"] as? String), addSpecialTokens: true) == clean)
        #expect(item.model.encode(try #require(patch["corrupted"] as? String), addSpecialTokens: true) == corrupted)
        let metric = try #require(patch["metric"] as? [String: Any])
        let sites = try (try #require(patch["sites"] as? [String])).map { try item.model.sites.resolveOne($0) }
        let logitDifference = InternalsMetric.logitDifference(
            target: try #require(metric["target"] as? Int), contrast: try #require(metric["contrast"] as? Int))
        // In the order given and shuffled (rows join the batch in layer order either way).
        for order in [Array(sites.indices), Array(sites.indices.reversed())] {
            let result = try ActivationPatching(model: item.model).patch(
                clean: clean, corrupted: corrupted, sites: order.map { sites[$0] }, metric: logitDifference)
            let ordered = order.indices.map { result.values[order.firstIndex(of: $0)!] }
            Self.expectClose([result.cleanMetric], [try #require(patch["clean_metric"] as? Double)], "\(name) clean metric")
            Self.expectClose([result.corruptedMetric], [try #require(patch["corrupted_metric"] as? Double)], "\(name) corrupted metric")
            let values = try #require(patch["values"] as? [[Double]])
            let scale = values.flatMap { $0 }.map(abs).max()!
            for (site, (actual, expected)) in zip(sites, zip(ordered, values)) {
                let worst = zip(actual, expected).map { abs(Double($0) - $1) }.max()!
                #expect(worst <= 1e-4 * scale, "\(name) patched \(site): max |Δ| = \(worst)")
            }
        }
        // The token embedding (patched from the embeddings up) and block 0's input (patched from
        // block 0, positions being shared) change the same thing.
        let embedding = try ActivationPatching(model: item.model).patch(
            clean: clean, corrupted: corrupted, sites: [Site(.embed), .block(0, .residPre)], metric: logitDifference)
        Self.expectClose(embedding.values[0], embedding.values[1].map(Double.init), "\(name) embed vs resid_pre 0")
        // Patching the clean run into itself changes nothing: every value is the clean metric.
        let identity = try ActivationPatching(model: item.model).patch(
            clean: clean, corrupted: clean, sites: [.block(0, .residPre)], positions: [0, 3],
            metric: .logProbability(target: clean.last!))
        #expect(identity.values[0].allSatisfy { abs($0 - identity.cleanMetric) < 1e-5 })
    }

    @Test(arguments: models)
    func ablation(model name: String) throws {
        let item = try Case(name)
        let ablate = try item.section("ablate")
        let target = try #require(ablate["target"] as? Int)
        let ablator = Ablator(model: item.model)
        let zero = try #require(ablate["zero_heads"] as? [String: Any])
        let zeroed = try ablator.ablate(
            ids: item.ids, ablations: [Ablation(site: .block(0, .attentionZ), heads: try #require(zero["heads"] as? [Int]))], target: target)
        Self.expectClose([zeroed.baseline], [try #require(ablate["baseline"] as? Double)], "\(name) baseline")
        Self.expectClose([zeroed.ablated], [try #require(zero["logprob"] as? Double)], "\(name) zeroed heads")
        let mean = try #require(ablate["mean_site"] as? [String: Any])
        let meaned = try ablator.ablate(ids: item.ids, ablations: [Ablation(site: .block(1, .mlpOut), mode: .mean)], target: target)
        Self.expectClose([meaned.ablated], [try #require(mean["logprob"] as? Double)], "\(name) mean-ablated MLP")
        let grid = try #require(ablate["grid"] as? [[Double]])
        let sweep = try ablator.headSweep(ids: item.ids, target: target)
        #expect(sweep.grid.count == item.model.info.layerCount)
        Self.expectClose(sweep.grid.flatMap { $0 }, grid.flatMap { $0 }, "\(name) head sweep")
    }

    /// Generation and saliency through an intervened model (a steering vector added at one
    /// position, an MLP output halved everywhere) against transformers with the same hooks.
    @Test(arguments: models)
    func interventions(model name: String) throws {
        let item = try Case(name)
        let section = try item.section("interventions")
        let list = try #require(section["list"] as? [[String: Any]])
        let interventions = try list.map { entry -> Intervention in
            let site = try item.model.sites.resolveOne(try #require(entry["site"] as? String))
            let operation: Intervention.Operation
            switch entry["op"] as? String {
            case "add": operation = .add(try #require(entry["vector"] as? [Double]).map(Float.init))
            case "scale": operation = .scale(Float(try #require(entry["factor"] as? Double)))
            default: operation = .zero
            }
            return Intervention(site: site, positions: entry["positions"] as? [Int], operation: operation)
        }
        let steered = try item.model.intervened(interventions)
        var options = GenerationOptions()
        options.maxNewTokens = 8
        options.stopAtEOS = false
        let generated = try steered.generate(prompt: item.ids, options: options).tokens.map(\.id)
        #expect(generated == (try #require(section["generated_ids"] as? [Int])), "\(name) steered greedy tokens")
        let plain = try item.model.generate(prompt: item.ids, options: options).tokens.map(\.id)
        #expect(plain != generated, "the interventions change what the model generates")

        let forced = try #require(section["forced_text"] as? String)
        #expect(item.model.encode(forced, addSpecialTokens: true) == (try #require(section["forced_ids"] as? [Int])))
        var request = AttributionRequest(inputs: [try #require(item.fixture["text"] as? String)])
        request.generatedTexts = [forced]
        let sequence = try #require(try Attributor(model: steered).attribute(request).sequenceAttributions.first)
        let reference = try #require(section["saliency"] as? [String: Any])
        let attributions = try #require(sequence.targetAttributions)
        #expect(attributions.shape == (try #require(reference["shape"] as? [Int])))
        let data = try #require(reference["data"] as? [Any])
        let expected = data.map { ($0 as? Double) ?? .nan }
        #expect(zip(attributions.values, expected).allSatisfy { $0.isNaN == $1.isNaN }, "NaN where the step cannot see the token")
        let pairs = zip(attributions.values, expected).filter { !$1.isNaN }
        Self.expectClose(pairs.map(\.0), pairs.map(\.1), "\(name) saliency through interventions")
        // An empty list is the model itself.
        #expect(try item.model.intervened([]) === item.model)
    }

    @Test func badArgumentsAreErrors() throws {
        let item = try Case("tiny-gpt2")
        #expect(throws: AttributionError.self) { try Inspector(model: item.model).activations(ids: item.ids, sites: [Site(.embed)], positions: [99]) }
        #expect(throws: AttributionError.self) {
            try ActivationPatching(model: item.model).patch(clean: [1, 2], corrupted: [1], sites: [Site(.embed)], metric: .logProbability(target: 1))
        }
        #expect(throws: AttributionError.self) {
            try Ablator(model: item.model).ablate(ids: item.ids, ablations: [Ablation(site: .block(0, .mlpOut), heads: [0])], target: 1)
        }
        #expect(throws: ModelError.self) { try item.model.sites.resolve("blocks.7.resid_post") }
        #expect(throws: ModelError.self) { try item.model.sites.resolve("blocks.*.nothing") }
        #expect(try item.model.sites.resolve("transformer.h.1.mlp") == [.block(1, .mlpOut)])
        #expect(try item.model.sites.resolve("blocks.*.attn.pattern").count == item.model.info.layerCount)
        #expect(throws: ModelError.self) { try item.model.intervened([Intervention(site: .block(0, .residPost), operation: .add([1, 2]))]) }
        #expect(throws: ModelError.self) { try item.model.intervened([Intervention(site: .block(0, .attentionPattern), operation: .zero)]) }
    }
}
