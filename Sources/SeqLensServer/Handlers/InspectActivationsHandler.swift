import SeqLensAttribution
import SeqLensModels

/// `inspect/activations {model, input, sites, positions?, addSpecialTokens?}`: the activations of
/// any sites for one input (TransformerLens's `run_with_cache`), each `{shape, dtype, data}` in its
/// per-sequence shape: `[positions, hidden]`, `attn.z` `[positions, heads, headDim]`,
/// `attn.pattern` `[heads, queries, keys]` (transformers' eager `output_attentions`). With
/// `savePath` the tensors go to a safetensors file instead, and the reply lists their shapes.
struct InspectActivationsHandler: MethodHandler {
    static let method = "inspect/activations"
    static let execution = Execution.computeQueue

    struct Params: RequestParams {
        static let fields: Set<String> = ["model", "input", "sites", "positions", "addSpecialTokens", "savePath", "overwrite"]
        var model: String
        var input: InspectInput
        var sites: [String]
        var positions: [Int]?
        var savePath: String?
        var overwrite: Bool
        var modelID: String? { model }

        init(from params: ParamsReader) throws(RPCError) {
            model = try params.modelID()
            input = try InspectInput(params)
            sites = try params.siteNames("sites", required: true)!
            positions = try params.positions()
            savePath = try params.optional("savePath", as: String.self)
            overwrite = try params.optional("overwrite", as: Bool.self) ?? false
        }
    }

    func handle(_ params: Params, context: RequestContext) throws -> RPCValue {
        let model = try context.registry.use(params.model)
        let ids = try params.input.ids(model)
        let sites = try model.resolveSites(params.sites, field: "sites")
        try model.checkPositions(params.positions, count: ids.count)
        let destination = try context.outputFile(params.savePath, overwrite: params.overwrite)
        try context.checkCancellation()
        let values = try Inspector(model: model).activations(ids: ids, sites: sites, positions: params.positions)
        let tokens = model.tokenList(ids)
        guard let destination else {
            var activations: [String: RPCValue] = [:]
            for site in sites { activations[site.description] = TensorJSON.packed(values[site]!) }
            return ["tokens": tokens, "activations": .object(activations)]
        }
        // Each site once, in the order asked.
        var seen = Set<Site>()
        let unique = sites.filter { seen.insert($0).inserted }
        let file = ActivationFile.data(unique.map { (name: $0.description, tensor: values[$0]!) }, tokenIDs: ids)
        do {
            try destination.write(file, overwrite: params.overwrite)
        } catch {
            throw RPCError(.invalidParams, "params.savePath: \(error)")
        }
        var shapes: [String: RPCValue] = [:]
        for site in unique { shapes[site.description] = ["shape": values[site]!.shape.json, "dtype": "float32"] }
        return ["tokens": tokens, "activations": .object(shapes), "savedTo": .string(destination.path)]
    }
}
