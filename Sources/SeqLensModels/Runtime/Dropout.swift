import SeqLensTensor

/// A checkpoint's dropout probabilities, where transformers applies them in training mode.
/// Inference never drops; Monte Carlo dropout (Inseq's `mc_dropout_prob_avg`) does.
public struct DropoutRates: Sendable, Equatable {
    /// GPT-2's `embd_pdrop`: token plus position embeddings.
    public var embedding: Float = 0
    /// Attention probabilities (GPT-2's `attn_pdrop`, Llama's `attention_dropout`).
    public var attention: Float = 0
    /// GPT-2's `resid_pdrop`: attention and MLP outputs before they join the residual stream.
    public var residual: Float = 0

    public init(embedding: Float = 0, attention: Float = 0, residual: Float = 0) {
        self.embedding = embedding
        self.attention = attention
        self.residual = residual
    }

    /// Whether a forward pass with these rates differs from inference.
    public var isZero: Bool { embedding == 0 && attention == 0 && residual == 0 }
}

/// Drops activations as torch's `nn.Dropout` does in training mode: each element is zeroed with
/// probability p and the survivors are scaled by 1 / (1 − p). A probe, so that the architectures
/// need no second forward: embedding dropout at `blocks.0.resid_pre`, residual dropout at
/// `attn.out` and `mlp.out`, attention dropout on each row of the attention probabilities.
/// The masks come from a seeded generator (reproducible, not torch's). Forward only: the passes
/// it takes part in are constants, never differentiated.
public final class DropoutSampler: ActivationProbe {
    public let rates: DropoutRates
    private var random: SplitMix64

    public init(rates: DropoutRates, seed: UInt64) {
        self.rates = rates
        random = SplitMix64(seed: seed ^ 0xD209_0B7A_5EED_0001)
    }

    private static let embeddingSite = Site.block(0, .residPre)

    public func wants(_ site: Site) -> Bool {
        if rates.embedding > 0 && site == Self.embeddingSite { return true }
        return rates.residual > 0 && site.stack == nil && (site.kind == .attentionOut || site.kind == .mlpOut)
    }

    public func visit(_ site: Site, _ value: Variable) -> Variable {
        precondition(!value.isTracked, "dropout passes are not differentiated")
        var scalars = value.value.scalars
        let rate = site == Self.embeddingSite ? rates.embedding : rates.residual
        scalars.withUnsafeMutableBufferPointer { drop($0.baseAddress!, count: $0.count, rate: rate) }
        return Variable(constant: Tensor(shape: value.shape, scalars: scalars))
    }

    public func attentionRowEdit(layer: Int) -> AttentionRowEdit? {
        guard rates.attention > 0 else { return nil }
        return { [self] row, count, _, _, _ in drop(row, count: count, rate: rates.attention) }
    }

    private func drop(_ values: UnsafeMutablePointer<Float>, count: Int, rate: Float) {
        let keep = 1 - rate, scale = 1 / keep
        for i in 0..<count {
            values[i] = Float(random.nextUnit()) < keep ? values[i] * scale : 0
        }
    }
}
