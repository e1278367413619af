import SeqLensTensor
import SeqLensTokenizers

/// A resident causal language model with its tokenizer: what the layers above use.
///
/// Immutable after loading, so it can be shared; running one forward pass at a time is the
/// caller's business (the server computes one request at a time).
public final class LanguageModel: @unchecked Sendable {
    public let info: ModelInfo
    public let transformer: any CausalTransformer
    public let tokenizer: any Tokenizer
    /// Token ids that end generation.
    public let endOfSequence: Set<Int>
    /// generation_config.json's defaults, for callers that want them.
    public let generationDefaults: GenerationOptions

    init(loaded: ModelLoader.Loaded) {
        let dims = loaded.transformer.dimensions
        let special = loaded.tokenizer.specialTokens.roles
        info = ModelInfo(
            architecture: loaded.architecture, layerCount: dims.layerCount, headCount: dims.headCount,
            keyValueHeadCount: dims.keyValueHeadCount, hiddenSize: dims.hiddenSize,
            vocabularySize: dims.vocabularySize, maxPositions: dims.maxPositions,
            memoryBytes: loaded.weightBytes, specialTokens: special, source: loaded.source)
        transformer = loaded.transformer
        tokenizer = loaded.tokenizer
        endOfSequence = loaded.endOfSequence
        generationDefaults = loaded.generationDefaults
    }

    /// The same model with another transformer (an intervened view of the same weights).
    init(copying model: LanguageModel, transformer: any CausalTransformer) {
        info = model.info
        self.transformer = transformer
        tokenizer = model.tokenizer
        endOfSequence = model.endOfSequence
        generationDefaults = model.generationDefaults
    }

    /// `model_type` / `general.architecture` values this build runs.
    public static let supportedArchitectures = ArchitectureRegistry.supported
    /// Checkpoint formats `load` reads.
    public static let supportedFormats = ["safetensors", "safetensors-sharded", "gguf"]
    /// Tokenizer kinds the loaders read.
    public static var supportedTokenizers: [String] { TokenizerKind.allCases.map(\.rawValue) }

    /// Loads weights, configuration and tokenizer.
    /// - Throws: `ModelError` or the checkpoint's or tokenizer's error, naming the problem.
    public static func load(_ location: ModelLocation) throws -> LanguageModel {
        MemoryPolicy.retainFreedMemory()
        BLAS.configureThreads()
        let path: String
        switch location {
        case .path(let given): path = given
        case .defaultModel: path = try DefaultModel.resolve()
        }
        return LanguageModel(loaded: try ModelLoader.load(path: path))
    }

    /// Token ids for `text` (special tokens such as BOS added when `addSpecialTokens`).
    public func encode(_ text: String, addSpecialTokens: Bool = false) -> [Int] {
        tokenizer.encode(text, addSpecialTokens: addSpecialTokens)
    }

    /// Throws `ModelError.tokenOutOfRange` for an id the embedding table has no row for (a
    /// tokenizer may know more tokens than the checkpoint's vocabulary).
    public func checkVocabulary(_ ids: [Int]) throws {
        let size = transformer.dimensions.vocabularySize
        if let id = ids.first(where: { $0 < 0 || $0 >= size }) {
            throw ModelError.tokenOutOfRange(id: id, vocabularySize: size)
        }
    }

    /// The sites the model offers, and the resolution of site names.
    public var sites: SiteCatalog { SiteCatalog(dimensions: transformer.dimensions) }

