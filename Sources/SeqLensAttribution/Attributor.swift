import Foundation
import SeqLensModels
import SeqLensTensor

/// Runs attribution requests against a resident model.
public struct Attributor {
    public let model: LanguageModel

    public init(model: LanguageModel) { self.model = model }

    /// Attributes each input.
    /// - Parameter onProgress: called at each generated token and before each forward/backward
    ///   pass; throw from it to cancel (the error propagates).
    public func attribute(
        _ request: AttributionRequest, onProgress: (AttributionProgress) throws -> Void = { _ in }
    ) throws -> FeatureAttributionOutput {
        try validate(request)
        var sequences: [FeatureAttributionSequenceOutput] = []
        var stepOutputs: [FeatureAttributionStepOutput] = []
        try withoutActuallyEscaping(onProgress) { onProgress in
            for (index, input) in request.inputs.enumerated() {
                let report = { (phase: AttributionProgress.Phase) in
                    try onProgress(AttributionProgress(sequence: index, sequences: request.inputs.count, phase: phase))
                }
                do {
                    let (sequence, plainTokens) = try attributeOne(request, index: index, input: input, report: report)
                    sequences.append(sequence)
                    if request.outputStepAttributions { stepOutputs += sequence.stepOutputs(prefixTokens: plainTokens) }
                } catch let error as AttributionError where request.inputs.count > 1 {
                    throw AttributionError.inInput(index, error)
                }
            }
        }
        return FeatureAttributionOutput(
            sequenceAttributions: sequences, stepAttributions: request.outputStepAttributions ? stepOutputs : nil,
            info: info(for: request))
    }

    private func validate(_ request: AttributionRequest) throws {
        guard !request.inputs.isEmpty else { throw AttributionError.invalidArgument("inputs is empty: give at least one text") }
        if let generated = request.generatedTexts, generated.count != request.inputs.count {
            throw AttributionError.invalidArgument("generatedTexts has \(generated.count) texts for \(request.inputs.count) inputs")
        }
        if let contrast = request.contrastTargets, contrast.count != request.inputs.count {
            throw AttributionError.contrastTargetMismatch("\(contrast.count) contrast targets for \(request.inputs.count) inputs")
        }
        if let start = request.attrPosStart, start < 1 {
            throw AttributionError.invalidArgument("attrPosStart must be at least 1 (position 0 has no prediction), got \(start)")
        }
        if let start = request.attrPosStart, let end = request.attrPosEnd, end <= start {
            throw AttributionError.invalidArgument("attrPosEnd (\(end)) must be greater than attrPosStart (\(start))")
        }
        let needsContrast = request.attributedFunction.isContrastive || request.stepScores.contains { $0.isContrastive }
        if needsContrast && request.contrastTargets == nil {
            let name = request.attributedFunction.isContrastive ? request.attributedFunction : request.stepScores.first { $0.isContrastive }!
            throw AttributionError.missingContrast(name.rawValue)
        }
        if request.attributedFunction == .klDivergence && !request.functionOptions.contrastForceInputs {
            throw AttributionError.invalidArgument(
                "kl_divergence as attributed function needs contrastForceInputs (as in Inseq)")
        }
    }

    /// Inseq's `info` dictionary, with SeqLens's values.
    private func info(for request: AttributionRequest) -> [String: JSONValue] {
        Self.inseqInfo(request, model: model.info, attributeTarget: false)
    }

    /// Inseq's `info` dictionary for `request` on a model described by `model`.
    static func inseqInfo(_ request: AttributionRequest, model: ModelInfo, attributeTarget: Bool) -> [String: JSONValue] {
        var info: [String: JSONValue] = [
            "attribution_method": .string(request.method.name),
            "attributed_fn": .string(request.attributedFunction.rawValue + "_fn"),
            "model_name": .string(model.source),
            "model_class": .string(model.architecture),
            "input_texts": .array(request.inputs.map { .string($0) }),
            "step_scores": .array(request.stepScores.map { .string($0.rawValue) }),
            "include_eos_baseline": .bool(request.includeEOSBaseline),
            "constrained_decoding": .bool(request.generatedTexts != nil),
            "attribute_target": .bool(attributeTarget),
            "output_step_attributions": .bool(request.outputStepAttributions),
            "generate_from_target_prefix": .bool(false),
        ]
        if let generated = request.generatedTexts { info["generated_texts"] = .array(generated.map { .string($0) }) }
        if let start = request.attrPosStart { info["attr_pos_start"] = .int(start) }
        if let end = request.attrPosEnd { info["attr_pos_end"] = .int(end) }
        return info
    }

