import Foundation
import SeqLensFiles

/// transformers' `MarianTokenizer`: two SentencePiece models (`source.spm` for the text, `target.spm`
/// for `text_target`) whose pieces are looked up in one shared `vocab.json`, an EOS appended, an
/// optional leading language code (`>>it<<`) kept whole, and `</s>`, `<unk>`, `<pad>` written in
/// the text matched as special tokens.
///
/// Like transformers without `sacremoses` installed, no Moses punctuation normalisation is applied
/// (install-dependent in transformers; SeqLens is the same on every machine).
public struct MarianTokenizer: TwoSidedTokenizer {
    private let source: SentencePieceModel
    private let target: SentencePieceModel
    private let vocabulary: [String: Int]
    private let strings: [Int: String]
    private let specialIDs: Set<Int>
    private let specialStrings: Set<String>
    private let matcher: AddedTokenMatcher
    private let unknown: Int
    private let endOfSequence: Int
    private let cleansSpaces: Bool
    public let specialTokens: SpecialTokens
    public let vocabularySize: Int

    /// Reads `vocab.json`, `source.spm`, `target.spm` and (when present) `tokenizer_config.json`
    /// from a Marian folder.
    public init(folder: String) throws(TokenizerError) {
        let config = try Self.json(folder + "/tokenizer_config.json", required: false) ?? [:]
        if config["separate_vocabs"] as? Bool == true {
            throw .unsupported(path: folder + "/tokenizer_config.json", what: "separate source and target vocabularies (separate_vocabs)")
        }
        let vocabPath = folder + "/vocab.json"
        guard let raw = try Self.json(vocabPath, required: true) else { throw .unreadableFile(path: vocabPath, reason: "missing") }
        var vocabulary: [String: Int] = [:]
        var strings: [Int: String] = [:]
        for (piece, value) in raw {
            // JSON booleans also bridge to Int: tell them apart by the number's storage type.
            guard let number = value as? NSNumber, String(cString: number.objCType) != "c", let id = Int(exactly: number.doubleValue),
                  id >= 0 else {
                throw .malformedField(path: vocabPath, field: piece, reason: "should be a non-negative integer id")
            }
            if let other = strings[id] {
                throw .inconsistentVocabulary(path: vocabPath, reason: "'\(other)' and '\(piece)' share id \(id)")
            }
            vocabulary[piece] = id
            strings[id] = piece
        }
        func role(_ key: String, default fallback: String) throws(TokenizerError) -> Int {
            let name = (config[key] as? String) ?? ((config[key] as? [String: Any])?["content"] as? String) ?? fallback
            guard let id = vocabulary[name] else {
                throw .malformedField(path: vocabPath, field: name, reason: "is the \(key) but is not in the vocabulary")
            }
            return id
        }
        unknown = try role("unk_token", default: "<unk>")
        endOfSequence = try role("eos_token", default: "</s>")
        let pad = try role("pad_token", default: "<pad>")
        specialTokens = SpecialTokens(eos: endOfSequence, unk: unknown, pad: pad)
        specialIDs = [unknown, endOfSequence, pad]
        specialStrings = Set(specialIDs.compactMap { strings[$0] })
        matcher = AddedTokenMatcher(specialIDs.sorted().compactMap { id in
            strings[id].map { AddedToken(content: $0, id: id, special: true) }
        })
        self.vocabulary = vocabulary
        self.strings = strings
        vocabularySize = (strings.keys.max() ?? -1) + 1
        cleansSpaces = config["clean_up_tokenization_spaces"] as? Bool ?? false
        source = try SentencePieceModel(path: folder + "/source.spm")
        target = try SentencePieceModel(path: folder + "/target.spm")
    }

