import Foundation

extension ByteLevelBPETokenizer {
    /// Loads an HF `tokenizer.json` with a byte-level BPE model.
    ///
    /// Reads `model.vocab`, `model.merges` ("a b" strings or [a, b] pairs), `added_tokens`, the
    /// `pre_tokenizer` (GPT-2's `ByteLevel`; `Digits` + `ByteLevel`; a Llama-3 or Qwen2 `Split` +
    /// `ByteLevel`) and the `post_processor` (`TemplateProcessing`, `RobertaProcessing`,
    /// `BertProcessing`, `ByteLevel`, or a `Sequence` of them) for what `addSpecialTokens` adds.
    /// Token roles come from `specialTokens`, else from a `tokenizer_config.json` beside the file
    /// (`bos_token`, `eos_token`, `unk_token`, `pad_token`), else `model.unk_token` and the first
    /// token the post-processor puts in front as BOS.
    /// - Throws: `TokenizerError` for a missing or malformed file, or a tokenizer of another kind.
    public init(tokenizerJSON url: URL, specialTokens: SpecialTokens? = nil) throws {
        try self.init(
            root: try JSONFields.load(url), specialTokens: specialTokens,
            config: url.deletingLastPathComponent().appendingPathComponent("tokenizer_config.json"))
    }

    /// Loads an HF `tokenizer.json` held in memory, as `init(tokenizerJSON:specialTokens:)` does
    /// except that no `tokenizer_config.json` is consulted for token roles.
    /// - Parameter source: Names the origin in error messages.
    /// - Throws: `TokenizerError` for malformed JSON or a tokenizer of another kind.
    public init(tokenizerJSONData data: Data, source: String = "<memory>", specialTokens: SpecialTokens? = nil) throws {
        try self.init(root: try JSONFields.parse(data, path: source), specialTokens: specialTokens, config: nil)
    }

    private init(root: JSONFields, specialTokens: SpecialTokens?, config: URL?) throws {
        let path = root.path
        let model = try root.object("model")
        let type = try model.optionalString("type") ?? "BPE"
        guard type == "BPE" else { throw TokenizerError.unsupported(path: path, what: "a \(type) model") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let affix = try model.optionalString(key), !affix.isEmpty {
                throw TokenizerError.unsupported(path: path, what: "model.\(key) '\(affix)'")
            }
        }
        if let normalizer = try root.optionalObject("normalizer") {
            let kind = (try? normalizer.string("type")) ?? "an unknown"
            throw TokenizerError.unsupported(path: path, what: "a \(kind) normalizer")
        }

        let vocabulary = try Self.vocabulary(model)
        let merges = try Self.merges(model)
        let addedTokens = try root.objects("added_tokens").map(AddedToken.init(tokenizerJSON:))
        let preTokenizer = try Self.preTokenizerKind(try root.optionalObject("pre_tokenizer"), path: path)
        let (prefix, suffix) = try PostProcessorIds.read(try root.optionalObject("post_processor"), path: path)

        var ids = vocabulary
        for token in Self.resolvedAddedTokens(addedTokens, vocabulary: vocabulary) { ids[token.content] = token.id }
        let unknownToken = try model.optionalString("unk_token")
        let roles =
            try specialTokens
            ?? config.flatMap { try SpecialTokens(tokenizerConfig: $0, ids: ids) }
            ?? SpecialTokens(bos: prefix.first, unk: unknownToken.flatMap { ids[$0] })

        try self.init(
            vocabulary: vocabulary, merges: merges, addedTokens: addedTokens, preTokenizer: preTokenizer,
            specialTokens: roles, prefix: prefix, suffix: suffix,
            unknownTokenId: unknownToken.flatMap { vocabulary[$0] },
            ignoreMerges: try model.bool("ignore_merges", default: false), source: path)
    }

    private static func vocabulary(_ model: JSONFields) throws -> [String: Int] {
        guard let raw = model.object["vocab"] as? [String: Any] else {
            throw model.malformed("vocab", "must be a JSON object of token strings to ids")
        }
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(raw.count)
        for (token, value) in raw {
            guard let number = value as? NSNumber, let id = Int(exactly: number.doubleValue), id >= 0 else {
                throw model.malformed("vocab", "maps '\(token)' to \(value), not a non-negative integer id")
            }
            vocabulary[token] = id
        }
        return vocabulary
    }

    private static func merges(_ model: JSONFields) throws -> [(String, String)] {
        try model.array("merges").enumerated().map { index, element in
            if let line = element as? String, let pair = splitMerge(line) { return pair }
            if let pair = element as? [Any], pair.count == 2, let left = pair[0] as? String,
                let right = pair[1] as? String
            {
                return (left, right)
            }
            throw model.malformed("merges[\(index)]", "must be \"left right\" or [\"left\", \"right\"], got \(element)")
        }
    }

    /// "a b" as ("a", "b"); nil unless there is exactly one space (HF rejects other lines too).
    static func splitMerge(_ line: String) -> (String, String)? {
        let parts = line.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    // MARK: Pre-tokenizer and post-processor

    private static let llama3Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    private static let qwen2Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    private static func preTokenizerKind(_ fields: JSONFields?, path: String) throws -> PreTokenizerKind {
        guard let fields else { throw TokenizerError.unsupported(path: path, what: "no pre_tokenizer") }
        let steps = try (fields.string("type") == "Sequence") ? fields.objects("pretokenizers") : [fields]
        let types = steps.map { (try? $0.string("type")) ?? "?" }
        func byteLevel(_ step: JSONFields, useRegex: Bool) throws -> Bool {
            try step.string("type") == "ByteLevel" && step.bool("use_regex", default: true) == useRegex
                && !step.bool("add_prefix_space", default: false)
        }
        switch steps.count {
        case 1 where try byteLevel(steps[0], useRegex: true):
            return .gpt2
        case 2
        where try steps[0].string("type") == "Digits" && steps[0].bool("individual_digits", default: false)
            && byteLevel(steps[1], useRegex: true):
            return .gpt2IndividualDigits
        case 2 where try steps[0].string("type") == "Split" && byteLevel(steps[1], useRegex: false):
            let split = steps[0]
            let pattern = try split.object("pattern")
            let regex = try pattern.optionalString("Regex")
            let isolated = try split.optionalString("behavior") == "Isolated" && !split.bool("invert", default: false)
            if isolated && regex == llama3Pattern { return .llama3 }
            if isolated && regex == qwen2Pattern { return .qwen2 }
            throw TokenizerError.unsupported(path: path, what: "a Split pre-tokenizer with pattern \(regex ?? "?")")
        default:
            throw TokenizerError.unsupported(
                path: path, what: "pre-tokenizer \(types.joined(separator: " + ")) with these settings")
        }
    }
}
