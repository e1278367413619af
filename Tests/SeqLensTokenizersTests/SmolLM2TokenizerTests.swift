import Foundation
import Testing

@testable import SeqLensTokenizers

/// SmolLM2's vocabulary, from the cache-side files that scripts/fixtures/make_tokenizer_fixtures.py
/// dumps (the module never reads GGUF), against transformers' ids committed in smollm2.json.
@Suite struct SmolLM2TokenizerTests {
    static let maker = "scripts/fixtures/make_tokenizer_fixtures.py"

    struct Expected {
        let strings: [String]
        let ids: [[Int]]
        let idsWithSpecialTokens: [[Int]]
        let idsHubLayout: [[Int]]
        let fixture: [String: Any]

        init() throws {
            strings = try TestFiles.strings
            fixture = try TestFiles.json("smollm2.json")
            ids = try idLists(fixture["ids"])
            idsWithSpecialTokens = try idLists(fixture["ids_with_special_tokens"])
            idsHubLayout = try idLists(fixture["ids_hub_layout"])
        }
    }

    /// Checks every string; returns how many matched.
    @discardableResult
    static func check(
        _ tokenizer: ByteLevelBPETokenizer, _ strings: [String], _ expected: [[Int]], addSpecialTokens: Bool,
        _ label: String
    ) -> Int {
        var matched = 0
        for (index, text) in strings.enumerated() {
            let ids = tokenizer.encode(text, addSpecialTokens: addSpecialTokens)
            if ids == expected[index] {
                matched += 1
            } else {
                Issue.record(
                    "\(label) ids differ for \(text.debugDescription): \(firstDifference(ids, expected[index]))")
            }
        }
        print("\(label): \(matched)/\(strings.count) strings give the reference ids")
        return matched
    }

    static func ggufMetadata() throws -> [String: Any] {
        let url = try TestFiles.cached("test-artifacts/smollm2-gguf-tokenizer.json")
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    static func fromGGUFMetadata(_ metadata: [String: Any], pre: String?) throws -> ByteLevelBPETokenizer {
        try ByteLevelBPETokenizer(
            ggufTokens: try #require(metadata["tokens"] as? [String]),
            tokenTypes: try #require(metadata["token_type"] as? [Int]).map(Int32.init),
            merges: try #require(metadata["merges"] as? [String]), preTokenizer: pre,
            bosTokenId: metadata["bos_token_id"] as? Int, eosTokenId: metadata["eos_token_id"] as? Int,
            unknownTokenId: metadata["unknown_token_id"] as? Int, paddingTokenId: metadata["padding_token_id"] as? Int,
            addBOS: metadata["add_bos_token"] as? Bool)
    }

    @Test(.enabled(
        if: TestFiles.isCached("test-artifacts/smollm2-tokenizer.json"),
        TestFiles.missing("test-artifacts/smollm2-tokenizer.json", madeBy: maker)))
    func transformersTokenizerJSONMatchesTransformers() throws {
        let url = try TestFiles.cached("test-artifacts/smollm2-tokenizer.json")
        let tokenizer = try ByteLevelBPETokenizer(tokenizerJSON: url)
        let expected = try Expected()
        #expect(tokenizer.preTokenizer == .gpt2)
        Self.check(tokenizer, expected.strings, expected.ids, addSpecialTokens: false, "SmolLM2 tokenizer.json")
        Self.check(
            tokenizer, expected.strings, expected.idsWithSpecialTokens, addSpecialTokens: true,
            "SmolLM2 tokenizer.json + specials")
        let decoded = try #require(expected.fixture["decoded"] as? [[String: String]])
        for (index, text) in expected.strings.enumerated() {
            #expect(tokenizer.decode(tokenizer.encode(text, addSpecialTokens: false), skipSpecialTokens: false) == text)
            #expect(tokenizer.decode(expected.ids[index], skipSpecialTokens: true) == decoded[index]["skip"])
        }
        let tokenStrings = try #require(expected.fixture["token_strings"] as? [String: [String]])
        for (key, tokens) in tokenStrings {
            let ids = tokenizer.encode(expected.strings[try #require(Int(key))], addSpecialTokens: false)
            #expect(tokenizer.tokenStrings(ids) == tokens)
        }
        #expect(
            tokenizer.tokenStrings(tokenizer.encode("Hello world", addSpecialTokens: false)) == ["Hello", "Ġworld"])
    }

    @Test(.enabled(
        if: TestFiles.isCached("test-artifacts/smollm2-hub-tokenizer.json"),
        TestFiles.missing("test-artifacts/smollm2-hub-tokenizer.json", madeBy: maker)))
    func hubLayoutTokenizerJSONMatchesHubLayout() throws {
        let url = try TestFiles.cached("test-artifacts/smollm2-hub-tokenizer.json")
        let tokenizer = try ByteLevelBPETokenizer(tokenizerJSON: url)
        let expected = try Expected()
        #expect(tokenizer.preTokenizer == .gpt2IndividualDigits)
        Self.check(
            tokenizer, expected.strings, expected.idsHubLayout, addSpecialTokens: false, "SmolLM2 hub tokenizer.json")
    }

    /// llama.cpp's "smollm" splits digits first, as SmolLM2's own tokenizer.json does; transformers'
    /// GGUF loader does not. With "gpt-2" instead, the GGUF path gives transformers' ids.
    @Test(.enabled(
        if: TestFiles.isCached("test-artifacts/smollm2-gguf-tokenizer.json"),
        TestFiles.missing("test-artifacts/smollm2-gguf-tokenizer.json", madeBy: maker)))
    func ggufMetadataMatchesBothLayouts() throws {
        let metadata = try Self.ggufMetadata()
        let expected = try Expected()
        #expect(metadata["pre"] as? String == "smollm")
        let smollm = try Self.fromGGUFMetadata(metadata, pre: metadata["pre"] as? String)
        Self.check(smollm, expected.strings, expected.idsHubLayout, addSpecialTokens: false, "SmolLM2 GGUF (smollm)")
        Self.check(
            smollm, expected.strings, expected.idsHubLayout, addSpecialTokens: true, "SmolLM2 GGUF (smollm) + specials")
        let asTransformers = try Self.fromGGUFMetadata(metadata, pre: "gpt-2")
        Self.check(asTransformers, expected.strings, expected.ids, addSpecialTokens: false, "SmolLM2 GGUF (gpt-2)")
        Self.check(
            asTransformers, expected.strings, expected.idsWithSpecialTokens, addSpecialTokens: true,
            "SmolLM2 GGUF (gpt-2) + specials")
        #expect(smollm.specialTokens == SpecialTokens(bos: 1, eos: 2, unk: 0, pad: 2))
        #expect(smollm.vocabularySize == 49152)
        #expect((0...16).allSatisfy(smollm.isSpecial) && !smollm.isSpecial(17))
        #expect(smollm.tokenString(1) == "<|im_start|>")
        for text in expected.strings {
            #expect(smollm.decode(smollm.encode(text, addSpecialTokens: false), skipSpecialTokens: false) == text)
        }
    }
}
