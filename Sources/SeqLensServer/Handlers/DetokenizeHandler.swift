import SeqLensModels
import SeqLensTokenizers

/// `detokenize {model, ids, side?, skipSpecialTokens?}`: the text of each id list (`side` as for
/// `tokenize`; MarianTokenizer decodes both sides with its source model, as transformers does).
struct DetokenizeHandler: MethodHandler {
    static let method = "detokenize"
    static let execution = Execution.computeQueue

    struct Params: RequestParams {
        static let fields: Set<String> = [
            "model", "ids", "side", "skipSpecialTokens"
        ]
        var model: String
        var ids: [[Int]]
        var skipSpecialTokens: Bool
        var side: TextSide
        var modelID: String? { model }

        init(from params: ParamsReader) throws(RPCError) {
            model = try params.modelID()
            ids = try params.requiredNestedArray("ids", of: Int.self)
            skipSpecialTokens = try params.optional("skipSpecialTokens", as: Bool.self) ?? false
            side = try params.optionalChoice("side", of: TextSide.self) ?? .source
        }
    }

    func handle(_ params: Params, context: RequestContext) throws -> RPCValue {
        let model = try context.registry.useAny(params.model)
        let vocabularySize = model.info.vocabularySize
        for (row, ids) in params.ids.enumerated() {
            if let column = ids.firstIndex(where: { $0 < 0 || $0 >= vocabularySize }) {
                throw RPCError(
                    .invalidParams,
                    "params.ids[\(row)][\(column)]: expected a token id in 0..<\(vocabularySize), got \(ids[column])")
            }
        }
        let tokenizer = model.tokenizer
        let texts = params.ids.map { tokenizer.decode($0, side: params.side, skipSpecialTokens: params.skipSpecialTokens) }
        return ["texts": texts.json]
    }
}
