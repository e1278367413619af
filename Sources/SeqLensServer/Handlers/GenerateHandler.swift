import SeqLensModels

/// `generate {model, inputs, maxNewTokens, doSample, temperature, topK, topP, seed, returnTopK, ...}`:
/// per input the generated text and each token with its probability and top alternatives.
/// Cancellable at each token; reports progress per token when given a `workDoneToken`.
struct GenerateHandler: MethodHandler {
    static let method = "generate"
    static let execution = Execution.computeQueue

    struct Params: RequestParams {
        static let fields: Set<String> = [
            "model", "inputs", "addSpecialTokens", "returnPromptTokens", "maxNewTokens", "doSample", "temperature",
            "topK", "topP", "seed", "returnTopK", "stopAtEos", "interventions",
        ]
        var model: String
        var inputs: [String]
        var options = GenerationOptions()
        var addSpecialTokens: Bool
        var returnPromptTokens: Bool
        var interventions: InterventionArguments
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
        }
    }

    func handle(_ params: Params, context: RequestContext) throws -> RPCValue {
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
