import Foundation
import Testing

@testable import SeqLensTokenizers

/// The Unigram tokenizer.json of scripts/fixtures/make_unigram_tokenizer_fixture.py against HF
/// tokenizers: a hand-written Precompiled charsmap (including a key that is the first character of
/// a grapheme, which HF replaces whole, and a two-character key HF never sees across graphemes),
/// byte fallback, `Metaspace` with prepend_scheme "first", `$A </s>`.
@Suite struct UnigramTokenizerTests {
    let tokenizer: UnigramTokenizer
    let cases: [[String: Any]]

    init() throws {
        let folder = TestFiles.fixture("unigram-charsmap")
        tokenizer = try UnigramTokenizer(tokenizerJSON: folder.appendingPathComponent("tokenizer.json"))
        let data = try Data(contentsOf: folder.appendingPathComponent("reference.json"))
        let reference = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        cases = try #require(reference["strings"] as? [[String: Any]])
    }

    @Test func idsAndDecodesMatchHF() throws {
        #expect(cases.count >= 360)
        var fallbacks = 0
        for entry in cases {
            let text = try #require(entry["text"] as? String)
            let expected = try #require(entry["ids"] as? [Int])
            let ids = tokenizer.encode(text, addSpecialTokens: true)
            #expect(ids == expected, "\(text.debugDescription): \(ids) vs \(expected)")
            #expect(tokenizer.decode(expected, skipSpecialTokens: false) == entry["decoded"] as? String, "\(text.debugDescription)")
            #expect(tokenizer.decode(expected, skipSpecialTokens: true) == entry["decodedSkipping"] as? String, "\(text.debugDescription)")
            if expected.contains(where: { tokenizer.tokenString($0).hasPrefix("<0x") }) { fallbacks += 1 }
        }
        // The fixture reaches byte fallback, not just the charsmap.
        #expect(fallbacks > 100)
    }

    /// HF's rule for a grapheme whose first character is a key: the whole cluster is replaced.
    @Test func graphemeWithAKeyPrefixIsReplacedWhole() throws {
        let normalizer = try #require(tokenizer.normalizer)
        #expect(normalizer.normalize("e\u{301}t") == "Et")
        #expect(normalizer.normalize("ab A \u{FB01}") == "ab a fi")
    }

    @Test func malformedCharsmapsAreErrors() {
        for blob: [UInt8] in [[], [1, 0, 0], [8, 0, 0, 0, 1, 2, 3], [5, 0, 0, 0, 0, 0, 0, 0, 0]] {
            #expect(throws: TokenizerError.self) { try PrecompiledNormalizer(charsmap: blob) }
        }
        // A trie whose offsets point outside it finds nothing instead of trapping.
        let wild = try? PrecompiledNormalizer(charsmap: [4, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x61, 0])
        #expect(wild?.normalize("abc") == "abc")
    }
}