    private static func json(_ path: String, required: Bool) throws(TokenizerError) -> [String: Any]? {
        let data: Data
        do {
            guard let read = try RegularFile.contentsIfPresent(of: path, limit: 64 << 20) else {
                if required { throw TokenizerError.unreadableFile(path: path, reason: "missing") }
                return nil
            }
            data = read
        } catch let error as FileAccessError {
            throw .unreadableFile(path: path, reason: error.reason)
        } catch let error as TokenizerError {
            throw error
        } catch {
            throw .unreadableFile(path: path, reason: "\(error)")
        }
        do {
            guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw TokenizerError.invalidJSON(path: path, reason: "the top level is not an object")
            }
            return object
        } catch let error as TokenizerError {
            throw error
        } catch {
            throw .invalidJSON(path: path, reason: error.localizedDescription)
        }
    }

    private func model(_ side: TextSide) -> SentencePieceModel { side == .source ? source : target }

    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        encode(text, side: .source, addSpecialTokens: addSpecialTokens)
    }

    public func encodeWithOffsets(_ text: String, addSpecialTokens: Bool) -> (ids: [Int], offsets: [Range<Int>]) {
        encodeWithOffsets(text, side: .source, addSpecialTokens: addSpecialTokens)
    }

    public func encode(_ text: String, side: TextSide, addSpecialTokens: Bool) -> [Int] {
        encodeWithOffsets(text, side: side, addSpecialTokens: addSpecialTokens).ids
    }

    public func encodeWithOffsets(_ text: String, side: TextSide, addSpecialTokens: Bool) -> (ids: [Int], offsets: [Range<Int>]) {
        let bytes = Array(text.utf8)
        let segments = bytes.withUnsafeBufferPointer { matcher.split($0) }
        var ids: [Int] = [], offsets: [Range<Int>] = []
        for segment in segments {
            switch segment {
            case .token(let id):
                let length = strings[id]?.utf8.count ?? 0
                let start = (offsets.last?.upperBound ?? 0)
                let found = Self.firstMatch(of: Array((strings[id] ?? "").utf8), in: bytes, from: start) ?? start
                ids.append(id)
                offsets.append(found..<(found + length))
            case .text(let range):
                var start = range.lowerBound
                // transformers' remove_language_code: a leading ">>xx<<" is one token.
                if bytes[range].starts(with: [62, 62]),
                   let close = Self.firstMatch(of: [60, 60], in: Array(bytes[..<range.upperBound]), from: start) {
                    let code = String(decoding: bytes[start..<(close + 2)], as: UTF8.self)
                    ids.append(vocabulary[code] ?? unknown)
                    offsets.append(start..<(close + 2))
                    start = close + 2
                }
                let chunk = String(decoding: bytes[start..<range.upperBound], as: UTF8.self)
                for piece in model(side).encode(chunk) {
                    ids.append(vocabulary[piece.text] ?? unknown)
                    offsets.append((start + piece.bytes.lowerBound)..<(start + piece.bytes.upperBound))
                }
            }
        }
        if addSpecialTokens {
            ids.append(endOfSequence)
            offsets.append(bytes.count..<bytes.count)
        }
        return (ids, offsets)
    }

    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        decode(ids, side: .source, skipSpecialTokens: skipSpecialTokens)
    }

    /// As transformers' `MarianTokenizer.decode`: with one shared vocabulary it decodes with the
    /// source model whichever side the ids came from (its `use_source_tokenizer` default).
    public func decode(_ ids: [Int], side: TextSide, skipSpecialTokens: Bool) -> String {
        let pieceModel = source
        var text = "", pending: [String] = []
        for id in ids {
            guard let token = strings[id] else { continue }
            if skipSpecialTokens && specialIDs.contains(id) { continue }
            if specialStrings.contains(token) {
                text += pieceModel.decode(pieces: pending) + token + " "
                pending = []
            } else {
                pending.append(token)
            }
        }
        text += pieceModel.decode(pieces: pending)
        text = Self.pythonStripped(text.replacingOccurrences(of: "\u{2581}", with: " "))
        return cleansSpaces ? Self.cleanedUp(text) : text
    }

    /// Python's `str.strip()`: Unicode whitespace and the separators U+001C...U+001F.
    static func pythonStripped(_ text: String) -> String {
        let scalars = text.unicodeScalars
        func isSpace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace || (0x1C...0x1F).contains(s.value) }
        guard let first = scalars.firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !isSpace($0) })!
        return String(scalars[first...last])
    }

    /// transformers' `clean_up_tokenization`.
    static func cleanedUp(_ text: String) -> String {
        [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
         (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]
            .reduce(text) { $0.replacingOccurrences(of: $1.0, with: $1.1) }
    }

    public func tokenString(_ id: Int) -> String { strings[id] ?? "" }

    public func id(of token: String) -> Int? { vocabulary[token] }

    public func isSpecial(_ id: Int) -> Bool { specialIDs.contains(id) }
}
