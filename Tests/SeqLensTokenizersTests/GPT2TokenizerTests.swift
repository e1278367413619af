import Foundation
import Testing

@testable import SeqLensTokenizers

/// GPT-2 from vocab.json + merges.txt, against transformers' GPT2TokenizerFast on the same files.
@Suite(
    .enabled(
        if: TestFiles.isCached("gpt2-tokenizer/encoder.json") && TestFiles.isCached("gpt2-tokenizer/vocab.bpe"),
        TestFiles.missing("gpt2-tokenizer/", madeBy: "scripts/fetch-models.sh")))
struct GPT2TokenizerTests {
    static func load() throws -> ByteLevelBPETokenizer {
        try ByteLevelBPETokenizer(
            vocabJSON: TestFiles.cached("gpt2-tokenizer/encoder.json"), mergesTXT: TestFiles.cached("gpt2-tokenizer/vocab.bpe"))
    }

    @Test func idsMatchTransformersOnEveryString() throws {
        let tokenizer = try Self.load()
        let strings = try TestFiles.strings
        let fixture: [String: Any] = try TestFiles.json("gpt2.json")
        let expected = try idLists(fixture["ids"])
        let expectedWithSpecial = try idLists(fixture["ids_with_special_tokens"])
        #expect(strings.count >= 300 && expected.count == strings.count)
        var mismatches = 0
        for (index, text) in strings.enumerated() {
            let ids = tokenizer.encode(text, addSpecialTokens: false)
            if ids != expected[index] {
                mismatches += 1
                Issue.record("GPT-2 ids differ for \(text.debugDescription): \(firstDifference(ids, expected[index]))")
            }
            #expect(tokenizer.encode(text, addSpecialTokens: true) == expectedWithSpecial[index])
        }
        print("GPT-2: \(strings.count - mismatches)/\(strings.count) strings give HF's ids")
    }

    @Test func decodeMatchesTransformersAndRoundTrips() throws {
        let tokenizer = try Self.load()
        let strings = try TestFiles.strings
        let fixture: [String: Any] = try TestFiles.json("gpt2.json")
        let expected = try idLists(fixture["ids"])
        let decoded = try #require(fixture["decoded"] as? [[String: String]])
        for (index, text) in strings.enumerated() {
            let ids = tokenizer.encode(text, addSpecialTokens: false)
            #expect(tokenizer.decode(ids, skipSpecialTokens: false) == text, "round trip of \(text.debugDescription)")
            #expect(tokenizer.decode(expected[index], skipSpecialTokens: false) == decoded[index]["keep"])
            #expect(tokenizer.decode(expected[index], skipSpecialTokens: true) == decoded[index]["skip"])
        }
    }

    @Test func tokenStringsAsInseqShowsThem() throws {
        let tokenizer = try Self.load()
        let strings = try TestFiles.strings
        let fixture: [String: Any] = try TestFiles.json("gpt2.json")
        let expected = try #require(fixture["token_strings"] as? [String: [String]])
        #expect(!expected.isEmpty)
        for (key, tokens) in expected {
            let text = strings[try #require(Int(key))]
            #expect(tokenizer.tokenStrings(tokenizer.encode(text, addSpecialTokens: false)) == tokens)
        }
        #expect(tokenizer.encode("Hello world", addSpecialTokens: false) == [15496, 995])
        #expect(tokenizer.tokenStrings([15496, 995]) == ["Hello", "Ġworld"])
        #expect(tokenizer.id(of: "Ġworld") == 995)
        #expect(tokenizer.vocabularySize == 50257)
        #expect(tokenizer.specialTokens == SpecialTokens(bos: 50256, eos: 50256, unk: 50256))
        #expect(tokenizer.isSpecial(50256) && !tokenizer.isSpecial(995))
    }

    @Test func encodeThroughput() throws {
        let clock = ContinuousClock()
        var loaded: ByteLevelBPETokenizer?
        let loadTime = try clock.measure { loaded = try Self.load() }
        let tokenizer = try #require(loaded)
        print("GPT-2 load (vocab.json + merges.txt): \(loadTime)")
        let text = try TestFiles.strings.joined(separator: "\n").replacingOccurrences(of: "<|", with: "< |")
        for copies in [1, 20] {
            let long = String(repeating: text + "\n", count: copies)
            var count = 0
            let elapsed = clock.measure { count = tokenizer.encode(long, addSpecialTokens: false).count }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            print(
                "GPT-2 encode, \(copies) cop\(copies == 1 ? "y" : "ies") of the fixture text: \(count) tokens "
                    + "from \(long.utf8.count) bytes in \(seconds) s = \(Int(Double(count) / seconds)) tokens/s")
            #expect(count > 0)
        }
    }
}
