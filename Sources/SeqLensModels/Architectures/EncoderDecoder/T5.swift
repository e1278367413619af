import Foundation
import SeqLensTensor

// T5 v1.0, v1.1, mT5 and Flan-T5 (transformers' models/t5/modeling_t5.py): pre-RMS-norm blocks
// without biases, no embedding scale and no absolute positions, attention without 1/sqrt(d)
// scaling and with a relative position bias that the first layer of each stack owns and every
// layer adds (bucketed, bidirectional in the encoder, causal in the decoder; none in
// cross-attention), a ReLU MLP (v1.0) or a gated GELU one (v1.1, mT5), and, where
// `scale_decoder_outputs` (transformers 5; before it, a tied head), decoder outputs multiplied by
// d_model^-0.5 before the LM head (mT5: never).

/// config.json of a T5 checkpoint; sizes required, the rest with transformers' defaults.
struct T5Configuration: Decodable {
    var vocabSize: Int
    var dModel: Int
    var dKv: Int
    var dFf: Int
    var numLayers: Int
    var numDecoderLayers: Int?
    var numHeads: Int
    var relativeAttentionNumBuckets = 32
    var relativeAttentionMaxDistance = 128
    var layerNormEpsilon: Float = 1e-6
    var feedForwardProj = "relu"
    var tieWordEmbeddings: Bool?
    var scaleDecoderOutputs: Bool?
    /// T5 has no absolute positions; inputs are bounded by `n_positions` (512 when absent).
    var nPositions: Int?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", dModel = "d_model", dKv = "d_kv", dFf = "d_ff", numLayers = "num_layers"
        case numDecoderLayers = "num_decoder_layers", numHeads = "num_heads"
        case relativeAttentionNumBuckets = "relative_attention_num_buckets"
        case relativeAttentionMaxDistance = "relative_attention_max_distance"
        case layerNormEpsilon = "layer_norm_epsilon", feedForwardProj = "feed_forward_proj"
        case tieWordEmbeddings = "tie_word_embeddings", scaleDecoderOutputs = "scale_decoder_outputs"
        case nPositions = "n_positions"
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        dModel = try c.decode(Int.self, forKey: .dModel)
        dKv = try c.decode(Int.self, forKey: .dKv)
        dFf = try c.decode(Int.self, forKey: .dFf)
        numLayers = try c.decode(Int.self, forKey: .numLayers)
        numDecoderLayers = try c.decodeIfPresent(Int.self, forKey: .numDecoderLayers)
        numHeads = try c.decode(Int.self, forKey: .numHeads)
        relativeAttentionNumBuckets = try c.decodeIfPresent(Int.self, forKey: .relativeAttentionNumBuckets) ?? 32
        relativeAttentionMaxDistance = try c.decodeIfPresent(Int.self, forKey: .relativeAttentionMaxDistance) ?? 128
        layerNormEpsilon = try c.decodeIfPresent(Float.self, forKey: .layerNormEpsilon) ?? 1e-6
        feedForwardProj = try c.decodeIfPresent(String.self, forKey: .feedForwardProj) ?? "relu"
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings)
        scaleDecoderOutputs = try c.decodeIfPresent(Bool.self, forKey: .scaleDecoderOutputs)
        nPositions = try c.decodeIfPresent(Int.self, forKey: .nPositions)
    }

    /// transformers 5's rule: the saved `scale_decoder_outputs`, else true unless
    /// `tie_word_embeddings` is false (T5 v1.1 and mT5 files say false, v1.0 files say nothing).
    var scalesDecoderOutputs: Bool { scaleDecoderOutputs ?? (tieWordEmbeddings != false) }
}

struct T5Transformer: EncoderDecoderTransformer {
    struct AttentionWeights {
        let query: Linear, key: Linear, value: Linear, output: Linear
    }

    /// `DenseReluDense`: wo(act(wi x)), or wo(act(wi_0 x) ⊙ wi_1 x) when gated.
    struct FeedForward {
        let input: Linear
        let gate: Linear?
        let output: Linear
        let activation: Activation

        func callAsFunction(_ x: Variable) -> Variable {
            let hidden = activation(input(x))
            return output(gate.map { multiply(hidden, $0(x)) } ?? hidden)
        }
    }

