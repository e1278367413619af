import SeqLensTensor

// The Llama family (Llama, Mistral, Qwen2, Qwen3, SmolLM; Phi-3 and Gemma through Phi3.swift and
// Gemma.swift), following transformers'
// models/llama/modeling_llama.py: RMS norm, rotary positions ("rotate half" layout),
// grouped-query attention, SwiGLU MLP, optional q/k/v bias (Qwen2), per-head RMS norm of
// queries and keys before the rotation (Qwen3, models/qwen3/modeling_qwen3.py), tied or
// separate LM head. Windowed attention is not implemented: where a config asks for it, inputs
// are limited to the window, inside which it changes nothing.

/// config.json of a Llama-family checkpoint, with transformers' field names and defaults.
public struct LlamaConfiguration: Decodable, Sendable {
    public var modelType: String = "llama"
    public var vocabSize: Int = 32000
    public var hiddenSize: Int = 4096
    public var intermediateSize: Int = 11008
    public var numHiddenLayers: Int = 32
    public var numAttentionHeads: Int = 32
    public var numKeyValueHeads: Int?
    public var headDim: Int?
    public var hiddenAct: String = "silu"
    public var maxPositionEmbeddings: Int = 2048
    public var rmsNormEps: Float = 1e-6
    public var ropeTheta: Float = 10000
    public var tieWordEmbeddings: Bool = false
    public var attentionBias: Bool = false
    public var mlpBias: Bool = false
    public var bosTokenId: Int?
    public var eosTokenId: Int?
    /// Dropout on the attention probabilities in training mode (transformers' default 0).
    public var attentionDropout: Float = 0
    /// rope_scaling / rope_parameters of type "linear" or "llama3"; nil for plain rotary positions.
    public var ropeScaling: RotaryFrequencyScaling?
    /// Mistral's `sliding_window`, or Qwen's when `use_sliding_window` is set.
    public var slidingWindow: Int?
    /// A GGUF file without `output.weight` ties the head to the embeddings (llama.cpp's rule); a
    /// transformers folder says so with `tie_word_embeddings`, and a head missing otherwise is an error.
    var headMayBeTied = false

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type", vocabSize = "vocab_size", hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim", hiddenAct = "hidden_act", maxPositionEmbeddings = "max_position_embeddings"
        case rmsNormEps = "rms_norm_eps", ropeTheta = "rope_theta", tieWordEmbeddings = "tie_word_embeddings"
        case attentionBias = "attention_bias", mlpBias = "mlp_bias", bosTokenId = "bos_token_id"
        case eosTokenId = "eos_token_id", ropeParameters = "rope_parameters", ropeScaling = "rope_scaling"
        case attentionDropout = "attention_dropout"
        case slidingWindow = "sliding_window", useSlidingWindow = "use_sliding_window"
    }

    enum RopeKeys: String, CodingKey {
        case ropeTheta = "rope_theta", ropeType = "rope_type", type, partialRotaryFactor = "partial_rotary_factor"
        case factor, lowFreqFactor = "low_freq_factor", highFreqFactor = "high_freq_factor"
        case originalMaxPositionEmbeddings = "original_max_position_embeddings"
    }

    public init() {}

    /// Shapes are required (a missing `hidden_size` is an error, not transformers' 4096); options
    /// take transformers' defaults; a rotary scaling this build does not implement is refused
    /// rather than ignored (it would load and give wrong logits).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? modelType
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads)
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim)
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? hiddenAct
        // Gemma's legacy "gelu" means the tanh approximation (transformers' GemmaConfig).
        if modelType == "gemma" && hiddenAct == "gelu" { hiddenAct = "gelu_pytorch_tanh" }
        maxPositionEmbeddings = try c.decode(Int.self, forKey: .maxPositionEmbeddings)
        rmsNormEps = try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? rmsNormEps
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? tieWordEmbeddings
        // Qwen2 always has q/k/v biases and no attention_bias field.
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? (modelType == "qwen2")
        mlpBias = try c.decodeIfPresent(Bool.self, forKey: .mlpBias) ?? false
        bosTokenId = try? c.decodeIfPresent(Int.self, forKey: .bosTokenId)
        eosTokenId = try? c.decodeIfPresent(Int.self, forKey: .eosTokenId)
        attentionDropout = (try? c.decodeIfPresent(Float.self, forKey: .attentionDropout)) ?? 0
        // Qwen2/Qwen3 carry a sliding_window that applies only with use_sliding_window.
        let window = try c.decodeIfPresent(Int.self, forKey: .slidingWindow)
        let usesWindow = try ["mistral", "phi3"].contains(modelType) || (c.decodeIfPresent(Bool.self, forKey: .useSlidingWindow) ?? false)
        slidingWindow = usesWindow ? window : nil
        // transformers 5 moves rope_theta into rope_parameters; 4.x configs say rope_scaling.
        let parameters = try? c.nestedContainer(keyedBy: RopeKeys.self, forKey: .ropeParameters)
        if let theta = try c.decodeIfPresent(Float.self, forKey: .ropeTheta) {
            ropeTheta = theta
        } else if let parameters {
            ropeTheta = try parameters.decodeIfPresent(Float.self, forKey: .ropeTheta) ?? ropeTheta
        }
        for (field, key) in [("rope_parameters", CodingKeys.ropeParameters), ("rope_scaling", .ropeScaling)] {
            guard let rope = try? c.nestedContainer(keyedBy: RopeKeys.self, forKey: key) else { continue }
            let type = try rope.decodeIfPresent(String.self, forKey: .ropeType) ?? rope.decodeIfPresent(String.self, forKey: .type)
            func number(_ key: RopeKeys) throws -> Float {
                guard let value = try rope.decodeIfPresent(Float.self, forKey: key), value.isFinite, value > 0 else {
                    throw ModelError.invalidConfiguration("\(field).\(key.stringValue) must be a positive number for rope type '\(type ?? "")'")
                }
                return value
            }
            switch type {
            case nil, "default"?: break
            case "linear"?: ropeScaling = .linear(factor: try number(.factor))
            case "llama3"?:
                ropeScaling = .llama3(
                    factor: try number(.factor), lowFrequencyFactor: try number(.lowFreqFactor),
                    highFrequencyFactor: try number(.highFreqFactor), originalContext: try number(.originalMaxPositionEmbeddings))
                if case .llama3(_, let low, let high, _)? = ropeScaling, low == high {
                    throw ModelError.invalidConfiguration("\(field): low_freq_factor and high_freq_factor must differ")
                }
            case let other?:
                throw ModelError.invalidConfiguration(
                    "\(field) type '\(other)' is not supported (default, linear and llama3 are); the model would give wrong logits")
            }
            if let factor = try rope.decodeIfPresent(Double.self, forKey: .partialRotaryFactor), factor != 1 {
                throw ModelError.invalidConfiguration("\(field) partial_rotary_factor \(factor) is not supported (only 1)")
            }
        }
    }

    var keyValueHeads: Int { numKeyValueHeads ?? numAttentionHeads }
    /// Qwen3 normalises each head's queries and keys.
    var normalizesQueryKey: Bool { modelType == "qwen3" }
    /// Callers check `numAttentionHeads > 0` first (DimensionChecks).
    var headDimension: Int { headDim ?? hiddenSize / max(1, numAttentionHeads) }
}