    private func attributeOne(
        _ request: AttributionRequest, index: Int, input: String, report: @escaping (AttributionProgress.Phase) throws -> Void
    ) throws -> (FeatureAttributionSequenceOutput, plainTokens: [TokenWithId]) {
        let addSpecial = !request.skipSpecialTokens
        let promptIds = model.encode(input, addSpecialTokens: addSpecial)
        guard !promptIds.isEmpty else { throw AttributionError.invalidArgument("input \(index) encodes to no tokens") }
        try model.checkVocabulary(promptIds)
        let targetText: String
        var generation: Generation?
        if let generated = request.generatedTexts?[index] {
            guard generated.hasPrefix(input) else { throw AttributionError.generatedTextMismatch(input: input, generated: generated) }
            targetText = generated
        } else {
            // As Inseq: generate, decode the whole sequence, then re-encode it.
            let total = request.generation.maxNewTokens
            guard promptIds.count + total <= model.info.maxPositions else {
                throw ModelError.inputTooLong(tokens: promptIds.count + total, limit: model.info.maxPositions)
            }
            var options = request.generation
            options.keepsStepLogits = !request.stepScores.isEmpty
            let generated = try model.generate(prompt: promptIds, options: options) { _, index in
                try report(.generating(token: index + 1, of: total))
            }
            targetText = input + generated.text
            generation = generated
        }
        let ids = model.encode(targetText, addSpecialTokens: addSpecial)
        try model.checkVocabulary(ids)
        let limit = model.info.maxPositions
        guard ids.count <= limit else {
            throw AttributionError.invalidArgument(
                "input \(index): the attributed sequence (prompt and continuation) has \(ids.count) tokens, more than the model's \(limit) positions")
        }
        let start = request.attrPosStart ?? promptIds.count
        let end = request.attrPosEnd ?? ids.count
        guard start >= 1, start < end, end <= ids.count else {
            throw AttributionError.positionsOutOfRange(start: start, end: end, length: ids.count)
        }
        let plainTokens = zip(model.tokenStrings(ids), ids).map { TokenWithId($0, id: $1) }
        var tokens = plainTokens
        // Inseq's source is everything before the first attributed position.
        let source = Array(tokens.prefix(start))

        // Contrastive targets and their alignment to the attributed positions.
        var contrastIds: [Int]?
        var contrastPositions: [Int: Int] = [:]
        if let contrastText = request.contrastTargets?[index] {
            let cids = model.encode(contrastText, addSpecialTokens: addSpecial)
            try model.checkVocabulary(cids)
            guard cids.count <= limit else { throw ModelError.inputTooLong(tokens: cids.count, limit: limit) }
            contrastIds = cids
            contrastPositions = try ContrastAlignment.aligned(
                explicit: request.contrastAlignments?[index] ?? [], start: start, end: end, ids: ids, contrast: cids,
                tokens: &tokens, tokenString: { model.tokenStrings([$0])[0] })
        }
        let transformer = model.transformer
        // The contrastive context's own forward, only when something reads it.
        let readsContrastContext = request.stepScores.contains { $0.isContrastive }
            || (request.attributedFunction.isContrastive && request.functionOptions.contrastForceInputs)
        let contrastForward = readsContrastContext
            ? try contrastIds.map { try contrastRowLogits($0, rows: (start..<end).map { contrastPositions[$0]! - 1 }) }
            : nil

        let usesDropout = request.attributedFunction == .mcDropoutProbAvg || request.stepScores.contains(.mcDropoutProbAvg)
        let noisyScores = usesDropout
            ? try dropoutScores(Array(ids.prefix(end)), start: start, options: request.functionOptions, report: report) : nil

        func steps(forcingContrastContext: Bool) -> [AttributedStep] {
            (start..<end).enumerated().map { s, position in
                AttributedStep(
                    position: position, target: ids[position],
                    contrastTarget: contrastIds.map { $0[contrastPositions[position]!] },
                    contrastLogits: forcingContrastContext ? contrastForward?[s] : nil,
                    noisyScores: noisyScores?[s])
            }
        }

        var attributions: AttributionTensor?
        var deltas: [Float]?
        var inputLogits: Tensor?
        var aggregation: [AggregationFunction]?
        let method = request.method
        if type(of: method).attributes {
            let passes = PassCounter { pass, total in try report(.attributing(pass: pass, of: total)) }
            let problem = AttributionProblem(
                transformer: transformer, sites: model.sites, ids: Array(ids.prefix(end)),
                steps: steps(forcingContrastContext: request.functionOptions.contrastForceInputs),
                function: request.attributedFunction, options: request.functionOptions,
                baselineIds: { [self] in baselineIds(Array(ids.prefix(end)), includeEOS: request.includeEOSBaseline) },
                passes: passes, specialTokenIds: specialTokenIds)
            // Forward-only methods compute the steps' logits only when the step scores will read them.
            problem.wantsStepLogits = !request.stepScores.isEmpty
                && Self.generationLogits(generation, ids: ids, start: start, end: end) == nil
            try method.validate(for: problem)
            passes.planned = method.plannedPasses(for: problem)
            let output = try method.attribute(problem)
            if let values = output.attributions {
                attributions = Self.inseqLayout(values, start: start, end: end)
            }
            deltas = output.deltas
            inputLogits = output.inputLogits
            aggregation = output.aggregation
        }
        var stepScores: [String: [Float]] = [:]
        if !request.stepScores.isEmpty {
            // One forward serves every step score. As a step score, a contrastive function reads
            // the contrastive context's prediction.
            let scoreSteps = steps(forcingContrastContext: true)
            let logits: Tensor
            if let kept = Self.generationLogits(generation, ids: ids, start: start, end: end) {
                logits = kept
            } else if let inputLogits {
                logits = inputLogits  // the same rows of the same forward
            } else {
                let engine = GradientEngine(transformer: transformer, function: .probability, options: request.functionOptions)
                logits = engine.stepLogits(.embeddings(transformer.embed([Array(ids.prefix(end))])), steps: scoreSteps)
            }
            for function in request.stepScores {
                stepScores[function.rawValue] = try GradientEngine.values(
                    of: function, logits: logits, steps: scoreSteps, options: request.functionOptions)[0]
            }
        }
        if let deltas { stepScores["deltas"] = deltas }
        var sequence = FeatureAttributionSequenceOutput(
            source: source, target: tokens, sourceAttributions: nil, targetAttributions: attributions,
            stepScores: stepScores.mapValues { AttributionTensor(shape: [$0.count], values: $0) },
            sequenceScores: [:], attrPosStart: start, attrPosEnd: end,
            kind: type(of: method).attributes ? type(of: method).outputKind.sequenceKind : .plain)
        sequence.defaultAggregation = aggregation
        return (sequence, plainTokens)
    }

