import SeqLensModels
import SeqLensTokenizers

/// `tokenize {model, texts, side?, addSpecialTokens?, returnOffsets?}`: per text the token ids and
/// token strings, and with `returnOffsets` each token's UTF-8 byte range `[start, end]` in the text.
/// `side` picks an encoder-decoder model's source or target tokenizer (one tokenizer: both the same).
struct TokenizeHandler: MethodHandler {
    static let method = "tokenize"
    static let execution = Execution.computeQueue

    struct Params: RequestParams {
        static let fields: Set<String> = [
            "model", "texts", "side", "addSpecialTokens", "returnOffsets"
        ]
        var model: String
        var texts: [String]
        var addSpecialTokens: Bool
        var returnOffsets: Bool
        var side: TextSide
        var modelID: String? { model }

        init(from params: ParamsReader) throws(RPCError) {
            model = try params.modelID()
            texts = try params.requiredArray("texts", of: String.self)
            addSpecialTokens = try params.optional("addSpecialTokens", as: Bool.self) ?? true
            returnOffsets = try params.optional("returnOffsets", as: Bool.self) ?? false
            side = try params.optionalChoice("side", of: TextSide.self) ?? .source
        }
    }

    func handle(_ params: Params, context: RequestContext) throws -> RPCValue {
        let tokenizer = try context.registry.useAny(params.model).tokenizer
        var results: [RPCValue] = []
        results.reserveCapacity(params.texts.count)
        for text in params.texts {
            let (ids, offsets) = tokenizer.encodeWithOffsets(text, side: params.side, addSpecialTokens: params.addSpecialTokens)
            var result: [String: RPCValue] = ["ids": ids.json, "tokens": ids.map(tokenizer.tokenString).json]
            if params.returnOffsets {
                result["offsets"] = .array(offsets.map { .array([.integer($0.lowerBound), .integer($0.upperBound)]) })
            }
            results.append(.object(result))
        }
        return ["results": .array(results)]
    }
}
