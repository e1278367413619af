import SeqLensModels
import SeqLensTensor

/// Every layer's attention pattern from one forward over the problem's sequence, and the logits
/// the steps read from that same forward. For an encoder-decoder model (the joined view) the
/// patterns are the decoder's: self-attention over the target and cross-attention over the source.
struct AttentionPatterns {
    /// patterns[layer]: (Hq, T, T) probabilities, query rows, key columns (the decoder's T).
    let patterns: [Tensor]
    /// Encoder-decoder models: crossPatterns[layer], (Hq, T, S) over the source; else empty.
    let crossPatterns: [Tensor]
    /// (K, V) the steps' logits, when the step scores read them.
    let logits: Tensor?

    init(_ problem: AttributionProblem) throws {
        try problem.beginPass()
        let recorder = PatternRecorder(layers: problem.dimensions.layerCount)
        let hidden = problem.transformer.hiddenStates(
            embeddings: Variable(constant: problem.embeddings), positions: Array(0..<problem.length), cache: nil, probe: recorder)
        logits = problem.wantsStepLogits
            ? problem.transformer.logits(selectRows(hidden, problem.stepPositions.map { $0 - 1 })).value : nil
        patterns = try recorder.patterns.enumerated().map { layer, pattern in
            guard let pattern else { throw AttributionError.unsupported("this model does not expose layer \(layer)'s attention pattern") }
            return pattern.reshaped(Array(pattern.shape.dropFirst()))
        }
        crossPatterns = recorder.crossPatterns.compactMap { $0.map { $0.reshaped(Array($0.shape.dropFirst())) } }
    }
}

private final class PatternRecorder: ActivationProbe {
    var patterns: [Tensor?]
    var crossPatterns: [Tensor?]
    init(layers: Int) {
        patterns = Array(repeating: nil, count: layers)
        crossPatterns = Array(repeating: nil, count: layers)
    }
    func wants(_ site: Site) -> Bool {
        site.stack != .encoder && (site.kind == .attentionPattern || site.kind == .crossAttentionPattern)
    }
    func visit(_ site: Site, _ value: Variable) -> Variable { value }
    func observe(_ site: Site, _ value: Tensor) {
        guard site.stack != .encoder, let layer = site.layer else { return }
        if site.kind == .attentionPattern { patterns[layer] = value }
        if site.kind == .crossAttentionPattern { crossPatterns[layer] = value }
    }
}
