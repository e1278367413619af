/// `model/unload {model}`: removes a resident model. Runs on the compute queue so that requests
/// queued before it still find the model.
struct ModelUnloadHandler: MethodHandler {
    static let method = "model/unload"
    static let execution = Execution.computeQueue

    struct Params: RequestParams {
        static let fields: Set<String> = [
            "model"
        ]
        var model: String
        init(from params: ParamsReader) throws(RPCError) { model = try params.modelID() }
    }

    func handle(_ params: Params, context: RequestContext) throws -> RPCValue {
        let entry = try context.registry.unload(params.model)
        context.environment.log.info("unloaded '\(entry.id)'")
        return ["id": .string(entry.id), "freedBytes": .integer(entry.info.memoryBytes)]
    }
}
