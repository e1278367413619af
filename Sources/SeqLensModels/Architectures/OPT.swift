import SeqLensTensor

// OPT, following transformers' models/opt/modeling_opt.py: learned positions read at position
// + 2 (OPTLearnedPositionalEmbedding's offset), ReLU MLP (fc1, fc2), attention projections with
// bias, pre-LN blocks with a final layer norm (do_layer_norm_before, most sizes) or post-LN
// blocks without one (opt-350m), the head tied to the token embeddings.

/// config.json of an OPT checkpoint: shapes required, options with transformers' defaults.
public struct OPTConfiguration: Decodable, Sendable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var ffnDim: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var maxPositionEmbeddings: Int
    public var wordEmbedProjDim: Int?
    public var activationFunction = "relu"
    public var doLayerNormBefore = true
    public var enableBias = true
    public var layerNormElementwiseAffine = true
    public var removeFinalLayerNorm = false

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", ffnDim = "ffn_dim"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case maxPositionEmbeddings = "max_position_embeddings", wordEmbedProjDim = "word_embed_proj_dim"
        case activationFunction = "activation_function", doLayerNormBefore = "do_layer_norm_before"
        case enableBias = "enable_bias", layerNormElementwiseAffine = "layer_norm_elementwise_affine"
        case removeFinalLayerNorm = "_remove_final_layer_norm"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        ffnDim = try c.decode(Int.self, forKey: .ffnDim)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        maxPositionEmbeddings = try c.decode(Int.self, forKey: .maxPositionEmbeddings)
        wordEmbedProjDim = try c.decodeIfPresent(Int.self, forKey: .wordEmbedProjDim)
        activationFunction = try c.decodeIfPresent(String.self, forKey: .activationFunction) ?? activationFunction
        doLayerNormBefore = try c.decodeIfPresent(Bool.self, forKey: .doLayerNormBefore) ?? doLayerNormBefore
        enableBias = try c.decodeIfPresent(Bool.self, forKey: .enableBias) ?? enableBias
        layerNormElementwiseAffine = try c.decodeIfPresent(Bool.self, forKey: .layerNormElementwiseAffine) ?? true
        removeFinalLayerNorm = try c.decodeIfPresent(Bool.self, forKey: .removeFinalLayerNorm) ?? false
    }
}

public struct OPT: CausalTransformer {
    struct Block {
        let attentionNormGamma: Tensor, attentionNormBeta: Tensor
        let query: Linear, key: Linear, value: Linear, output: Linear
        let mlpNormGamma: Tensor, mlpNormBeta: Tensor
        let up: Linear, down: Linear
    }

    /// OPTLearnedPositionalEmbedding reads row position + 2.
    static let positionOffset = 2
    static let layerNormEpsilon: Float = 1e-5

    public let dimensions: TransformerDimensions
    let configuration: OPTConfiguration
    let tokenEmbeddings: Tensor     // (V, C)
    let positionEmbeddings: Tensor  // (P + 2, C)
    let blocks: [Block]
    /// The decoder's last norm: pre-LN checkpoints only.
    let final: (gamma: Tensor, beta: Tensor)?
    let head: Linear
    let activation: Activation

    public init(configuration cfg: OPTConfiguration, weights: WeightSource) throws {
        typealias Check = DimensionChecks
        let c = try Check.positive(cfg.hiddenSize, "hidden_size", atMost: Check.maximumWidth)
        let h = try Check.positive(cfg.numAttentionHeads, "num_attention_heads", atMost: Check.maximumHeads)
        guard c % h == 0 else {
            throw ModelError.invalidConfiguration("hidden_size \(c) is not a multiple of num_attention_heads \(h)")
        }
        if let projected = cfg.wordEmbedProjDim, projected != c {
            throw ModelError.invalidConfiguration(
                "word_embed_proj_dim \(projected) differs from hidden_size \(c): OPT's project_in/project_out are not supported")
        }
        guard cfg.layerNormElementwiseAffine else {
            throw ModelError.invalidConfiguration("layer_norm_elementwise_affine false is not supported")
        }
        let inner = try Check.positive(cfg.ffnDim, "ffn_dim", atMost: Check.maximumWidth)
        _ = try Check.positive(cfg.vocabSize, "vocab_size", atMost: Check.maximumVocabulary)
        let positions = try Check.positive(cfg.maxPositionEmbeddings, "max_position_embeddings", atMost: Check.maximumPositions)
        _ = try Check.product(cfg.vocabSize, c, "vocab_size × hidden_size")
        _ = try Check.product(inner, c, "ffn_dim × hidden_size")
        try Check.checkLayers(cfg.numHiddenLayers, field: "num_hidden_layers", in: weights) {
            "model.decoder.layers.\($0).self_attn_layer_norm.weight"
        }
        configuration = cfg
        activation = try Activation(huggingFaceName: cfg.activationFunction)
        dimensions = TransformerDimensions(
            layerCount: cfg.numHiddenLayers, hiddenSize: c, headCount: h, keyValueHeadCount: h, headDimension: c / h,
            vocabularySize: cfg.vocabSize, maxPositions: positions)
        tokenEmbeddings = try weights.tensor("model.decoder.embed_tokens.weight", shape: [cfg.vocabSize, c])
        positionEmbeddings = try weights.tensor("model.decoder.embed_positions.weight", shape: [positions + Self.positionOffset, c])
        func linear(_ name: String, _ input: Int, _ output: Int) throws -> Linear {
            Linear(weight: try weights.tensor(name + ".weight", shape: [output, input]),
                   bias: cfg.enableBias ? try weights.tensor(name + ".bias", shape: [output]) : nil, transposed: true)
        }
        var blocks: [Block] = []
        for i in 0..<cfg.numHiddenLayers {
            let p = "model.decoder.layers.\(i)."
            blocks.append(Block(
                attentionNormGamma: try weights.tensor(p + "self_attn_layer_norm.weight", shape: [c]),
                attentionNormBeta: try weights.tensor(p + "self_attn_layer_norm.bias", shape: [c]),
                query: try linear(p + "self_attn.q_proj", c, c), key: try linear(p + "self_attn.k_proj", c, c),
                value: try linear(p + "self_attn.v_proj", c, c), output: try linear(p + "self_attn.out_proj", c, c),
                mlpNormGamma: try weights.tensor(p + "final_layer_norm.weight", shape: [c]),
                mlpNormBeta: try weights.tensor(p + "final_layer_norm.bias", shape: [c]),
                up: try linear(p + "fc1", c, inner), down: try linear(p + "fc2", inner, c)))
        }
        self.blocks = blocks
        if cfg.doLayerNormBefore && !cfg.removeFinalLayerNorm {
            final = (try weights.tensor("model.decoder.final_layer_norm.weight", shape: [c]),
                     try weights.tensor("model.decoder.final_layer_norm.bias", shape: [c]))
        } else {
            final = nil
        }
        head = Linear(weight: tokenEmbeddings, bias: nil, transposed: true)
    }

