import SeqLensModels

/// A resident model as `model/load`, `model/list` and `server/status` describe it.
struct ModelDescription: JSONRepresentable {
    var entry: ResidentEntry

    var json: JSONValue {
        let summary = entry.summary
        return [
            "id": .string(entry.id),
            "architecture": .string(summary.architecture),
            "layers": .integer(summary.layers),
            "heads": .integer(summary.heads),
            "kvHeads": .integer(summary.keyValueHeads),
            "hiddenSize": .integer(summary.hiddenSize),
            "vocabSize": .integer(summary.vocabularySize),
            "maxPositions": .integer(summary.maxPositions),
            "specialTokens": summary.specialTokens.json,
            "memoryBytes": .integer(summary.memoryBytes),
            "source": .string(summary.source),
            "loadMilliseconds": .number(entry.loadMilliseconds),
            "requestsServed": .integer(entry.requestsServed),
        ]
    }
}

/// `{id, token, prob}`: a token with its probability.
extension TokenProbability: JSONRepresentable {
    public var json: JSONValue {
        ["id": .integer(id), "token": .string(token), "prob": .number(Double(probability))]
    }
}

/// `{id, token, prob, top}`: a generated token and its most likely alternatives.
extension GeneratedToken: JSONRepresentable {
    public var json: JSONValue {
        [
            "id": .integer(id), "token": .string(token), "prob": .number(Double(probability)),
            "top": alternatives.json,
        ]
    }
}

/// Reads the `model` parameter that most methods share.
extension ParamsReader {
    func modelID() throws(RPCError) -> String {
        let id = try required("model", as: String.self)
        guard !id.isEmpty else { throw RPCError(.invalidParams, "\(path).model: expected a model id, got an empty string") }
        return id
    }
}
