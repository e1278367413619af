import SeqLensTensor

// The encoder-decoder layout that Marian, BART, mBART and M2M100/NLLB share in transformers
// (modeling_marian.py, modeling_bart.py, ...): token embeddings times a scale plus positions,
// blocks of self-attention (+ cross-attention in the decoder) and a two-layer MLP, each with a
// residual and a LayerNorm placed after (post-LN) or before (pre-LN) it, biases everywhere, an LM
// head over the shared embeddings plus `final_logits_bias`. A family file decodes its config and
// names these options; the forward code is written once here.

/// How a family adds positions to the scaled token embeddings: rows of a table (P, C), fixed
/// (Marian's sinusoids) or learned (BART's), indexed by position + offset (BART's 2).
struct PositionTable: Sendable {
    let table: Tensor
    let offset: Int

    func rows(_ positions: [Int]) -> Tensor { gatherRows(table, positions.map { $0 + offset }) }
}

/// Options a family sets on the shared layout.
struct BartLayoutOptions: Sendable {
    /// LayerNorm after each residual add (Marian, BART) or before each sublayer (mBART, M2M100).
    var preNorm: Bool
    /// A LayerNorm right after embeddings + positions (BART, mBART's `layernorm_embedding`).
    var embeddingNorm: Bool
    /// A LayerNorm after each stack's last block (mBART, M2M100's `layer_norm`).
    var finalNorms: Bool
    var embedScale: Float
    var activation: Activation
    var layerNormEpsilon: Float = 1e-5
}

struct BartLayoutTransformer: EncoderDecoderTransformer {
    struct Norm {
        let gamma: Tensor, beta: Tensor
    }

    struct AttentionWeights {
        let query: Linear, key: Linear, value: Linear, output: Linear
    }

    struct Block {
        let selfAttention: AttentionWeights
        let selfNorm: Norm
        /// Decoder blocks only.
        let crossAttention: AttentionWeights?
        let crossNorm: Norm?
        let up: Linear, down: Linear
        let finalNorm: Norm
    }

    struct Stack {
        let embeddingNorm: Norm?
        let blocks: [Block]
        let finalNorm: Norm?
        let positions: PositionTable
        let tokenEmbeddings: Tensor
    }

    let dimensions: TransformerDimensions
    let options: BartLayoutOptions
    let encoder: Stack
    let decoder: Stack
    let head: Linear
    let finalLogitsBias: Tensor?

    var encoderLayerCount: Int { encoder.blocks.count }

