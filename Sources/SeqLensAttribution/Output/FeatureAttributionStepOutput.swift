/// One attribution step, as Inseq's `FeatureAttributionStepOutput` (what
/// `attribute(..., output_step_attributions=True)` lists in `step_attributions`).
///
/// Every field is batched as in Inseq: `prefix` and `target` hold one token list per sequence of
/// the batch, and tensors lead with the batch dimension. SeqLens attributes one sequence at a
/// time, so its step outputs have a batch of one and come sequence after sequence, as Inseq's
/// do with `batch_size=1`.
public struct FeatureAttributionStepOutput: Sendable, Equatable {
    /// Encoder-decoder models: the source tokens per sequence; nil for decoder-only models.
    public var source: [[TokenWithId]]?
    /// The tokens before the attributed one, per sequence.
    public var prefix: [[TokenWithId]]
    /// The attributed token, per sequence (a list of one; "contrast → target" with id -1 where
    /// a contrastive target differs).
    public var target: [[TokenWithId]]
    /// [batch, source tokens, (hidden...)], encoder-decoder models only.
    public var sourceAttributions: AttributionTensor?
    /// [batch, prefix tokens, (hidden...)].
    public var targetAttributions: AttributionTensor?
    /// One value per sequence, by step function name: shape [batch].
    public var stepScores: [String: AttributionTensor]
    public var sequenceScores: [String: AttributionTensor]
    /// The kind of the sequence outputs these steps build (decides the class name).
    public var kind: SequenceOutputKind

    public init(
        source: [[TokenWithId]]? = nil, prefix: [[TokenWithId]], target: [[TokenWithId]],
        sourceAttributions: AttributionTensor? = nil, targetAttributions: AttributionTensor? = nil,
        stepScores: [String: AttributionTensor] = [:], sequenceScores: [String: AttributionTensor] = [:],
        kind: SequenceOutputKind = .granular
    ) {
        self.source = source
        self.prefix = prefix
        self.target = target
        self.sourceAttributions = sourceAttributions
        self.targetAttributions = targetAttributions
        self.stepScores = stepScores
        self.sequenceScores = sequenceScores
        self.kind = kind
    }
}

extension SequenceOutputKind {
    /// Inseq's step class for this kind of sequence output, e.g. GranularFeatureAttributionStepOutput.
    var stepClassName: String { rawValue.replacingOccurrences(of: "SequenceOutput", with: "StepOutput") }

    init?(stepClassName: String) {
        guard let kind = Self.allCases.first(where: { $0.stepClassName == stepClassName }) else { return nil }
        self = kind
    }
}

extension FeatureAttributionSequenceOutput {
    /// The per-step outputs this decoder-only sequence was built from: step `s` attributes
    /// `target[attrPosStart + s]` from the `attrPosStart + s` tokens before it.
    ///
    /// - Parameter prefixTokens: the tokens of the prefixes, when they differ from `target`
    ///   (Inseq shows contrastive targets as "contrast → target" only in the attributed token).
    public func stepOutputs(prefixTokens: [TokenWithId]? = nil) -> [FeatureAttributionStepOutput] {
        let plain = prefixTokens ?? target
        return (0..<stepCount).map { step in
            let position = attrPosStart + step
            func column(_ tensor: AttributionTensor?) -> AttributionTensor? {
                guard let tensor, tensor.rank >= 2 else { return nil }
                let rows = min(position, tensor.shape[0])
                let width = tensor.shape.dropFirst(2).reduce(1, *)
                var values: [Float] = []
                values.reserveCapacity(rows * width)
                for row in 0..<rows {
                    let start = (row * tensor.shape[1] + step) * width
                    values += tensor.values[start..<(start + width)]
                }
                return AttributionTensor(shape: [1, rows] + tensor.shape.dropFirst(2), values: values)
            }
            return FeatureAttributionStepOutput(
                prefix: [Array(plain.prefix(position))], target: [[target[position]]],
                targetAttributions: column(targetAttributions),
                stepScores: stepScores.mapValues { AttributionTensor(shape: [1], values: [$0.values[step]]) },
                kind: kind)
        }
    }
}
