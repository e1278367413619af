/// `detokenize {model, ids, skipSpecialTokens?}`: the text of each id list.
struct DetokenizeHandler: MethodHandler {
    static let method = "detokenize"
    static let execution = Execution.computeQueue

    struct Params: RequestParams {
        static let fields: Set<String> = [
            "model", "ids", "skipSpecialTokens"
        ]
        var model: String
        var ids: [[Int]]
        var skipSpecialTokens: Bool
        var modelID: String? { model }

        init(from params: ParamsReader) throws(RPCError) {
            model = try params.modelID()
            ids = try params.requiredNestedArray("ids", of: Int.self)
            skipSpecialTokens = try params.optional("skipSpecialTokens", as: Bool.self) ?? false
        }
    }

    func handle(_ params: Params, context: RequestContext) throws -> RPCValue {
        let model = try context.registry.use(params.model)
        let vocabularySize = model.info.vocabularySize
        for (row, ids) in params.ids.enumerated() {
            if let column = ids.firstIndex(where: { $0 < 0 || $0 >= vocabularySize }) {
                throw RPCError(
                    .invalidParams,
                    "params.ids[\(row)][\(column)]: expected a token id in 0..<\(vocabularySize), got \(ids[column])")
            }
        }
        let texts = params.ids.map { model.decode($0, skipSpecialTokens: params.skipSpecialTokens) }
        return ["texts": texts.json]
    }
}