public struct Llama: CausalTransformer {
    struct Block {
        let attentionNorm: Tensor
        let query: Linear, key: Linear, value: Linear, output: Linear
        /// (D) per-head RMS norm gains of queries and keys (Qwen3); nil elsewhere.
        let queryNorm: Tensor?, keyNorm: Tensor?
        let mlpNorm: Tensor
        let gate: Linear, up: Linear, down: Linear
    }

    public let dimensions: TransformerDimensions
    let configuration: LlamaConfiguration
    let tokenEmbeddings: Tensor  // (V, C)
    let blocks: [Block]
    let finalNormWeight: Tensor
    let head: Linear
    let rotary: RotaryEmbedding
    let activation: Activation

    public init(configuration: LlamaConfiguration, weights: WeightSource) throws {
        let cfg = configuration
        typealias Check = DimensionChecks
        let c = try Check.positive(cfg.hiddenSize, "hidden_size", atMost: Check.maximumWidth)
        let hq = try Check.positive(cfg.numAttentionHeads, "num_attention_heads", atMost: Check.maximumHeads)
        let hkv = try Check.positive(cfg.keyValueHeads, "num_key_value_heads", atMost: Check.maximumHeads)
        guard hq % hkv == 0 else {
            throw ModelError.invalidConfiguration("\(hq) attention heads are not a multiple of \(hkv) key/value heads")
        }
        if cfg.headDim == nil && c % hq != 0 {
            throw ModelError.invalidConfiguration("hidden_size \(c) is not a multiple of num_attention_heads \(hq) (and no head_dim)")
        }
        let d = try Check.positive(cfg.headDimension, "head_dim", atMost: Check.maximumWidth)
        guard d % 2 == 0 else { throw ModelError.invalidConfiguration("head dimension \(d) must be even for rotary embeddings") }
        _ = try Check.positive(cfg.intermediateSize, "intermediate_size", atMost: Check.maximumWidth)
        _ = try Check.positive(cfg.vocabSize, "vocab_size", atMost: Check.maximumVocabulary)
        _ = try Check.positive(cfg.maxPositionEmbeddings, "max_position_embeddings", atMost: Check.maximumPositions)
        _ = try Check.product(hq, d, "num_attention_heads × head_dim")
        _ = try Check.product(cfg.vocabSize, c, "vocab_size × hidden_size")
        _ = try Check.product(cfg.intermediateSize, c, "intermediate_size × hidden_size")
        _ = try Check.nonNegative(cfg.rmsNormEps, "rms_norm_eps")
        _ = try Check.nonNegative(cfg.ropeTheta, "rope_theta")
        guard try Check.nonNegative(cfg.attentionDropout, "attention_dropout") < 1 else {
            throw ModelError.invalidConfiguration("attention_dropout must be below 1, got \(cfg.attentionDropout)")
        }
        try Check.checkLayers(cfg.numHiddenLayers, field: "num_hidden_layers", in: weights) {
            "model.layers.\($0).input_layernorm.weight"
        }
        self.configuration = cfg
        activation = try Activation(huggingFaceName: cfg.hiddenAct)
        rotary = RotaryEmbedding(headDimension: d, base: cfg.ropeTheta, scaling: cfg.ropeScaling)
        dimensions = TransformerDimensions(
            layerCount: cfg.numHiddenLayers, hiddenSize: c, headCount: hq, keyValueHeadCount: hkv,
            headDimension: d, vocabularySize: cfg.vocabSize,
            maxPositions: min(cfg.maxPositionEmbeddings, try cfg.slidingWindow.map { try Check.positive($0, "sliding_window", atMost: Check.maximumPositions) } ?? .max))
        tokenEmbeddings = try weights.tensor("model.embed_tokens.weight", shape: [cfg.vocabSize, c])
        func linear(_ name: String, _ input: Int, _ output: Int, bias: Bool) throws -> Linear {
            // The packed blocks first: converting to Float32 lets the file's pages go.
            let packed = try weights.packedMatrix(name + ".weight", shape: [output, input])
            return Linear(weight: try weights.tensor(name + ".weight", shape: [output, input]),
                          bias: bias ? try weights.tensor(name + ".bias", shape: [output]) : nil, transposed: true,
                          packed: packed)
        }
        blocks = try (0..<cfg.numHiddenLayers).map { i in
            let p = "model.layers.\(i)."
            return Block(
                attentionNorm: try weights.tensor(p + "input_layernorm.weight", shape: [c]),
                query: try linear(p + "self_attn.q_proj", c, hq * d, bias: cfg.attentionBias),
                key: try linear(p + "self_attn.k_proj", c, hkv * d, bias: cfg.attentionBias),
                value: try linear(p + "self_attn.v_proj", c, hkv * d, bias: cfg.attentionBias),
                output: try linear(p + "self_attn.o_proj", hq * d, c, bias: cfg.modelType == "qwen2" ? false : cfg.attentionBias),
                queryNorm: cfg.normalizesQueryKey ? try weights.tensor(p + "self_attn.q_norm.weight", shape: [d]) : nil,
                keyNorm: cfg.normalizesQueryKey ? try weights.tensor(p + "self_attn.k_norm.weight", shape: [d]) : nil,
                mlpNorm: try weights.tensor(p + "post_attention_layernorm.weight", shape: [c]),
                gate: try linear(p + "mlp.gate_proj", c, cfg.intermediateSize, bias: cfg.mlpBias),
                up: try linear(p + "mlp.up_proj", c, cfg.intermediateSize, bias: cfg.mlpBias),
                down: try linear(p + "mlp.down_proj", cfg.intermediateSize, c, bias: cfg.mlpBias))
        }
        finalNormWeight = try weights.tensor("model.norm.weight", shape: [c])
        if cfg.tieWordEmbeddings || (cfg.headMayBeTied && !weights.contains("lm_head.weight")) {
            head = Linear(weight: tokenEmbeddings, bias: nil, transposed: true,
                          packed: try weights.packedMatrix("model.embed_tokens.weight", shape: [cfg.vocabSize, c]))
        } else {
            head = try linear("lm_head", c, cfg.vocabSize, bias: false)
        }
    }