    public func embed(_ ids: [[Int]]) -> Tensor {
        let t = ids.first?.count ?? 0
        return gatherRows(tokenEmbeddings, ids.flatMap { $0 }).reshaped([ids.count, t, dimensions.hiddenSize])
    }

    public func hiddenStates(
        embeddings: Variable, positions: [Int], cache: KeyValueCache?, probe: ActivationProbe?
    ) -> Variable {
        let b = embeddings.shape[0], t = embeddings.shape[1], c = dimensions.hiddenSize
        var x = probe.visit(Site(.embed), embeddings)
        // Learned positions, a constant added to every sequence of the batch.
        let table = gatherRows(positionEmbeddings, positions.map { $0 + Self.positionOffset })
        var withPositions = [Float](repeating: 0, count: b * t * c)
        for batch in 0..<b { withPositions.replaceSubrange((batch * t * c)..<((batch + 1) * t * c), with: table.scalars) }
        x = add(x, Variable(constant: Tensor(shape: [b, t, c], scalars: withPositions)))
        return hiddenStates(layers: blocks.indices, residual: x, positions: positions, cache: cache, probe: probe)
    }

    public func hiddenStates(
        layers: Range<Int>, residual: Variable, positions: [Int], cache: KeyValueCache?, probe: ActivationProbe?
    ) -> Variable {
        let t = residual.shape[1], heads = dimensions.headCount
        let eps = Self.layerNormEpsilon, preNorm = configuration.doLayerNormBefore
        let scale = 1 / Float(dimensions.headDimension).squareRoot()
        func norm(_ v: Variable, _ gamma: Tensor, _ beta: Tensor) -> Variable { layerNorm(v, gamma: gamma, beta: beta, epsilon: eps) }
        var x = residual
        for (i, block) in zip(layers, blocks[layers]) {
            x = probe.visit(.block(i, .residPre), x)
            let attentionIn = preNorm ? norm(x, block.attentionNormGamma, block.attentionNormBeta) : x
            let q = block.query(attentionIn)
            var k = block.key(attentionIn), v = block.value(attentionIn)
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
            var mid = add(x, attentionOut)
            if !preNorm { mid = norm(mid, block.attentionNormGamma, block.attentionNormBeta) }
            mid = probe.visit(.block(i, .residMid), mid)
            let mlpIn = preNorm ? norm(mid, block.mlpNormGamma, block.mlpNormBeta) : mid
            let mlpOut = probe.visit(.block(i, .mlpOut), block.down(activation(block.up(mlpIn))))
            var out = add(mid, mlpOut)
            if !preNorm { out = norm(out, block.mlpNormGamma, block.mlpNormBeta) }
            x = probe.visit(.block(i, .residPost), out)
        }
        guard layers.upperBound == blocks.count else { return x }
        return probe.visit(Site(.finalNormOut), finalNorm(x))
    }

    public func logits(_ hidden: Variable) -> Variable { head(hidden) }

    /// The decoder's final layer norm; post-LN checkpoints have none (their blocks end normed).
    public func finalNorm(_ residual: Variable) -> Variable {
        guard let final else { return residual }
        return layerNorm(residual, gamma: final.gamma, beta: final.beta, epsilon: Self.layerNormEpsilon)
    }
}
