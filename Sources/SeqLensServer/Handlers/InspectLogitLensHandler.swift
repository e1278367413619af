import SeqLensAttribution
import SeqLensModels

/// `inspect/logitLens {model, input, sites?, topK?, targets?, addSpecialTokens?}`: per site and
/// position, softmax(unembed(final_norm(r))): the top-k next tokens and the chosen targets'
/// probabilities. By default `blocks.0.resid_pre` and every `blocks.{i}.resid_post`; the last
/// block's reading equals the model's own next-token distribution.
struct InspectLogitLensHandler: MethodHandler {
    static let method = "inspect/logitLens"
    static let execution = Execution.computeQueue

    struct Params: RequestParams {
        static let fields: Set<String> = ["model", "input", "sites", "topK", "targets", "addSpecialTokens"]
        var model: String
        var input: InspectInput
        var sites: [String]?
        var topK: Int
        var targets: [TokenArgument]
        var modelID: String? { model }

        init(from params: ParamsReader) throws(RPCError) {
            model = try params.modelID()
            input = try InspectInput(params)
            sites = try params.siteNames("sites", required: false)
            topK = try params.optional("topK", in: 0...100) ?? 5
            targets = []
            if let list = params.members["targets"], list != .null {
                guard case .array(let values) = list, values.count <= 100 else {
                    throw RPCError.invalidParams("params.targets", expected: "an array of at most 100 token ids or strings", got: list)
                }
                for (index, value) in values.enumerated() {
                    targets.append(try TokenArgument.parse(value, path: "params.targets[\(index)]"))
                }
            }
        }
    }

    func handle(_ params: Params, context: RequestContext) throws -> RPCValue {
        let model = try context.registry.use(params.model)
        let ids = try params.input.ids(model)
        let sites = try model.resolveSites(params.sites ?? ["blocks.0.resid_pre", "blocks.*.resid_post"], field: "sites")
        var targets: [Int] = []
        for (index, target) in params.targets.enumerated() { targets.append(try target.resolve(model, path: "params.targets[\(index)]")) }
        try context.checkCancellation()
        let readings: [Inspector.LensReading]
        do {
            readings = try Inspector(model: model).logitLens(ids: ids, sites: sites, topK: params.topK, targets: targets)
        } catch let error as AttributionError {
            throw RPCError(.invalidParams, "params.sites: \(error)")
        }
        func score(_ entry: Inspector.TokenScore, withToken: Bool) -> RPCValue {
            var object: [String: RPCValue] = [
                "id": .integer(entry.id), "prob": .number(Double(entry.probability)), "logit": .number(Double(entry.logit)),
            ]
            if withToken { object["token"] = .string(model.tokenizer.tokenString(entry.id)) }
            return .object(object)
        }
        let layers: [RPCValue] = readings.map { reading in
            let positions: [RPCValue] = reading.top.indices.map { position in
                var entry: [String: RPCValue] = ["top": .array(reading.top[position].map { score($0, withToken: true) })]
                if !targets.isEmpty { entry["targets"] = .array(reading.targets[position].map { score($0, withToken: false) }) }
                return .object(entry)
            }
            return ["site": .string(reading.site.description), "positions": .array(positions)]
        }
        return ["tokens": model.tokenList(ids), "layers": .array(layers)]
    }
}
