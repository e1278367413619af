import Foundation
import Testing

@testable import SeqLensTokenizers

/// A small tokenizer trained by the fixture script with Llama-3's split pattern, `ignore_merges`, a
/// BOS template and added tokens with lstrip / rstrip / single_word / normalized; committed, so
/// this runs everywhere.
@Suite struct TinyLlama3TokenizerTests {
    let tokenizer: ByteLevelBPETokenizer
    let strings: [String]
    let fixture: [String: Any]

    init() throws {
        tokenizer = try ByteLevelBPETokenizer(tokenizerJSON: TestFiles.fixture("tiny-llama3-tokenizer.json"))
        fixture = try TestFiles.json("tiny-llama3.json")
        strings = try #require(fixture["strings"] as? [String])
    }

    @Test func idsMatchHF() throws {
        #expect(tokenizer.preTokenizer == .llama3)
        for (key, addSpecialTokens) in [("ids", false), ("ids_with_special_tokens", true)] {
            let expected = try idLists(fixture[key])
            for (index, text) in strings.enumerated() {
                let ids = tokenizer.encode(text, addSpecialTokens: addSpecialTokens)
                #expect(
                    ids == expected[index],
                    "\(key) for \(text.debugDescription): \(firstDifference(ids, expected[index]))")
            }
        }
    }

    @Test func decodeMatchesHF() throws {
        let expected = try #require(fixture["decoded_skipping_special"] as? [String])
        for (index, text) in strings.enumerated() {
            let ids = tokenizer.encode(text, addSpecialTokens: true)
            #expect(tokenizer.decode(ids, skipSpecialTokens: true) == expected[index])
        }
    }

    @Test func bosComesFromTheTemplate() throws {
        let bos = try #require(tokenizer.id(of: "<|begin_of_text|>"))
        #expect(tokenizer.specialTokens.bos == bos)
        #expect(tokenizer.encode("hi", addSpecialTokens: true).first == bos)
        #expect(tokenizer.encode("hi", addSpecialTokens: false).first != bos)
        #expect(tokenizer.isSpecial(bos))
        #expect(tokenizer.decode([bos], skipSpecialTokens: false) == "<|begin_of_text|>")
        #expect(tokenizer.decode([bos], skipSpecialTokens: true) == "")
    }
}
