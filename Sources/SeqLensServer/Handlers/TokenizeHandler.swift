/// `tokenize {model, texts, addSpecialTokens?}`: per text the token ids and token strings.
struct TokenizeHandler: MethodHandler {
    static let method = "tokenize"
    static let execution = Execution.computeQueue

    struct Params: RequestParams {
        static let fields: Set<String> = [
            "model", "texts", "addSpecialTokens"
        ]
        var model: String
        var texts: [String]
        var addSpecialTokens: Bool
        var modelID: String? { model }

        init(from params: ParamsReader) throws(RPCError) {
            model = try params.modelID()
            texts = try params.requiredArray("texts", of: String.self)
            addSpecialTokens = try params.optional("addSpecialTokens", as: Bool.self) ?? true
        }
    }

    func handle(_ params: Params, context: RequestContext) throws -> RPCValue {
        let model = try context.registry.use(params.model)
        var results: [RPCValue] = []
        results.reserveCapacity(params.texts.count)
        for text in params.texts {
            let ids = model.encode(text, addSpecialTokens: params.addSpecialTokens)
            results.append(["ids": ids.json, "tokens": model.tokenStrings(ids).json])
        }
        return ["results": .array(results)]
    }
}
