import SeqLensAttribution
import SeqLensModels

/// `inspect/patch {model, clean, corrupted, sites, positions?, metric, addSpecialTokens?}`:
/// activation patching. For each site and position, the corrupted input runs with that one
/// activation (or attention pattern row) taken from the clean run; `metric` (`{kind: "logit_diff", target, contrast}` or
/// `{kind: "logprob", target}`) is read at the last position.
struct InspectPatchHandler: MethodHandler {
    static let method = "inspect/patch"
    static let execution = Execution.computeQueue

    struct Params: RequestParams {
        static let fields: Set<String> = ["model", "clean", "corrupted", "sites", "positions", "metric", "addSpecialTokens"]
        var model: String
        var clean: InspectInput
        var corrupted: InspectInput
        var sites: [String]
        var positions: [Int]?
        var metric: MetricArgument
        var modelID: String? { model }

        init(from params: ParamsReader) throws(RPCError) {
            model = try params.modelID()
            clean = try InspectInput(params, field: "clean")
            corrupted = try InspectInput(params, field: "corrupted")
            sites = try params.siteNames("sites", required: true)!
            positions = try params.positions()
            guard let reader = try params.optionalObject("metric") else {
                throw RPCError.invalidParams("params.metric", expected: "an object {kind, target, contrast?}", got: nil)
            }
            metric = try MetricArgument(reader)
        }
    }

    func handle(_ params: Params, context: RequestContext) throws -> RPCValue {
        let model = try context.registry.use(params.model)
        let clean = try params.clean.ids(model, field: "clean"), corrupted = try params.corrupted.ids(model, field: "corrupted")
        guard clean.count == corrupted.count else {
            throw RPCError(
                .invalidParams,
                "params.corrupted: the clean and corrupted inputs must have the same number of tokens, got \(clean.count) and \(corrupted.count)")
        }
        let sites = try model.resolveSites(params.sites, field: "sites")
        try model.checkPositions(params.positions, count: clean.count)
        let metric = try params.metric.resolve(model)
        context.progress?.begin(title: "inspect/patch", message: "\(sites.count) site(s)")
        let result: ActivationPatching.Result
        do {
            result = try ActivationPatching(model: model).patch(
                clean: clean, corrupted: corrupted, sites: sites, positions: params.positions, metric: metric
            ) { run, total in
                try context.checkCancellation()
                context.progress?.report(fraction: Double(run) / Double(max(1, total)), message: "position \(run + 1) of \(total)")
            }
        } catch let error as AttributionError {
            throw RPCError(.invalidParams, "params.sites: \(error)")
        }
        context.progress?.end(message: "done")
        return [
            "tokens": model.tokenList(clean), "corruptedTokens": model.tokenList(corrupted),
            "cleanMetric": .number(Double(result.cleanMetric)), "corruptedMetric": .number(Double(result.corruptedMetric)),
            "results": .array(zip(sites, result.values).map { site, values in
                ["site": .string(site.description), "values": .array(values.map { .number(Double($0)) })]
            }),
        ]
    }
}

/// `{kind: "logit_diff", target, contrast}` or `{kind: "logprob", target}`.
struct MetricArgument: Sendable {
    var kind: String
    var target: TokenArgument
    var contrast: TokenArgument?

    init(_ reader: ParamsReader) throws(RPCError) {
        try reader.rejectUnknownFields(["kind", "target", "contrast"])
        kind = try reader.required("kind", as: String.self)
        guard kind == "logit_diff" || kind == "logprob" else {
            throw RPCError(.invalidParams, "\(reader.path).kind: expected one of logit_diff, logprob, got '\(kind)'")
        }
        guard let target = try TokenArgument.read(reader, "target") else {
            throw RPCError.invalidParams("\(reader.path).target", expected: "a token id or a string that encodes to one token", got: nil)
        }
        self.target = target
        contrast = try TokenArgument.read(reader, "contrast")
        if kind == "logit_diff" && contrast == nil {
            throw RPCError.invalidParams("\(reader.path).contrast", expected: "a token for logit_diff", got: nil)
        }
    }

    func resolve(_ model: LanguageModel) throws(RPCError) -> InternalsMetric {
        let target = try self.target.resolve(model, path: "params.metric.target")
        if kind == "logprob" { return .logProbability(target: target) }
        return .logitDifference(target: target, contrast: try contrast!.resolve(model, path: "params.metric.contrast"))
    }
}
