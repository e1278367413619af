import Foundation
import SeqLensModels
import SeqLensTensor
import SeqLensTokenizers

/// Attribution for encoder-decoder models, as Inseq computes it: the source is the encoder's
/// input (its `</s>` included), the target the decoder's (the decoder start token first, `</s>`
/// last), every target token after the start is a step, and gradients are taken with respect to
/// the scaled embeddings the model consumes. The methods run unchanged on the model's joined
/// view ([source ; target] as one causal sequence, `JoinedSequenceView`): one encoder pass and one
/// decoder pass per variant serve every step, and one batched backward through decoder and
/// encoder gives each step's source and target rows.
public struct EncoderDecoderAttributor {
    public let model: EncoderDecoderModel
    /// Whether target (decoder-side) attributions are returned too (Inseq's `attribute_target`).
    public var attributeTarget: Bool

    public init(model: EncoderDecoderModel, attributeTarget: Bool = false) {
        self.model = model
        self.attributeTarget = attributeTarget
    }

    /// The methods checked against Inseq on encoder-decoder models so far.
    public static let methods: Set<String> = ["saliency", "input_x_gradient", "integrated_gradients", "attention", "dummy"]
    /// The step functions that read only the step's own logits (no contrastive context or dropout).
    static let stepFunctions: Set<StepFunction> = [.logit, .probability, .entropy, .crossentropy, .perplexity, .topPSize]
    /// The contrastive ones checked against Inseq with `contrastTargets` (target-side contrasts).
    static let contrastiveFunctions: Set<StepFunction> = [.contrastLogits, .contrastProb, .contrastLogitsDiff, .contrastProbDiff]

    public func attribute(
        _ request: AttributionRequest, onProgress: (AttributionProgress) throws -> Void = { _ in }
    ) throws -> FeatureAttributionOutput {
        try validate(request)
        var sequences: [FeatureAttributionSequenceOutput] = []
        try withoutActuallyEscaping(onProgress) { onProgress in
            for (index, input) in request.inputs.enumerated() {
                let report = { (phase: AttributionProgress.Phase) in
                    try onProgress(AttributionProgress(sequence: index, sequences: request.inputs.count, phase: phase))
                }
                do {
                    sequences.append(try attributeOne(request, index: index, input: input, report: report))
                } catch let error as AttributionError where request.inputs.count > 1 {
                    throw AttributionError.inInput(index, error)
                }
            }
        }
        return FeatureAttributionOutput(sequenceAttributions: sequences, stepAttributions: nil, info: Attributor.inseqInfo(request, model: model.info, attributeTarget: attributeTarget))
    }

    private func validate(_ request: AttributionRequest) throws {
        guard !request.inputs.isEmpty else { throw AttributionError.invalidArgument("inputs is empty: give at least one text") }
        let name = request.method.name
        guard Self.methods.contains(name) else {
            throw AttributionError.unsupported(
                "method '\(name)' does not serve encoder-decoder models yet (they support: \(Self.methods.sorted().joined(separator: ", ")))")
        }
        let served = Self.stepFunctions.union(Self.contrastiveFunctions)
        for function in [request.attributedFunction] + request.stepScores where !served.contains(function) {
            throw AttributionError.unsupported(
                "step function '\(function.rawValue)' does not serve encoder-decoder models yet (they support: \(served.map(\.rawValue).sorted().joined(separator: ", ")))")
        }
        if let contrast = request.contrastTargets, contrast.count != request.inputs.count {
            throw AttributionError.contrastTargetMismatch("\(contrast.count) contrast targets for \(request.inputs.count) inputs")
        }
        let contrastive = [request.attributedFunction] + request.stepScores
        if let function = contrastive.first(where: \.isContrastive), request.contrastTargets == nil {
            throw AttributionError.missingContrast(function.rawValue)
        }
        if request.outputStepAttributions {
            throw AttributionError.unsupported("outputStepAttributions does not serve encoder-decoder models yet")
        }
        if let generated = request.generatedTexts, generated.count != request.inputs.count {
            throw AttributionError.invalidArgument("generatedTexts has \(generated.count) texts for \(request.inputs.count) inputs")
        }
    }

