/// HF `tokenizers`' SentencePiece-style pre-tokenizers and decoder (pre_tokenizers/metaspace.rs,
/// whitespace.rs, decoders): `WhitespaceSplit`, then `Metaspace` (spaces become `▁`, a `▁` put in
/// front, pieces split before each `▁`), and the `Metaspace` decoder that undoes it.
struct Metaspace: Sendable, Equatable {
    enum PrependScheme: String, Sendable {
        case always, first, never
    }

    var replacement: Unicode.Scalar = "▁"
    var prependScheme: PrependScheme = .always
    var split = true
    /// A `WhitespaceSplit` before the Metaspace step (mBART's `Sequence`).
    var whitespaceSplit = false

    /// The pre-tokens of one text segment; `atStart` is whether it begins the original text
    /// (what `first` prepends to). Works on Unicode scalars, as HF does on Rust chars.
    func preTokenize(_ text: String, atStart: Bool) -> [String] {
        var words: [(scalars: [Unicode.Scalar], atStart: Bool)] = []
        if whitespaceSplit {
            var current: [Unicode.Scalar] = [], beginsText = atStart
            for scalar in text.unicodeScalars {
                if scalar.properties.isWhitespace {
                    if !current.isEmpty { words.append((current, beginsText)) }
                    current = []
                    beginsText = false
                } else {
                    current.append(scalar)
                }
            }
            if !current.isEmpty { words.append((current, beginsText)) }
        } else {
            words = [(Array(text.unicodeScalars), atStart)]
        }
        var result: [String] = []
        for (word, beginsText) in words {
            var spelled = word.map { $0 == " " ? replacement : $0 }
            let prepend = switch prependScheme {
            case .always: true
            case .first: beginsText
            case .never: false
            }
            if prepend && spelled.first != replacement { spelled.insert(replacement, at: 0) }
            guard split else {
                result.append(Self.string(spelled))
                continue
            }
            // MergedWithNext: each `▁` begins a new piece.
            var piece: [Unicode.Scalar] = []
            for scalar in spelled {
                if scalar == replacement && !piece.isEmpty {
                    result.append(Self.string(piece))
                    piece = []
                }
                piece.append(scalar)
            }
            if !piece.isEmpty { result.append(Self.string(piece)) }
        }
        return result
    }

    private static func string(_ scalars: [Unicode.Scalar]) -> String {
        var text = ""
        text.unicodeScalars.append(contentsOf: scalars)
        return text
    }

    /// The decoder: `▁` becomes a space, except in the first token (unless `never`), where it goes.
    func decode(_ tokens: [String]) -> String {
        var text = String.UnicodeScalarView()
        for (index, token) in tokens.enumerated() {
            for scalar in token.unicodeScalars {
                if scalar == replacement {
                    if index == 0 && prependScheme != .never { continue }
                    text.append(" ")
                } else {
                    text.append(scalar)
                }
            }
        }
        return String(text)
    }
}
