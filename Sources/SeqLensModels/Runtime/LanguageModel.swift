import SeqLensTensor

/// A resident causal language model with its tokenizer.
///
/// Thread safety: a model is immutable after loading; a single forward pass at a time is the
/// caller's business (the server computes one request at a time).
public final class LanguageModel: @unchecked Sendable {
    public let info: ModelInfo

    init(info: ModelInfo) {
        self.info = info
    }

    /// Loads weights, configuration and tokenizer.
    /// - Throws: `ModelError` naming the problem (missing file, corrupt checkpoint, unsupported architecture).
    public static func load(_ location: ModelLocation) throws -> LanguageModel {
        throw ModelError.notYetAvailable("model loading")
    }

    /// Token ids for `text` (special tokens such as BOS added when `addSpecialTokens`).
    public func encode(_ text: String, addSpecialTokens: Bool = false) -> [Int] { [] }

    /// Text for `ids`.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String { "" }

    /// Vocabulary strings (e.g. "Ġworld") for `ids`, as Inseq shows tokens.
    public func tokenStrings(_ ids: [Int]) -> [String] { [] }

    /// Generates a continuation of `prompt`.
    /// - Parameter onToken: called after each token with the token and its index; throw to stop
    ///   (the error propagates, e.g. `CancellationError`).
    public func generate(
        prompt: [Int], options: GenerationOptions,
        onToken: (GeneratedToken, Int) throws -> Void = { _, _ in }
    ) throws -> Generation {
        throw ModelError.notYetAvailable("generation")
    }
}
