import Foundation
import SeqLensTensor
import SeqLensTokenizers

/// A resident encoder-decoder model (Marian, ...) with its two-sided tokenizer and generation
/// config: what the layers above use for translation and summarisation models.
public final class EncoderDecoderModel: @unchecked Sendable {
    public let info: ModelInfo
    public let transformer: any EncoderDecoderTransformer
    public let tokenizer: any TwoSidedTokenizer
    public let generation: EncoderDecoderGenerationConfig

    init(info: ModelInfo, transformer: any EncoderDecoderTransformer, tokenizer: any TwoSidedTokenizer,
         generation: EncoderDecoderGenerationConfig) {
        self.info = info
        self.transformer = transformer
        self.tokenizer = tokenizer
        self.generation = generation
    }

    public var encoderLayerCount: Int { transformer.encoderLayerCount }

    /// Throws unless `ids` is a non-empty sequence of known ids that fits the positions.
    public func check(_ ids: [Int], side: TextSide) throws {
        let dims = transformer.dimensions
        guard !ids.isEmpty else { throw ModelError.emptyInput }
        guard ids.count <= dims.maxPositions else {
            throw ModelError.inputTooLong(tokens: ids.count, limit: dims.maxPositions)
        }
        if let id = ids.first(where: { $0 < 0 || $0 >= dims.vocabularySize }) {
            throw ModelError.tokenOutOfRange(id: id, vocabularySize: dims.vocabularySize)
        }
    }

    /// The cross-attention memory of one source, for `batch` identical rows.
    func memory(source: [Int], batch: Int = 1) throws -> CrossAttentionMemory {
        try check(source, side: .source)
        let encoded = transformer.encode(embeddings: Variable(constant: transformer.embedSource([source])), probe: nil)
        let memory = transformer.crossAttentionMemory(encoderOutput: encoded)
        return batch == 1 ? memory : memory.selecting(Array(repeating: 0, count: batch))
    }

    /// Logits (T, V) at every decoder position for `decoderInput` (the start token first) given `source`.
    public func logits(source: [Int], decoderInput: [Int]) throws -> Tensor {
        try check(decoderInput, side: .target)
        let memory = try memory(source: source)
        let hidden = transformer.decode(
            embeddings: Variable(constant: transformer.embedTarget([decoderInput])), positions: Array(decoderInput.indices),
            memory: memory, cache: nil, probe: nil)
        return transformer.logits(reshape(hidden, [decoderInput.count, transformer.dimensions.hiddenSize])).value
    }

    /// The decoder length (start token included) at which generation stops, as transformers
    /// derives it: 1 + max_new_tokens when given, else max_length; never beyond the positions.
    func maxLength(_ options: EncoderDecoderGenerationOptions) -> Int {
        let requested = options.maxNewTokens.map { $0 + 1 } ?? generation.maxNewTokens.map { $0 + 1 } ?? generation.maxLength
        return min(requested, transformer.dimensions.maxPositions)
    }

    /// Greedy decoding or beam search from `source`, with the checkpoint's logits processors.
    /// - Parameter onToken: called after each greedy token (not during beam search); throw to stop.
    public func generate(
        source: [Int], options: EncoderDecoderGenerationOptions,
        onToken: (GeneratedToken, Int) throws -> Void = { _, _ in }
    ) throws -> EncoderDecoderGeneration {
        var config = generation
        if let value = options.lengthPenalty { config.lengthPenalty = value }
        if let value = options.earlyStopping { config.earlyStopping = value }
        if let value = options.noRepeatNgramSize { config.noRepeatNgramSize = value }
        if let value = options.repetitionPenalty { config.repetitionPenalty = value }
        let beams = options.numBeams ?? config.numBeams
        let processing = LogitsProcessing(config: config, maxLength: maxLength(options))
        if beams <= 1 {
            return try greedy(source: source, processing: processing, returnTopK: options.returnTopK, onToken: onToken)
        }
        let dims = transformer.dimensions
        let memory = try memory(source: source, batch: beams)
        let cache = KeyValueCache(layers: dims.layerCount, batch: beams, width: dims.keyValueHeadCount * dims.headDimension)
        let search = BeamSearch(
            processing: processing, beams: beams, returnSequences: options.numReturnSequences ?? config.numReturnSequences,
            stepLogits: { next, position in
                try self.stepLogits(memory: memory, cache: cache, next: next.map { $0.last! }, position: position)
            },
            reorder: cache.reorder)
        let result = search.generation(
            try search.run(start: [generation.decoderStartTokenID]), startLength: 1,
            decode: { self.tokenizer.decode($0, side: .target, skipSpecialTokens: true) }, tokenString: tokenizer.tokenString)
        return EncoderDecoderGeneration(sourceIds: source, tokens: result.tokens, text: result.beams.first?.text ?? "",
                                        stopReason: result.stop, beams: result.beams, transitionScores: result.transitionScores)
    }