    struct Block {
        let selfAttention: AttentionWeights
        let selfNorm: Tensor
        /// Decoder blocks only.
        let crossAttention: AttentionWeights?
        let crossNorm: Tensor?
        let feedForward: FeedForward
        let feedForwardNorm: Tensor
    }

    struct Stack {
        let blocks: [Block]
        let finalNorm: Tensor
        /// relative_attention_bias of the first layer: (buckets, heads).
        let positionBias: Tensor
        let tokenEmbeddings: Tensor
        let bidirectional: Bool
    }

    let dimensions: TransformerDimensions
    let encoder: Stack
    let decoder: Stack
    let head: Linear
    let scalesOutputs: Bool
    let epsilon: Float
    let buckets: Int
    let maxDistance: Int

    var encoderLayerCount: Int { encoder.blocks.count }

    /// - Parameter scalesOutputs: whether decoder outputs are scaled by d_model^-0.5 (T5's
    ///   `scalesDecoderOutputs`; never for mT5, whose transformers 5 code has no such step).
    init(configuration cfg: T5Configuration, weights: WeightSource, scalesOutputs: Bool) throws {
        typealias Check = DimensionChecks
        let c = try Check.positive(cfg.dModel, "d_model", atMost: Check.maximumWidth)
        let v = try Check.positive(cfg.vocabSize, "vocab_size", atMost: Check.maximumVocabulary)
        let heads = try Check.positive(cfg.numHeads, "num_heads", atMost: Check.maximumHeads)
        let headWidth = try Check.positive(cfg.dKv, "d_kv", atMost: Check.maximumWidth)
        let inner = try Check.product(heads, headWidth, "num_heads × d_kv")
        let feedForward = try Check.positive(cfg.dFf, "d_ff", atMost: Check.maximumWidth)
        let positions = try Check.positive(cfg.nPositions ?? 512, "n_positions", atMost: Check.maximumPositions)
        buckets = try Check.positive(cfg.relativeAttentionNumBuckets, "relative_attention_num_buckets", atMost: 1 << 16)
        maxDistance = try Check.positive(cfg.relativeAttentionMaxDistance, "relative_attention_max_distance", atMost: 1 << 24)
        guard buckets >= 4 && maxDistance * 4 > buckets else {
            throw ModelError.invalidConfiguration("relative_attention_num_buckets \(buckets) with max distance \(maxDistance) leaves no logarithmic buckets")
        }
        _ = try Check.product(v, c, "vocab_size × d_model")
        let parts = cfg.feedForwardProj.split(separator: "-").map(String.init)
        guard parts.count == 1 || (parts.count == 2 && parts[0] == "gated") else {
            throw ModelError.invalidConfiguration("feed_forward_proj '\(cfg.feedForwardProj)' is not 'act' or 'gated-act'")
        }
        let gated = parts.count == 2
        // transformers maps "gated-gelu" to the tanh approximation (gelu_new).
        let activation = try Activation(huggingFaceName: cfg.feedForwardProj == "gated-gelu" ? "gelu_new" : parts.last!)
        let decoderLayers = cfg.numDecoderLayers ?? cfg.numLayers
        try Check.checkLayers(cfg.numLayers, field: "num_layers", in: weights) { "encoder.block.\($0).layer.0.layer_norm.weight" }
        try Check.checkLayers(decoderLayers, field: "num_decoder_layers", in: weights) { "decoder.block.\($0).layer.0.layer_norm.weight" }

        func linear(_ name: String, _ input: Int, _ output: Int) throws -> Linear {
            Linear(weight: try weights.tensor(name + ".weight", shape: [output, input]), bias: nil, transposed: true,
                   packed: try weights.packedMatrix(name + ".weight", shape: [output, input]))
        }
        func attention(_ name: String) throws -> AttentionWeights {
            AttentionWeights(query: try linear(name + ".q", c, inner), key: try linear(name + ".k", c, inner),
                             value: try linear(name + ".v", c, inner), output: try linear(name + ".o", inner, c))
        }
        func norm(_ name: String) throws -> Tensor { try weights.tensor(name + ".weight", shape: [c]) }
        func dense(_ name: String) throws -> FeedForward {
            FeedForward(input: try linear(name + (gated ? ".wi_0" : ".wi"), c, feedForward),
                        gate: gated ? try linear(name + ".wi_1", c, feedForward) : nil,
                        output: try linear(name + ".wo", feedForward, c), activation: activation)
        }
        func table(_ names: [String]) throws -> Tensor {
            try weights.tensor(names.first(where: weights.contains) ?? names[0], shape: [v, c])
        }
        let encoderBlocks = try (0..<cfg.numLayers).map { i in
            let p = "encoder.block.\(i).layer."
            return Block(selfAttention: try attention(p + "0.SelfAttention"), selfNorm: try norm(p + "0.layer_norm"),
                         crossAttention: nil, crossNorm: nil,
                         feedForward: try dense(p + "1.DenseReluDense"), feedForwardNorm: try norm(p + "1.layer_norm"))
        }
        let decoderBlocks = try (0..<decoderLayers).map { i in
            let p = "decoder.block.\(i).layer."
            return Block(selfAttention: try attention(p + "0.SelfAttention"), selfNorm: try norm(p + "0.layer_norm"),
                         crossAttention: try attention(p + "1.EncDecAttention"), crossNorm: try norm(p + "1.layer_norm"),
                         feedForward: try dense(p + "2.DenseReluDense"), feedForwardNorm: try norm(p + "2.layer_norm"))
        }
        let biasShape = [buckets, heads]
        encoder = Stack(
            blocks: encoderBlocks, finalNorm: try norm("encoder.final_layer_norm"),
            positionBias: try weights.tensor("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", shape: biasShape),
            tokenEmbeddings: try table(["encoder.embed_tokens.weight", "shared.weight"]), bidirectional: true)
        decoder = Stack(
            blocks: decoderBlocks, finalNorm: try norm("decoder.final_layer_norm"),
            positionBias: try weights.tensor("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", shape: biasShape),
            tokenEmbeddings: try table(["decoder.embed_tokens.weight", "shared.weight"]), bidirectional: false)
        // transformers 5 keeps a checkpoint's own lm_head.weight (v1.1, mT5) and ties it to `shared` otherwise.
        if weights.contains("lm_head.weight") {
            head = try linear("lm_head", c, v)
        } else {
            head = Linear(weight: try table(["shared.weight", "decoder.embed_tokens.weight"]), bias: nil, transposed: true)
        }
        self.scalesOutputs = scalesOutputs
        epsilon = cfg.layerNormEpsilon
        dimensions = TransformerDimensions(
            layerCount: decoderLayers, hiddenSize: c, headCount: heads, keyValueHeadCount: heads,
            headDimension: headWidth, vocabularySize: v, maxPositions: positions)
    }

