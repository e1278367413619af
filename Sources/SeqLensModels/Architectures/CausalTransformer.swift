import SeqLensTensor

// Letters used in shape comments across Architectures/: B batch, T new positions, S positions
// seen by attention (cache + new), C hidden width, V vocabulary, L layers.

/// A decoder-only Transformer written once as forward code over `Variable`s: with constants it
/// is plain inference, with tape variables it records for reverse mode.
public protocol CausalTransformer: Sendable {
    var dimensions: TransformerDimensions { get }

    /// Token embeddings (B, T, C) for `ids` (B sequences of equal length T): the input that
    /// gradient attribution differentiates with respect to.
    func embed(_ ids: [[Int]]) -> Tensor

    /// Final hidden states (B, T, C), after the last norm.
    /// - Parameters:
    ///   - embeddings: token embeddings (B, T, C) as from `embed`.
    ///   - positions: absolute positions of the T new tokens (shared by the batch).
    ///   - cache: keys and values of earlier positions; extended in place.
    ///   - probe: reads or replaces activations at named sites.
    func hiddenStates(
        embeddings: Variable, positions: [Int], cache: KeyValueCache?, probe: ActivationProbe?
    ) -> Variable

    /// The blocks `layers` alone, as `hiddenStates` runs them: `residual` (B, T, C) is the first
    /// one's input (its resid_pre) at `positions`, and `cache` holds the earlier positions of those
    /// layers. Returns the last block's output, and when `layers` reaches the top block the final
    /// hidden states (after the final norm) instead. Activation patching runs only the blocks at
    /// and above a patch: those below compute exactly what the unpatched run did.
    func hiddenStates(
        layers: Range<Int>, residual: Variable, positions: [Int], cache: KeyValueCache?, probe: ActivationProbe?
    ) -> Variable

    /// Logits (N, V) for hidden rows (N, C).
    func logits(_ hidden: Variable) -> Variable

    /// The final norm (B, T, C) -> (B, T, C), as `hiddenStates` applies it after the last block:
    /// with `logits`, the unembedding that the logit lens applies to any residual.
    func finalNorm(_ residual: Variable) -> Variable

    /// The dropout a training-mode forward would apply (none by default).
    var dropout: DropoutRates { get }
}

extension CausalTransformer {
    public var dropout: DropoutRates { DropoutRates() }

    /// The blocks from `firstLayer` to the top and the final norm (`hiddenStates(layers:…)`).
    public func hiddenStates(
        fromLayer firstLayer: Int, residual: Variable, positions: [Int], cache: KeyValueCache?, probe: ActivationProbe?
    ) -> Variable {
        hiddenStates(layers: firstLayer..<dimensions.layerCount, residual: residual, positions: positions, cache: cache, probe: probe)
    }
}

/// Sizes shared by every architecture.
public struct TransformerDimensions: Sendable, Equatable {
    public var layerCount: Int
    public var hiddenSize: Int
    public var headCount: Int
    public var keyValueHeadCount: Int
    public var headDimension: Int
    public var vocabularySize: Int
    public var maxPositions: Int
}

/// Reads, replaces or zeroes activations at sites (house plan decision 4). Shapes: residual-like
/// sites (B, T, C); `attn.z` (B, T, H·D), the heads side by side; `attn.pattern` (B, H, T, S),
/// reported through `observe` only.
public protocol ActivationProbe: AnyObject {
    /// Whether the probe wants `site`; sites it does not want cost nothing.
    func wants(_ site: Site) -> Bool
    /// The activation to continue with (return `value` to only read it).
    func visit(_ site: Site, _ value: Variable) -> Variable
    /// A read-only activation (attention patterns).
    func observe(_ site: Site, _ value: Tensor)
    /// What to do to each row of layer `layer`'s attention probabilities before they mix the
    /// values (Monte Carlo dropout, a replaced pattern; forward only); nil for nothing.
    func attentionRowEdit(layer: Int) -> AttentionRowEdit?
}

extension ActivationProbe {
    public func observe(_ site: Site, _ value: Tensor) {}
    public func attentionRowEdit(layer: Int) -> AttentionRowEdit? { nil }
}

extension Optional where Wrapped == ActivationProbe {
    /// Passes `value` through the probe at `site` when there is one that wants it.
    @inline(__always)
    func visit(_ site: Site, _ value: Variable) -> Variable {
        guard let probe = self, probe.wants(site) else { return value }
        return probe.visit(site, value)
    }

    func attentionRowEdit(layer: Int) -> AttentionRowEdit? { self?.attentionRowEdit(layer: layer) }

    @inline(__always)
    func observe(_ site: Site, _ value: @autoclosure () -> Tensor) {
        guard let probe = self, probe.wants(site) else { return }
        probe.observe(site, value())
    }
}

/// A probe that records every activation it is asked for (inspection, logit lens).
public final class ActivationRecorder: ActivationProbe {
    public let sites: Set<Site>
    public private(set) var values: [Site: Tensor] = [:]

    public init(sites: Set<Site>) { self.sites = sites }

    public func wants(_ site: Site) -> Bool { sites.contains(site) }
    public func visit(_ site: Site, _ value: Variable) -> Variable {
        values[site] = value.value
        return value
    }
    public func observe(_ site: Site, _ value: Tensor) { values[site] = value }
}
