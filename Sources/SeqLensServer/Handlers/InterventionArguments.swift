import SeqLensModels

/// `interventions: [{site, positions?, op: "add" | "scale" | "zero" | "replace", vector?, factor?}]`
/// on `generate` and `attribute`: read from params, resolved against the model in `handle`.
struct InterventionArguments: Sendable {
    struct Entry: Sendable {
        var site: String
        var positions: [Int]?
        var operation: String
        var vector: [Float]?
        var factor: Float?
    }

    var entries: [Entry] = []

    init(_ params: ParamsReader) throws(RPCError) {
        guard let list = params.members["interventions"], list != .null else { return }
        guard case .array(let values) = list, values.count <= 1_000 else {
            throw RPCError.invalidParams("params.interventions", expected: "an array of at most 1000 interventions", got: list)
        }
        for (index, value) in values.enumerated() {
            let reader = try ParamsReader(value, path: "params.interventions[\(index)]")
            try reader.rejectUnknownFields(["site", "positions", "op", "vector", "factor"])
            let operation = try reader.required("op", as: String.self)
            guard ["add", "scale", "zero", "replace"].contains(operation) else {
                throw RPCError(.invalidParams, "\(reader.path).op: expected one of add, scale, zero, replace, got '\(operation)'")
            }
            let vector = try reader.optionalArray("vector", of: Double.self)?.map(Float.init)
            let factor = try reader.optional("factor", as: Double.self).map(Float.init)
            if (operation == "add" || operation == "replace") && vector == nil {
                throw RPCError.invalidParams("\(reader.path).vector", expected: "an array of numbers for '\(operation)'", got: nil)
            }
            if operation == "scale" && factor == nil {
                throw RPCError.invalidParams("\(reader.path).factor", expected: "a number for 'scale'", got: nil)
            }
            entries.append(Entry(site: try reader.required("site", as: String.self), positions: try reader.positions(),
                                 operation: operation, vector: vector, factor: factor))
        }
    }

    /// `model` with the interventions applied (itself when there are none).
    func apply(to model: LanguageModel) throws(RPCError) -> LanguageModel {
        guard !entries.isEmpty else { return model }
        var interventions: [Intervention] = []
        for (index, entry) in entries.enumerated() {
            let operation: Intervention.Operation
            switch entry.operation {
            case "add": operation = .add(entry.vector!)
            case "replace": operation = .replace(entry.vector!)
            case "scale": operation = .scale(entry.factor!)
            default: operation = .zero
            }
            for site in try model.resolveSites([entry.site], field: "interventions[\(index)].site") {
                interventions.append(Intervention(site: site, positions: entry.positions, operation: operation))
            }
        }
        do {
            return try model.intervened(interventions)
        } catch {
            throw RPCError(.invalidParams, "params.interventions: \(error)")
        }
    }
}
