import Foundation

/// An HF `tokenizer.json` with a SentencePiece `Unigram` model (mBART, and the SentencePiece
/// tokenizers transformers 5 builds from a vocabulary): added tokens split out first, each text
/// segment pre-tokenized by `Metaspace` (optionally after `WhitespaceSplit`), each pre-token
/// segmented by the unigram model, the post-processor's ids around the text; decoding through the
/// `Metaspace` decoder.
public struct UnigramTokenizer: Tokenizer {
    let model: UnigramModel
    /// `Precompiled` (SentencePiece's charsmap), alone or as a one-step `Sequence`.
    let normalizer: PrecompiledNormalizer?
    let metaspace: Metaspace
    /// The `Metaspace` decoder; nil joins the tokens with spaces (HF without a decoder).
    let decoder: Metaspace?
    private let matcher: AddedTokenMatcher
    private let addedContent: [Int: String]
    private let special: Set<Int>
    private(set) var prefix: [Int]
    private(set) var suffix: [Int]
    public let specialTokens: SpecialTokens
    public let vocabularySize: Int

    /// Reads `tokenizer.json`; token roles come from a `tokenizer_config.json` beside it when
    /// present, else `model.unk_id`.
    /// - Throws: `TokenizerError` for a missing or malformed file, or parts this loader does not
    ///   implement (named in the error).
    public init(tokenizerJSON url: URL) throws {
        let root = try JSONFields.load(url)
        let path = root.path
        let fields = try root.object("model")
        guard try fields.optionalString("type") == "Unigram" else {
            throw TokenizerError.unsupported(path: path, what: "a \(try fields.optionalString("type") ?? "typeless") model (expected Unigram)")
        }
        var pieces: [String] = [], scores: [Double] = []
        for (index, entry) in try fields.array("vocab").enumerated() {
            guard let pair = entry as? [Any], pair.count == 2, let piece = pair[0] as? String,
                  let score = (pair[1] as? NSNumber)?.doubleValue, score.isFinite
            else { throw fields.malformed("vocab[\(index)]", "must be [piece, finite score]") }
            pieces.append(piece)
            scores.append(score)
        }
        guard !pieces.isEmpty else { throw fields.malformed("vocab", "is empty") }
        let unknownID = fields.isNull("unk_id") ? nil : try fields.int("unk_id")
        if let unknownID, !pieces.indices.contains(unknownID) {
            throw fields.malformed("unk_id", "\(unknownID) is outside the vocabulary of \(pieces.count) pieces")
        }
        let normalizer = try root.optionalObject("normalizer").map { try Self.normalizer($0, path: path) }
        let metaspace = try Self.preTokenizer(try root.optionalObject("pre_tokenizer"), path: path)
        let decoder = try root.optionalObject("decoder").map { try Self.metaspace($0, path: path) }
        var vocabulary: [String: Int] = [:]
        for (id, piece) in pieces.enumerated() { vocabulary[piece] = id }
        let addedTokens = ByteLevelBPETokenizer.resolvedAddedTokens(
            try root.objects("added_tokens").map(AddedToken.init(tokenizerJSON:)), vocabulary: vocabulary)
        let size = max(pieces.count, (addedTokens.map(\.id).max() ?? -1) + 1)
        if let bad = addedTokens.first(where: { $0.id < 0 || $0.id >= pieces.count + addedTokens.count }) {
            throw root.malformed("added_tokens", "'\(bad.content)' has id \(bad.id), beyond the vocabulary")
        }
        let (prefix, suffix) = try PostProcessorIds.read(try root.optionalObject("post_processor"), path: path)
        if let bad = (prefix + suffix).first(where: { !(0..<size).contains($0) }) {
            throw root.malformed("post_processor", "adds id \(bad), outside the vocabulary of \(size)")
        }
        var ids = vocabulary
        for token in addedTokens { ids[token.content] = token.id }
        let config = url.deletingLastPathComponent().appendingPathComponent("tokenizer_config.json")
        let roles = try SpecialTokens(tokenizerConfig: config, ids: ids) ?? SpecialTokens(unk: unknownID)
        self.init(
            model: UnigramModel(pieces: pieces, scores: scores, unknownID: unknownID,
                                byteFallback: try fields.bool("byte_fallback", default: false)),
            normalizer: normalizer, metaspace: metaspace, decoder: decoder, addedTokens: addedTokens, prefix: prefix, suffix: suffix,
            specialTokens: roles, vocabularySize: size)
    }

    private init(
        model: UnigramModel, normalizer: PrecompiledNormalizer?, metaspace: Metaspace, decoder: Metaspace?,
        addedTokens: [AddedToken], prefix: [Int], suffix: [Int], specialTokens: SpecialTokens, vocabularySize: Int
    ) {
        self.model = model
        self.normalizer = normalizer
        self.metaspace = metaspace
        self.decoder = decoder
        matcher = AddedTokenMatcher(addedTokens)
        addedContent = Dictionary(addedTokens.map { ($0.id, $0.content) }, uniquingKeysWith: { _, last in last })
        special = Set(addedTokens.filter(\.special).map(\.id))
        self.prefix = prefix
        self.suffix = suffix
        self.specialTokens = specialTokens
        self.vocabularySize = vocabularySize
    }

