import Foundation
import SeqLensAttribution
import SeqLensModels

/// `attribute {model, inputs, generatedTexts?, method?, methodArgs?, attributedFn?, attributedFnArgs?,
/// stepScores?, attrPosStart?, attrPosEnd?, contrastTargets?, contrastTargetsAlignments?, ...}`:
/// Inseq's `model.attribute(...)`. Per input the source and target tokens, the attributions
/// ([position][step], aggregated as Inseq's `aggregate()` by default) and the step scores; the raw
/// hidden-dimension values as base64 float32 when `granular`; Inseq's JSON file when `savePath`.
/// Progress and cancellation per sequence (the engine's granularity).
struct AttributeHandler: MethodHandler {
    static let method = "attribute"
    static let execution = Execution.computeQueue

    struct Params: RequestParams {
        var model: String
        var request: AttributionRequest
        var aggregate: Bool
        var granular: Bool
        var savePath: String?
        var overwrite: Bool
        var interventions: InterventionArguments
        /// Inseq's `attribute_target`: encoder-decoder models only.
        var attributeTarget: Bool?
        var modelID: String? { model }

        static let fields: Set<String> = [
            "model", "inputs", "generatedTexts", "method", "methodArgs", "attributedFn", "attributedFnArgs",
            "stepScores",
            "attrPosStart", "attrPosEnd", "contrastTargets", "contrastTargetsAlignments", "includeEosBaseline",
            "skipSpecialTokens", "generationArgs", "batchSize", "aggregate", "granular", "savePath", "overwrite",
            "outputStepAttributions", "interventions", "attributeTarget",
        ]

        init(from params: ParamsReader) throws(RPCError) {
            model = try params.modelID()
            let inputs = try params.requiredArray("inputs", of: String.self, maximumCount: RequestLimits.inputs)
            request = AttributionRequest(inputs: inputs)
            attributeTarget = try params.optional("attributeTarget", as: Bool.self)
            if let generated = try params.optionalArray("generatedTexts", of: String.self) {
                try Self.checkOnePerInput(generated.count, inputs.count, field: "generatedTexts")
                request.generatedTexts = generated
            }
            request.method = try Self.method(params)
            if let function = try params.optionalChoice("attributedFn", of: StepFunction.self) {
                request.attributedFunction = function
            }
            if let options = try params.optionalObject("attributedFnArgs") {
                request.functionOptions = try Self.functionOptions(options)
            }
            request.stepScores = try params.optionalChoices("stepScores", of: StepFunction.self) ?? []
            request.attrPosStart = try params.optional("attrPosStart", in: 0...Int.max)
            request.attrPosEnd = try params.optional("attrPosEnd", in: 0...Int.max)
            if let contrast = try params.optionalArray("contrastTargets", of: String.self) {
                try Self.checkOnePerInput(contrast.count, inputs.count, field: "contrastTargets")
                request.contrastTargets = contrast
            }
            if let alignments = try Self.alignments(params) {
                try Self.checkOnePerInput(alignments.count, inputs.count, field: "contrastTargetsAlignments")
                guard request.contrastTargets != nil else {
                    throw RPCError(
                        .invalidParams, "params.contrastTargetsAlignments: given without params.contrastTargets")
                }
                request.contrastAlignments = alignments
            }
            request.includeEOSBaseline = try params.optional("includeEosBaseline", as: Bool.self) ?? false
            request.skipSpecialTokens = try params.optional("skipSpecialTokens", as: Bool.self) ?? false
            if let generation = try params.optionalObject("generationArgs") {
                request.generation = try Self.generationOptions(generation)
            }
            request.batchSize = try params.optional("batchSize", in: 1...Int.max)
            request.outputStepAttributions = try params.optional("outputStepAttributions", as: Bool.self) ?? false
            aggregate = try params.optional("aggregate", as: Bool.self) ?? true
            granular = try params.optional("granular", as: Bool.self) ?? false
            savePath = try params.optional("savePath", as: String.self)
            if savePath?.isEmpty == true {
                throw RPCError(.invalidParams, "params.savePath: expected a file path, got an empty string")
            }
            overwrite = try params.optional("overwrite", as: Bool.self) ?? false
            interventions = try InterventionArguments(params)
        }

