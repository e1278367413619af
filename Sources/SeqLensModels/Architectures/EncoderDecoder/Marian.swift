import Foundation
import SeqLensTensor

// Marian (transformers' models/marian/modeling_marian.py): the BART layout with post-LN blocks, no
// embedding norm, sinusoidal positions laid out [sin | cos] (not interleaved) from position 0,
// embeddings scaled by sqrt(d_model) when `scale_embedding`, and `final_logits_bias`.

enum Marian {
    static func transformer(configuration cfg: BartLayoutConfiguration, weights: WeightSource) throws -> BartLayoutTransformer {
        let sizes = try cfg.checkedSizes()
        let dims = sizes.dimensions
        let table = PositionTable(table: sinusoids(positions: dims.maxPositions, width: dims.hiddenSize), offset: 0)
        let options = BartLayoutOptions(
            preNorm: false, embeddingNorm: false, finalNorms: false, embedScale: cfg.embedScale,
            activation: try Activation(huggingFaceName: cfg.activationFunction))
        return try BartLayoutTransformer(
            dimensions: dims, encoderLayers: cfg.encoderLayers, encoderFeedForward: sizes.encoderFeedForward,
            decoderFeedForward: sizes.decoderFeedForward, options: options, positions: (table, table),
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
