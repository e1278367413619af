import Foundation
import SeqLensTensor

// Marian (transformers' models/marian/modeling_marian.py): the BART layout with post-LN blocks, no
// embedding norm, sinusoidal positions laid out [sin | cos] (not interleaved) from position 0,
// embeddings scaled by sqrt(d_model) when `scale_embedding`, and `final_logits_bias`.

/// config.json of a Marian checkpoint, with transformers' field names and defaults; the shapes are
/// required (no silent default for a size).
struct MarianConfiguration: Decodable {
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
}

enum Marian {
    static func transformer(configuration cfg: MarianConfiguration, weights: WeightSource) throws -> BartLayoutTransformer {
        typealias Check = DimensionChecks
        let c = try Check.positive(cfg.dModel, "d_model", atMost: Check.maximumWidth)
        let vocabulary = try Check.positive(cfg.vocabSize, "vocab_size", atMost: Check.maximumVocabulary)
        if let target = cfg.decoderVocabSize, target != vocabulary {
            throw ModelError.invalidConfiguration("decoder_vocab_size \(target) differs from vocab_size \(vocabulary): separate target vocabularies are not supported")
        }
        guard cfg.shareEncoderDecoderEmbeddings else {
            throw ModelError.invalidConfiguration("share_encoder_decoder_embeddings false (separate target vocabularies) is not supported")
        }
        let heads = try Check.positive(cfg.decoderAttentionHeads, "decoder_attention_heads", atMost: Check.maximumHeads)
        guard try Check.positive(cfg.encoderAttentionHeads, "encoder_attention_heads", atMost: Check.maximumHeads) == heads else {
            throw ModelError.invalidConfiguration("encoder_attention_heads \(cfg.encoderAttentionHeads) differs from decoder_attention_heads \(heads)")
        }
        guard c % heads == 0 else { throw ModelError.invalidConfiguration("d_model \(c) is not a multiple of decoder_attention_heads \(heads)") }
        let positions = try Check.positive(cfg.maxPositionEmbeddings, "max_position_embeddings", atMost: Check.maximumPositions)
        _ = try Check.product(positions, c, "max_position_embeddings × d_model")
        _ = try Check.product(vocabulary, c, "vocab_size × d_model")
        let encoderFeedForward = try Check.positive(cfg.encoderFfnDim, "encoder_ffn_dim", atMost: Check.maximumWidth)
        let decoderFeedForward = try Check.positive(cfg.decoderFfnDim, "decoder_ffn_dim", atMost: Check.maximumWidth)
        let dims = TransformerDimensions(
            layerCount: cfg.decoderLayers, hiddenSize: c, headCount: heads, keyValueHeadCount: heads,
            headDimension: c / heads, vocabularySize: vocabulary, maxPositions: positions)
        let table = PositionTable(table: sinusoids(positions: positions, width: c), offset: 0)
        let options = BartLayoutOptions(
            preNorm: false, embeddingNorm: false, finalNorms: false,
            embedScale: cfg.scaleEmbedding ? Float(Double(c).squareRoot()) : 1,
            activation: try Activation(huggingFaceName: cfg.activationFunction))
        return try BartLayoutTransformer(
            dimensions: dims, encoderLayers: cfg.encoderLayers, encoderFeedForward: encoderFeedForward,
            decoderFeedForward: decoderFeedForward, options: options, positions: (table, table),
            tiedHead: cfg.tieWordEmbeddings, weights: weights)
    }

    /// MarianSinusoidalPositionalEmbedding.create_weight: for k < C/2, angle = pos / 10000^(2k / C)
    /// in float64, sin in the first half and cos in the second, then rounded to float32.
    static func sinusoids(positions: Int, width: Int) -> Tensor {
        let half = width / 2, sentinel = width % 2 == 0 ? half : half + 1
        var table = [Float](repeating: 0, count: positions * width)
        for position in 0..<positions {
            for j in 0..<width {
                // Column j of the [sin | cos] halves reads frequency index j (sines) or j - sentinel (cosines).
                let sine = j < sentinel
                let index = sine ? j : j - sentinel
                // np.power(10000, 2 * (j // 2) / dim) over the interleaved columns 2k and 2k + 1.
                let column = sine ? 2 * index : 2 * index + 1
                let angle = Double(position) / pow(10000, Double(2 * (column / 2)) / Double(width))
                table[position * width + j] = Float(sine ? sin(angle) : cos(angle))
            }
        }
        return Tensor(shape: [positions, width], scalars: table)
    }
}
