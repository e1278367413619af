#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Foundation
import Testing

@testable import SeqLensTokenizers

/// Tokenizer inputs that crashed, hung or gave inconsistent ids before (issue 10).
@Suite struct TokenizerHostileInputRegressionTests {
    /// Every byte's one-character token with the byte as its id, then `extra` from 256 on.
    static func vocabulary(_ extra: [String] = []) -> [String: Int] {
        var vocabulary: [String: Int] = [:]
        for (byte, token) in ByteLevelAlphabet.stringForByte.enumerated() { vocabulary[token] = byte }
        for (index, token) in extra.enumerated() { vocabulary[token] = 256 + index }
        return vocabulary
    }

    /// HF's rule: an added token whose text is in the vocabulary takes the vocabulary's id, whatever
    /// id the file wrote, even one past the end (which used to index out of range).
    @Test(arguments: [7, 258, 1_000_000])
    func addedTokenAlreadyInTheVocabularyKeepsTheVocabularyId(writtenId: Int) throws {
        let tokenizer = try ByteLevelBPETokenizer(
            vocabulary: Self.vocabulary(["ab", "<s>"]), merges: [("a", "b")],
            addedTokens: [AddedToken(content: "<s>", id: writtenId, special: true)], preTokenizer: .gpt2)
        #expect(tokenizer.vocabularySize == 258)
        #expect(tokenizer.id(of: "<s>") == 257)
        #expect(tokenizer.encode("x<s>ab", addSpecialTokens: false) == [120, 257, 256])
        #expect(tokenizer.tokenString(257) == "<s>")
        #expect(tokenizer.isSpecial(257))
        #expect(!tokenizer.isSpecial(7))
        #expect(tokenizer.decode([257, 7], skipSpecialTokens: true) == "\u{07}")
    }

    /// A new text whose written id another token holds gets the next free id, so one id never
    /// spells two texts.
    @Test func addedTokenOnATakenIdGetsTheNextFreeId() throws {
        let tokenizer = try ByteLevelBPETokenizer(
            vocabulary: Self.vocabulary(["ab"]), merges: [("a", "b")],
            addedTokens: [
                AddedToken(content: "<x>", id: 97, special: true), AddedToken(content: "<y>", id: 257, special: false),
            ], preTokenizer: .gpt2)
        // "<x>" cannot have 97 ("a" has it) and takes 257, so "<y>" cannot have 257 and takes 258,
        // the ids HF gives them.
        #expect(tokenizer.id(of: "<x>") == 257)
        #expect(tokenizer.id(of: "<y>") == 258)
        #expect(tokenizer.id(of: "a") == 97)
        #expect(tokenizer.encode("a<x><y>", addSpecialTokens: false) == [97, 257, 258])
        #expect(tokenizer.decode([97, 257, 258]) == "a<x><y>")
        #expect(tokenizer.isSpecial(257) && !tokenizer.isSpecial(97))
    }

    /// A text listed twice keeps its first id and the flags of its last listing (HF replaces the
    /// entry in `added_tokens_map_r`).
    @Test func repeatedAddedTokenKeepsItsFirstId() throws {
        let tokenizer = try ByteLevelBPETokenizer(
            vocabulary: Self.vocabulary(), merges: [],
            addedTokens: [
                AddedToken(content: "<s>", id: 256, special: false), AddedToken(content: "<s>", id: 300, special: true),
                AddedToken(content: "", id: 301, special: true),
            ], preTokenizer: .gpt2)
        #expect(tokenizer.vocabularySize == 257)
        #expect(tokenizer.encode("<s>", addSpecialTokens: false) == [256])
        #expect(tokenizer.isSpecial(256))
    }

