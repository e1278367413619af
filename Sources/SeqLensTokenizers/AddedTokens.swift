/// A token matched whole in the text before pre-tokenization (HF `tokenizers`' `AddedToken`).
public struct AddedToken: Sendable, Equatable {
    /// The exact text that stands for the token.
    public var content: String
    /// Its id in the vocabulary.
    public var id: Int
    /// Whether it is special: skipped by `decode(_:skipSpecialTokens: true)`.
    public var special: Bool
    /// Whether the match also swallows the whitespace on its left.
    public var lstrip: Bool
    /// Whether the match also swallows the whitespace on its right.
    public var rstrip: Bool
    /// Whether it only matches as a whole word (no letter or digit touching it).
    public var singleWord: Bool
    /// Whether it matches the normalized text (HF matches the others first, on the raw text).
    public var normalized: Bool

    public init(
        content: String, id: Int, special: Bool, lstrip: Bool = false, rstrip: Bool = false,
        singleWord: Bool = false, normalized: Bool = false
    ) {
        self.content = content
        self.id = id
        self.special = special
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.singleWord = singleWord
        self.normalized = normalized
    }

    /// A `tokenizer.json` `added_tokens` entry, with HF's defaults for the flags it leaves out.
    init(tokenizerJSON token: JSONFields) throws {
        self.init(
            content: try token.string("content"), id: try token.int("id"),
            special: try token.bool("special", default: false), lstrip: try token.bool("lstrip", default: false),
            rstrip: try token.bool("rstrip", default: false), singleWord: try token.bool("single_word", default: false),
            normalized: try token.bool("normalized", default: true))
    }
}

/// A piece of text to tokenize: either plain text (a UTF-8 byte range) or one added token.
enum TextSegment: Equatable {
    case text(Range<Int>)
    case token(Int)
}

/// Finds added tokens in UTF-8 text the way HF `AddedVocabulary` does: leftmost-longest,
/// non-overlapping matches, first the tokens matched on raw text, then, in the text between them,
/// the `normalized` ones.
struct AddedTokenMatcher: Sendable {
    private struct Candidate: Sendable {
        let bytes: [UInt8]
        let token: AddedToken
    }

    /// Per group (raw first, then normalized): candidates indexed by first byte, longest first.
    private let groups: [[[Candidate]]]

    init(_ tokens: [AddedToken]) {
        groups = [tokens.filter { !$0.normalized }, tokens.filter { $0.normalized }].map { group in
            var byFirstByte = [[Candidate]](repeating: [], count: 256)
            for token in group {
                let bytes = Array(token.content.utf8)
                guard let first = bytes.first else { continue }
                byFirstByte[Int(first)].append(Candidate(bytes: bytes, token: token))
            }
            return byFirstByte.map { $0.sorted { $0.bytes.count > $1.bytes.count } }
        }.filter { $0.contains { !$0.isEmpty } }
    }

    var isEmpty: Bool { groups.isEmpty }

    /// `text` cut into plain-text ranges and added tokens, in order.
    func split(_ text: UnsafeBufferPointer<UInt8>) -> [TextSegment] {
        var segments: [TextSegment] = [.text(0..<text.count)]
        for group in groups {
            var next: [TextSegment] = []
            for segment in segments {
                guard case .text(let range) = segment else {
                    next.append(segment)
                    continue
                }
                split(text, range, with: group, into: &next)
            }
            segments = next
        }
        return segments.filter { if case .text(let range) = $0 { !range.isEmpty } else { true } }
    }

    private func split(
        _ text: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, with candidates: [[Candidate]],
        into segments: inout [TextSegment]
    ) {
        var pieceStart = range.lowerBound
        var position = range.lowerBound
        while position < range.upperBound {
            guard let match = longestMatch(text, at: position, before: range.upperBound, in: candidates) else {
                position += 1
                continue
            }
            var start = position
            var stop = position + match.bytes.count
            position = stop
            let token = match.token
            if token.singleWord
                && (endsWithWordCharacter(text, before: start, from: range.lowerBound)
                    || startsWithWordCharacter(text, at: stop, before: range.upperBound))
            {
                continue
            }
            if token.lstrip {
                start = max(pieceStart, whitespaceStart(text, before: start, from: range.lowerBound))
            }
            if token.rstrip {
                stop = whitespaceEnd(text, from: stop, before: range.upperBound)
                position = stop
            }
            if pieceStart < start { segments.append(.text(pieceStart..<start)) }
            segments.append(.token(token.id))
            pieceStart = stop
        }
        if pieceStart < range.upperBound { segments.append(.text(pieceStart..<range.upperBound)) }
    }

    private func longestMatch(
        _ text: UnsafeBufferPointer<UInt8>, at position: Int, before end: Int, in candidates: [[Candidate]]
    ) -> Candidate? {
        for candidate in candidates[Int(text[position])] where position + candidate.bytes.count <= end {
            var equal = true
            for (offset, byte) in candidate.bytes.enumerated() where text[position + offset] != byte {
                equal = false
                break
            }
            if equal { return candidate }
        }
        return nil
    }

    // MARK: Scalars around a match (Rust's `char::is_whitespace`, the regex crate's `\w`)

    private func scalar(_ text: UnsafeBufferPointer<UInt8>, at start: Int) -> (Unicode.Scalar, length: Int) {
        var length = 1
        while start + length < text.count && text[start + length] & 0xC0 == 0x80 { length += 1 }
        var decoder = UTF8()
        var iterator = UnsafeBufferPointer(rebasing: text[start..<(start + length)]).makeIterator()
        if case .scalarValue(let scalar) = decoder.decode(&iterator) { return (scalar, length) }
        return ("\u{FFFD}", length)
    }

    private func scalarStart(_ text: UnsafeBufferPointer<UInt8>, before end: Int) -> Int {
        var start = end - 1
        while start > 0 && text[start] & 0xC0 == 0x80 { start -= 1 }
        return start
    }

    /// `\w` as HF's single-word check sees it: Alphabetic, marks, decimal digits, connector
    /// punctuation and joiners (so `_` and `1` touch a word, `²` and `-` do not).
    private func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        let properties = scalar.properties
        if properties.isAlphabetic || properties.isJoinControl { return true }
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    private func endsWithWordCharacter(_ text: UnsafeBufferPointer<UInt8>, before end: Int, from start: Int) -> Bool {
        guard end > start else { return false }
        return isWordCharacter(scalar(text, at: scalarStart(text, before: end)).0)
    }

    private func startsWithWordCharacter(_ text: UnsafeBufferPointer<UInt8>, at start: Int, before end: Int) -> Bool {
        guard start < end else { return false }
        return isWordCharacter(scalar(text, at: start).0)
    }

    private func whitespaceStart(_ text: UnsafeBufferPointer<UInt8>, before end: Int, from start: Int) -> Int {
        var position = end
        while position > start {
            let previous = scalarStart(text, before: position)
            guard scalar(text, at: previous).0.properties.isWhitespace else { break }
            position = previous
        }
        return position
    }

    private func whitespaceEnd(_ text: UnsafeBufferPointer<UInt8>, from start: Int, before end: Int) -> Int {
        var position = start
        while position < end {
            let (next, length) = scalar(text, at: position)
            guard next.properties.isWhitespace else { break }
            position += length
        }
        return position
    }
}
