import Foundation

/// config.json of a BART-layout checkpoint (Marian, BART, mBART share these fields), with
/// transformers' names and defaults; the shapes are required (no silent default for a size).
struct BartLayoutConfiguration: Decodable {
    var vocabSize: Int
    var decoderVocabSize: Int?
    var dModel: Int
    var encoderLayers: Int
    var decoderLayers: Int
    var encoderAttentionHeads: Int
    var decoderAttentionHeads: Int
    var encoderFfnDim: Int
    var decoderFfnDim: Int
    var maxPositionEmbeddings: Int
    var activationFunction: String = "gelu"
    var scaleEmbedding: Bool = false
    var shareEncoderDecoderEmbeddings: Bool = true
    var tieWordEmbeddings: Bool = true

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", decoderVocabSize = "decoder_vocab_size", dModel = "d_model"
        case encoderLayers = "encoder_layers", decoderLayers = "decoder_layers"
        case encoderAttentionHeads = "encoder_attention_heads", decoderAttentionHeads = "decoder_attention_heads"
        case encoderFfnDim = "encoder_ffn_dim", decoderFfnDim = "decoder_ffn_dim"
        case maxPositionEmbeddings = "max_position_embeddings", activationFunction = "activation_function"
        case scaleEmbedding = "scale_embedding", shareEncoderDecoderEmbeddings = "share_encoder_decoder_embeddings"
        case tieWordEmbeddings = "tie_word_embeddings"
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        decoderVocabSize = try c.decodeIfPresent(Int.self, forKey: .decoderVocabSize)
        dModel = try c.decode(Int.self, forKey: .dModel)
        encoderLayers = try c.decode(Int.self, forKey: .encoderLayers)
        decoderLayers = try c.decode(Int.self, forKey: .decoderLayers)
        encoderAttentionHeads = try c.decode(Int.self, forKey: .encoderAttentionHeads)
        decoderAttentionHeads = try c.decode(Int.self, forKey: .decoderAttentionHeads)
        encoderFfnDim = try c.decode(Int.self, forKey: .encoderFfnDim)
        decoderFfnDim = try c.decode(Int.self, forKey: .decoderFfnDim)
        maxPositionEmbeddings = try c.decode(Int.self, forKey: .maxPositionEmbeddings)
        activationFunction = try c.decodeIfPresent(String.self, forKey: .activationFunction) ?? activationFunction
        scaleEmbedding = try c.decodeIfPresent(Bool.self, forKey: .scaleEmbedding) ?? scaleEmbedding
        shareEncoderDecoderEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .shareEncoderDecoderEmbeddings) ?? true
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? true
    }

    /// The sizes, checked against the limits every loader enforces.
    struct Sizes {
        let dimensions: TransformerDimensions
        let encoderFeedForward: Int
        let decoderFeedForward: Int
    }

    func checkedSizes() throws -> Sizes {
        typealias Check = DimensionChecks
        let c = try Check.positive(dModel, "d_model", atMost: Check.maximumWidth)
        let vocabulary = try Check.positive(vocabSize, "vocab_size", atMost: Check.maximumVocabulary)
        if let target = decoderVocabSize, target != vocabulary {
            throw ModelError.invalidConfiguration("decoder_vocab_size \(target) differs from vocab_size \(vocabulary): separate target vocabularies are not supported")
        }
        guard shareEncoderDecoderEmbeddings else {
            throw ModelError.invalidConfiguration("share_encoder_decoder_embeddings false (separate target vocabularies) is not supported")
        }
        let heads = try Check.positive(decoderAttentionHeads, "decoder_attention_heads", atMost: Check.maximumHeads)
        guard try Check.positive(encoderAttentionHeads, "encoder_attention_heads", atMost: Check.maximumHeads) == heads else {
            throw ModelError.invalidConfiguration("encoder_attention_heads \(encoderAttentionHeads) differs from decoder_attention_heads \(heads)")
        }
        guard c % heads == 0 else { throw ModelError.invalidConfiguration("d_model \(c) is not a multiple of decoder_attention_heads \(heads)") }
        let positions = try Check.positive(maxPositionEmbeddings, "max_position_embeddings", atMost: Check.maximumPositions)
        _ = try Check.product(positions + 2, c, "max_position_embeddings × d_model")
        _ = try Check.product(vocabulary, c, "vocab_size × d_model")
        let dims = TransformerDimensions(
            layerCount: decoderLayers, hiddenSize: c, headCount: heads, keyValueHeadCount: heads,
            headDimension: c / heads, vocabularySize: vocabulary, maxPositions: positions)
        return Sizes(dimensions: dims,
                     encoderFeedForward: try Check.positive(encoderFfnDim, "encoder_ffn_dim", atMost: Check.maximumWidth),
                     decoderFeedForward: try Check.positive(decoderFfnDim, "decoder_ffn_dim", atMost: Check.maximumWidth))
    }

    /// `embed_scale`: sqrt(d_model) when `scale_embedding`, else 1.
    var embedScale: Float { scaleEmbedding ? Float(Double(dModel).squareRoot()) : 1 }
}
