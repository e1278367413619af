import Foundation

/// SentencePiece's precompiled normalizer as HF `tokenizers` applies it (normalizers/precompiled.rs
/// over the spm_precompiled crate): the `precompiled_charsmap` blob is a u32 byte count, a
/// darts-clone double-array trie of that many bytes whose leaves point into the rest, a run of
/// NUL-terminated replacement strings.
///
/// HF's rule, kept exactly: each grapheme cluster shorter than 6 bytes is replaced whole by the
/// replacement of its shortest prefix that is a key; otherwise (or without a match) each of its
/// characters is replaced by its own match or kept.
struct PrecompiledNormalizer: Sendable {
    private let units: [UInt32]
    private let replacements: [UInt8]

    /// - Throws: a description of what is malformed.
    init(charsmap: [UInt8]) throws(TokenizerError) {
        func malformed(_ reason: String) -> TokenizerError {
            .malformedField(path: "tokenizer.json", field: "normalizer.precompiled_charsmap", reason: reason)
        }
        guard charsmap.count >= 4 else { throw malformed("is shorter than its 4-byte header") }
        let trieBytes = Int(charsmap[0]) | Int(charsmap[1]) << 8 | Int(charsmap[2]) << 16 | Int(charsmap[3]) << 24
        guard trieBytes % 4 == 0, trieBytes >= 4, 4 + trieBytes <= charsmap.count else {
            throw malformed("declares a \(trieBytes)-byte trie in \(charsmap.count - 4) bytes")
        }
        units = stride(from: 4, to: 4 + trieBytes, by: 4).map { i in
            UInt32(charsmap[i]) | UInt32(charsmap[i + 1]) << 8 | UInt32(charsmap[i + 2]) << 16 | UInt32(charsmap[i + 3]) << 24
        }
        replacements = Array(charsmap[(4 + trieBytes)...])
    }

    /// The replacement of the shortest prefix of `key` in the trie (spm_precompiled's `transform`).
    func transform(_ key: some Sequence<UInt8>) -> String? {
        func offset(_ unit: UInt32) -> Int { Int((unit >> 10) << ((unit & (1 << 9)) >> 6)) }
        func label(_ unit: UInt32) -> UInt32 { unit & ((1 << 31) | 0xFF) }
        var position = offset(units[0])
        for byte in key {
            if byte == 0 { break }
            position ^= Int(byte)
            guard units.indices.contains(position) else { return nil }
            let unit = units[position]
            guard label(unit) == UInt32(byte) else { return nil }
            position ^= offset(unit)
            guard units.indices.contains(position) else { return nil }
            if (unit >> 8) & 1 == 1 {
                let start = Int(units[position] & ((1 << 31) - 1))
                guard start <= replacements.count else { return nil }
                let end = replacements[start...].firstIndex(of: 0) ?? replacements.count
                return String(decoding: replacements[start..<end], as: UTF8.self)
            }
        }
        return nil
    }

    func normalize(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            let cluster = String(character)
            if cluster.utf8.count < 6, let replacement = transform(cluster.utf8) {
                out += replacement
                continue
            }
            for scalar in cluster.unicodeScalars {
                let single = String(scalar)
                out += transform(single.utf8) ?? single
            }
        }
        return out
    }
}