    @Test func tokenizerJSONWithAnAddedTokenInTheVocabularyUnderAnotherId() throws {
        let vocabulary = Self.vocabulary(["<eos>"]).map { "\"\(escaped($0.key))\": \($0.value)" }.joined(separator: ", ")
        let json = """
            {"added_tokens": [{"id": 4000000, "content": "<eos>", "special": true, "normalized": false}],
             "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
             "post_processor": null, "model": {"type": "BPE", "vocab": {\(vocabulary)}, "merges": [], "unk_token": "<eos>"}}
            """
        let tokenizer = try ByteLevelBPETokenizer(tokenizerJSONData: Data(json.utf8))
        #expect(tokenizer.encode("a<eos>", addSpecialTokens: false) == [97, 256])
        #expect(tokenizer.specialTokens.unk == 256)
        #expect(tokenizer.isSpecial(256))
    }

    /// A GGUF control token whose text repeats an earlier normal token used to take over the text,
    /// leaving the normal token's id without a string: now the text keeps its first id.
    @Test func ggufControlTokenRepeatingANormalToken() throws {
        let tokens = ByteLevelAlphabet.stringForByte + ["<s>", "a"]
        let types = [Int32](repeating: 1, count: 257) + [3]
        let tokenizer = try ByteLevelBPETokenizer(
            ggufTokens: tokens, tokenTypes: types, merges: [], preTokenizer: nil, bosTokenId: 256, eosTokenId: nil,
            unknownTokenId: nil, paddingTokenId: nil, addBOS: true)
        #expect(tokenizer.id(of: "a") == 97)
        #expect(tokenizer.tokenString(97) == "a")
        #expect(tokenizer.encode("a", addSpecialTokens: true) == [256, 97])
        for id in tokenizer.encode("a<s>aa", addSpecialTokens: true) { #expect(id < tokenizer.vocabularySize) }
    }

    @Test func unknownTokenIdOutsideTheVocabularyIsRefused() {
        #expect(throws: TokenizerError.self) {
            try ByteLevelBPETokenizer(
                vocabulary: Self.vocabulary(), merges: [], preTokenizer: .gpt2, unknownTokenId: 1 << 40)
        }
        #expect(throws: TokenizerError.self) {
            try ByteLevelBPETokenizer(
                vocabulary: Self.vocabulary(), merges: [], preTokenizer: .gpt2, specialTokens: SpecialTokens(pad: -1))
        }
    }

    @Test func fifoTokenizerFileIsRefusedWithoutBlocking() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("seqlens-fifo-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["tokenizer.json", "merges.txt"] {
            let path = folder.appendingPathComponent(name).path
            #expect(mkfifo(path, 0o600) == 0)
        }
        try Data("{}".utf8).write(to: folder.appendingPathComponent("vocab.json"))
        final class Outcome: @unchecked Sendable { var errors: [TokenizerError?] = [] }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Thread {
            let attempts: [() throws -> Void] = [
                { _ = try ByteLevelBPETokenizer(tokenizerJSON: folder.appendingPathComponent("tokenizer.json")) },
                {
                    _ = try ByteLevelBPETokenizer(
                        vocabJSON: folder.appendingPathComponent("vocab.json"),
                        mergesTXT: folder.appendingPathComponent("merges.txt"))
                },
            ]
            for attempt in attempts {
                do {
                    try attempt()
                    outcome.errors.append(nil)
                } catch { outcome.errors.append(error as? TokenizerError) }
            }
            done.signal()
        }.start()
        guard done.wait(timeout: .now() + 5) == .success else {
            Issue.record("opening a FIFO blocked")
            for name in ["tokenizer.json", "merges.txt"] {
                let fd = open(folder.appendingPathComponent(name).path, O_WRONLY | O_NONBLOCK)
                if fd >= 0 { close(fd) }
            }
            done.wait()
            return
        }
        for (error, name) in zip(outcome.errors, ["tokenizer.json", "merges.txt"]) {
            #expect(
                error == .unreadableFile(path: folder.appendingPathComponent(name).path, reason: "not a regular file (a FIFO)"))
        }
    }

    private func escaped(_ token: String) -> String {
        var out = ""
        for scalar in token.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }
}
