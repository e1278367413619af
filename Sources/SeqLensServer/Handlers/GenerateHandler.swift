import SeqLensModels

/// `generate {model, inputs, maxNewTokens, doSample, temperature, topK, topP, seed, returnTopK, ...}`:
/// per input the generated text and each token with its probability and top alternatives.
/// Cancellable at each token; reports progress per token when given a `workDoneToken`.
/// For an encoder-decoder model the input is the source; its generation_config.json supplies the
/// defaults (decoder start, forced and banned tokens, num_beams, max_length), and beam search
/// (`numBeams` > 1) adds `beams`.
struct GenerateHandler: MethodHandler {
    static let method = "generate"
    static let execution = Execution.computeQueue

    struct Params: RequestParams {
        static let fields: Set<String> = [
            "model", "inputs", "addSpecialTokens", "returnPromptTokens", "maxNewTokens", "doSample", "temperature",
            "topK", "topP", "seed", "returnTopK", "stopAtEos", "interventions", "numBeams", "numReturnSequences",
            "lengthPenalty", "earlyStopping", "noRepeatNgramSize", "repetitionPenalty",
        ]
        var model: String
        var inputs: [String]
        var options = GenerationOptions()
        var addSpecialTokens: Bool
        var returnPromptTokens: Bool
        var interventions: InterventionArguments
        var searchOptions = EncoderDecoderGenerationOptions()
        /// Fields given explicitly, for the errors of a model that cannot honour them.
        var given: Set<String> = []
        var modelID: String? { model }

        init(from params: ParamsReader) throws(RPCError) {
            model = try params.modelID()
            inputs = try params.requiredArray("inputs", of: String.self, maximumCount: RequestLimits.inputs)
            addSpecialTokens = try params.optional("addSpecialTokens", as: Bool.self) ?? true
            returnPromptTokens = try params.optional("returnPromptTokens", as: Bool.self) ?? false
            if let value = try params.optional("maxNewTokens", in: 0...1_000_000) { options.maxNewTokens = value }
            if let value = try params.optional("doSample", as: Bool.self) { options.doSample = value }
            if let value = try params.optional("temperature", in: 1e-6...1e6) { options.temperature = Float(value) }
            if let value = try params.optional("topK", in: 0...Int(Int32.max)) { options.topK = value }
            if let value = try params.optional("topP", in: 1e-9...1.0) { options.topP = Float(value) }
            if let value = try params.optional("seed", in: 0...Int.max) { options.seed = UInt64(value) }
            if let value = try params.optional("returnTopK", in: 0...1000) { options.returnTopK = value }
            if let value = try params.optional("stopAtEos", as: Bool.self) { options.stopAtEOS = value }
            interventions = try InterventionArguments(params)
            searchOptions.numBeams = try params.optional("numBeams", in: 1...64)
            searchOptions.numReturnSequences = try params.optional("numReturnSequences", in: 1...64)
            if let value = try params.optional("lengthPenalty", in: -1e6...1e6) { searchOptions.lengthPenalty = Float(value) }
            if let value = try params.optional("noRepeatNgramSize", in: 0...1_000_000) { searchOptions.noRepeatNgramSize = value }
            if let value = try params.optional("repetitionPenalty", in: 1e-6...1e6) { searchOptions.repetitionPenalty = Float(value) }
            switch params.members["earlyStopping"] {
            case nil, .null?: break
            case .bool(let flag)?: searchOptions.earlyStopping = flag ? .yes : .no
            case .string("never")?: searchOptions.earlyStopping = .never
            case _?: throw RPCError(.invalidParams, "params.earlyStopping: expected true, false or \"never\"")
            }
            searchOptions.returnTopK = options.returnTopK
            if params.contains("maxNewTokens") { searchOptions.maxNewTokens = options.maxNewTokens }
            given = Set(Self.fields.filter(params.contains))
        }
    }