    func embedSource(_ ids: [[Int]]) -> Tensor { embeddings(encoder.tokenEmbeddings, ids) }
    func embedTarget(_ ids: [[Int]]) -> Tensor { embeddings(decoder.tokenEmbeddings, ids) }

    private func embeddings(_ table: Tensor, _ ids: [[Int]]) -> Tensor {
        gatherRows(table, ids.flatMap { $0 }).reshaped([ids.count, ids.first?.count ?? 0, dimensions.hiddenSize])
    }

    /// T5Attention._relative_position_bucket for key position - query position, with torch's
    /// float32 logarithm and truncation.
    func bucket(_ relative: Int, bidirectional: Bool) -> Int {
        var count = buckets, result = 0, distance = relative
        if bidirectional {
            count /= 2
            if distance > 0 { result += count }
            distance = abs(distance)
        } else {
            distance = -min(distance, 0)
        }
        let exact = count / 2
        if distance < exact { return result + distance }
        let logRatio = logf(Float(distance) / Float(exact)) / Float(log(Double(maxDistance) / Double(exact)))
        let large = exact + Int(logRatio * Float(count - exact))
        return result + min(large, count - 1)
    }

    /// The stack's position bias (H, T, S) for queries at `positions` over keys 0..<keys.
    func positionBias(_ stack: Stack, positions: [Int], keys: Int) -> Tensor {
        let heads = dimensions.headCount, t = positions.count
        var out = [Float](repeating: 0, count: heads * t * keys)
        let table = stack.positionBias.scalars
        for (i, position) in positions.enumerated() {
            for j in 0..<keys {
                let row = bucket(j - position, bidirectional: stack.bidirectional) * heads
                for h in 0..<heads { out[(h * t + i) * keys + j] = table[row + h] }
            }
        }
        return Tensor(shape: [heads, t, keys], scalars: out)
    }

