import Foundation

/// Why a tokenizer could not be built from its files or metadata.
public enum TokenizerError: Error, Sendable, Equatable {
    /// The file does not exist or cannot be read.
    case unreadableFile(path: String, reason: String)
    /// The file is not valid JSON (or not UTF-8 text).
    case invalidJSON(path: String, reason: String)
    /// A required field is missing or has the wrong type; `field` is a dotted path like `model.vocab`.
    case malformedField(path: String, field: String, reason: String)
    /// The file describes a tokenizer this module does not implement (e.g. a WordPiece model).
    case unsupported(path: String, what: String)
    /// A merge names a token, or produces a token, that is not in the vocabulary.
    case unknownMergeToken(path: String, merge: String, token: String)
    /// Two tokens share an id, or ids leave gaps the model cannot address.
    case inconsistentVocabulary(path: String, reason: String)
}

extension TokenizerError: CustomStringConvertible, LocalizedError {
    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason):
            return "cannot read tokenizer file \(path): \(reason)"
        case .invalidJSON(let path, let reason):
            return "tokenizer file \(path) is not valid JSON: \(reason)"
        case .malformedField(let path, let field, let reason):
            return "tokenizer file \(path): field '\(field)' \(reason)"
        case .unsupported(let path, let what):
            return "tokenizer file \(path) uses \(what), which SeqLens does not support"
        case .unknownMergeToken(let path, let merge, let token):
            return "tokenizer file \(path): merge '\(merge)' uses '\(token)', which is not in the vocabulary"
        case .inconsistentVocabulary(let path, let reason):
            return "tokenizer file \(path): inconsistent vocabulary: \(reason)"
        }
    }

    public var errorDescription: String? { description }
}
