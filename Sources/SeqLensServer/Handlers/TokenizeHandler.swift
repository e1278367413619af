import SeqLensModels
import SeqLensTokenizers

/// `tokenize {model, texts, addSpecialTokens?, returnOffsets?}`: per text the token ids and token
/// strings, and with `returnOffsets` each token's UTF-8 byte range `[start, end]` in the text.
struct TokenizeHandler: MethodHandler {
    static let method = "tokenize"
    static let execution = Execution.computeQueue

    struct Params: RequestParams {
        static let fields: Set<String> = [
            "model", "texts", "addSpecialTokens", "returnOffsets"
        ]
        var model: String
        var texts: [String]
        var addSpecialTokens: Bool
        var returnOffsets: Bool
        var modelID: String? { model }

        init(from params: ParamsReader) throws(RPCError) {
            model = try params.modelID()
            texts = try params.requiredArray("texts", of: String.self)
            addSpecialTokens = try params.optional("addSpecialTokens", as: Bool.self) ?? true
            returnOffsets = try params.optional("returnOffsets", as: Bool.self) ?? false
        }
    }

    func handle(_ params: Params, context: RequestContext) throws -> RPCValue {
        let model = try context.registry.use(params.model)
        var results: [RPCValue] = []
        results.reserveCapacity(params.texts.count)
        for text in params.texts {
            if params.returnOffsets {
                let (ids, offsets) = model.tokenizer.encodeWithOffsets(text, addSpecialTokens: params.addSpecialTokens)
                let spans: [RPCValue] = offsets.map { .array([.integer($0.lowerBound), .integer($0.upperBound)]) }
                results.append(["ids": ids.json, "tokens": model.tokenStrings(ids).json, "offsets": .array(spans)])
            } else {
                let ids = model.encode(text, addSpecialTokens: params.addSpecialTokens)
                results.append(["ids": ids.json, "tokens": model.tokenStrings(ids).json])
            }
        }
        return ["results": .array(results)]
    }
}
