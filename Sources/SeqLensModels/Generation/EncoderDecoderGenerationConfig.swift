import Foundation

/// What generation_config.json (else config.json) tells transformers 5's `generate` about an
/// encoder-decoder checkpoint: how decoding starts, which tokens are forced or banned, and the
/// search defaults.
public struct EncoderDecoderGenerationConfig: Sendable, Equatable {
    public var decoderStartTokenID: Int
    public var endOfSequence: Set<Int>
    public var padTokenID: Int?
    public var forcedBOSTokenID: Int?
    public var forcedEOSTokenIDs: [Int]
    /// Token sequences never generated (single-token entries are banned at every step).
    public var badWordsIDs: [[Int]]
    /// Whether the processed scores are log-softmaxed again (LogitNormalization).
    public var renormalizeLogits: Bool
    public var numBeams: Int
    /// Total decoder length (the start token included), when `max_new_tokens` is not given.
    public var maxLength: Int
    public var maxNewTokens: Int?
    public var lengthPenalty: Float
    public var earlyStopping: EarlyStopping
    public var noRepeatNgramSize: Int
    public var repetitionPenalty: Float
    public var numReturnSequences: Int

    /// transformers' `early_stopping`: true, false or "never".
    public enum EarlyStopping: Sendable, Equatable {
        case yes, no, never
    }

    public init(decoderStartTokenID: Int) {
        self.decoderStartTokenID = decoderStartTokenID
        endOfSequence = []
        forcedEOSTokenIDs = []
        badWordsIDs = []
        renormalizeLogits = false
        numBeams = 1
        maxLength = 20
        lengthPenalty = 1
        earlyStopping = .no
        noRepeatNgramSize = 0
        repetitionPenalty = 1
        numReturnSequences = 1
    }

    /// Reads generation_config.json when present, config.json otherwise, as transformers 5 does
    /// (a generation_config.json replaces the model config's generation fields).
    static func read(config: Data, generation: Data?) throws -> EncoderDecoderGenerationConfig {
        let file: Fields
        do {
            file = try JSONDecoder().decode(Fields.self, from: generation ?? config)
        } catch let error as DecodingError {
            throw ModelError.invalidConfiguration("\(generation == nil ? "config.json" : "generation_config.json"): \(ArchitectureRegistry.describe(error))")
        }
        let fallback = try? JSONDecoder().decode(Fields.self, from: config)
        guard let start = file.decoderStartTokenId ?? fallback?.decoderStartTokenId else {
            throw ModelError.invalidConfiguration("neither generation_config.json nor config.json gives decoder_start_token_id")
        }
        var result = EncoderDecoderGenerationConfig(decoderStartTokenID: start)
        result.endOfSequence = Set(file.eosTokenId?.ids ?? fallback?.eosTokenId?.ids ?? [])
        result.padTokenID = file.padTokenId ?? fallback?.padTokenId
        result.forcedBOSTokenID = file.forcedBosTokenId
        result.forcedEOSTokenIDs = file.forcedEosTokenId?.ids ?? []
        result.badWordsIDs = file.badWordsIds ?? []
        result.renormalizeLogits = file.renormalizeLogits ?? false
        result.numBeams = file.numBeams ?? 1
        result.maxLength = file.maxLength ?? 20
        result.maxNewTokens = file.maxNewTokens
        result.lengthPenalty = file.lengthPenalty ?? 1
        result.earlyStopping = file.earlyStopping ?? .no
        result.noRepeatNgramSize = file.noRepeatNgramSize ?? 0
        result.repetitionPenalty = file.repetitionPenalty ?? 1
        result.numReturnSequences = file.numReturnSequences ?? 1
        return result
    }

    private struct Fields: Decodable {
        var decoderStartTokenId: Int?
        var eosTokenId: TokenIDs?
        var padTokenId: Int?
        var forcedBosTokenId: Int?
        var forcedEosTokenId: TokenIDs?
        var badWordsIds: [[Int]]?
        var renormalizeLogits: Bool?
        var numBeams: Int?
        var maxLength: Int?
        var maxNewTokens: Int?
        var lengthPenalty: Float?
        var earlyStopping: EarlyStopping?
        var noRepeatNgramSize: Int?
        var repetitionPenalty: Float?
        var numReturnSequences: Int?

        enum CodingKeys: String, CodingKey {
            case decoderStartTokenId = "decoder_start_token_id", eosTokenId = "eos_token_id", padTokenId = "pad_token_id"
            case forcedBosTokenId = "forced_bos_token_id", forcedEosTokenId = "forced_eos_token_id"
            case badWordsIds = "bad_words_ids", renormalizeLogits = "renormalize_logits", numBeams = "num_beams"
            case maxLength = "max_length", maxNewTokens = "max_new_tokens", lengthPenalty = "length_penalty"
            case earlyStopping = "early_stopping", noRepeatNgramSize = "no_repeat_ngram_size"
            case repetitionPenalty = "repetition_penalty", numReturnSequences = "num_return_sequences"
        }
    }
}

extension EncoderDecoderGenerationConfig.EarlyStopping: Decodable {
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let flag = try? c.decode(Bool.self) {
            self = flag ? .yes : .no
        } else if try c.decode(String.self) == "never" {
            self = .never
        } else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "early_stopping must be true, false or \"never\"")
        }
    }
}
