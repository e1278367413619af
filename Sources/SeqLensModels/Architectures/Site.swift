/// A named place in a Transformer's forward pass where an activation can be read, replaced or
/// differentiated (house plan decision 4, "Typed sites"). Parsed once from its name; probes and
/// interventions compare values, never strings.
///
/// Names, as TransformerLens's hook points without the `hook_` prefix: `embed`,
/// `blocks.{i}.resid_pre`, `blocks.{i}.attn.z`, `blocks.{i}.attn.out`, `blocks.{i}.attn.pattern`,
/// `blocks.{i}.resid_mid`, `blocks.{i}.mlp.out`, `blocks.{i}.resid_post`, `final_norm.out`.
/// Encoder-decoder models prefix `encoder.` or `decoder.` and add the decoder's
/// `cross_attn.{z,out,pattern}`.
public struct Site: Hashable, Sendable, CustomStringConvertible {
    /// Which stack of an encoder-decoder model; nil for a decoder-only model's single stack.
    public enum Stack: String, Sendable, CaseIterable {
        case encoder, decoder
    }

    public enum Kind: String, Sendable, CaseIterable {
        /// The token embeddings alone (before GPT-2's position embeddings).
        case embed
        case residPre = "resid_pre"
        /// The per-head mixed values, the input of the attention output projection.
        case attentionZ = "attn.z"
        case attentionOut = "attn.out"
        /// Each query head's distribution over the keys.
        case attentionPattern = "attn.pattern"
        case residMid = "resid_mid"
        case mlpOut = "mlp.out"
        case residPost = "resid_post"
        case crossAttentionZ = "cross_attn.z"
        case crossAttentionOut = "cross_attn.out"
        case crossAttentionPattern = "cross_attn.pattern"
        /// The last norm's output, which the unembedding reads.
        case finalNormOut = "final_norm.out"

        /// Whether the site belongs to a block (and so has a layer index).
        public var isPerLayer: Bool { self != .embed && self != .finalNormOut }

        /// Attention patterns are observed, and replaced only through `ActivationProbe.pattern`.
        public var isPattern: Bool { self == .attentionPattern || self == .crossAttentionPattern }
    }

    public var stack: Stack?
    /// The block, for per-layer kinds; nil for `embed` and `final_norm.out`.
    public var layer: Int?
    public var kind: Kind

    public init(_ kind: Kind, layer: Int? = nil, stack: Stack? = nil) {
        self.kind = kind
        self.layer = layer
        self.stack = stack
    }

    /// Block `layer`'s site of `kind`.
    @inline(__always)
    public static func block(_ layer: Int, _ kind: Kind) -> Site { Site(kind, layer: layer) }

    public var description: String {
        let prefix = stack.map { $0.rawValue + "." } ?? ""
        guard let layer else { return prefix + kind.rawValue }
        return "\(prefix)blocks.\(layer).\(kind.rawValue)"
    }

    /// Parses a site name; nil when it is not one. The layer is not checked against a model:
    /// `SiteCatalog.resolve` does that.
    public init?(name: String) {
        var rest = Substring(name)
        var stack: Stack?
        for candidate in Stack.allCases where rest.hasPrefix(candidate.rawValue + ".") {
            stack = candidate
            rest = rest.dropFirst(candidate.rawValue.count + 1)
        }
        if let kind = Kind(rawValue: String(rest)), !kind.isPerLayer {
            self.init(kind, stack: stack)
            return
        }
        let parts = rest.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "blocks", let layer = Int(parts[1]), layer >= 0,
            String(layer) == parts[1], let kind = Kind(rawValue: String(parts[2])), kind.isPerLayer
        else { return nil }
        self.init(kind, layer: layer, stack: stack)
    }
}
