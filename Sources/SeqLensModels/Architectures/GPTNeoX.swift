import SeqLensTensor

// GPT-NeoX / Pythia, following transformers' models/gpt_neox/modeling_gpt_neox.py: layer norms
// with bias, one `query_key_value` projection laid out per head ([q_h | k_h | v_h] for each head
// h), rotary positions on the first `partial_rotary_factor` of each head, GELU MLP, parallel
// residual (x + attn(ln1(x)) + mlp(ln2(x))) or sequential, untied `embed_out` head.

/// config.json of a GPT-NeoX checkpoint: shapes required, options with transformers' defaults.
public struct GPTNeoXConfiguration: Decodable, Sendable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var maxPositionEmbeddings: Int
    public var hiddenAct = "gelu"
    public var layerNormEps: Float = 1e-5
    public var useParallelResidual = true
    public var attentionBias = true
    public var tieWordEmbeddings = false
    public var ropeTheta: Float = 10000
    public var partialRotaryFactor: Float = 0.25

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case maxPositionEmbeddings = "max_position_embeddings", hiddenAct = "hidden_act"
        case layerNormEps = "layer_norm_eps", useParallelResidual = "use_parallel_residual"
        case attentionBias = "attention_bias", tieWordEmbeddings = "tie_word_embeddings"
        case ropeParameters = "rope_parameters", rotaryEmbBase = "rotary_emb_base", rotaryPct = "rotary_pct"
    }

    enum RopeKeys: String, CodingKey {
        case ropeTheta = "rope_theta", ropeType = "rope_type", partialRotaryFactor = "partial_rotary_factor"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        maxPositionEmbeddings = try c.decode(Int.self, forKey: .maxPositionEmbeddings)
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? hiddenAct
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? layerNormEps
        useParallelResidual = try c.decodeIfPresent(Bool.self, forKey: .useParallelResidual) ?? useParallelResidual
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? attentionBias
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? tieWordEmbeddings
        // transformers 5 keeps both in rope_parameters; older configs say rotary_emb_base, rotary_pct.
        ropeTheta = try c.decodeIfPresent(Float.self, forKey: .rotaryEmbBase) ?? ropeTheta
        partialRotaryFactor = try c.decodeIfPresent(Float.self, forKey: .rotaryPct) ?? partialRotaryFactor
        if let rope = try? c.nestedContainer(keyedBy: RopeKeys.self, forKey: .ropeParameters) {
            ropeTheta = try rope.decodeIfPresent(Float.self, forKey: .ropeTheta) ?? ropeTheta
            partialRotaryFactor = try rope.decodeIfPresent(Float.self, forKey: .partialRotaryFactor) ?? partialRotaryFactor
            if let type = try rope.decodeIfPresent(String.self, forKey: .ropeType), type != "default" {
                throw ModelError.invalidConfiguration(
                    "rope_parameters type '\(type)' is not supported (only 'default' rotary positions)")
            }
        }
    }
}

public struct GPTNeoX: CausalTransformer {
    struct Block {
        let norm1Gamma: Tensor, norm1Beta: Tensor
        let query: Linear, key: Linear, value: Linear, output: Linear
        let norm2Gamma: Tensor, norm2Beta: Tensor
        let up: Linear, down: Linear
    }

    public let dimensions: TransformerDimensions
    let configuration: GPTNeoXConfiguration
    let tokenEmbeddings: Tensor  // (V, C)
    let blocks: [Block]
    let finalGamma: Tensor, finalBeta: Tensor
    let head: Linear
    let rotary: RotaryEmbedding
    let activation: Activation

