import SeqLensTensor

/// An encoder-decoder model seen as a causal model over one joined sequence [source ; target]:
/// positions 0..<S are the source (all read by every target position, through the encoder and
/// cross-attention), positions S..<S + T the target. A target position still depends only on the
/// positions at or before it, so the attribution machinery built for causal models (embeddings
/// to differentiate or perturb, every step's logits from one forward, one batched backward) serves
/// source and target attribution at once: step k's gradient rows 0..<S are its source
/// attributions, rows S... its target attributions.
///
/// The hidden rows of source positions are zeros (no step reads them). Only whole-sequence
/// forwards are served: no KV cache, no runs of some blocks alone.
public struct JoinedSequenceView: CausalTransformer {
    public let model: any EncoderDecoderTransformer
    public let sourceLength: Int
    public let dimensions: TransformerDimensions

    public init(model: any EncoderDecoderTransformer, sourceLength: Int) {
        self.model = model
        self.sourceLength = sourceLength
        var dims = model.dimensions
        dims.maxPositions = sourceLength + model.dimensions.maxPositions
        dimensions = dims
    }

    /// Scaled source embeddings for the first S ids of each row, scaled target embeddings for the rest.
    public func embed(_ ids: [[Int]]) -> Tensor {
        let s = sourceLength, c = dimensions.hiddenSize
        let source = model.embedSource(ids.map { Array($0.prefix(s)) })
        let target = model.embedTarget(ids.map { Array($0.dropFirst(s)) })
        let t = ids.first.map { $0.count - s } ?? 0
        var out = [Float]()
        out.reserveCapacity(ids.count * (s + t) * c)
        for row in ids.indices {
            out.append(contentsOf: source.scalars[(row * s * c)..<((row + 1) * s * c)])
            out.append(contentsOf: target.scalars[(row * t * c)..<((row + 1) * t * c)])
        }
        return Tensor(shape: [ids.count, s + t, c], scalars: out)
    }

    public func hiddenStates(
        embeddings: Variable, positions joined: [Int], cache: KeyValueCache?, probe: ActivationProbe?
    ) -> Variable {
        precondition(cache == nil, "the joined view runs whole sequences only")
        let s = sourceLength, total = embeddings.shape[1]
        let encoded = model.encode(embeddings: positions(embeddings, 0..<s), probe: probe)
        let memory = model.crossAttentionMemory(encoderOutput: encoded)
        let decoded = model.decode(
            embeddings: positions(embeddings, s..<total), positions: Array(0..<(total - s)), memory: memory, cache: nil,
            probe: probe)
        return placed(decoded, at: s, length: total)
    }

    /// The whole model when `layers` covers every decoder block (with `residual` as the joined
    /// embeddings); runs of some blocks are not served by this view.
    public func hiddenStates(
        layers: Range<Int>, residual: Variable, positions: [Int], cache: KeyValueCache?, probe: ActivationProbe?
    ) -> Variable {
        precondition(layers == 0..<dimensions.layerCount, "the joined view runs whole models only")
        return hiddenStates(embeddings: residual, positions: positions, cache: cache, probe: probe)
    }

    public func logits(_ hidden: Variable) -> Variable { model.logits(hidden) }

    /// The decoder's final norm is applied inside `decode`.
    public func finalNorm(_ residual: Variable) -> Variable { residual }
}
