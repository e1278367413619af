/// Turns text into token ids and back, the way the model's reference tokenizer does.
///
/// Implementations are immutable values, safe to share across threads.
public protocol Tokenizer: Sendable {
    /// The token ids of `text`.
    /// - Parameters:
    ///   - text: Any text; special tokens written in it (e.g. `<|im_start|>`) become their ids.
    ///   - addSpecialTokens: Add what the tokenizer's post-processor adds (e.g. a BOS id for Llama-3).
    func encode(_ text: String, addSpecialTokens: Bool) -> [Int]

    /// The text that `ids` spell. Ids outside the vocabulary are skipped; bytes that do not form
    /// valid UTF-8 become U+FFFD, as in HF `tokenizers`.
    /// - Parameter skipSpecialTokens: Leave special tokens (BOS, EOS, control tokens) out of the text.
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String

    /// The raw vocabulary string of `id`, as Inseq shows tokens (e.g. `"Ġthe"`, `"Ċ"`); empty for an
    /// id outside the vocabulary.
    func tokenString(_ id: Int) -> String

    /// The id of a raw vocabulary string (the inverse of `tokenString`), or nil if there is none.
    func id(of token: String) -> Int?

    /// How many ids the tokenizer knows (the largest id plus one).
    var vocabularySize: Int { get }

    /// The ids that play a special role, where the tokenizer has them.
    var specialTokens: SpecialTokens { get }

    /// Whether `id` is a special token (skipped by `decode(_:skipSpecialTokens: true)`).
    func isSpecial(_ id: Int) -> Bool

    /// The ids of `text` with, per id, the UTF-8 byte range of `text` it stands for (see
    /// `TokenOffsets.swift` for the default, which finds each token's bytes in the text).
    func encodeWithOffsets(_ text: String, addSpecialTokens: Bool) -> (ids: [Int], offsets: [Range<Int>])
}

extension Tokenizer {
    /// The token ids of `text`, with the special tokens the tokenizer adds by default.
    public func encode(_ text: String) -> [Int] { encode(text, addSpecialTokens: true) }

    /// The text that `ids` spell, special tokens included.
    public func decode(_ ids: [Int]) -> String { decode(ids, skipSpecialTokens: false) }

    /// The raw vocabulary strings of `ids`, as Inseq shows tokens.
    public func tokenStrings(_ ids: [Int]) -> [String] { ids.map(tokenString) }
}

/// The ids that play a special role in a vocabulary; nil where the vocabulary has no such token.
public struct SpecialTokens: Sendable, Equatable {
    /// Beginning of sequence.
    public var bos: Int?
    /// End of sequence (also where generation stops).
    public var eos: Int?
    /// Unknown token.
    public var unk: Int?
    /// Padding token.
    public var pad: Int?

    /// Role names ("bos", "eos", "unk", "pad") to the ids present, as `ModelInfo.specialTokens` lists them.
    public var roles: [String: Int] {
        [("bos", bos), ("eos", eos), ("unk", unk), ("pad", pad)].reduce(into: [:]) { roles, role in
            if let id = role.1 { roles[role.0] = id }
        }
    }

    public init(bos: Int? = nil, eos: Int? = nil, unk: Int? = nil, pad: Int? = nil) {
        self.bos = bos
        self.eos = eos
        self.unk = unk
        self.pad = pad
    }
}