    public init(configuration cfg: GPTNeoXConfiguration, weights: WeightSource) throws {
        typealias Check = DimensionChecks
        let c = try Check.positive(cfg.hiddenSize, "hidden_size", atMost: Check.maximumWidth)
        let h = try Check.positive(cfg.numAttentionHeads, "num_attention_heads", atMost: Check.maximumHeads)
        guard c % h == 0 else {
            throw ModelError.invalidConfiguration("hidden_size \(c) is not a multiple of num_attention_heads \(h)")
        }
        let d = c / h
        let inner = try Check.positive(cfg.intermediateSize, "intermediate_size", atMost: Check.maximumWidth)
        _ = try Check.positive(cfg.vocabSize, "vocab_size", atMost: Check.maximumVocabulary)
        _ = try Check.positive(cfg.maxPositionEmbeddings, "max_position_embeddings", atMost: Check.maximumPositions)
        _ = try Check.product(cfg.vocabSize, c, "vocab_size × hidden_size")
        _ = try Check.product(inner, c, "intermediate_size × hidden_size")
        _ = try Check.nonNegative(cfg.layerNormEps, "layer_norm_eps")
        _ = try Check.nonNegative(cfg.ropeTheta, "rope_theta")
        let rotated = Int(Float(d) * cfg.partialRotaryFactor)
        guard cfg.partialRotaryFactor > 0, cfg.partialRotaryFactor <= 1, rotated >= 2, rotated % 2 == 0 else {
            throw ModelError.invalidConfiguration(
                "partial_rotary_factor \(cfg.partialRotaryFactor) of a \(d)-wide head must rotate an even number of dimensions")
        }
        try Check.checkLayers(cfg.numHiddenLayers, field: "num_hidden_layers", in: weights) {
            "gpt_neox.layers.\($0).input_layernorm.weight"
        }
        configuration = cfg
        activation = try Activation(huggingFaceName: cfg.hiddenAct)
        rotary = RotaryEmbedding(headDimension: d, base: cfg.ropeTheta, rotaryDimension: rotated)
        dimensions = TransformerDimensions(
            layerCount: cfg.numHiddenLayers, hiddenSize: c, headCount: h, keyValueHeadCount: h, headDimension: d,
            vocabularySize: cfg.vocabSize, maxPositions: cfg.maxPositionEmbeddings)
        tokenEmbeddings = try weights.tensor("gpt_neox.embed_in.weight", shape: [cfg.vocabSize, c])
        func linear(_ name: String, _ input: Int, _ output: Int, bias: Bool = true) throws -> Linear {
            Linear(weight: try weights.tensor(name + ".weight", shape: [output, input]),
                   bias: bias ? try weights.tensor(name + ".bias", shape: [output]) : nil, transposed: true)
        }
        var blocks: [Block] = []
        for i in 0..<cfg.numHiddenLayers {
            let p = "gpt_neox.layers.\(i)."
            let fused = try linear(p + "attention.query_key_value", c, 3 * c, bias: cfg.attentionBias)
            let (query, key, value) = Self.split(fused, heads: h, width: d, inputs: c)
            blocks.append(Block(
                norm1Gamma: try weights.tensor(p + "input_layernorm.weight", shape: [c]),
                norm1Beta: try weights.tensor(p + "input_layernorm.bias", shape: [c]),
                query: query, key: key, value: value,
                output: try linear(p + "attention.dense", c, c, bias: cfg.attentionBias),
                norm2Gamma: try weights.tensor(p + "post_attention_layernorm.weight", shape: [c]),
                norm2Beta: try weights.tensor(p + "post_attention_layernorm.bias", shape: [c]),
                up: try linear(p + "mlp.dense_h_to_4h", c, inner), down: try linear(p + "mlp.dense_4h_to_h", inner, c)))
        }
        self.blocks = blocks
        finalGamma = try weights.tensor("gpt_neox.final_layer_norm.weight", shape: [c])
        finalBeta = try weights.tensor("gpt_neox.final_layer_norm.bias", shape: [c])
        if cfg.tieWordEmbeddings {
            head = Linear(weight: tokenEmbeddings, bias: nil, transposed: true)
        } else {
            head = try linear("embed_out", c, cfg.vocabSize, bias: false)
        }
    }