        static func checkOnePerInput(_ count: Int, _ inputs: Int, field: String) throws(RPCError) {
            guard count == inputs else {
                throw RPCError(.invalidParams, "params.\(field): expected \(inputs) (one per input), got \(count)")
            }
        }

        /// The method, built by the registry from its name and `methodArgs` (Inseq's and Captum's
        /// argument names, camelCase): each method's own type decides what it accepts.
        static func method(_ params: ParamsReader) throws(RPCError) -> any AttributionMethod {
            let name = try params.optional("method", as: String.self) ?? Saliency.name
            guard AttributionMethods.type(named: name) != nil else {
                throw RPCError(
                    .invalidParams,
                    "params.method: unknown attribution method '\(name)' (known: \(AttributionMethods.names.joined(separator: ", ")))")
            }
            let arguments = params.members["methodArgs"]
            if let arguments, arguments != .null, arguments.objectValue == nil {
                throw RPCError.invalidParams("params.methodArgs", expected: "an object (the method's arguments by name)", got: arguments)
            }
            do {
                return try AttributionMethods.make(name, arguments: arguments?.jsonValue)
            } catch {
                throw rpcError(for: error)
            }
        }

        /// The attributed function's options (also used by the step scores).
        static func functionOptions(_ reader: ParamsReader) throws(RPCError) -> StepFunctionOptions {
            try reader.rejectUnknownFields([
                "logprob", "topK", "topP", "minTokensToKeep", "contrastForceInputs", "nMcdSteps", "mcdSeed",
            ])
            var options = StepFunctionOptions()
            if let logprob = try reader.optional("logprob", as: Bool.self) { options.logProbability = logprob }
            if let topK = try reader.optional("topK", in: 0...Int(Int32.max)) { options.topK = topK }
            if let topP = try reader.optional("topP", in: 1e-9...1.0) { options.topP = Float(topP) }
            if let keep = try reader.optional("minTokensToKeep", in: 1...Int(Int32.max)) {
                options.minTokensToKeep = keep
            }
            if let force = try reader.optional("contrastForceInputs", as: Bool.self) {
                options.contrastForceInputs = force
            }
            if let passes = try reader.optional("nMcdSteps", in: 1...RequestLimits.samples) { options.mcDropoutSteps = passes }
            if let seed = try reader.optional("mcdSeed", in: 0...Int.max) { options.mcDropoutSeed = UInt64(seed) }
            return options
        }

        static func generationOptions(_ reader: ParamsReader) throws(RPCError) -> GenerationOptions {
            try reader.rejectUnknownFields(["maxNewTokens", "doSample", "temperature", "topK", "topP", "seed"])
            var options = GenerationOptions()
            if let value = try reader.optional("maxNewTokens", in: 1...1_000_000) { options.maxNewTokens = value }
            if let value = try reader.optional("doSample", as: Bool.self) { options.doSample = value }
            if let value = try reader.optional("temperature", in: 1e-6...1e6) { options.temperature = Float(value) }
            if let value = try reader.optional("topK", in: 0...Int(Int32.max)) { options.topK = value }
            if let value = try reader.optional("topP", in: 1e-9...1.0) { options.topP = Float(value) }
            if let value = try reader.optional("seed", in: 0...Int.max) { options.seed = UInt64(value) }
            return options
        }

        /// `[[[target, contrast], ...], ...]`: per input, pairs of token positions.
        static func alignments(_ params: ParamsReader) throws(RPCError) -> [[AlignmentPair]]? {
            let field = "params.contrastTargetsAlignments"
            guard let json = params.members["contrastTargetsAlignments"], json != .null else { return nil }
            let expected = "an array (one per input) of arrays of [target position, contrast position] pairs"
            guard case .array(let perInput) = json else {
                throw RPCError.invalidParams(field, expected: expected, got: json)
            }
            var result: [[AlignmentPair]] = []
            for (index, pairs) in perInput.enumerated() {
                guard case .array(let list) = pairs else {
                    throw RPCError.invalidParams(
                        "\(field)[\(index)]", expected: "an array of [target, contrast] pairs", got: pairs)
                }
                var aligned: [AlignmentPair] = []
                for (pairIndex, pair) in list.enumerated() {
                    guard let values = pair.arrayValue?.compactMap(\.intValue), values.count == 2,
                        pair.arrayValue?.count == 2,
                        values.allSatisfy({ $0 >= 0 })
                    else {
                        throw RPCError.invalidParams(
                            "\(field)[\(index)][\(pairIndex)]",
                            expected: "a pair [target position, contrast position] of non-negative integers",
                            got: pair)
                    }
                    aligned.append(AlignmentPair(target: values[0], contrast: values[1]))
                }
                result.append(aligned)
            }
            return result
        }
    }