    func handle(_ params: Params, context: RequestContext) throws -> RPCValue {
        if case .encoderDecoder(let model) = try context.registry.useAny(params.model) {
            return try handleEncoderDecoder(params, model: model, context: context)
        }
        let beams = params.searchOptions.numBeams ?? 1
        if beams > 1 {
            return try handleBeamSearch(params, beams: beams, context: context)
        }
        let searchFields = ["numReturnSequences", "lengthPenalty", "earlyStopping", "noRepeatNgramSize", "repetitionPenalty"]
        if let field = searchFields.first(where: params.given.contains) {
            throw RPCError(.invalidParams, "params.\(field): serves beam search (numBeams > 1) on a decoder-only model")
        }
        let model = try params.interventions.apply(to: context.registry.use(params.model))
        let info = model.info
        if params.options.returnTopK > info.vocabularySize {
            throw RPCError(
                .invalidParams,
                "params.returnTopK: expected at most the vocabulary size \(info.vocabularySize), got \(params.options.returnTopK)")
        }
        let prompts = params.inputs.map { model.encode($0, addSpecialTokens: params.addSpecialTokens) }
        for (index, prompt) in prompts.enumerated() {
            try Self.checkLength(prompt.count, newTokens: params.options.maxNewTokens, limit: info.maxPositions, index: index)
        }
        let totalSteps = max(1, prompts.count * params.options.maxNewTokens)
        context.progress?.begin(title: "generate", message: "\(prompts.count) input(s)")
        var results: [RPCValue] = []
        for (index, prompt) in prompts.enumerated() {
            try context.checkCancellation()
            let outcome = try model.generate(prompt: prompt, options: params.options) { _, step in
                try context.checkCancellation()
                let done = index * params.options.maxNewTokens + step + 1
                context.progress?.report(fraction: Double(done) / Double(totalSteps), message: "input \(index + 1), token \(step + 1)")
            }
            var result: [String: RPCValue] = [
                "text": .string(outcome.text),
                "tokens": outcome.tokens.json,
                "stopReason": .string(outcome.stopReason.rawValue),
            ]
            if params.returnPromptTokens {
                let strings = model.tokenStrings(prompt)
                result["promptTokens"] = .array(zip(prompt, strings).map { ["id": .integer($0), "token": .string($1)] })
            }
            results.append(.object(result))
        }
        context.progress?.end(message: "done")
        return ["results": .array(results)]
    }

    /// Beam search on a decoder-only model, as transformers' generate(num_beams=...): `beams` in
    /// each result, the best one's tokens as `tokens`.
    private func handleBeamSearch(_ params: Params, beams: Int, context: RequestContext) throws -> RPCValue {
        let options = params.options
        let unsupported: [(String, Bool)] = [
            ("doSample", options.doSample), ("temperature", options.temperature != 1), ("topK", options.topK != 0),
            ("topP", options.topP != 1), ("stopAtEos", !options.stopAtEOS), ("interventions", !params.interventions.entries.isEmpty),
            ("returnTopK", options.returnTopK != 0),
        ]
        if let (field, _) = unsupported.first(where: { $0.1 }) {
            throw RPCError(.invalidParams, "params.\(field): not served with beam search (numBeams > 1)")
        }
        if let count = params.searchOptions.numReturnSequences, count > beams {
            throw RPCError(.invalidParams, "params.numReturnSequences: \(count) is more than numBeams \(beams)")
        }
        let model = try context.registry.use(params.model)
        let prompts = params.inputs.map { model.encode($0, addSpecialTokens: params.addSpecialTokens) }
        for (index, prompt) in prompts.enumerated() {
            try Self.checkLength(prompt.count, newTokens: options.maxNewTokens, limit: model.info.maxPositions, index: index)
        }
        var search = params.searchOptions
        search.maxNewTokens = options.maxNewTokens
        context.progress?.begin(title: "generate", message: "\(prompts.count) input(s), \(beams) beams")
        var results: [RPCValue] = []
        for (index, prompt) in prompts.enumerated() {
            try context.checkCancellation()
            let outcome = try model.beamSearch(prompt: prompt, options: search)
            context.progress?.report(fraction: Double(index + 1) / Double(prompts.count), message: "input \(index + 1)")
            var result: [String: RPCValue] = [
                "text": .string(outcome.text), "tokens": outcome.tokens.json, "stopReason": .string(outcome.stopReason.rawValue),
                "beams": Self.beamsJSON(outcome.beams),
            ]
            if params.returnPromptTokens {
                let strings = model.tokenStrings(prompt)
                result["promptTokens"] = .array(zip(prompt, strings).map { ["id": .integer($0), "token": .string($1)] })
            }
            results.append(.object(result))
        }
        context.progress?.end(message: "done")
        return ["results": .array(results)]
    }

