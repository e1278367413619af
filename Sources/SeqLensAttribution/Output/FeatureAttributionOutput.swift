/// Which Inseq sequence-output class an output is; it decides the default aggregation and is
/// written as the class name in saved files (Inseq 0.7.1, inseq/data/attribution.py).
public enum SequenceOutputKind: String, Sendable, CaseIterable {
    /// Gradient methods: one score per hidden dimension. Default aggregation: vnorm, then
    /// column normalisation.
    case granular = "GranularFeatureAttributionSequenceOutput"
    /// Token-level methods (occlusion, LIME): already 2-D, no default aggregation.
    case coarse = "CoarseFeatureAttributionSequenceOutput"
    /// Several extra dimensions (attention: layer, head). Default: mean over each, normalising.
    case multiDimensional = "MultiDimensionalFeatureAttributionSequenceOutput"
    /// The base class. Default aggregation: mean over the last dimension, then normalisation.
    case plain = "FeatureAttributionSequenceOutput"
}

/// The attributions of one input sequence, as Inseq's `FeatureAttributionSequenceOutput`.
///
/// For decoder-only models `source` is the prompt, `target` the prompt plus the generated
/// tokens, and only `targetAttributions` is set: shape [target.count, steps, (hidden...)],
/// where step `s` attributes `target[attrPosStart + s]`; rows at and after that position are NaN.
/// Encoder-decoder models also set `sourceAttributions`: [source.count, steps, (hidden...)].
public struct FeatureAttributionSequenceOutput: Sendable, Equatable {
    public var source: [TokenWithId]
    public var target: [TokenWithId]
    public var sourceAttributions: AttributionTensor?
    public var targetAttributions: AttributionTensor?
    /// One value per attributed step, by step function name (e.g. "probability"): shape [steps].
    public var stepScores: [String: AttributionTensor]
    /// Scores shaped like the attributions (e.g. attention weights), by name.
    public var sequenceScores: [String: AttributionTensor]
    /// Index in `target` of the first attributed (generated) token.
    public var attrPosStart: Int
    /// One past the last attributed token in `target`.
    public var attrPosEnd: Int
    public var kind: SequenceOutputKind
    /// The functions `aggregated()` reduces a multi-dimensional output's extra dimensions with, last
    /// dimension first (the attention method's head and layer aggregation); nil: mean for each.
    /// Not part of Inseq's file.
    public var defaultAggregation: [AggregationFunction]?

    public init(
        source: [TokenWithId], target: [TokenWithId],
        sourceAttributions: AttributionTensor? = nil, targetAttributions: AttributionTensor? = nil,
        stepScores: [String: AttributionTensor] = [:], sequenceScores: [String: AttributionTensor] = [:],
        attrPosStart: Int = 0, attrPosEnd: Int? = nil, kind: SequenceOutputKind = .granular
    ) {
        self.source = source
        self.target = target
        self.sourceAttributions = sourceAttributions
        self.targetAttributions = targetAttributions
        self.stepScores = stepScores
        self.sequenceScores = sequenceScores
        self.attrPosStart = attrPosStart
        // Inseq's __post_init__: a missing or too large end becomes len(target).
        self.attrPosEnd = min(attrPosEnd ?? target.count, target.count)
        self.kind = kind
    }

    /// Number of attributed generation steps.
    public var stepCount: Int { attrPosEnd - attrPosStart }

    /// The generated (attributed) tokens: `target[attrPosStart..<attrPosEnd]`.
    public var generatedTokens: ArraySlice<TokenWithId> {
        let start = max(0, min(attrPosStart, target.count))
        return target[start..<max(start, min(attrPosEnd, target.count))]
    }

    /// Inseq's `maximum`: max(0, max of NaN-as-0 source and target attributions).
    public var maximum: Float {
        [sourceAttributions, targetAttributions].compactMap { $0 }
            .flatMap(\.values).reduce(Float(0)) { $1.isNaN ? $0 : max($0, $1) }
    }

    /// Inseq's `minimum`: min(0, min of NaN-as-0 source and target attributions).
    public var minimum: Float {
        [sourceAttributions, targetAttributions].compactMap { $0 }
            .flatMap(\.values).reduce(Float(0)) { $1.isNaN ? $0 : min($0, $1) }
    }
}

/// Everything one `attribute` call produced, as Inseq's `FeatureAttributionOutput`.
public struct FeatureAttributionOutput: Sendable, Equatable {
    /// One entry per input sequence.
    public var sequenceAttributions: [FeatureAttributionSequenceOutput]
    /// Per-step outputs (Inseq's `output_step_attributions=True`): every step of the first
    /// sequence, then of the next. Inseq 0.7.1 saves them but its own `load` fails on files
    /// that hold them (it calls a method its step class lacks); SeqLens reads them.
    public var stepAttributions: [FeatureAttributionStepOutput]?
    /// The parameters of the call, under Inseq's keys: "attribution_method", "model_name",
    /// "model_class", "tokenizer_name", "tokenizer_class", "attr_pos_start", "attr_pos_end",
    /// "step_scores", "attributed_fn", "attribution_args", "attributed_fn_args",
    /// "step_scores_args", "input_texts", "generated_texts", "generation_args",
    /// "include_eos_baseline", "constrained_decoding", "output_step_attributions",
    /// "attribute_target", "generate_from_target_prefix", "exec_time".
    public var info: [String: JSONValue]

    public init(
        sequenceAttributions: [FeatureAttributionSequenceOutput], stepAttributions: [FeatureAttributionStepOutput]? = nil,
        info: [String: JSONValue] = [:]
    ) {
        self.sequenceAttributions = sequenceAttributions
        self.stepAttributions = stepAttributions
        self.info = info
    }

    /// Merges outputs as Inseq's `out_a + out_b` (merge_attributions): sequences concatenated,
    /// info taken from the first with attr_pos_end the maximum and texts concatenated.
    public static func merged(_ outputs: [FeatureAttributionOutput]) -> FeatureAttributionOutput {
        guard var merged = outputs.first else { return FeatureAttributionOutput(sequenceAttributions: []) }
        merged.sequenceAttributions = outputs.flatMap(\.sequenceAttributions)
        merged.stepAttributions = merged.stepAttributions == nil ? nil : outputs.flatMap { $0.stepAttributions ?? [] }
        if merged.info["attr_pos_end"] != nil {
            let ends = outputs.compactMap { $0.info["attr_pos_end"]?.intValue }
            if let largest = ends.max() { merged.info["attr_pos_end"] = .int(largest) }
        }
        for key in ["generated_texts", "input_texts"] where merged.info[key] != nil {
            merged.info[key] = .array(outputs.flatMap { $0.info[key]?.arrayValue ?? [] })
        }
        return merged
    }
}
