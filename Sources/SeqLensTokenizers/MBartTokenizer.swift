import Foundation

/// transformers' `MBartTokenizer` (tokenization_mbart.py): one Unigram `tokenizer.json` whose
/// post-processor transformers resets per side: the source is `X </s> src_lang`, the target
/// (`text_target`) `X </s> tgt_lang`, with `src_lang` and `tgt_lang` from tokenizer_config.json
/// (defaults `en_XX`, and the source language for a missing target language, as transformers).
public struct MBartTokenizer: TwoSidedTokenizer {
    private let source: UnigramTokenizer
    private let target: UnigramTokenizer

    /// Reads `tokenizer.json` and `tokenizer_config.json` from an mBART folder.
    public init(folder: String) throws {
        let url = URL(fileURLWithPath: folder + "/tokenizer.json")
        let base = try UnigramTokenizer(tokenizerJSON: url)
        let configPath = folder + "/tokenizer_config.json"
        let config = FileManager.default.fileExists(atPath: configPath)
            ? try JSONFields.load(URL(fileURLWithPath: configPath)) : nil
        if let kind = try config?.optionalString("tokenizer_class"), kind != "MBartTokenizer", kind != "MBartTokenizerFast" {
            throw TokenizerError.unsupported(path: configPath, what: "tokenizer_class \(kind) (the mBART loader reads MBartTokenizer)")
        }
        guard let eos = base.specialTokens.eos else {
            throw TokenizerError.malformedField(path: configPath, field: "eos_token", reason: "names no token of tokenizer.json")
        }
        func code(_ key: String, default fallback: String) throws -> Int {
            let name = try config?.optionalString(key) ?? fallback
            guard let id = base.id(of: name) else {
                throw TokenizerError.malformedField(path: configPath, field: key, reason: "'\(name)' is not a token of tokenizer.json")
            }
            return id
        }
        let sourceLanguage = try code("src_lang", default: "en_XX")
        let sourceName = try config?.optionalString("src_lang") ?? "en_XX"
        let targetLanguage = try code("tgt_lang", default: sourceName)
        source = base.surrounding(prefix: [], suffix: [eos, sourceLanguage])
        target = base.surrounding(prefix: [], suffix: [eos, targetLanguage])
    }

    private func side(_ side: TextSide) -> UnigramTokenizer { side == .source ? source : target }

    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] { source.encode(text, addSpecialTokens: addSpecialTokens) }
    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String { source.decode(ids, skipSpecialTokens: skipSpecialTokens) }
    public func tokenString(_ id: Int) -> String { source.tokenString(id) }
    public func id(of token: String) -> Int? { source.id(of: token) }
    public var vocabularySize: Int { source.vocabularySize }
    public var specialTokens: SpecialTokens { source.specialTokens }
    public func isSpecial(_ id: Int) -> Bool { source.isSpecial(id) }

    public func encode(_ text: String, side: TextSide, addSpecialTokens: Bool) -> [Int] {
        self.side(side).encode(text, addSpecialTokens: addSpecialTokens)
    }

    public func encodeWithOffsets(_ text: String, side: TextSide, addSpecialTokens: Bool) -> (ids: [Int], offsets: [Range<Int>]) {
        self.side(side).encodeWithOffsets(text, addSpecialTokens: addSpecialTokens)
    }

    public func decode(_ ids: [Int], side: TextSide, skipSpecialTokens: Bool) -> String {
        self.side(side).decode(ids, skipSpecialTokens: skipSpecialTokens)
    }
}
