import SeqLensTensor

// BART (transformers' models/bart/modeling_bart.py) and mBART (models/mbart/modeling_mbart.py):
// the BART layout with learned positions read at position + 2 (fairseq's padding offset),
// `layernorm_embedding` after embeddings + positions, GELU by default, `final_logits_bias`;
// BART's blocks are post-LN, mBART's pre-LN with a final `layer_norm` after each stack.

enum Bart {
    /// `model_type` "bart" (post-LN) or "mbart" (pre-LN, final norms).
    static func transformer(configuration cfg: BartLayoutConfiguration, weights: WeightSource, preNorm: Bool) throws
        -> BartLayoutTransformer
    {
        let sizes = try cfg.checkedSizes()
        let dims = sizes.dimensions
        // BartLearnedPositionalEmbedding: max_position_embeddings + 2 rows, the first two unused.
        let rows = [dims.maxPositions + 2, dims.hiddenSize]
        let encoderTable = PositionTable(table: try weights.tensor("model.encoder.embed_positions.weight", shape: rows), offset: 2)
        let decoderTable = PositionTable(table: try weights.tensor("model.decoder.embed_positions.weight", shape: rows), offset: 2)
        let options = BartLayoutOptions(
            preNorm: preNorm, embeddingNorm: true, finalNorms: preNorm, embedScale: cfg.embedScale,
            activation: try Activation(huggingFaceName: cfg.activationFunction))
        return try BartLayoutTransformer(
            dimensions: dims, encoderLayers: cfg.encoderLayers, encoderFeedForward: sizes.encoderFeedForward,
            decoderFeedForward: sizes.decoderFeedForward, options: options, positions: (encoderTable, decoderTable),
            tiedHead: cfg.tieWordEmbeddings, weights: weights)
    }
}
