import SeqLensTensor

// GPT-2, following transformers' models/gpt2/modeling_gpt2.py: learned positions, pre-norm
// blocks, fused QKV in Conv1D layout ([in, out]), GELU MLP, LM head tied to the embeddings.

/// config.json of a GPT-2 checkpoint, with transformers' field names and defaults.
public struct GPT2Configuration: Decodable, Sendable {
    public var vocabSize: Int = 50257
    public var nPositions: Int = 1024
    public var nEmbd: Int = 768
    public var nLayer: Int = 12
    public var nHead: Int = 12
    public var nInner: Int?
    public var activationFunction: String = "gelu_new"
    public var layerNormEpsilon: Float = 1e-5
    public var scaleAttnWeights: Bool = true
    public var scaleAttnByInverseLayerIdx: Bool = false
    public var bosTokenId: Int?
    public var eosTokenId: Int?
    /// transformers' GPT2Config defaults: 0.1 each.
    public var embdPdrop: Float = 0.1
    public var attnPdrop: Float = 0.1
    public var residPdrop: Float = 0.1

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", nPositions = "n_positions", nEmbd = "n_embd", nLayer = "n_layer"
        case nHead = "n_head", nInner = "n_inner", activationFunction = "activation_function"
        case layerNormEpsilon = "layer_norm_epsilon", scaleAttnWeights = "scale_attn_weights"
        case scaleAttnByInverseLayerIdx = "scale_attn_by_inverse_layer_idx"
        case bosTokenId = "bos_token_id", eosTokenId = "eos_token_id"
        case embdPdrop = "embd_pdrop", attnPdrop = "attn_pdrop", residPdrop = "resid_pdrop"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        nPositions = try c.decode(Int.self, forKey: .nPositions)
        nEmbd = try c.decode(Int.self, forKey: .nEmbd)
        nLayer = try c.decode(Int.self, forKey: .nLayer)
        nHead = try c.decode(Int.self, forKey: .nHead)
        nInner = try c.decodeIfPresent(Int.self, forKey: .nInner)
        activationFunction = try c.decodeIfPresent(String.self, forKey: .activationFunction) ?? activationFunction
        layerNormEpsilon = try c.decodeIfPresent(Float.self, forKey: .layerNormEpsilon) ?? layerNormEpsilon
        scaleAttnWeights = try c.decodeIfPresent(Bool.self, forKey: .scaleAttnWeights) ?? scaleAttnWeights
        scaleAttnByInverseLayerIdx = try c.decodeIfPresent(Bool.self, forKey: .scaleAttnByInverseLayerIdx) ?? false
        bosTokenId = try c.decodeIfPresent(Int.self, forKey: .bosTokenId)
        eosTokenId = try c.decodeIfPresent(Int.self, forKey: .eosTokenId)
        embdPdrop = try c.decodeIfPresent(Float.self, forKey: .embdPdrop) ?? embdPdrop
        attnPdrop = try c.decodeIfPresent(Float.self, forKey: .attnPdrop) ?? attnPdrop
        residPdrop = try c.decodeIfPresent(Float.self, forKey: .residPdrop) ?? residPdrop
    }
}

public struct GPT2: CausalTransformer {
    struct Block {
        let norm1Gamma: Tensor, norm1Beta: Tensor
        let qkv: Linear, projection: Linear
        let norm2Gamma: Tensor, norm2Beta: Tensor
        let up: Linear, down: Linear
    }

    public let dimensions: TransformerDimensions
    let configuration: GPT2Configuration
    let tokenEmbeddings: Tensor     // (V, C)
    let positionEmbeddings: Tensor  // (P, C)
    let blocks: [Block]
    let finalGamma: Tensor, finalBeta: Tensor
    let head: Linear  // tied to tokenEmbeddings
    let activation: Activation