    /// Reads the weights under transformers' names (`model.encoder.layers.{i}.self_attn.q_proj.weight`, ...).
    /// - Parameters:
    ///   - positions: the encoder's and decoder's position encodings.
    ///   - tiedHead: whether the LM head is the decoder's token embeddings (else `lm_head.weight`).
    init(
        dimensions: TransformerDimensions, encoderLayers: Int, encoderFeedForward: Int, decoderFeedForward: Int,
        options: BartLayoutOptions, positions: (encoder: PositionTable, decoder: PositionTable),
        tiedHead: Bool, weights: WeightSource
    ) throws {
        let c = dimensions.hiddenSize, v = dimensions.vocabularySize
        typealias Check = DimensionChecks
        try Check.checkLayers(encoderLayers, field: "encoder_layers", in: weights) { "model.encoder.layers.\($0).fc1.weight" }
        try Check.checkLayers(dimensions.layerCount, field: "decoder_layers", in: weights) { "model.decoder.layers.\($0).fc1.weight" }
        func norm(_ name: String) throws -> Norm {
            Norm(gamma: try weights.tensor(name + ".weight", shape: [c]), beta: try weights.tensor(name + ".bias", shape: [c]))
        }
        func linear(_ name: String, _ input: Int, _ output: Int) throws -> Linear {
            Linear(weight: try weights.tensor(name + ".weight", shape: [output, input]),
                   bias: try weights.tensor(name + ".bias", shape: [output]), transposed: true,
                   packed: try weights.packedMatrix(name + ".weight", shape: [output, input]))
        }
        func attention(_ name: String) throws -> AttentionWeights {
            AttentionWeights(query: try linear(name + ".q_proj", c, c), key: try linear(name + ".k_proj", c, c),
                             value: try linear(name + ".v_proj", c, c), output: try linear(name + ".out_proj", c, c))
        }
        func block(_ prefix: String, decoder: Bool, feedForward: Int) throws -> Block {
            Block(selfAttention: try attention(prefix + "self_attn"), selfNorm: try norm(prefix + "self_attn_layer_norm"),
                  crossAttention: decoder ? try attention(prefix + "encoder_attn") : nil,
                  crossNorm: decoder ? try norm(prefix + "encoder_attn_layer_norm") : nil,
                  up: try linear(prefix + "fc1", c, feedForward), down: try linear(prefix + "fc2", feedForward, c),
                  finalNorm: try norm(prefix + "final_layer_norm"))
        }
        // Each stack reads its own `embed_tokens`: a copy of `model.shared` when tied (some files
        // store only `model.shared`), its own table when tie_word_embeddings is false.
        func embeddings(_ names: [String]) throws -> Tensor {
            let name = names.first(where: weights.contains) ?? names[0]
            return try weights.tensor(name, shape: [v, c])
        }
        let sourceTable = try embeddings(["model.encoder.embed_tokens.weight", "model.shared.weight"])
        let targetTable = try embeddings(["model.decoder.embed_tokens.weight", "model.shared.weight"])
        encoder = Stack(
            embeddingNorm: options.embeddingNorm ? try norm("model.encoder.layernorm_embedding") : nil,
            blocks: try (0..<encoderLayers).map { try block("model.encoder.layers.\($0).", decoder: false, feedForward: encoderFeedForward) },
            finalNorm: options.finalNorms ? try norm("model.encoder.layer_norm") : nil,
            positions: positions.encoder, tokenEmbeddings: sourceTable)
        decoder = Stack(
            embeddingNorm: options.embeddingNorm ? try norm("model.decoder.layernorm_embedding") : nil,
            blocks: try (0..<dimensions.layerCount).map { try block("model.decoder.layers.\($0).", decoder: true, feedForward: decoderFeedForward) },
            finalNorm: options.finalNorms ? try norm("model.decoder.layer_norm") : nil,
            positions: positions.decoder, tokenEmbeddings: targetTable)
        if tiedHead || !weights.contains("lm_head.weight") {
            head = Linear(weight: targetTable, bias: nil, transposed: true)
        } else {
            head = Linear(weight: try weights.tensor("lm_head.weight", shape: [v, c]), bias: nil, transposed: true,
                          packed: try weights.packedMatrix("lm_head.weight", shape: [v, c]))
        }
        finalLogitsBias = weights.contains("final_logits_bias") ? try weights.tensor("final_logits_bias", shape: [1, v]) : nil
        self.dimensions = dimensions
        self.options = options
    }

    func embedSource(_ ids: [[Int]]) -> Tensor { scaledEmbeddings(encoder.tokenEmbeddings, ids) }
    func embedTarget(_ ids: [[Int]]) -> Tensor { scaledEmbeddings(decoder.tokenEmbeddings, ids) }

    private func scaledEmbeddings(_ table: Tensor, _ ids: [[Int]]) -> Tensor {
        let t = ids.first?.count ?? 0
        var rows = gatherRows(table, ids.flatMap { $0 })
        if options.embedScale != 1 {
            let scale = options.embedScale
            rows = Tensor(shape: rows.shape, scalars: rows.scalars.map { $0 * scale })
        }
        return rows.reshaped([ids.count, t, dimensions.hiddenSize])
    }

    /// Embeddings plus the stack's positions (a constant shared by the batch) and the optional norm.
    private func stackInput(_ stack: Stack, _ embeddings: Variable, positions: [Int]) -> Variable {
        let b = embeddings.shape[0], t = embeddings.shape[1], c = dimensions.hiddenSize
        let table = stack.positions.rows(positions)
        var repeated = [Float](repeating: 0, count: b * t * c)
        for batch in 0..<b {
            for i in 0..<(t * c) { repeated[batch * t * c + i] = table.scalars[i] }
        }
        let x = add(embeddings, Variable(constant: Tensor(shape: [b, t, c], scalars: repeated)))
        guard let norm = stack.embeddingNorm else { return x }
        return layerNorm(x, gamma: norm.gamma, beta: norm.beta, epsilon: options.layerNormEpsilon)
    }

    private func normed(_ x: Variable, _ norm: Norm) -> Variable {
        layerNorm(x, gamma: norm.gamma, beta: norm.beta, epsilon: options.layerNormEpsilon)
    }

    /// One sublayer with its residual and norm, pre- or post-LN.
    private func residual(_ x: Variable, _ norm: Norm, _ sublayer: (Variable) -> Variable) -> Variable {
        options.preNorm ? add(x, sublayer(normed(x, norm))) : normed(add(x, sublayer(x)), norm)
    }