    /// Text for `ids`.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
    }

    /// Vocabulary strings (e.g. "Ġworld") for `ids`, as Inseq shows tokens.
    public func tokenStrings(_ ids: [Int]) -> [String] { ids.map(tokenizer.tokenString) }

    /// Generates a continuation of `prompt`.
    /// - Parameter onToken: called after each token with the token and its index; throw to stop
    ///   (the error propagates, e.g. `CancellationError`).
    /// - Throws: `ModelError.inputTooLong`, `.emptyInput`, `.tokenOutOfRange`, or what `onToken` throws.
    public func generate(
        prompt: [Int], options: GenerationOptions,
        onToken: (GeneratedToken, Int) throws -> Void = { _, _ in }
    ) throws -> Generation {
        let generator = Generator(transformer: transformer, endOfSequence: endOfSequence,
                                  tokenString: tokenizer.tokenString)
        let (tokens, stop, logits) = try generator.generate(prompt: prompt, options: options, onToken: onToken)
        return Generation(promptIds: prompt, tokens: tokens, text: decode(tokens.map(\.id), skipSpecialTokens: true),
                          stopReason: stop, stepLogits: logits)
    }

    /// Beam search from `prompt` as transformers 5's `generate(num_beams=...)` runs it on a
    /// decoder-only model: the beams' KV cache reordered each step, lengths normalised from the
    /// end of the prompt, the repetition and n-gram processors reading the prompt too. Options
    /// left nil take transformers' defaults (length penalty 1, early stopping false, 20 tokens).
    public func beamSearch(prompt: [Int], options: EncoderDecoderGenerationOptions) throws -> Generation {
        let dims = transformer.dimensions
        let newTokens = options.maxNewTokens ?? 20
        guard !prompt.isEmpty else { throw ModelError.emptyInput }
        try checkVocabulary(prompt)
        guard prompt.count + newTokens <= dims.maxPositions else {
            throw ModelError.inputTooLong(tokens: prompt.count + newTokens, limit: dims.maxPositions)
        }
        var config = EncoderDecoderGenerationConfig(decoderStartTokenID: prompt[0])
        config.endOfSequence = endOfSequence
        if let value = options.lengthPenalty { config.lengthPenalty = value }
        if let value = options.earlyStopping { config.earlyStopping = value }
        if let value = options.noRepeatNgramSize { config.noRepeatNgramSize = value }
        if let value = options.repetitionPenalty { config.repetitionPenalty = value }
        let beams = max(1, options.numBeams ?? 1)
        let cache = KeyValueCache(layers: dims.layerCount, batch: beams, width: dims.keyValueHeadCount * dims.headDimension)
        let transformer = self.transformer
        let search = BeamSearch(
            processing: LogitsProcessing(config: config, maxLength: prompt.count + newTokens), beams: beams,
            returnSequences: options.numReturnSequences ?? 1,
            stepLogits: { next, position in
                let t = next[0].count, v = dims.vocabularySize
                let hidden = transformer.hiddenStates(
                    embeddings: Variable(constant: transformer.embed(next)), positions: Array(position..<(position + t)),
                    cache: cache, probe: nil)
                let last = selectRows(hidden, next.indices.map { $0 * t + t - 1 })
                let logits = transformer.logits(last).value.scalars
                guard FiniteWeights.firstNonFinite(logits) == nil else {
                    throw ModelError.nonFiniteOutput("the next-token logits at position \(position + t - 1)")
                }
                return next.indices.map { Array(logits[($0 * v)..<(($0 + 1) * v)]) }
            },
            reorder: cache.reorder)
        let result = search.generation(
            try search.run(start: prompt), startLength: prompt.count, decode: { self.decode($0, skipSpecialTokens: true) },
            tokenString: tokenizer.tokenString)
        return Generation(promptIds: prompt, tokens: result.tokens, text: result.beams.first?.text ?? "",
                          stopReason: result.stop, beams: result.beams)
    }

    /// Logits (T, V) at every position of one sequence.
    /// - Parameter probe: reads or changes activations (e.g. a `DropoutSampler`).
    public func logits(_ ids: [Int], probe: ActivationProbe? = nil) throws -> Tensor {
        let hidden = try hiddenStates(ids, probe: probe)
        return transformer.logits(reshape(hidden, [ids.count, transformer.dimensions.hiddenSize])).value
    }

    /// The final hidden states (1, T, C) of one sequence, without the unembedding: what reading
    /// activations needs (the unembedding is a fifth of a small model's forward).
    public func hiddenStates(_ ids: [Int], probe: ActivationProbe? = nil) throws -> Variable {
        let dims = transformer.dimensions
        guard !ids.isEmpty else { throw ModelError.emptyInput }
        guard ids.count <= dims.maxPositions else { throw ModelError.inputTooLong(tokens: ids.count, limit: dims.maxPositions) }
        try checkVocabulary(ids)
        return transformer.hiddenStates(embeddings: Variable(constant: transformer.embed([ids])),
                                        positions: Array(ids.indices), cache: nil, probe: probe)
    }
}