    private func attributeOne(
        _ request: AttributionRequest, index: Int, input: String, report: @escaping (AttributionProgress.Phase) throws -> Void
    ) throws -> FeatureAttributionSequenceOutput {
        let tokenizer = model.tokenizer
        let sourceIds = tokenizer.encode(input, side: .source, addSpecialTokens: true)
        try model.check(sourceIds, side: .source)
        let targetText: String
        if let forced = request.generatedTexts?[index] {
            targetText = forced
        } else {
            // As Inseq: generate with the checkpoint's generation config, decode, re-encode as a target.
            var options = EncoderDecoderGenerationOptions()
            options.maxNewTokens = request.generation.maxNewTokens
            targetText = try model.generate(source: sourceIds, options: options) { _, token in
                try report(.generating(token: token + 1, of: request.generation.maxNewTokens))
            }.text
        }
        let targetIds = [model.generation.decoderStartTokenID] + tokenizer.encode(targetText, side: .target, addSpecialTokens: true)
        try model.check(targetIds, side: .target)
        let s = sourceIds.count, t = targetIds.count
        let start = request.attrPosStart ?? 1, end = request.attrPosEnd ?? t
        guard start >= 1, start < end, end <= t else { throw AttributionError.positionsOutOfRange(start: start, end: end, length: t) }

        let view = JoinedSequenceView(model: model.transformer, sourceLength: s)
        let joined = sourceIds + Array(targetIds.prefix(end))
        let tokens = { (ids: [Int]) in ids.map { TokenWithId(tokenizer.tokenString($0), id: $0) } }
        var targetTokens = tokens(Array(targetIds.prefix(end)))

        // A contrastive target (Inseq's contrast_targets): another target for the same source,
        // aligned with the attributed positions as Inseq aligns them.
        var contrastIds: [Int]?
        var contrastPositions: [Int: Int] = [:]
        if let contrastText = request.contrastTargets?[index] {
            let cids = [model.generation.decoderStartTokenID] + tokenizer.encode(contrastText, side: .target, addSpecialTokens: true)
            try model.check(cids, side: .target)
            contrastPositions = try ContrastAlignment.aligned(
                explicit: request.contrastAlignments?[index] ?? [], start: start, end: end, ids: targetIds, contrast: cids,
                tokens: &targetTokens, tokenString: tokenizer.tokenString)
            contrastIds = cids
        }
        // The contrastive context's own decoder forward, only when something reads it.
        let readsContrastContext = request.stepScores.contains { $0.isContrastive }
            || (request.attributedFunction.isContrastive && request.functionOptions.contrastForceInputs)
        let contrastForward: [[Float]]? = try readsContrastContext ? contrastIds.map { cids in
            let rows = (start..<end).map { contrastPositions[$0]! - 1 }
            let logits = try model.logits(source: sourceIds, decoderInput: Array(cids.prefix(rows.max()! + 1)))
            let v = logits.shape[1]
            return rows.map { Array(logits.scalars[($0 * v)..<(($0 + 1) * v)]) }
        } : nil
        func steps(forcingContrastContext: Bool) -> [AttributedStep] {
            (start..<end).enumerated().map { k, position in
                AttributedStep(
                    position: s + position, target: targetIds[position],
                    contrastTarget: contrastIds.map { $0[contrastPositions[position]!] },
                    contrastLogits: forcingContrastContext ? contrastForward?[k] : nil)
            }
        }
        let special = tokenizer.specialTokens
        let unknown = special.unk ?? special.eos ?? 0
        let endOfSequence = model.generation.endOfSequence.union([special.eos].compactMap { $0 })
        // Inseq's baselines: UNK everywhere but the decoder start token and (unless EOS baselines
        // are asked for) </s>.
        let baselineIds = joined.enumerated().map { position, id in
            position == s || (!request.includeEOSBaseline && endOfSequence.contains(id)) ? id : unknown
        }

        var sourceAttributions: AttributionTensor?
        var targetAttributions: AttributionTensor?
        var deltas: [Float]?
        var inputLogits: Tensor?
        var aggregation: [AggregationFunction]?
        let method = request.method
        if type(of: method).attributes {
            let passes = PassCounter { pass, total in try report(.attributing(pass: pass, of: total)) }
            let problem = AttributionProblem(
                transformer: view, sites: SiteCatalog(dimensions: view.dimensions), ids: joined,
                steps: steps(forcingContrastContext: request.functionOptions.contrastForceInputs),
                function: request.attributedFunction, options: request.functionOptions, baselineIds: { baselineIds },
                passes: passes, specialTokenIds: Set([special.bos, special.eos, special.unk, special.pad].compactMap { $0 }))
            problem.wantsStepLogits = !request.stepScores.isEmpty
            try method.validate(for: problem)
            passes.planned = method.plannedPasses(for: problem)
            let output = try method.attribute(problem)
            if let values = output.attributions {
                // Joined positions 0..<s + start + k are visible at step k: the whole source, and
                // the target up to the step's own input.
                let layout = Attributor.inseqLayout(values, start: s + start, end: s + end)
                sourceAttributions = layout.rows(0..<s)
                if attributeTarget { targetAttributions = layout.rows(s..<(s + end)) }
            }
            deltas = output.deltas
            inputLogits = output.inputLogits
            aggregation = output.aggregation
        }
        var stepScores: [String: [Float]] = [:]
        if !request.stepScores.isEmpty {
            // As a step score, a contrastive function reads the contrastive context's prediction.
            let scoreSteps = steps(forcingContrastContext: true)
            let logits = inputLogits ?? {
                let engine = GradientEngine(transformer: view, function: .probability, options: request.functionOptions)
                return engine.stepLogits(.embeddings(view.embed([joined])), steps: scoreSteps)
            }()
            for function in request.stepScores {
                stepScores[function.rawValue] = try GradientEngine.values(
                    of: function, logits: logits, steps: scoreSteps, options: request.functionOptions)[0]
            }
        }
        if let deltas { stepScores["deltas"] = deltas }
        var sequence = FeatureAttributionSequenceOutput(
            source: tokens(sourceIds), target: targetTokens,
            sourceAttributions: sourceAttributions, targetAttributions: targetAttributions,
            stepScores: stepScores.mapValues { AttributionTensor(shape: [$0.count], values: $0) },
            sequenceScores: [:], attrPosStart: start, attrPosEnd: end,
            kind: type(of: method).attributes ? type(of: method).outputKind.sequenceKind : .plain)
        sequence.defaultAggregation = aggregation
        return sequence
    }
}