    /// The logits generation chose positions start..<end from, when the re-encoded sequence is
    /// exactly prompt + generated tokens (so each step's prefix is the one generation saw) and
    /// every position was generated; nil otherwise (then a forward pass computes them).
    static func generationLogits(_ generation: Generation?, ids: [Int], start: Int, end: Int) -> Tensor? {
        guard let generation, !generation.stepLogits.isEmpty,
              ids == generation.promptIds + generation.tokens.map(\.id),
              start >= generation.promptIds.count, end <= ids.count else { return nil }
        let rows = (start..<end).map { generation.stepLogits[$0 - generation.promptIds.count] }
        return Tensor(shape: [rows.count, rows[0].count], scalars: rows.flatMap { $0 })
    }

    /// The tokenizer's special tokens (transformers' all_special_ids).
    var specialTokenIds: Set<Int> {
        let special = model.tokenizer.specialTokens
        return Set([special.bos, special.eos, special.unk, special.pad].compactMap { $0 })
    }

    /// Baseline ids as Inseq makes them: UNK everywhere, except EOS positions keep EOS.
    func baselineIds(_ ids: [Int], includeEOS: Bool) -> [Int] {
        let special = model.tokenizer.specialTokens
        let unk = special.unk ?? special.eos ?? 0
        return ids.map { id in (!includeEOS && model.endOfSequence.contains(id)) ? id : unk }
    }

    /// mc_dropout_prob_avg's samples: per step from `start`, the target's probability (or
    /// log-probability) under each of `mcDropoutSteps` forward passes with the model's dropout.
    /// One pass over the whole sequence serves every step (each step's samples have the
    /// distribution of Inseq's per-step passes; Inseq draws fresh masks per step).
    /// Each dropout pass reports progress first, so that cancellation stops thousands of them.
    private func dropoutScores(
        _ ids: [Int], start: Int, options: StepFunctionOptions, report: (AttributionProgress.Phase) throws -> Void
    ) throws -> [[Float]] {
        let rates = model.transformer.dropout
        guard !rates.isZero else {
            throw AttributionError.unsupported(
                "mc_dropout_prob_avg needs a model with dropout; this \(model.info.architecture) checkpoint sets every dropout probability to 0")
        }
        guard options.mcDropoutSteps >= 1 else {
            throw AttributionError.invalidArgument("n_mcd_steps must be at least 1, got \(options.mcDropoutSteps)")
        }
        let sampler = DropoutSampler(rates: rates, seed: options.mcDropoutSeed)
        var scores = [[Float]](repeating: [], count: ids.count - start)
        for pass in 0..<options.mcDropoutSteps {
            try report(.attributing(pass: pass + 1, of: options.mcDropoutSteps))
            let logits = try model.logits(ids, probe: sampler)
            let v = logits.shape[1]
            for position in start..<ids.count {
                let row = Array(logits.scalars[((position - 1) * v)..<(position * v)])
                let context = StepContext(logits: row, target: ids[position], contrastLogits: nil, contrastTarget: nil)
                scores[position - start].append(
                    try StepFunction.probability.evaluate(context, options: options, withGradient: false).value)
            }
        }
        return scores
    }

