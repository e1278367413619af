/// Which text of an encoder-decoder model a string is: the source the encoder reads, or the
/// target the decoder writes (HF's `text` and `text_target`).
public enum TextSide: String, Sendable, CaseIterable {
    case source, target
}

/// A tokenizer with a source and a target side (Marian's two SentencePiece models, NLLB's
/// language codes). `Tokenizer`'s own methods are the source side's.
public protocol TwoSidedTokenizer: Tokenizer {
    /// The ids of `text` as the `side` tokenizer gives them (`tokenizer(text_target=...)` for the target).
    func encode(_ text: String, side: TextSide, addSpecialTokens: Bool) -> [Int]
    /// The ids of `text` on `side` with each id's UTF-8 byte range in `text`.
    func encodeWithOffsets(_ text: String, side: TextSide, addSpecialTokens: Bool) -> (ids: [Int], offsets: [Range<Int>])
    /// The text `ids` spell on `side`.
    func decode(_ ids: [Int], side: TextSide, skipSpecialTokens: Bool) -> String
}

/// A one-tokenizer model seen as two-sided: both sides are the same tokenizer.
public struct SameOnBothSides: TwoSidedTokenizer {
    public let base: any Tokenizer

    public init(_ base: any Tokenizer) { self.base = base }

    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] { base.encode(text, addSpecialTokens: addSpecialTokens) }
    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String { base.decode(ids, skipSpecialTokens: skipSpecialTokens) }
    public func tokenString(_ id: Int) -> String { base.tokenString(id) }
    public func id(of token: String) -> Int? { base.id(of: token) }
    public var vocabularySize: Int { base.vocabularySize }
    public var specialTokens: SpecialTokens { base.specialTokens }
    public func isSpecial(_ id: Int) -> Bool { base.isSpecial(id) }
    public func encodeWithOffsets(_ text: String, addSpecialTokens: Bool) -> (ids: [Int], offsets: [Range<Int>]) {
        base.encodeWithOffsets(text, addSpecialTokens: addSpecialTokens)
    }
    public func encode(_ text: String, side: TextSide, addSpecialTokens: Bool) -> [Int] {
        base.encode(text, addSpecialTokens: addSpecialTokens)
    }
    public func encodeWithOffsets(_ text: String, side: TextSide, addSpecialTokens: Bool) -> (ids: [Int], offsets: [Range<Int>]) {
        base.encodeWithOffsets(text, addSpecialTokens: addSpecialTokens)
    }
    public func decode(_ ids: [Int], side: TextSide, skipSpecialTokens: Bool) -> String {
        base.decode(ids, skipSpecialTokens: skipSpecialTokens)
    }
}
