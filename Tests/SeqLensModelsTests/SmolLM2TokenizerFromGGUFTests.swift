import Foundation
import Testing
import SeqLensTestSupport
@testable import SeqLensModels

/// The tokenizer SeqLens builds from the GGUF's own metadata (the path every user of the default
/// model takes), against HF's ids for SmolLM2's hub tokenizer on the 355 committed strings
/// (Tests/Fixtures/tokenizers, from scripts/fixtures/make_tokenizer_fixtures.py). It runs wherever
/// the model is cached, CI included.
@Suite(
    "SmolLM2 tokenizer from GGUF metadata equals HF's",
    .enabled(if: Fixtures.smolLM2IsCached, Comment(rawValue: Fixtures.smolLM2Missing)))
struct SmolLM2TokenizerFromGGUFTests {
    @Test func idsAndRoundTripsOnEveryString() throws {
        let model = try SmolLM2Tests.model.get()
        let strings = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("tokenizers/strings.json")))) as? [String])
        let expected = try #require(Fixtures.json("tokenizers/smollm2.json")["ids_hub_layout"] as? [[Int]])
        #expect(strings.count >= 300 && strings.count == expected.count)
        var mismatches: [String] = []
        for (text, ids) in zip(strings, expected) {
            let ours = model.encode(text, addSpecialTokens: false)
            if ours != ids { mismatches.append(text.debugDescription) }
            #expect(model.decode(ours) == text, "round trip of \(text.debugDescription)")
        }
        #expect(mismatches.isEmpty, "ids differ for \(mismatches.prefix(5))")
    }
}
