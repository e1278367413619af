/// The sites one model offers, with their shapes, and the resolution of what users write (site
/// names, `*` for every layer, transformers module paths) into sites of this model.
public struct SiteCatalog: Sendable, Equatable {
    public let layerCount: Int
    public let hiddenSize: Int
    public let headCount: Int
    public let headDimension: Int

    public init(dimensions: TransformerDimensions) {
        layerCount = dimensions.layerCount
        hiddenSize = dimensions.hiddenSize
        headCount = dimensions.headCount
        headDimension = dimensions.headDimension
    }

    /// The kinds a decoder-only block has, in forward order.
    static let blockKinds: [Site.Kind] = [
        .residPre, .attentionPattern, .attentionZ, .attentionOut, .residMid, .mlpOut, .residPost,
    ]

    /// Every site, in forward order.
    public var all: [Site] {
        [Site(.embed)] + (0..<layerCount).flatMap { layer in Self.blockKinds.map { Site.block(layer, $0) } }
            + [Site(.finalNormOut)]
    }

    public func contains(_ site: Site) -> Bool {
        guard site.stack == nil else { return false }
        if let layer = site.layer { return layer < layerCount && Self.blockKinds.contains(site.kind) }
        return !site.kind.isPerLayer
    }

    /// The shape of `site`'s activation for one sequence of `positions` tokens: `[T, C]` for
    /// residual-like sites, `[T, H, D]` for `attn.z`, `[H, T, T]` for `attn.pattern`.
    public func shape(of site: Site, positions t: Int) -> [Int] {
        switch site.kind {
        case .attentionZ, .crossAttentionZ: return [t, headCount, headDimension]
        case .attentionPattern, .crossAttentionPattern: return [headCount, t, t]
        default: return [t, hiddenSize]
        }
    }

    /// Values per position: the hidden size, or heads × head width for `attn.z`.
    public func width(of site: Site) -> Int {
        site.kind == .attentionZ || site.kind == .crossAttentionZ ? headCount * headDimension : hiddenSize
    }

    /// The sites a user's name means: one site, or one per layer for a `*` in the layer's place
    /// (`blocks.*.resid_post`).
    /// - Throws: `ModelError.unknownSite` naming what was written.
    public func resolve(_ name: String) throws -> [Site] {
        if name.contains("*") {
            let pattern = name.split(separator: ".", omittingEmptySubsequences: false)
            guard let star = pattern.firstIndex(of: "*"), pattern.filter({ $0.contains("*") }).count == 1, star > 0,
                pattern[star - 1] == "blocks"
            else { throw ModelError.unknownSite(name, reason: "'*' may stand only for the layer, as in blocks.*.resid_post") }
            return try (0..<layerCount).map { layer in
                var named = pattern.map(String.init)
                named[star] = String(layer)
                return try resolveOne(named.joined(separator: "."), as: name)
            }
        }
        return [try resolveOne(name, as: name)]
    }

    /// One site from its name or a transformers module path (`transformer.h.3.mlp`,
    /// `model.layers.3.self_attn`, `model.embed_tokens`, `model.norm`).
    public func resolveOne(_ name: String, as written: String? = nil) throws -> Site {
        let shown = written ?? name
        if let site = Site(name: name) {
            guard contains(site) else {
                throw ModelError.unknownSite(shown, reason: site.layer.map { $0 >= layerCount ? "the model has \(layerCount) layers (0...\(layerCount - 1))" : nil } ?? nil)
            }
            return site
        }
        if let site = moduleAlias(name) { return site }
        throw ModelError.unknownSite(shown, reason: nil)
    }

    private func moduleAlias(_ path: String) -> Site? {
        switch path {
        case "transformer.wte", "model.embed_tokens": return Site(.embed)
        case "transformer.ln_f", "model.norm": return Site(.finalNormOut)
        default: break
        }
        let parts = path.split(separator: ".").map(String.init)
        for prefix in [["transformer", "h"], ["model", "layers"]] where parts.count >= 3 && Array(parts.prefix(2)) == prefix {
            guard let layer = Int(parts[2]), layer >= 0, layer < layerCount else { return nil }
            switch parts.dropFirst(3).joined(separator: ".") {
            case "": return .block(layer, .residPost)
            case "mlp": return .block(layer, .mlpOut)
            case "attn", "self_attn": return .block(layer, .attentionOut)
            default: return nil
            }
        }
        return nil
    }
}