    func handle(_ params: Params, context: RequestContext) throws -> RPCValue {
        let attributor: (AttributionRequest, (AttributionProgress) throws -> Void) throws -> FeatureAttributionOutput
        switch try context.registry.useAny(params.model) {
        case .encoderDecoder(let model):
            guard params.interventions.entries.isEmpty else {
                throw RPCError(.invalidParams, "params.interventions: not supported for encoder-decoder models yet")
            }
            let engine = EncoderDecoderAttributor(model: model, attributeTarget: params.attributeTarget ?? false)
            attributor = { try engine.attribute($0, onProgress: $1) }
        case .causal(let plain):
            if params.attributeTarget != nil {
                throw RPCError(
                    .invalidParams,
                    "params.attributeTarget: only for encoder-decoder models (a decoder-only model's attributions are always over its target)")
            }
            let model = try params.interventions.apply(to: plain)
            try Self.checkContinuations(params)
            attributor = { try Attributor(model: model).attribute($0, onProgress: $1) }
        }
        return try run(params, attributor: attributor, context: context)
    }

    /// A decoder-only model continues its input: each forced text starts with it.
    private static func checkContinuations(_ params: Params) throws(RPCError) {
        for (index, (text, input)) in zip(params.request.generatedTexts ?? [], params.request.inputs).enumerated()
        where !text.hasPrefix(input) {
            throw RPCError(
                .invalidParams,
                "params.generatedTexts[\(index)]: expected a text that starts with its input '\(input)' "
                    + "(decoder-only models continue the input), got '\(text)'")
        }
    }

    private func run(
        _ params: Params, attributor: (AttributionRequest, (AttributionProgress) throws -> Void) throws -> FeatureAttributionOutput,
        context: RequestContext
    ) throws -> RPCValue {
        let destination = try context.outputFile(params.savePath, overwrite: params.overwrite)
        try context.checkCancellation()
        let request = params.request
        context.progress?.begin(
            title: "attribute", message: "\(request.inputs.count) input(s), \(request.method.name)")
        let output: FeatureAttributionOutput
        do {
            output = try attributor(request) { progress in
                try context.checkCancellation()
                let phase: String
                switch progress.phase {
                case .generating(let token, let total): phase = "generating token \(token) of \(total)"
                case .attributing(let pass, let total): phase = "pass \(pass) of \(total)"
                }
                context.progress?.report(
                    fraction: progress.fraction, message: "sequence \(progress.sequence + 1) of \(progress.sequences): \(phase)")
            }
        } catch let error as AttributionError {
            throw Self.rpcError(for: error)
        }
        if let destination {
            do {
                try output.save(to: destination, overwrite: params.overwrite)
            } catch {
                throw RPCError(.invalidParams, "params.savePath: \(error)")
            }
        }
        let shown: FeatureAttributionOutput
        do {
            shown = params.aggregate ? try output.aggregated() : output
        } catch {
            throw RPCError(.computationFailed, "aggregating the attributions failed: \(error)")
        }
        let results = zip(shown.sequenceAttributions, output.sequenceAttributions).map { sequence, raw in
            Self.describe(sequence, granular: params.granular ? raw : nil, steps: request.outputStepAttributions)
        }
        context.progress?.end(message: "done")
        var result: [String: RPCValue] = ["results": .array(results)]
        if let destination { result["savedTo"] = .string(destination.path) }
        return .object(result)
    }

    /// The engine's argument errors, with the parameter they concern.
    static func rpcError(for error: AttributionError) -> RPCError {
        if case .invalidMethodArgument(let argument) = error.innermost {
            return RPCError(.invalidParams, "\(field(of: error)): \(argument.message)")
        }
        return RPCError(.invalidParams, "\(field(of: error)): \(error)")
    }

