import SeqLensTensor

/// An encoder-decoder Transformer (house plan seam 4): the encoder reads the source once, and the
/// decoder writes the target with cross-attention over the encoder's output. Written once as
/// forward code over `Variable`s, like `CausalTransformer`: constants for inference, tape
/// variables for attribution.
public protocol EncoderDecoderTransformer: Sendable {
    /// The decoder's sizes (its vocabulary is the output's); `maxPositions` bounds both sides.
    var dimensions: TransformerDimensions { get }
    /// The encoder's layer count.
    var encoderLayerCount: Int { get }

    /// Source token embeddings (B, S, C), scaled as the encoder consumes them: the input that
    /// attribution differentiates for the source.
    func embedSource(_ ids: [[Int]]) -> Tensor
    /// Target token embeddings (B, T, C), scaled as the decoder consumes them.
    func embedTarget(_ ids: [[Int]]) -> Tensor

    /// The encoder's output (B, S, C) for source embeddings (B, S, C).
    func encode(embeddings: Variable, probe: ActivationProbe?) -> Variable

    /// Each decoder layer's cross-attention keys and values for an encoder output: computed once
    /// per source and reused by every decoding step.
    func crossAttentionMemory(encoderOutput: Variable) -> CrossAttentionMemory

    /// The decoder's final hidden states (B, T, C).
    /// - Parameters:
    ///   - embeddings: target embeddings (B, T, C) as from `embedTarget`.
    ///   - positions: absolute positions of the T new target tokens.
    ///   - memory: the cross-attention keys and values of the source (batch B).
    ///   - cache: self-attention keys and values of earlier target positions; extended in place.
    func decode(
        embeddings: Variable, positions: [Int], memory: CrossAttentionMemory, cache: KeyValueCache?,
        probe: ActivationProbe?
    ) -> Variable

    /// Logits (N, V) for decoder hidden rows (N, C).
    func logits(_ hidden: Variable) -> Variable
}

/// Per decoder layer, the cross-attention keys and values (B, S, C) of one encoder output.
public struct CrossAttentionMemory {
    public let keys: [Variable]
    public let values: [Variable]

    public init(keys: [Variable], values: [Variable]) {
        self.keys = keys
        self.values = values
    }

    /// The source length S.
    public var sourceLength: Int { keys.first?.shape[1] ?? 0 }
    public var batch: Int { keys.first?.shape[0] ?? 0 }

    /// The same memory for each of `rows` (indices into this memory's batch), as beam search and
    /// batched decoding need: constants only.
    public func selecting(_ rows: [Int]) -> CrossAttentionMemory {
        func pick(_ v: Variable) -> Variable {
            let s = v.shape[1], c = v.shape[2], size = s * c
            var out = [Float]()
            out.reserveCapacity(rows.count * size)
            v.value.scalars.withUnsafeBufferPointer { p in
                for row in rows { out.append(contentsOf: p[(row * size)..<((row + 1) * size)]) }
            }
            return Variable(constant: Tensor(shape: [rows.count, s, c], scalars: out))
        }
        return CrossAttentionMemory(keys: keys.map(pick), values: values.map(pick))
    }
}