    /// Logits (V) of the contrastive sequence at the given rows.
    private func contrastRowLogits(_ ids: [Int], rows: [Int]) throws -> [[Float]] {
        let logits = try model.logits(Array(ids.prefix((rows.max() ?? 0) + 1)))
        let v = logits.shape[1]
        return rows.map { Array(logits.scalars[($0 * v)..<(($0 + 1) * v)]) }
    }

    /// (K, T, W...) -> (end, K, W...) with NaN at t ≥ position of step k.
    static func inseqLayout(_ attributions: Tensor, start: Int, end: Int) -> AttributionTensor {
        let k = attributions.shape[0], t = attributions.shape[1], trailing = Array(attributions.shape.dropFirst(2))
        let w = trailing.reduce(1, *)
        var out = [Float](repeating: .nan, count: end * k * w)
        for s in 0..<k {
            let visible = start + s
            for position in 0..<min(visible, t) {
                for j in 0..<w { out[(position * k + s) * w + j] = attributions.scalars[(s * t + position) * w + j] }
            }
        }
        return AttributionTensor(shape: [end, k] + trailing, values: out)
    }
}

/// Inseq's get_adjusted_alignments with fill_missing: explicit pairs first (one per target
/// position), then positions without one align from the end of both sequences.
enum ContrastAlignment {
    /// The contrast position of each attributed position of `ids`, each checked to hold a
    /// prediction, with `tokens` relabelled as Inseq's join_token_ids does where the two differ:
    /// "contrast → original", id −1.
    static func aligned(
        explicit: [AlignmentPair], start: Int, end: Int, ids: [Int], contrast: [Int], tokens: inout [TokenWithId],
        tokenString: (Int) -> String
    ) throws -> [Int: Int] {
        let chosen = positions(explicit: explicit, start: start, end: end, contrastLength: contrast.count)
        for position in start..<end {
            guard let c = chosen[position], c >= 1, c < contrast.count else {
                throw AttributionError.contrastTargetMismatch("no contrast token aligned with position \(position)")
            }
            if contrast[c] != ids[position] {
                tokens[position] = TokenWithId("\(tokenString(contrast[c])) → \(tokens[position].token)", id: -1)
            }
        }
        return chosen
    }

    static func positions(explicit: [AlignmentPair], start: Int, end: Int, contrastLength: Int) -> [Int: Int] {
        let sorted = Set(explicit).sorted { ($0.target, $0.contrast) < ($1.target, $1.contrast) }
        var chosen: [Int: Int] = [:]
        var used = Set<Int>()
        for position in start..<end {
            let matches = sorted.filter { $0.target == position && $0.contrast >= 0 && $0.contrast < contrastLength }
            guard !matches.isEmpty else { continue }
            let pick = matches.first { !used.contains($0.contrast) } ?? matches[0]
            chosen[position] = pick.contrast
            used.insert(pick.contrast)
        }
        for (stepFromEnd, position) in (start..<end).reversed().enumerated() where chosen[position] == nil {
            let offset = stepFromEnd + 1
            chosen[position] = contrastLength - offset > 0 ? contrastLength - offset : contrastLength - 1
        }
        return chosen
    }
}

/// Where an attribution call is: which sequence, and generating or attributing it.
public struct AttributionProgress: Sendable, Equatable {
    public enum Phase: Sendable, Equatable {
        /// Generating the continuation: token `token` of at most `of`.
        case generating(token: Int, of: Int)
        /// Forward/backward pass `pass` of `of` for this sequence.
        case attributing(pass: Int, of: Int)
    }

    /// Index of the sequence (0-based) and how many there are.
    public var sequence: Int
    public var sequences: Int
    public var phase: Phase

    /// Overall completion in [0, 1], counting each sequence equally.
    public var fraction: Double {
        let within: Double
        switch phase {
        case .generating(let token, let total): within = 0.2 * Double(token) / Double(max(total, 1))
        case .attributing(let pass, let total): within = 0.2 + 0.8 * Double(pass - 1) / Double(max(total, 1))
        }
        return (Double(sequence) + within) / Double(max(sequences, 1))
    }
}