    public init(configuration: GPT2Configuration, weights: WeightSource) throws {
        typealias Check = DimensionChecks
        let c = try Check.positive(configuration.nEmbd, "n_embd", atMost: Check.maximumWidth)
        let heads = try Check.positive(configuration.nHead, "n_head", atMost: Check.maximumHeads)
        guard c % heads == 0 else {
            throw ModelError.invalidConfiguration("n_embd \(c) is not a multiple of n_head \(heads)")
        }
        let inner = try Check.positive(configuration.nInner ?? Check.product(4, c, "4 × n_embd"), "n_inner", atMost: Check.maximumWidth)
        _ = try Check.positive(configuration.vocabSize, "vocab_size", atMost: Check.maximumVocabulary)
        _ = try Check.positive(configuration.nPositions, "n_positions", atMost: Check.maximumPositions)
        _ = try Check.product(configuration.vocabSize, c, "vocab_size × n_embd")
        _ = try Check.product(configuration.nPositions, c, "n_positions × n_embd")
        _ = try Check.product(inner, c, "n_inner × n_embd")
        _ = try Check.nonNegative(configuration.layerNormEpsilon, "layer_norm_epsilon")
        for (rate, field) in [(configuration.embdPdrop, "embd_pdrop"), (configuration.attnPdrop, "attn_pdrop"),
                              (configuration.residPdrop, "resid_pdrop")] {
            guard try Check.nonNegative(rate, field) < 1 else {
                throw ModelError.invalidConfiguration("\(field) must be below 1, got \(rate)")
            }
        }
        // transformers' GPT2LMHeadModel saves "transformer."-prefixed names, GPT2Model bare ones.
        let prefix = ["transformer.wte.weight", "transformer.ln_f.weight", "transformer.h.0.ln_1.weight"]
            .contains(where: weights.contains) ? "transformer." : ""
        try Check.checkLayers(configuration.nLayer, field: "n_layer", in: weights) { "\(prefix)h.\($0).ln_1.weight" }
        self.configuration = configuration
        activation = try Activation(huggingFaceName: configuration.activationFunction)
        dimensions = TransformerDimensions(
            layerCount: configuration.nLayer, hiddenSize: c, headCount: configuration.nHead,
            keyValueHeadCount: configuration.nHead, headDimension: c / configuration.nHead,
            vocabularySize: configuration.vocabSize, maxPositions: configuration.nPositions)
        tokenEmbeddings = try weights.tensor(prefix + "wte.weight", shape: [configuration.vocabSize, c])
        positionEmbeddings = try weights.tensor(prefix + "wpe.weight", shape: [configuration.nPositions, c])
        blocks = try (0..<configuration.nLayer).map { i in
            let p = "\(prefix)h.\(i)."
            func conv1D(_ name: String, _ input: Int, _ output: Int) throws -> Linear {
                Linear(weight: try weights.tensor(p + name + ".weight", shape: [input, output]),
                       bias: try weights.tensor(p + name + ".bias", shape: [output]), transposed: false)
            }
            return Block(
                norm1Gamma: try weights.tensor(p + "ln_1.weight", shape: [c]),
                norm1Beta: try weights.tensor(p + "ln_1.bias", shape: [c]),
                qkv: try conv1D("attn.c_attn", c, 3 * c), projection: try conv1D("attn.c_proj", c, c),
                norm2Gamma: try weights.tensor(p + "ln_2.weight", shape: [c]),
                norm2Beta: try weights.tensor(p + "ln_2.bias", shape: [c]),
                up: try conv1D("mlp.c_fc", c, inner), down: try conv1D("mlp.c_proj", inner, c))
        }
        finalGamma = try weights.tensor(prefix + "ln_f.weight", shape: [c])
        finalBeta = try weights.tensor(prefix + "ln_f.bias", shape: [c])
        head = Linear(weight: tokenEmbeddings, bias: nil, transposed: true,
                      packed: try weights.packedMatrix(prefix + "wte.weight", shape: [configuration.vocabSize, c]))
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
        // Learned absolute positions are a constant added to every sequence of the batch.
        let table = gatherRows(positionEmbeddings, positions)
        var withPositions = [Float](repeating: 0, count: b * t * c)
        for batch in 0..<b {
            for i in 0..<(t * c) { withPositions[batch * t * c + i] = table.scalars[i] }
        }
        x = add(x, Variable(constant: Tensor(shape: [b, t, c], scalars: withPositions)))
        return hiddenStates(layers: blocks.indices, residual: x, positions: positions, cache: cache, probe: probe)
    }

    public func hiddenStates(
        layers: Range<Int>, residual: Variable, positions: [Int], cache: KeyValueCache?, probe: ActivationProbe?
    ) -> Variable {
        let t = residual.shape[1], c = dimensions.hiddenSize
        let heads = dimensions.headCount, d = dimensions.headDimension
        let eps = configuration.layerNormEpsilon
        var x = residual
        for (i, block) in zip(layers, blocks[layers]) {
            x = probe.visit(.block(i, .residPre), x)
            let qkv = block.qkv(layerNorm(x, gamma: block.norm1Gamma, beta: block.norm1Beta, epsilon: eps))
            var scale: Float = configuration.scaleAttnWeights ? 1 / Float(d).squareRoot() : 1
            if configuration.scaleAttnByInverseLayerIdx { scale /= Float(i + 1) }
            let attention: AttentionResult
            if let cache {
                let q = columns(qkv, 0..<c)
                let full = cache.extend(layer: i, key: columns(qkv, c..<(2 * c)).value, value: columns(qkv, (2 * c)..<(3 * c)).value)
                attention = causalAttention(query: q, key: Variable(constant: full.key), value: Variable(constant: full.value),
                                            queryHeads: heads, keyValueHeads: heads, offset: full.key.shape[1] - t,
                                            scale: scale, editRows: probe.attentionRowEdit(layer: i))
            } else {
                attention = causalSelfAttention(fused: qkv, queryHeads: heads, keyValueHeads: heads, scale: scale,
                                                editRows: probe.attentionRowEdit(layer: i))
            }
            probe.observe(.block(i, .attentionPattern), attention.probabilities)
            let z = probe.visit(.block(i, .attentionZ), attention.output)
            let attentionOut = probe.visit(.block(i, .attentionOut), block.projection(z))
            x = probe.visit(.block(i, .residMid), add(x, attentionOut))
            let hidden = activation(block.up(layerNorm(x, gamma: block.norm2Gamma, beta: block.norm2Beta, epsilon: eps)))
            let mlpOut = probe.visit(.block(i, .mlpOut), block.down(hidden))
            x = probe.visit(.block(i, .residPost), add(x, mlpOut))
        }
        guard layers.upperBound == blocks.count else { return x }
        return probe.visit(Site(.finalNormOut), finalNorm(x))
    }

    public func finalNorm(_ residual: Variable) -> Variable {
        layerNorm(residual, gamma: finalGamma, beta: finalBeta, epsilon: configuration.layerNormEpsilon)
    }

    public func logits(_ hidden: Variable) -> Variable { head(hidden) }

    public var dropout: DropoutRates {
        DropoutRates(embedding: configuration.embdPdrop, attention: configuration.attnPdrop,
                     residual: configuration.residPdrop)
    }
}
