import SeqLensModels

/// A resident model as `model/load`, `model/list` and `server/status` describe it.
struct ModelDescription: JSONRepresentable {
    var entry: ResidentEntry

    var json: RPCValue {
        let info = entry.info
        var members: [String: RPCValue] = [
            "id": .string(entry.id),
            "architecture": .string(info.architecture),
            "layers": .integer(info.layerCount),
            "heads": .integer(info.headCount),
            "kvHeads": .integer(info.keyValueHeadCount),
            "hiddenSize": .integer(info.hiddenSize),
            "vocabSize": .integer(info.vocabularySize),
            "maxPositions": .integer(info.maxPositions),
            "specialTokens": info.specialTokens.json,
            "memoryBytes": .integer(info.memoryBytes),
            "source": .string(info.source),
            "loadMilliseconds": .number(entry.loadMilliseconds),
            "requestsServed": .integer(entry.requestsServed),
            "isEncoderDecoder": .bool(entry.model.isEncoderDecoder),
        ]
        if case .encoderDecoder(let model) = entry.model {
            members["encoderLayers"] = .integer(model.encoderLayerCount)
            members["decoderLayers"] = .integer(info.layerCount)
        }
        return .object(members)
    }
}

/// `{id, token, prob}`: a token with its probability.
extension TokenProbability: JSONRepresentable {
    public var json: RPCValue {
        ["id": .integer(id), "token": .string(token), "prob": .number(Double(probability))]
    }
}

/// `{id, token, prob, top}`: a generated token and its most likely alternatives.
extension GeneratedToken: JSONRepresentable {
    public var json: RPCValue {
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