    /// The per-head [q_h | k_h | v_h] rows of `query_key_value` as three projections, heads side
    /// by side in each (the layout the attention op reads).
    static func split(_ fused: Linear, heads: Int, width d: Int, inputs c: Int) -> (Linear, Linear, Linear) {
        func part(_ k: Int) -> Linear {
            var rows: [Float] = [], bias: [Float] = []
            rows.reserveCapacity(heads * d * c)
            for h in 0..<heads {
                let first = h * 3 * d + k * d
                rows += fused.weight.scalars[(first * c)..<((first + d) * c)]
                if let b = fused.bias { bias += b.scalars[first..<(first + d)] }
            }
            return Linear(weight: Tensor(shape: [heads * d, c], scalars: rows),
                          bias: fused.bias == nil ? nil : Tensor(shape: [heads * d], scalars: bias), transposed: true)
        }
        return (part(0), part(1), part(2))
    }

    public func embed(_ ids: [[Int]]) -> Tensor {
        let t = ids.first?.count ?? 0
        return gatherRows(tokenEmbeddings, ids.flatMap { $0 }).reshaped([ids.count, t, dimensions.hiddenSize])
    }

    public func hiddenStates(
        embeddings: Variable, positions: [Int], cache: KeyValueCache?, probe: ActivationProbe?
    ) -> Variable {
        let x = probe.visit(Site(.embed), embeddings)
        return hiddenStates(layers: blocks.indices, residual: x, positions: positions, cache: cache, probe: probe)
    }

    public func hiddenStates(
        layers: Range<Int>, residual: Variable, positions: [Int], cache: KeyValueCache?, probe: ActivationProbe?
    ) -> Variable {
        let t = residual.shape[1], heads = dimensions.headCount
        let eps = configuration.layerNormEps
        let scale = 1 / Float(dimensions.headDimension).squareRoot()
        var x = residual
        for (i, block) in zip(layers, blocks[layers]) {
            x = probe.visit(.block(i, .residPre), x)
            let normed = layerNorm(x, gamma: block.norm1Gamma, beta: block.norm1Beta, epsilon: eps)
            let q = rotary(block.query(normed), positions: positions)
            var k = rotary(block.key(normed), positions: positions)
            var v = block.value(normed)
            if let cache {
                let full = cache.extend(layer: i, key: k.value, value: v.value)
                k = Variable(constant: full.key)
                v = Variable(constant: full.value)
            }
            let attention = causalAttention(query: q, key: k, value: v, queryHeads: heads, keyValueHeads: heads,
                                            offset: k.shape[1] - t, scale: scale, editRows: probe.attentionRowEdit(layer: i))
            probe.observe(.block(i, .attentionPattern), attention.probabilities)
            let z = probe.visit(.block(i, .attentionZ), attention.output)
            let attentionOut = probe.visit(.block(i, .attentionOut), block.output(z))
            let mid = probe.visit(.block(i, .residMid), add(x, attentionOut))
            // Parallel residual: the MLP reads the block's input, not the attention's sum.
            let mlpInput = configuration.useParallelResidual ? x : mid
            let hidden = activation(block.up(layerNorm(mlpInput, gamma: block.norm2Gamma, beta: block.norm2Beta, epsilon: eps)))
            let mlpOut = probe.visit(.block(i, .mlpOut), block.down(hidden))
            x = probe.visit(.block(i, .residPost), add(mid, mlpOut))
        }
        guard layers.upperBound == blocks.count else { return x }
        return probe.visit(Site(.finalNormOut), finalNorm(x))
    }

    public func logits(_ hidden: Variable) -> Variable { head(hidden) }

    public func finalNorm(_ residual: Variable) -> Variable {
        layerNorm(residual, gamma: finalGamma, beta: finalBeta, epsilon: configuration.layerNormEps)
    }
}
