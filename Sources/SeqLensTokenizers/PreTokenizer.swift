/// How text is cut into words before byte-level BPE, one kind per split pattern in use.
///
/// Each kind is a hand-written scanner that gives the same pieces as the regular expression HF
/// `tokenizers` runs (Oniguruma: the first alternative that matches wins, quantifiers greedy with
/// backtracking); character classes come from Unicode general categories (`\p{L}`, `\p{N}`) and
/// the White_Space property (`\s`).
public enum PreTokenizerKind: String, Sendable, CaseIterable {
    /// GPT-2's `ByteLevel` pattern:
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    case gpt2
    /// Every digit on its own, then GPT-2's pattern on the text between digits: SmolLM's hub
    /// `tokenizer.json` (`Digits(individual_digits)` + `ByteLevel`) and llama.cpp's `smollm`.
    case gpt2IndividualDigits
    /// Llama-3's pattern: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
    /// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
    case llama3
    /// Qwen2's pattern: Llama-3's with single digits (`\p{N}` instead of `\p{N}{1,3}`).
    case qwen2

    /// The kind llama.cpp's `tokenizer.ggml.pre` value names (llama-vocab.cpp's pre-type table), or
    /// nil for a name with another pattern or none known here.
    ///
    /// Note: transformers' GGUF loader knows no `smollm` entry and falls back to GPT-2's pattern;
    /// SmolLM's own tokenizer.json and llama.cpp split digits first, as `.gpt2IndividualDigits` does.
    public init?(ggmlPre name: String) {
        switch name {
        case "gpt-2", "gpt2", "mpt", "olmo":
            self = .gpt2
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b":
            self = .gpt2IndividualDigits
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe":
            self = .llama3
        case "qwen2", "deepseek-r1-qwen", "stablelm2", "megrez":
            self = .qwen2
        default:
            return nil
        }
    }

    /// Calls `body` with the end of each piece of `scalars`, in order; the pieces cover it all.
    /// - Parameter classes: `CharacterClass.of` for each scalar.
    func forEachPieceEnd(
        _ scalars: UnsafeBufferPointer<Unicode.Scalar>, _ classes: UnsafeBufferPointer<CharacterClass>,
        _ body: (Int) -> Void
    ) {
        let count = scalars.count
        var scanner = PatternScanner(scalars: scalars, classes: classes, end: count)
        var start = 0
        switch self {
        case .gpt2:
            while start < count {
                start = scanner.gpt2Match(at: start)
                body(start)
            }
        case .gpt2IndividualDigits:
            while start < count {
                if classes[start].contains(.number) {
                    start += 1
                    body(start)
                    continue
                }
                var segmentEnd = start
                while segmentEnd < count && !classes[segmentEnd].contains(.number) { segmentEnd += 1 }
                scanner.end = segmentEnd
                while start < segmentEnd {
                    start = scanner.gpt2Match(at: start)
                    body(start)
                }
            }
        case .llama3, .qwen2:
            let maxDigits = self == .llama3 ? 3 : 1
            while start < count {
                start = scanner.llama3Match(at: start, maxDigits: maxDigits)
                body(start)
            }
        }
    }
}

/// The character classes the split patterns test, as bit flags.
struct CharacterClass: OptionSet, Sendable {
    let rawValue: UInt8

    /// `\p{L}`
    static let letter = CharacterClass(rawValue: 1)
    /// `\p{N}`
    static let number = CharacterClass(rawValue: 2)
    /// `\s` (White_Space)
    static let whitespace = CharacterClass(rawValue: 4)
    /// `\r` or `\n`
    static let lineBreak = CharacterClass(rawValue: 8)

    static func of(_ scalar: Unicode.Scalar) -> CharacterClass {
        if scalar.value < 128 { return asciiTable[Int(scalar.value)] }
        return classify(scalar)
    }

    private static func classify(_ scalar: Unicode.Scalar) -> CharacterClass {
        let properties = scalar.properties
        var result: CharacterClass = []
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            result.insert(.letter)
        case .decimalNumber, .letterNumber, .otherNumber:
            result.insert(.number)
        default:
            break
        }
        if properties.isWhitespace { result.insert(.whitespace) }
        if scalar == "\r" || scalar == "\n" { result.insert(.lineBreak) }
        return result
    }

    private static let asciiTable: [CharacterClass] = (0..<128).map { value in
        classify(Unicode.Scalar(UInt8(value)))
    }
}
