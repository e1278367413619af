import SeqLensModels

/// What to attribute and how: Inseq's `model.attribute(...)` arguments.
public struct AttributionRequest: Sendable {
    /// Prompts to attribute (one sequence each).
    public var inputs: [String]
    /// Forced continuations (each must start with its input); generated when nil.
    public var generatedTexts: [String]?
    /// The method, holding its arguments (`AttributionMethods.make` builds one from a name and JSON).
    public var method: any AttributionMethod = Saliency()
    /// The attributed function (Inseq's default: probability).
    public var attributedFunction: StepFunction = .probability
    /// Options for the attributed function and the step scores.
    public var functionOptions = StepFunctionOptions()
    public var stepScores: [StepFunction] = []
    /// First and end (exclusive) positions of the attributed tokens in the full sequence;
    /// default: the generated part.
    public var attrPosStart: Int?
    public var attrPosEnd: Int?
    /// Contrastive continuations, one per input (prompt + alternative text).
    public var contrastTargets: [String]?
    /// Explicit (target position, contrast position) pairs per sequence; missing positions are
    /// aligned from the end of both sequences, as Inseq does.
    public var contrastAlignments: [[AlignmentPair]]?
    /// Baselines use UNK for EOS tokens too (otherwise EOS positions keep EOS).
    public var includeEOSBaseline = false
    /// Encode without the tokenizer's special tokens (e.g. no BOS).
    public var skipSpecialTokens = false
    public var generation = GenerationOptions()
    /// Also return each step's output (Inseq's `output_step_attributions`).
    public var outputStepAttributions = false
    /// Sequences attributed together (Inseq's `batch_size`). SeqLens attributes one sequence at
    /// a time and batches within a sequence (steps, integration points) instead, so results and
    /// speed do not depend on it; it is accepted for compatibility.
    public var batchSize: Int?

    public init(inputs: [String]) { self.inputs = inputs }
}

/// A (target position, contrast position) alignment.
public struct AlignmentPair: Sendable, Hashable {
    public var target: Int
    public var contrast: Int
    public init(target: Int, contrast: Int) {
        self.target = target
        self.contrast = contrast
    }
}