    private func normed(_ x: Variable, _ gamma: Tensor) -> Variable { rmsNorm(x, gamma: gamma, epsilon: epsilon) }

    func encode(embeddings: Variable, probe: ActivationProbe?) -> Variable {
        let heads = dimensions.headCount, s = embeddings.shape[1]
        let bias = positionBias(encoder, positions: Array(0..<s), keys: s)
        var x = probe.visit(Site(.embed, stack: .encoder), embeddings)
        for (i, block) in encoder.blocks.enumerated() {
            func site(_ kind: Site.Kind) -> Site { Site(kind, layer: i, stack: .encoder) }
            x = probe.visit(site(.residPre), x)
            let h = normed(x, block.selfNorm), w = block.selfAttention
            let result = attention(query: w.query(h), key: w.key(h), value: w.value(h), queryHeads: heads,
                                   keyValueHeads: heads, mask: .full, scale: 1, scoreBias: bias)
            probe.observe(site(.attentionPattern), result.probabilities)
            let z = probe.visit(site(.attentionZ), result.output)
            x = probe.visit(site(.residMid), add(x, probe.visit(site(.attentionOut), w.output(z))))
            let mlp = probe.visit(site(.mlpOut), block.feedForward(normed(x, block.feedForwardNorm)))
            x = probe.visit(site(.residPost), add(x, mlp))
        }
        return probe.visit(Site(.finalNormOut, stack: .encoder), normed(x, encoder.finalNorm))
    }

    func crossAttentionMemory(encoderOutput: Variable) -> CrossAttentionMemory {
        let layers = decoder.blocks.compactMap(\.crossAttention)
        return CrossAttentionMemory(keys: layers.map { $0.key(encoderOutput) }, values: layers.map { $0.value(encoderOutput) })
    }

    func decode(
        embeddings: Variable, positions: [Int], memory: CrossAttentionMemory, cache: KeyValueCache?,
        probe: ActivationProbe?
    ) -> Variable {
        let heads = dimensions.headCount, t = embeddings.shape[1]
        var x = probe.visit(Site(.embed, stack: .decoder), embeddings)
        var bias: Tensor?
        for (i, block) in decoder.blocks.enumerated() {
            func site(_ kind: Site.Kind) -> Site { Site(kind, layer: i, stack: .decoder) }
            x = probe.visit(site(.residPre), x)
            let h = normed(x, block.selfNorm), w = block.selfAttention
            let (key, value) = KeyValueCache.keysAndValues(cache, layer: i, key: w.key(h), value: w.value(h))
            let keys = key.shape[1]
            if bias == nil { bias = positionBias(decoder, positions: positions, keys: keys) }
            let result = attention(query: w.query(h), key: key, value: value, queryHeads: heads, keyValueHeads: heads,
                                   mask: .causal(offset: keys - t), scale: 1, scoreBias: bias)
            probe.observe(site(.attentionPattern), result.probabilities)
            let z = probe.visit(site(.attentionZ), result.output)
            x = add(x, probe.visit(site(.attentionOut), w.output(z)))
            let cross = block.crossAttention!, hc = normed(x, block.crossNorm!)
            let crossResult = attention(query: cross.query(hc), key: memory.keys[i], value: memory.values[i], queryHeads: heads,
                                        keyValueHeads: heads, mask: .full, scale: 1)
            probe.observe(site(.crossAttentionPattern), crossResult.probabilities)
            let cz = probe.visit(site(.crossAttentionZ), crossResult.output)
            x = probe.visit(site(.residMid), add(x, probe.visit(site(.crossAttentionOut), cross.output(cz))))
            let mlp = probe.visit(site(.mlpOut), block.feedForward(normed(x, block.feedForwardNorm)))
            x = probe.visit(site(.residPost), add(x, mlp))
        }
        return probe.visit(Site(.finalNormOut, stack: .decoder), normed(x, decoder.finalNorm))
    }

    func logits(_ hidden: Variable) -> Variable {
        head(scalesOutputs ? scale(hidden, by: Float(1 / Double(dimensions.hiddenSize).squareRoot())) : hidden)
    }
}
