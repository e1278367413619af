import SeqLensAttribution
import SeqLensModels

/// `inspect/activations {model, input, sites, positions?, addSpecialTokens?}`: the activations of
/// any sites for one input (TransformerLens's `run_with_cache`), each `{shape, dtype, data}` in its
/// per-sequence shape: `[positions, hidden]`, `attn.z` `[positions, heads, headDim]`,
/// `attn.pattern` `[heads, queries, keys]` (transformers' eager `output_attentions`).
struct InspectActivationsHandler: MethodHandler {
    static let method = "inspect/activations"
    static let execution = Execution.computeQueue

    struct Params: RequestParams {
        static let fields: Set<String> = ["model", "input", "sites", "positions", "addSpecialTokens"]
        var model: String
        var input: InspectInput
        var sites: [String]
        var positions: [Int]?
        var modelID: String? { model }

        init(from params: ParamsReader) throws(RPCError) {
            model = try params.modelID()
            input = try InspectInput(params)
            sites = try params.siteNames("sites", required: true)!
            positions = try params.positions()
        }
    }

    func handle(_ params: Params, context: RequestContext) throws -> RPCValue {
        let model = try context.registry.use(params.model)
        let ids = try params.input.ids(model)
        let sites = try model.resolveSites(params.sites, field: "sites")
        try model.checkPositions(params.positions, count: ids.count)
        try context.checkCancellation()
        let values = try Inspector(model: model).activations(ids: ids, sites: sites, positions: params.positions)
        var activations: [String: RPCValue] = [:]
        for site in sites { activations[site.description] = TensorJSON.packed(values[site]!) }
        return ["tokens": model.tokenList(ids), "activations": .object(activations)]
    }
}
