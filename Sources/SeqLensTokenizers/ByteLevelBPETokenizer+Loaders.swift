import Foundation

extension ByteLevelBPETokenizer {
    /// Loads GPT-2's original files: `vocab.json` (OpenAI's `encoder.json`) and `merges.txt`
    /// (`vocab.bpe`), as transformers' `GPT2Tokenizer` builds them.
    /// - Parameters:
    ///   - specialTokenContents: Tokens of the vocabulary matched whole and treated as special;
    ///     the first is also BOS, EOS and UNK (GPT-2's `<|endoftext|>`).
    /// - Throws: `TokenizerError` for a missing or malformed file.
    public init(
        vocabJSON: URL, mergesTXT: URL, preTokenizer: PreTokenizerKind = .gpt2,
        specialTokenContents: [String] = ["<|endoftext|>"]
    ) throws {
        let root = try JSONFields.load(vocabJSON)
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(root.object.count)
        for (token, value) in root.object {
            guard let number = value as? NSNumber, let id = Int(exactly: number.doubleValue), id >= 0 else {
                throw root.malformed(token, "must be a non-negative integer id")
            }
            vocabulary[token] = id
        }
        guard let text = String(data: try readTokenizerFile(mergesTXT.path), encoding: .utf8) else {
            throw TokenizerError.unreadableFile(path: mergesTXT.path, reason: "not UTF-8 text")
        }
        var merges: [(String, String)] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = line.hasSuffix("\r") ? line.dropLast() : line
            if line.isEmpty || (index == 0 && line.hasPrefix("#version")) { continue }
            guard let pair = Self.splitMerge(String(line)) else {
                throw TokenizerError.malformedField(
                    path: mergesTXT.path, field: "line \(index + 1)",
                    reason: "must be two tokens separated by one space")
            }
            merges.append(pair)
        }
        let added = specialTokenContents.compactMap { content in
            vocabulary[content].map { AddedToken(content: content, id: $0, special: true) }
        }
        let first = added.first?.id
        try self.init(
            vocabulary: vocabulary, merges: merges, addedTokens: added, preTokenizer: preTokenizer,
            specialTokens: SpecialTokens(bos: first, eos: first, unk: first), source: vocabJSON.path)
    }

    /// Builds the tokenizer a GGUF file describes (`tokenizer.ggml.model` = "gpt2"), from its
    /// metadata values.
    ///
    /// Control tokens (type 3) become special added tokens and user-defined ones (type 4) plain
    /// added tokens, both matched whole in the text; a token not written in the byte alphabet is
    /// respelled in it, as transformers' GGUF loader does.
    /// - Parameters:
    ///   - tokens: `tokenizer.ggml.tokens`.
    ///   - tokenTypes: `tokenizer.ggml.token_type` (1 normal, 2 unknown, 3 control, 4 user-defined,
    ///     5 unused, 6 byte).
    ///   - merges: `tokenizer.ggml.merges`, "left right".
    ///   - preTokenizer: `tokenizer.ggml.pre`; nil means GPT-2's pattern, as in llama.cpp.
    ///   - addBOS: `tokenizer.ggml.add_bos_token`; BOS goes in front with `addSpecialTokens`.
    ///   - addEOS: `tokenizer.ggml.add_eos_token`.
    /// - Throws: `TokenizerError` for an unknown pre-tokenizer, a bad merge or an id out of range.
    public init(
        ggufTokens tokens: [String], tokenTypes: [Int32]?, merges: [String], preTokenizer: String?,
        bosTokenId: Int?, eosTokenId: Int?, unknownTokenId: Int?, paddingTokenId: Int?, addBOS: Bool?,
        addEOS: Bool? = nil
    ) throws {
        let source = "GGUF tokenizer metadata"
        let kind: PreTokenizerKind
        if let preTokenizer {
            guard let known = PreTokenizerKind(ggmlPre: preTokenizer) else {
                throw TokenizerError.unsupported(path: source, what: "tokenizer.ggml.pre '\(preTokenizer)'")
            }
            kind = known
        } else {
            kind = .gpt2
        }
        if let tokenTypes, tokenTypes.count != tokens.count {
            throw TokenizerError.inconsistentVocabulary(
                path: source, reason: "\(tokens.count) tokens but \(tokenTypes.count) token types")
        }
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(tokens.count)
        var added: [AddedToken] = []
        for (id, token) in tokens.enumerated() {
            let type = tokenTypes?[id] ?? 1
            if type == 3 || type == 4 {
                added.append(AddedToken(content: token, id: id, special: type == 3))
                // A text already in the vocabulary keeps its first id (see resolvedAddedTokens).
                if ByteLevelAlphabet.isSpelled(token) && vocabulary[token] == nil { vocabulary[token] = id }
                continue
            }
            let spelled = ByteLevelAlphabet.isSpelled(token) ? token : ByteLevelAlphabet.spell(token.utf8)
            if vocabulary[spelled] != nil {
                throw TokenizerError.inconsistentVocabulary(path: source, reason: "token '\(spelled)' appears twice")
            }
            vocabulary[spelled] = id
        }
        var pairs: [(String, String)] = []
        pairs.reserveCapacity(merges.count)
        for (index, merge) in merges.enumerated() {
            guard let pair = Self.splitMerge(merge) else {
                throw TokenizerError.malformedField(
                    path: source, field: "tokenizer.ggml.merges[\(index)]", reason: "'\(merge)' is not 'left right'")
            }
            pairs.append(pair)
        }
        for (role, id) in [
            ("bos", bosTokenId), ("eos", eosTokenId), ("unknown", unknownTokenId), ("padding", paddingTokenId),
        ] {
            if let id, id < 0 || id >= tokens.count {
                throw TokenizerError.inconsistentVocabulary(
                    path: source, reason: "\(role) token id \(id) is outside the \(tokens.count)-token vocabulary")
            }
        }
        try self.init(
            vocabulary: vocabulary, merges: pairs, addedTokens: added, preTokenizer: kind,
            specialTokens: SpecialTokens(bos: bosTokenId, eos: eosTokenId, unk: unknownTokenId, pad: paddingTokenId),
            prefix: addBOS == true ? bosTokenId.map { [$0] } ?? [] : [],
            suffix: addEOS == true ? eosTokenId.map { [$0] } ?? [] : [],
            ignoreMerges: kind == .llama3, source: source)
    }
}