    private var scale: Float { 1 / Float(dimensions.headDimension).squareRoot() }

    func encode(embeddings: Variable, probe: ActivationProbe?) -> Variable {
        let heads = dimensions.headCount
        let s = embeddings.shape[1]
        var x = probe.visit(Site(.embed, stack: .encoder), embeddings)
        x = stackInput(encoder, x, positions: Array(0..<s))
        for (i, block) in encoder.blocks.enumerated() {
            func site(_ kind: Site.Kind) -> Site { Site(kind, layer: i, stack: .encoder) }
            x = probe.visit(site(.residPre), x)
            let afterAttention = residual(x, block.selfNorm) { h in
                let w = block.selfAttention
                let result = attention(query: w.query(h), key: w.key(h), value: w.value(h), queryHeads: heads,
                                       keyValueHeads: heads, mask: .full, scale: scale)
                probe.observe(site(.attentionPattern), result.probabilities)
                let z = probe.visit(site(.attentionZ), result.output)
                return probe.visit(site(.attentionOut), w.output(z))
            }
            x = probe.visit(site(.residMid), afterAttention)
            let afterMLP = residual(x, block.finalNorm) { h in
                probe.visit(site(.mlpOut), block.down(options.activation(block.up(h))))
            }
            x = probe.visit(site(.residPost), afterMLP)
        }
        if let norm = encoder.finalNorm { x = normed(x, norm) }
        return probe.visit(Site(.finalNormOut, stack: .encoder), x)
    }

    func crossAttentionMemory(encoderOutput: Variable) -> CrossAttentionMemory {
        let layers = decoder.blocks.compactMap(\.crossAttention)
        return CrossAttentionMemory(keys: layers.map { $0.key(encoderOutput) }, values: layers.map { $0.value(encoderOutput) })
    }

    func decode(
        embeddings: Variable, positions: [Int], memory: CrossAttentionMemory, cache: KeyValueCache?,
        probe: ActivationProbe?
    ) -> Variable {
        let heads = dimensions.headCount
        let t = embeddings.shape[1]
        var x = probe.visit(Site(.embed, stack: .decoder), embeddings)
        x = stackInput(decoder, x, positions: positions)
        for (i, block) in decoder.blocks.enumerated() {
            func site(_ kind: Site.Kind) -> Site { Site(kind, layer: i, stack: .decoder) }
            x = probe.visit(site(.residPre), x)
            let afterSelf = residual(x, block.selfNorm) { h in
                let w = block.selfAttention
                let (key, value) = KeyValueCache.keysAndValues(cache, layer: i, key: w.key(h), value: w.value(h))
                let result = attention(query: w.query(h), key: key, value: value, queryHeads: heads, keyValueHeads: heads,
                                       mask: .causal(offset: key.shape[1] - t), scale: scale)
                probe.observe(site(.attentionPattern), result.probabilities)
                let z = probe.visit(site(.attentionZ), result.output)
                return probe.visit(site(.attentionOut), w.output(z))
            }
            x = afterSelf
            let afterCross = residual(x, block.crossNorm!) { h in
                let w = block.crossAttention!
                let result = attention(query: w.query(h), key: memory.keys[i], value: memory.values[i], queryHeads: heads,
                                       keyValueHeads: heads, mask: .full, scale: scale)
                probe.observe(site(.crossAttentionPattern), result.probabilities)
                let z = probe.visit(site(.crossAttentionZ), result.output)
                return probe.visit(site(.crossAttentionOut), w.output(z))
            }
            x = probe.visit(site(.residMid), afterCross)
            let afterMLP = residual(x, block.finalNorm) { h in
                probe.visit(site(.mlpOut), block.down(options.activation(block.up(h))))
            }
            x = probe.visit(site(.residPost), afterMLP)
        }
        if let norm = decoder.finalNorm { x = normed(x, norm) }
        return probe.visit(Site(.finalNormOut, stack: .decoder), x)
    }

    func logits(_ hidden: Variable) -> Variable {
        let out = head(hidden)
        guard let bias = finalLogitsBias else { return out }
        let n = out.shape[0], v = out.shape[1]
        var tiled = [Float](repeating: 0, count: n * v)
        for row in 0..<n { for j in 0..<v { tiled[row * v + j] = bias.scalars[j] } }
        return add(out, Variable(constant: Tensor(shape: [n, v], scalars: tiled)))
    }
}