    public func embed(_ ids: [[Int]]) -> Tensor {
        let t = ids.first?.count ?? 0
        let rows = gatherRows(tokenEmbeddings, ids.flatMap { $0 }).reshaped([ids.count, t, dimensions.hiddenSize])
        guard let scale = configuration.embeddingScale else { return rows }
        return Tensor(shape: rows.shape, scalars: rows.scalars.map { $0 * scale })
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
        let t = residual.shape[1]
        let eps = configuration.rmsNormEps
        let hq = dimensions.headCount, hkv = dimensions.keyValueHeadCount
        let scale = 1 / Float(dimensions.headDimension).squareRoot()
        var x = residual
        for (i, block) in zip(layers, blocks[layers]) {
            x = probe.visit(.block(i, .residPre), x)
            let normed = rmsNorm(x, gamma: block.attentionNorm, epsilon: eps)
            let q = rotary(headNorm(block.query(normed), block.queryNorm, heads: hq), positions: positions)
            var k = rotary(headNorm(block.key(normed), block.keyNorm, heads: hkv), positions: positions)
            var v = block.value(normed)
            if let cache {
                let full = cache.extend(layer: i, key: k.value, value: v.value)
                k = Variable(constant: full.key)
                v = Variable(constant: full.value)
            }
            let attention = causalAttention(query: q, key: k, value: v, queryHeads: hq, keyValueHeads: hkv,
                                            offset: k.shape[1] - t, scale: scale,
                                            editRows: probe.attentionRowEdit(layer: i))
            probe.observe(.block(i, .attentionPattern), attention.probabilities)
            let z = probe.visit(.block(i, .attentionZ), attention.output)
            let attentionOut = probe.visit(.block(i, .attentionOut), block.output(z))
            x = probe.visit(.block(i, .residMid), add(x, attentionOut))
            let mlpIn = rmsNorm(x, gamma: block.mlpNorm, epsilon: eps)
            let gated = multiply(activation(block.gate(mlpIn)), block.up(mlpIn))
            let mlpOut = probe.visit(.block(i, .mlpOut), block.down(gated))
            x = probe.visit(.block(i, .residPost), add(x, mlpOut))
        }
        guard layers.upperBound == blocks.count else { return x }
        return probe.visit(Site(.finalNormOut), finalNorm(x))
    }

    /// RMS norm over each head's D values of (B, T, H·D), when the block has gains for it.
    func headNorm(_ x: Variable, _ gamma: Tensor?, heads: Int) -> Variable {
        guard let gamma else { return x }
        let b = x.shape[0], t = x.shape[1], d = gamma.count
        let perHead = rmsNorm(reshape(x, [b, t * heads, d]), gamma: gamma, epsilon: configuration.rmsNormEps)
        return reshape(perHead, [b, t, heads * d])
    }

    public func finalNorm(_ residual: Variable) -> Variable {
        rmsNorm(residual, gamma: finalNormWeight, epsilon: configuration.rmsNormEps)
    }

    public func logits(_ hidden: Variable) -> Variable { head(hidden) }

    public var dropout: DropoutRates { DropoutRates(attention: configuration.attentionDropout) }
}
