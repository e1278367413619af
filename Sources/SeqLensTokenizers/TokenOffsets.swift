/// Where each token of an encoding lies in the text it came from, as UTF-8 byte ranges, so that an
/// editor can highlight a token's bytes without tokenizing the text again.
extension Tokenizer {
    /// The ids of `text` (as `encode(_:addSpecialTokens:)` gives them) and, per id, the half-open
    /// range of UTF-8 byte offsets into `text` that the token stands for.
    ///
    /// - Byte-level BPE: a token's bytes are the text's bytes, so the ranges follow each other
    ///   without gaps; a character split across tokens (an emoji, a CJK character in a small
    ///   vocabulary) gives ranges that start or end inside it, each holding exactly the token's bytes.
    /// - Tokens the post-processor adds (BOS before the text, EOS after it) have the empty range at
    ///   0 (before) or at the text's length (after).
    /// - An added or special token written in the text (e.g. `<|im_start|>`) covers its own bytes;
    ///   whitespace that its `lstrip`/`rstrip` swallows belongs to no token.
    /// - A token whose bytes cannot be found in the text (an unknown token standing for bytes
    ///   missing from the vocabulary) has the empty range where it stands.
    public func encodeWithOffsets(_ text: String, addSpecialTokens: Bool) -> (ids: [Int], offsets: [Range<Int>]) {
        let ids = encode(text, addSpecialTokens: addSpecialTokens)
        let core = addSpecialTokens ? encode(text, addSpecialTokens: false) : ids
        let bytes = Array(text.utf8)
        // The post-processor only surrounds the text's ids: find where they start.
        var prefixCount = 0
        if core.count < ids.count {
            let extra = ids.count - core.count
            prefixCount = (0...extra).first { start in ids[start..<(start + core.count)].elementsEqual(core) } ?? 0
        }
        var offsets: [Range<Int>] = Array(repeating: 0..<0, count: prefixCount)
        offsets.reserveCapacity(ids.count)
        var cursor = 0
        for id in core {
            let token = tokenBytes(id)
            if let start = Self.firstMatch(of: token, in: bytes, from: cursor) {
                offsets.append(start..<(start + token.count))
                cursor = start + token.count
            } else {
                offsets.append(cursor..<cursor)
            }
        }
        while offsets.count < ids.count { offsets.append(bytes.count..<bytes.count) }
        return (ids, offsets)
    }

    /// The bytes `id` spells in text, as `decode` reads them (byte-level spelling, else as written).
    func tokenBytes(_ id: Int) -> [UInt8] {
        let token = tokenString(id)
        return ByteLevelAlphabet.bytes(spelledBy: token) ?? Array(token.utf8)
    }

    /// Where `token` first occurs in `bytes` at or after `start`: at `start` itself for every token
    /// of plain text, further on only after bytes that an added token's strip swallowed or that the
    /// vocabulary lacked.
    static func firstMatch(of token: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard !token.isEmpty else { return nil }
        guard token.count <= bytes.count - start else { return nil }
        var position = start
        while position + token.count <= bytes.count {
            if bytes[position] == token[0] {
                var equal = true
                for offset in 1..<token.count where bytes[position + offset] != token[offset] {
                    equal = false
                    break
                }
                if equal { return position }
            }
            position += 1
        }
        return nil
    }
}