    /// The same tokenizer with other ids around the text (mBART's language codes per side).
    func surrounding(prefix: [Int], suffix: [Int]) -> UnigramTokenizer {
        var copy = self
        copy.prefix = prefix
        copy.suffix = suffix
        return copy
    }

    // MARK: Tokenizer

    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        var ids = addSpecialTokens ? prefix : []
        let bytes = Array(text.utf8)
        let segments = bytes.withUnsafeBufferPointer { matcher.isEmpty ? [.text(0..<$0.count)] : matcher.split($0) }
        for segment in segments {
            switch segment {
            case .token(let id): ids.append(id)
            case .text(let range):
                var piece = String(decoding: bytes[range], as: UTF8.self)
                if let normalizer { piece = normalizer.normalize(piece) }
                for word in metaspace.preTokenize(piece, atStart: range.lowerBound == 0) { model.encode(word, into: &ids) }
            }
        }
        if addSpecialTokens { ids += suffix }
        return ids
    }

    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        let tokens = ids.compactMap { id -> String? in
            guard id >= 0 && id < vocabularySize, !(skipSpecialTokens && special.contains(id)) else { return nil }
            return addedContent[id] ?? (id < model.pieces.count ? model.pieces[id] : nil)
        }
        return decoder?.decode(tokens) ?? tokens.joined(separator: " ")
    }

    public func tokenString(_ id: Int) -> String {
        addedContent[id] ?? (id >= 0 && id < model.pieces.count ? model.pieces[id] : "")
    }

    public func id(of token: String) -> Int? {
        addedContent.first { $0.value == token }?.key ?? model.id(of: token)
    }

    public func isSpecial(_ id: Int) -> Bool { special.contains(id) }

    // MARK: Reading

    private static func normalizer(_ fields: JSONFields, path: String) throws -> PrecompiledNormalizer {
        switch try fields.string("type") {
        case "Precompiled":
            let encoded = try fields.string("precompiled_charsmap")
            guard let data = Data(base64Encoded: encoded) else {
                throw fields.malformed("precompiled_charsmap", "is not base64")
            }
            return try PrecompiledNormalizer(charsmap: Array(data))
        case "Sequence":
            let steps = try fields.objects("normalizers")
            guard steps.count == 1 else {
                throw TokenizerError.unsupported(path: path, what: "a normalizer sequence of \(try steps.map { try $0.string("type") }) (only [Precompiled] is read)")
            }
            return try normalizer(steps[0], path: path)
        case let other:
            throw TokenizerError.unsupported(path: path, what: "a \(other) normalizer")
        }
    }

    private static func preTokenizer(_ fields: JSONFields?, path: String) throws -> Metaspace {
        guard let fields else { throw TokenizerError.unsupported(path: path, what: "a Unigram tokenizer without a Metaspace pre-tokenizer") }
        switch try fields.string("type") {
        case "Metaspace":
            return try metaspace(fields, path: path)
        case "Sequence":
            let steps = try fields.objects("pretokenizers")
            let kinds = try steps.map { try $0.string("type") }
            guard kinds == ["WhitespaceSplit", "Metaspace"] else {
                throw TokenizerError.unsupported(path: path, what: "the pre-tokenizer sequence \(kinds) (expected [WhitespaceSplit, Metaspace])")
            }
            var result = try metaspace(steps[1], path: path)
            result.whitespaceSplit = true
            return result
        case let other:
            throw TokenizerError.unsupported(path: path, what: "a \(other) pre-tokenizer with a Unigram model")
        }
    }

    /// A `Metaspace` pre-tokenizer or decoder: `replacement`, `prepend_scheme` (or the older
    /// `add_prefix_space`), `split`.
    private static func metaspace(_ fields: JSONFields, path: String) throws -> Metaspace {
        guard try fields.string("type") == "Metaspace" else {
            throw TokenizerError.unsupported(path: path, what: "a \(try fields.string("type")) decoder with a Unigram model")
        }
        var result = Metaspace()
        let replacement = try fields.optionalString("replacement") ?? "▁"
        guard replacement.unicodeScalars.count == 1, let scalar = replacement.unicodeScalars.first else {
            throw fields.malformed("replacement", "must be one character")
        }
        result.replacement = scalar
        if let scheme = try fields.optionalString("prepend_scheme") {
            guard let parsed = Metaspace.PrependScheme(rawValue: scheme) else {
                throw fields.malformed("prepend_scheme", "'\(scheme)' is not always, first or never")
            }
            result.prependScheme = parsed
        } else {
            result.prependScheme = try fields.bool("add_prefix_space", default: true) ? .always : .never
        }
        result.split = try fields.bool("split", default: true)
        return result
    }
}