    static func beamsJSON(_ beams: [Beam]) -> RPCValue {
        .array(beams.map { beam in
            [
                "text": .string(beam.text), "ids": beam.ids.json, "sequenceScore": .number(Double(beam.sequenceScore)),
                "transitionScores": beam.transitionScores.json,
            ]
        })
    }

    /// Greedy decoding or beam search of each source, with the checkpoint's generation config.
    private func handleEncoderDecoder(_ params: Params, model: EncoderDecoderModel, context: RequestContext) throws -> RPCValue {
        // Defaults are accepted (clients send them); what would change the decoding is refused.
        let options = params.options
        let unsupported: [(String, Bool)] = [
            ("doSample", options.doSample), ("temperature", options.temperature != 1), ("topK", options.topK != 0),
            ("topP", options.topP != 1), ("stopAtEos", !options.stopAtEOS), ("interventions", !params.interventions.entries.isEmpty),
        ]
        if let (field, _) = unsupported.first(where: { $0.1 }) {
            throw RPCError(.invalidParams, "params.\(field): sampling, stopAtEos false and interventions serve decoder-only models so far")
        }
        let info = model.info
        if params.options.returnTopK > info.vocabularySize {
            throw RPCError(
                .invalidParams,
                "params.returnTopK: expected at most the vocabulary size \(info.vocabularySize), got \(params.options.returnTopK)")
        }
        let beams = params.searchOptions.numBeams ?? model.generation.numBeams
        if let count = params.searchOptions.numReturnSequences, count > beams {
            throw RPCError(.invalidParams, "params.numReturnSequences: \(count) is more than numBeams \(beams)")
        }
        let sources = params.inputs.map { model.tokenizer.encode($0, side: .source, addSpecialTokens: params.addSpecialTokens) }
        for (index, source) in sources.enumerated() {
            guard !source.isEmpty else {
                throw RPCError(.invalidParams, "params.inputs[\(index)]: the input has no tokens; give text or set addSpecialTokens")
            }
            guard source.count <= info.maxPositions else {
                throw RPCError(
                    .inputTooLong,
                    "params.inputs[\(index)]: \(source.count) source tokens exceed the model's limit of \(info.maxPositions) positions",
                    data: ["promptTokens": .integer(source.count), "maxPositions": .integer(info.maxPositions)])
            }
        }
        context.progress?.begin(title: "generate", message: "\(sources.count) input(s)")
        var results: [RPCValue] = []
        for (index, source) in sources.enumerated() {
            try context.checkCancellation()
            let outcome = try model.generate(source: source, options: params.searchOptions) { _, step in
                try context.checkCancellation()
                context.progress?.report(fraction: Double(index) / Double(sources.count), message: "input \(index + 1), token \(step + 1)")
            }
            var result: [String: RPCValue] = [
                "text": .string(outcome.text),
                "tokens": outcome.tokens.json,
                "stopReason": .string(outcome.stopReason.rawValue),
            ]
            if params.returnPromptTokens {
                let strings = source.map(model.tokenizer.tokenString)
                result["promptTokens"] = .array(zip(source, strings).map { ["id": .integer($0), "token": .string($1)] })
            }
            if beams > 1 { result["beams"] = Self.beamsJSON(outcome.beams) }
            results.append(.object(result))
        }
        context.progress?.end(message: "done")
        return ["results": .array(results)]
    }

    static func checkLength(_ promptTokens: Int, newTokens: Int, limit: Int, index: Int) throws(RPCError) {
        guard promptTokens > 0 else {
            throw RPCError(.invalidParams, "params.inputs[\(index)]: the input has no tokens; give text or set addSpecialTokens")
        }
        guard promptTokens + newTokens <= limit else {
            throw RPCError(
                .inputTooLong,
                "params.inputs[\(index)]: \(promptTokens) prompt tokens + maxNewTokens \(newTokens) exceed the model's limit of \(limit) positions",
                data: ["promptTokens": .integer(promptTokens), "maxPositions": .integer(limit)])
        }
    }
}