    private static func field(of error: AttributionError) -> String {
        let field: String
        switch error {
        case .inInput(_, let inner): return Self.field(of: inner)
        case .unknownMethod: field = "params.method"
        case .unknownStepFunction: field = "params.attributedFn / params.stepScores"
        case .generatedTextMismatch: field = "params.generatedTexts"
        case .positionsOutOfRange: field = "params.attrPosStart / params.attrPosEnd"
        case .missingContrast, .contrastTargetMismatch: field = "params.contrastTargets"
        case .unknownSite: field = "params.methodArgs.layer"
        case .invalidMethodArgument(let argument):
            return argument.path.isEmpty ? "params.methodArgs" : "params.methodArgs.\(argument.path)"
        case .invalidArgument, .unsupported: field = "params"
        }
        return field
    }

    /// One sequence as the protocol sends it; `granular` is the sequence before aggregation.
    static func describe(_ sequence: FeatureAttributionSequenceOutput, granular: FeatureAttributionSequenceOutput?, steps: Bool) -> RPCValue {
        func token(_ token: TokenWithId) -> RPCValue { ["token": .string(token.token), "id": .integer(token.id)] }
        func tokens(_ list: [TokenWithId]) -> RPCValue { .array(list.map(token)) }
        var result: [String: RPCValue] = [
            "source": tokens(sequence.source),
            "target": tokens(sequence.target),
            "attrPosStart": .integer(sequence.attrPosStart),
            "attrPosEnd": .integer(sequence.attrPosEnd),
            "targetAttributions": sequence.targetAttributions.map(nestedArrays) ?? .null,
            "stepScores": .object(sequence.stepScores.mapValues { .array($0.values.map(number)) }),
        ]
        if let values = granular?.targetAttributions { result["granularTargetAttributions"] = packed(values) }
        if let values = sequence.sourceAttributions { result["sourceAttributions"] = nestedArrays(values) }
        if let values = granular?.sourceAttributions { result["granularSourceAttributions"] = packed(values) }
        if steps {
            // Each step's attributions over the tokens before its target: a column of the matrix
            // above, cut where the step's prefix ends (Inseq's FeatureAttributionStepOutput).
            let granularSteps = granular?.stepOutputs()
            result["steps"] = .array(sequence.stepOutputs().enumerated().map { index, step in
                var entry: [String: RPCValue] = [
                    "position": .integer(sequence.attrPosStart + index),
                    "target": step.target.first?.first.map(token) ?? .null,
                    "attributions": step.targetAttributions.map { nestedArrays(dropBatch($0)) } ?? .null,
                    "stepScores": .object(step.stepScores.mapValues { number($0.values[0]) }),
                ]
                if let values = granularSteps?[index].targetAttributions { entry["granularAttributions"] = packed(dropBatch(values)) }
                return .object(entry)
            })
        }
        return .object(result)
    }

    /// A step tensor without its leading batch dimension of one.
    static func dropBatch(_ tensor: AttributionTensor) -> AttributionTensor {
        AttributionTensor(shape: Array(tensor.shape.dropFirst()), values: tensor.values)
    }

    /// Nested arrays following the tensor's shape; NaN (nothing to attribute) becomes null.
    static func nestedArrays(_ tensor: AttributionTensor) -> RPCValue {
        func level(_ axis: Int, _ offset: Int) -> RPCValue {
            if axis == tensor.rank { return number(tensor.values[offset]) }
            let stride = tensor.shape[(axis + 1)...].reduce(1, *)
            return .array((0..<tensor.shape[axis]).map { level(axis + 1, offset + $0 * stride) })
        }
        return level(0, 0)
    }

    static func number(_ value: Float) -> RPCValue { value.isNaN ? .null : .number(Double(value)) }

    static func packed(_ tensor: AttributionTensor) -> RPCValue { TensorJSON.packed(shape: tensor.shape, values: tensor.values) }
}

extension RPCValue {
    /// The same document as the engine's JSON value (for method arguments).
    public var jsonValue: JSONValue {
        switch self {
        case .null: .null
        case .bool(let flag): .bool(flag)
        case .integer(let number): .int(number)
        case .number(let number): .double(number)
        case .string(let text): .string(text)
        case .array(let elements): .array(elements.map(\.jsonValue))
        case .object(let members): .object(members.mapValues(\.jsonValue))
        }
    }
}
