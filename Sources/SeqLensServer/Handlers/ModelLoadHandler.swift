import SeqLensModels

/// `model/load {path, id?}`: loads a model folder, a .gguf file or "default", or returns the resident one.
struct ModelLoadHandler: MethodHandler {
    static let method = "model/load"
    static let execution = Execution.computeQueue

    struct Params: RequestParams {
        static let fields: Set<String> = [
            "path", "id"
        ]
        var location: ModelLocation
        var id: String?

        init(from params: ParamsReader) throws(RPCError) {
            let path = try params.required("path", as: String.self)
            guard !path.isEmpty else {
                throw RPCError(.invalidParams, "params.path: expected a folder, a .gguf file or \"default\", got an empty string")
            }
            guard !path.utf8.contains(0) else {
                throw RPCError(.invalidParams, "params.path: the path contains a NUL byte")
            }
            location = ModelLocation(argument: path)
            id = try params.optional("id", as: String.self)
            if id?.isEmpty == true { throw RPCError(.invalidParams, "params.id: expected a non-empty string") }
        }
    }

    struct Result: JSONRepresentable {
        var outcome: LoadOutcome
        var json: RPCValue {
            guard case .object(var members) = ModelDescription(entry: outcome.entry).json else { return .null }
            members["alreadyResident"] = .bool(outcome.alreadyResident)
            members["evicted"] = outcome.evicted.json
            members["sites"] = outcome.entry.model.siteListing
            return .object(members)
        }
    }

    func handle(_ params: Params, context: RequestContext) throws -> Result {
        let busy = context.environment.queue.modelsInUse()
        let outcome = try context.registry.load(params.location, requestedID: params.id, busy: busy)
        let log = context.environment.log
        if outcome.alreadyResident {
            log.info("model '\(outcome.entry.id)' already resident")
        } else {
            log.info("loaded '\(outcome.entry.id)' from \(outcome.entry.info.source) in \(Int(outcome.entry.loadMilliseconds)) ms")
        }
        for id in outcome.evicted { log.info("unloaded '\(id)' to stay within the memory budget") }
        return Result(outcome: outcome)
    }
}
