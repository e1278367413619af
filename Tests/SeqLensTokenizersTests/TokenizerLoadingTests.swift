import Foundation
import Testing

@testable import SeqLensTokenizers

/// Loader edge cases: both merge spellings, and clear errors for bad files.
@Suite struct TokenizerLoadingTests {
    static func temporaryFile(_ name: String, _ contents: String) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("seqlens-tokenizer-tests-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent(name)
        try contents.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// A tiny byte-level tokenizer.json; `merges` is spliced in as JSON.
    static func tokenizerJSON(merges: String, model extra: String = "", preTokenizer: String? = nil) -> String {
        let byteVocabulary = ByteLevelAlphabet.stringForByte.enumerated()
            .map {
                "\"\($1.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\": \($0)"
            }
            .joined(separator: ", ")
        let pre =
            preTokenizer
            ?? #"{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}"#
        return """
            {"version": "1.0", "added_tokens": [{"id": 259, "content": "<eos>", "special": true, "normalized": false}],
             "normalizer": null, "pre_tokenizer": \(pre), "post_processor": null, "decoder": {"type": "ByteLevel"},
             "model": {"type": "BPE", \(extra) "vocab": {\(byteVocabulary), "Ġt": 256, "he": 257, "Ġthe": 258},
                       "merges": \(merges)}}
            """
    }

    @Test func mergesAsStringsOrPairsGiveTheSameTokens() throws {
        for merges in [#"["Ġ t", "h e", "Ġt he"]"#, #"[["Ġ", "t"], ["h", "e"], ["Ġt", "he"]]"#] {
            let url = try Self.temporaryFile("tokenizer.json", Self.tokenizerJSON(merges: merges))
            let tokenizer = try ByteLevelBPETokenizer(tokenizerJSON: url)
            // Byte b is id b in this vocabulary; "t" is byte 116.
            #expect(tokenizer.encode("the the<eos>", addSpecialTokens: false) == [116, 257, 258, 259])
            #expect(tokenizer.tokenStrings([116, 257, 258, 259]) == ["t", "he", "Ġthe", "<eos>"])
            #expect(tokenizer.isSpecial(259))
        }
    }

    @Test func missingFileSaysSo() {
        let url = URL(fileURLWithPath: "/nonexistent/tokenizer.json")
        #expect(throws: TokenizerError.unreadableFile(path: url.path, reason: "no such file")) {
            try ByteLevelBPETokenizer(tokenizerJSON: url)
        }
        let error = TokenizerError.unreadableFile(path: url.path, reason: "no such file")
        #expect(error.description == "cannot read tokenizer file /nonexistent/tokenizer.json: no such file")
    }

    @Test func malformedFilesGiveClearErrors() throws {
        let cases: [(String, (TokenizerError) -> Bool)] = [
            ("{not json", { if case .invalidJSON = $0 { true } else { false } }),
            ("[1, 2]", { $0 == .malformedField(path: $0.path, field: "(root)", reason: "must be a JSON object") }),
            (
                #"{"added_tokens": []}"#,
                { $0 == .malformedField(path: $0.path, field: "model", reason: "must be a JSON object") }
            ),
            (
                #"{"added_tokens": [], "model": {"type": "WordPiece", "vocab": {}}}"#,
                { $0 == .unsupported(path: $0.path, what: "a WordPiece model") }
            ),
            (
                Self.tokenizerJSON(merges: #"["Ġ t", "q x"]"#),
                { if case .unknownMergeToken(_, "q x", "qx") = $0 { true } else { false } }
            ),
            (
                Self.tokenizerJSON(merges: #"["Ġ t h"]"#),
                {
                    $0
                        == .malformedField(
                            path: $0.path, field: "model.merges[0]",
                            reason: #"must be "left right" or ["left", "right"], got Ġ t h"#)
                }
            ),
            (
                Self.tokenizerJSON(merges: "[]", preTokenizer: #"{"type": "Whitespace"}"#),
                { $0 == .unsupported(path: $0.path, what: "pre-tokenizer Whitespace with these settings") }
            ),
            (
                Self.tokenizerJSON(merges: "[]").replacingOccurrences(
                    of: #""Ġthe": 258"#, with: #""Ġthe": 2000000000"#),
                { if case .inconsistentVocabulary = $0 { true } else { false } }
            ),
            (
                Self.tokenizerJSON(merges: "[]").replacingOccurrences(of: #""Ġthe": 258"#, with: #""Ġthe": 257"#),
                { if case .inconsistentVocabulary = $0 { true } else { false } }
            ),
            (
                Self.tokenizerJSON(merges: "[]").replacingOccurrences(of: #""Ġthe": 258"#, with: #""Ġthe": "x""#),
                { if case .malformedField(_, "model.vocab", _) = $0 { true } else { false } }
            ),
        ]
        for (contents, isExpected) in cases {
            let url = try Self.temporaryFile("tokenizer.json", contents)
            do {
                _ = try ByteLevelBPETokenizer(tokenizerJSON: url)
                Issue.record("no error for \(contents.prefix(80))")
            } catch let error as TokenizerError {
                #expect(isExpected(error), "unexpected error: \(error)")
                #expect(error.description.contains(url.path))
            }
        }
    }

    @Test func badGGUFMetadataIsRejected() {
        #expect(
            throws: TokenizerError.unsupported(path: "GGUF tokenizer metadata", what: "tokenizer.ggml.pre 'mystery'")
        ) {
            try ByteLevelBPETokenizer(
                ggufTokens: ["a"], tokenTypes: nil, merges: [], preTokenizer: "mystery", bosTokenId: nil,
                eosTokenId: nil, unknownTokenId: nil, paddingTokenId: nil, addBOS: nil)
        }
        #expect(throws: TokenizerError.self) {
            try ByteLevelBPETokenizer(
                ggufTokens: ["a", "b"], tokenTypes: nil, merges: ["a b"], preTokenizer: nil, bosTokenId: nil,
                eosTokenId: nil, unknownTokenId: nil, paddingTokenId: nil, addBOS: nil)
        }
        #expect(throws: TokenizerError.self) {
            try ByteLevelBPETokenizer(
                ggufTokens: ["a"], tokenTypes: [1], merges: [], preTokenizer: nil, bosTokenId: 5,
                eosTokenId: nil, unknownTokenId: nil, paddingTokenId: nil, addBOS: true)
        }
    }
}

extension TokenizerError {
    var path: String {
        switch self {
        case .unreadableFile(let path, _), .invalidJSON(let path, _), .malformedField(let path, _, _),
            .unsupported(let path, _), .unknownMergeToken(let path, _, _), .inconsistentVocabulary(let path, _):
            return path
        }
    }
}
