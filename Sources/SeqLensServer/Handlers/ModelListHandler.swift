/// `model/list`: the resident models, least recently used first.
struct ModelListHandler: MethodHandler {
    static let method = "model/list"
    static let execution = Execution.immediate

    func handle(_ params: NoParams, context: RequestContext) throws -> RPCValue {
        ["models": .array(context.registry.entries.map { ModelDescription(entry: $0).json })]
    }
}
