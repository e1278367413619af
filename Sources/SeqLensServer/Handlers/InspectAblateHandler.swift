import SeqLensAttribution
import SeqLensModels

/// `inspect/ablate {model, input, ablations?, target, sweep?, addSpecialTokens?}`: log p(target)
/// at the last position with sites, heads or positions zeroed or mean-ablated; `sweep: "heads"`
/// zeroes every head of every layer alone and returns the [layer][head] change.
struct InspectAblateHandler: MethodHandler {
    static let method = "inspect/ablate"
    static let execution = Execution.computeQueue

    struct Params: RequestParams {
        static let fields: Set<String> = ["model", "input", "ablations", "target", "sweep", "addSpecialTokens"]
        struct Entry: Sendable {
            var site: String
            var heads: [Int]?
            var positions: [Int]?
            var mode: Ablation.Mode
        }

        var model: String
        var input: InspectInput
        var entries: [Entry]
        var target: TokenArgument
        var sweepHeads: Bool
        var modelID: String? { model }

        init(from params: ParamsReader) throws(RPCError) {
            model = try params.modelID()
            input = try InspectInput(params)
            guard let target = try TokenArgument.read(params, "target") else {
                throw RPCError.invalidParams("params.target", expected: "a token id or a string that encodes to one token", got: nil)
            }
            self.target = target
            if let sweep = try params.optional("sweep", as: String.self) {
                guard sweep == "heads" else { throw RPCError(.invalidParams, "params.sweep: expected \"heads\", got '\(sweep)'") }
            }
            sweepHeads = params.contains("sweep")
            entries = []
            if let list = params.members["ablations"], list != .null {
                guard case .array(let values) = list, values.count <= 1_000 else {
                    throw RPCError.invalidParams("params.ablations", expected: "an array of at most 1000 ablations", got: list)
                }
                for (index, value) in values.enumerated() {
                    let reader = try ParamsReader(value, path: "params.ablations[\(index)]")
                    try reader.rejectUnknownFields(["site", "heads", "positions", "mode"])
                    let heads = try reader.optionalArray("heads", of: Int.self)
                    let mode = try reader.optionalChoice("mode", of: Ablation.Mode.self) ?? .zero
                    entries.append(Entry(site: try reader.required("site", as: String.self), heads: heads,
                                         positions: try reader.positions(), mode: mode))
                }
            }
            if sweepHeads != entries.isEmpty {
                throw RPCError(.invalidParams, "params: give either ablations or sweep: \"heads\"")
            }
        }
    }

    func handle(_ params: Params, context: RequestContext) throws -> RPCValue {
        let model = try context.registry.use(params.model)
        let ids = try params.input.ids(model)
        let target = try params.target.resolve(model, path: "params.target")
        let ablator = Ablator(model: model)
        if params.sweepHeads {
            let (baseline, grid) = try ablator.headSweep(ids: ids, target: target) { layer, total in
                try context.checkCancellation()
                context.progress?.report(fraction: Double(layer) / Double(total), message: "layer \(layer + 1) of \(total)")
            }
            return [
                "tokens": model.tokenList(ids), "baseline": ["logprob": .number(Double(baseline))],
                "grid": .array(grid.map { .array($0.map { .number(Double($0)) }) }),
            ]
        }
        var ablations: [Ablation] = []
        for (index, entry) in params.entries.enumerated() {
            let field = "ablations[\(index)].site"
            let sites = try model.resolveSites([entry.site], field: field).map { site in
                Ablation(site: site, heads: entry.heads, positions: entry.positions, mode: entry.mode)
            }
            ablations += sites
        }
        try context.checkCancellation()
        let result: Ablator.Result
        do {
            result = try ablator.ablate(ids: ids, ablations: ablations, target: target)
        } catch let error as AttributionError {
            throw RPCError(.invalidParams, "params.ablations: \(error)")
        }
        return [
            "tokens": model.tokenList(ids), "baseline": ["logprob": .number(Double(result.baseline))],
            "ablated": ["logprob": .number(Double(result.ablated))],
        ]
    }
}
