import SeqLensAttribution
import SeqLensModels

/// What the `inspect/*` methods share: an input text, site lists and token arguments, read from
/// params once and resolved against the model in `handle`.
struct InspectInput: Sendable {
    var text: String
    var addSpecialTokens: Bool

    init(_ params: ParamsReader, field: String = "input") throws(RPCError) {
        text = try params.required(field, as: String.self)
        addSpecialTokens = try params.optional("addSpecialTokens", as: Bool.self) ?? true
    }

    /// The input's token ids, checked against the model (non-empty, within its positions).
    func ids(_ model: LanguageModel, field: String = "input") throws(RPCError) -> [Int] {
        let ids = model.encode(text, addSpecialTokens: addSpecialTokens)
        guard !ids.isEmpty else { throw RPCError(.invalidParams, "params.\(field): the input has no tokens") }
        guard ids.count <= model.info.maxPositions else {
            throw RPCError(
                .inputTooLong, "params.\(field): \(ids.count) tokens exceed the model's limit of \(model.info.maxPositions) positions")
        }
        return ids
    }
}

/// A token given as an id or as a string that encodes to exactly one token.
enum TokenArgument: Sendable {
    case id(Int)
    case text(String)

    static func read(_ params: ParamsReader, _ field: String) throws(RPCError) -> TokenArgument? {
        guard let value = params.members[field], value != .null else { return nil }
        return try parse(value, path: "\(params.path).\(field)")
    }

    static func parse(_ value: RPCValue, path: String) throws(RPCError) -> TokenArgument {
        if let id = value.intValue { return .id(id) }
        if case .string(let text) = value { return .text(text) }
        throw RPCError.invalidParams(path, expected: "a token id or a string that encodes to one token", got: value)
    }

    func resolve(_ model: LanguageModel, path: String) throws(RPCError) -> Int {
        switch self {
        case .id(let id):
            guard id >= 0, id < model.info.vocabularySize else {
                throw RPCError(.invalidParams, "\(path): expected a token id in 0..<\(model.info.vocabularySize), got \(id)")
            }
            return id
        case .text(let text):
            let ids = model.encode(text, addSpecialTokens: false)
            guard ids.count == 1, ids[0] < model.info.vocabularySize else {
                throw RPCError(
                    .invalidParams,
                    "\(path): '\(text)' encodes to \(ids.count) tokens \(model.tokenStrings(ids)); give one token or its id")
            }
            return ids[0]
        }
    }
}

extension ParamsReader {
    /// Site names (with `*` globs), resolved later against the model.
    func siteNames(_ field: String, required: Bool) throws(RPCError) -> [String]? {
        if required { return try requiredArray(field, of: String.self) }
        return try optionalArray(field, of: String.self)
    }

    /// Non-negative integer positions.
    func positions(_ field: String = "positions") throws(RPCError) -> [Int]? {
        guard let list = try optionalArray(field, of: Int.self) else { return nil }
        if let index = list.firstIndex(where: { $0 < 0 }) {
            throw RPCError(.invalidParams, "\(path).\(field)[\(index)]: expected a non-negative position, got \(list[index])")
        }
        return list
    }
}

extension LanguageModel {
    /// Resolves site names (globs expanded) in order, naming the offending entry.
    func resolveSites(_ names: [String], field: String) throws(RPCError) -> [Site] {
        var sites: [Site] = []
        for (index, name) in names.enumerated() {
            do {
                sites += try self.sites.resolve(name)
            } catch {
                throw RPCError(.invalidParams, "params.\(field)[\(index)]: \(error)")
            }
        }
        return sites
    }

    /// `[{id, token}]` for ids.
    func tokenList(_ ids: [Int]) -> RPCValue {
        .array(zip(ids, tokenStrings(ids)).map { ["id": .integer($0), "token": .string($1)] })
    }

    /// Checks positions against the input's length.
    func checkPositions(_ positions: [Int]?, count: Int, field: String = "positions") throws(RPCError) {
        if let index = positions?.firstIndex(where: { $0 >= count }) {
            throw RPCError(
                .invalidParams, "params.\(field)[\(index)]: position \(positions![index]) is outside the input's \(count) tokens")
        }
    }
}

extension SiteCatalog {
    /// `[{name, shape}]`, with null for each axis that is the sequence length.
    var listing: RPCValue {
        .array(all.map { site in
            let shape = shape(of: site, positions: -1).map { $0 == -1 ? RPCValue.null : .integer($0) }
            return ["name": .string(site.description), "shape": .array(shape)]
        })
    }
}

extension LoadedModel {
    /// `[{name, shape}]`: a decoder-only model's sites; for an encoder-decoder model the names of
    /// both stacks' sites (`encoder.blocks.{i}.*`, `decoder.blocks.{i}.*`, with cross-attention).
    var siteListing: RPCValue {
        switch self {
        case .causal(let model): return model.sites.listing
        case .encoderDecoder(let model):
            let c = model.info.hiddenSize, h = model.info.headCount
            func entry(_ site: Site, _ shape: [Int?]) -> RPCValue {
                ["name": .string(site.description), "shape": .array(shape.map { $0.map(RPCValue.integer) ?? .null })]
            }
            var sites: [RPCValue] = []
            for stack in Site.Stack.allCases {
                let layers = stack == .encoder ? model.encoderLayerCount : model.info.layerCount
                sites.append(entry(Site(.embed, stack: stack), [nil, c]))
                for layer in 0..<layers {
                    var kinds: [Site.Kind] = [.residPre, .attentionPattern, .attentionZ, .attentionOut]
                    if stack == .decoder { kinds += [.crossAttentionPattern, .crossAttentionZ, .crossAttentionOut] }
                    kinds += [.residMid, .mlpOut, .residPost]
                    for kind in kinds {
                        let shape: [Int?] = kind.isPattern ? [h, nil, nil] : [nil, c]
                        sites.append(entry(Site(kind, layer: layer, stack: stack), shape))
                    }
                }
                sites.append(entry(Site(.finalNormOut, stack: stack), [nil, c]))
            }
            return .array(sites)
        }
    }
}
