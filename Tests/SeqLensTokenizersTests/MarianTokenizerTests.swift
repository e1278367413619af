import Foundation
import Testing

@testable import SeqLensTokenizers

/// MarianTokenizer on the tiny Marian folder that scripts/fixtures/make_encoder_decoder_fixtures.py
/// makes (two unigram SentencePiece models with the nmt_nfkc normalizer, one shared vocab.json),
/// against transformers' MarianTokenizer on the same files.
@Suite struct MarianTokenizerTests {
    let folder = TestFiles.model("tiny-marian")
    let tokenizer: MarianTokenizer
    let reference: [String: Any]

    init() throws {
        tokenizer = try MarianTokenizer(folder: folder.path)
        let data = try Data(contentsOf: folder.appendingPathComponent("reference.json"))
        reference = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func sourceAndTargetIdsMatchTransformers() throws {
        let cases = try #require(reference["tokenizer"] as? [[String: Any]])
        #expect(cases.count >= 150)
        var sidesDiffer = 0
        for entry in cases {
            let text = try #require(entry["text"] as? String)
            let source = try #require(entry["source"] as? [Int]), target = try #require(entry["target"] as? [Int])
            let ids = tokenizer.encode(text, side: .source, addSpecialTokens: true)
            #expect(ids == source, "source \(text.debugDescription): \(firstDifference(ids, source))")
            let targetIDs = tokenizer.encode(text, side: .target, addSpecialTokens: true)
            #expect(targetIDs == target, "target \(text.debugDescription): \(firstDifference(targetIDs, target))")
            if source != target { sidesDiffer += 1 }
        }
        // The two SentencePiece models are really different: the target side is exercised.
        #expect(sidesDiffer > 20)
    }

    @Test func decodeMatchesTransformers() throws {
        let cases = try #require(reference["decodes"] as? [[String: Any]])
        for entry in cases {
            let ids = try #require(entry["ids"] as? [Int])
            #expect(tokenizer.decode(ids, skipSpecialTokens: true) == entry["text"] as? String)
            #expect(tokenizer.decode(ids, skipSpecialTokens: false) == entry["textWithSpecial"] as? String)
        }
    }

    @Test func rolesComeFromTheVocabulary() {
        #expect(tokenizer.specialTokens == SpecialTokens(eos: 0, unk: 1, pad: 331))
        #expect(tokenizer.vocabularySize == 332)
        #expect(tokenizer.tokenString(0) == "</s>")
        #expect(tokenizer.id(of: "<pad>") == 331)
        #expect(tokenizer.isSpecial(331) && !tokenizer.isSpecial(2))
        #expect(tokenizer.encode("Hello", addSpecialTokens: false).last != 0)
    }

    @Test func offsetsCoverEachPieceBytes() throws {
        let text = "You may copy it, café ﬁ."
        let (ids, offsets) = tokenizer.encodeWithOffsets(text, side: .source, addSpecialTokens: true)
        #expect(ids == tokenizer.encode(text, side: .source, addSpecialTokens: true))
        #expect(offsets.count == ids.count)
        let bytes = Array(text.utf8)
        // Ranges are ordered and inside the text; EOS sits empty at the end.
        for (a, b) in zip(offsets, offsets.dropFirst()) { #expect(a.upperBound <= b.lowerBound || b.isEmpty) }
        #expect(offsets.last == bytes.count..<bytes.count)
        // A plain piece's bytes are its text without the word-boundary mark.
        let you = offsets.indices.first { String(decoding: bytes[offsets[$0]], as: UTF8.self) == "You" }
        #expect(you != nil)
        // Special tokens written in the text cover their own bytes.
        let (special, spans) = tokenizer.encodeWithOffsets("a</s>b", side: .source, addSpecialTokens: false)
        let eos = try #require(special.firstIndex(of: 0))
        #expect(spans[eos] == 1..<5)
    }

    @Test func corruptModelsAreErrors() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("marian-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        for name in ["vocab.json", "source.spm", "target.spm", "tokenizer_config.json"] {
            try FileManager.default.copyItem(at: folder.appendingPathComponent(name), to: scratch.appendingPathComponent(name))
        }
        // Truncated and garbage protos.
        let spm = try Data(contentsOf: folder.appendingPathComponent("source.spm"))
        for corrupt in [spm.prefix(spm.count / 3), Data("not a model".utf8), Data()] {
            try corrupt.write(to: scratch.appendingPathComponent("source.spm"))
            #expect {
                try MarianTokenizer(folder: scratch.path)
            } throws: { error in
                "\(error)".contains("source.spm") && "\(error)".contains("not a valid SentencePiece model")
            }
        }
        try FileManager.default.removeItem(at: scratch.appendingPathComponent("source.spm"))
        #expect(throws: TokenizerError.self) { try MarianTokenizer(folder: scratch.path) }
        // A vocabulary without its unknown token.
        try spm.write(to: scratch.appendingPathComponent("source.spm"))
        try Data(#"{"</s>": 0, "<pad>": 1}"#.utf8).write(to: scratch.appendingPathComponent("vocab.json"))
        #expect {
            try MarianTokenizer(folder: scratch.path)
        } throws: { error in "\(error)".contains("<unk>") }
    }
}
