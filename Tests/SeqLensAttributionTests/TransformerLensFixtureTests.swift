import Foundation
import SeqLensModels
import SeqLensTensor
import SeqLensTestSupport
import Testing

@testable import SeqLensAttribution

/// The second reference: TransformerLens 4's `run_with_cache` and `run_with_hooks` on the same
/// tiny checkpoints (Tests/Fixtures/internals/<model>-transformerlens.json, from
/// scripts/fixtures/make_transformerlens_fixtures.py). Residual stream, attention outputs, attn.z
/// and patterns of every layer, and resid_pre patching at every layer and position, each within
/// 1e-4 × max |TransformerLens|.
@Suite("Internals equal TransformerLens's")
struct TransformerLensFixtureTests {
    @Test(arguments: InternalsFixtureTests.models)
    func runWithCacheAgrees(model name: String) throws {
        let fixture = try Fixtures.json("internals/\(name)-transformerlens.json")
        let model = try LanguageModel.load(.path(Fixtures.path("models/\(name)")))
        let ids = try #require(fixture["ids"] as? [Int])
        let expected = try #require(fixture["activations"] as? [String: [String: Any]])
        let kinds: Set<String> = Set(expected.keys.map { $0.split(separator: ".", maxSplits: 2).last.map(String.init) ?? "" })
        #expect(kinds == ["resid_pre", "resid_mid", "resid_post", "attn.out", "mlp.out", "attn.z", "attn.pattern"])
        let sites = try expected.keys.sorted().map { try model.sites.resolveOne($0) }
        #expect(sites.count == 7 * model.info.layerCount)
        let values = try Inspector(model: model).activations(ids: ids, sites: sites)
        for site in sites {
            let reference = try #require(expected[site.description])
            let actual = try #require(values[site])
            #expect(actual.shape == (reference["shape"] as? [Int]), "\(name) \(site) shape")
            InternalsFixtureTests.expectClose(actual.scalars, try #require(reference["data"] as? [Double]), "\(name) \(site) vs TransformerLens")
        }
    }

    @Test(arguments: InternalsFixtureTests.models)
    func residPrePatchingAgrees(model name: String) throws {
        let fixture = try Fixtures.json("internals/\(name)-transformerlens.json")
        let model = try LanguageModel.load(.path(Fixtures.path("models/\(name)")))
        let patch = try #require(fixture["patch_resid_pre"] as? [String: Any])
        let grid = try #require(patch["grid"] as? [[Double]])
        let sites = try model.sites.resolve("blocks.*.resid_pre")
        #expect(grid.count == sites.count)
        let result = try ActivationPatching(model: model).patch(
            clean: try #require(patch["clean_ids"] as? [Int]), corrupted: try #require(patch["corrupted_ids"] as? [Int]),
            sites: sites,
            metric: .logitDifference(target: try #require(patch["target"] as? Int), contrast: try #require(patch["contrast"] as? Int)))
        for (layer, row) in grid.enumerated() {
            InternalsFixtureTests.expectClose(result.values[layer], row, "\(name) resid_pre patching, layer \(layer), vs TransformerLens")
        }
    }
}