    private func greedy(
        source: [Int], processing: LogitsProcessing, returnTopK: Int, onToken: (GeneratedToken, Int) throws -> Void
    ) throws -> EncoderDecoderGeneration {
        let dims = transformer.dimensions
        let memory = try memory(source: source)
        let cache = KeyValueCache(layers: dims.layerCount, batch: 1, width: dims.keyValueHeadCount * dims.headDimension)
        var sequence = [generation.decoderStartTokenID]
        var tokens: [GeneratedToken] = []
        var scores: [Float] = []
        var stop = StopReason.maxNewTokens
        while sequence.count < processing.maxLength {
            let raw = try stepLogits(memory: memory, cache: cache, next: [sequence.last!], position: sequence.count - 1)[0]
            var processed = raw
            processing.apply(&processed, sequence: sequence)
            processing.renormalize(&processed)
            let chosen = Sampler.argmax(processed)
            let probabilities = Sampler.softmax(raw)
            let token = GeneratedToken(id: chosen, token: tokenizer.tokenString(chosen), probability: probabilities[chosen],
                                       alternatives: topAlternatives(probabilities, returnTopK))
            tokens.append(token)
            scores.append(processed[chosen])
            sequence.append(chosen)
            try onToken(token, tokens.count - 1)
            if generation.endOfSequence.contains(chosen) {
                stop = .endOfSequence
                break
            }
        }
        let ids = tokens.map(\.id)
        let text = tokenizer.decode(ids, side: .target, skipSpecialTokens: true)
        return EncoderDecoderGeneration(sourceIds: source, tokens: tokens, text: text, stopReason: stop, beams: [],
                                        transitionScores: scores)
    }

    /// Next-token logits (B, V) for one new position of each of B rows.
    func stepLogits(memory: CrossAttentionMemory, cache: KeyValueCache, next: [Int], position: Int) throws -> [[Float]] {
        let hidden = transformer.decode(
            embeddings: Variable(constant: transformer.embedTarget(next.map { [$0] })), positions: [position],
            memory: memory, cache: cache, probe: nil)
        let v = transformer.dimensions.vocabularySize
        let logits = transformer.logits(reshape(hidden, [next.count, transformer.dimensions.hiddenSize])).value.scalars
        guard FiniteWeights.firstNonFinite(logits) == nil else {
            throw ModelError.nonFiniteOutput("the decoder's logits at target position \(position)")
        }
        return (0..<next.count).map { Array(logits[($0 * v)..<(($0 + 1) * v)]) }
    }

    func topAlternatives(_ probabilities: [Float], _ count: Int) -> [TokenProbability] {
        guard count > 0 else { return [] }
        let top = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(count)
        return top.map { TokenProbability(id: $0, token: tokenizer.tokenString($0), probability: probabilities[$0]) }
    }
}

/// Decoding settings for an encoder-decoder model; nil takes the checkpoint's generation config.
public struct EncoderDecoderGenerationOptions: Sendable, Equatable {
    public var maxNewTokens: Int?
    public var numBeams: Int?
    public var numReturnSequences: Int?
    public var lengthPenalty: Float?
    public var earlyStopping: EncoderDecoderGenerationConfig.EarlyStopping?
    public var noRepeatNgramSize: Int?
    public var repetitionPenalty: Float?
    public var returnTopK: Int = 0

    public init() {}
}

/// One finished beam: its decoder ids (start token excluded), transformers' sequence score and
/// the processed log-probability of each of its tokens.
public struct Beam: Sendable, Equatable {
    public var ids: [Int]
    public var text: String
    public var sequenceScore: Float
    public var transitionScores: [Float]
}

/// The result of generating from one source.
public struct EncoderDecoderGeneration: Sendable {
    public var sourceIds: [Int]
    /// The generated tokens (the best beam's), without the decoder start token.
    public var tokens: [GeneratedToken]
    public var text: String
    public var stopReason: StopReason
    /// Beam search only: the returned beams, best first.
    public var beams: [Beam]
    /// The processed log-probability of each generated token (greedy).
    public var transitionScores: [Float]
}
