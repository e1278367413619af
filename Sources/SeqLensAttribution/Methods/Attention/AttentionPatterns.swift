import SeqLensModels
import SeqLensTensor

/// Every layer's attention pattern from one forward over the problem's sequence, and the logits
/// the steps read from that same forward.
struct AttentionPatterns {
    /// patterns[layer]: (Hq, T, T) probabilities, query rows, key columns.
    let patterns: [Tensor]
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
    }
}

private final class PatternRecorder: ActivationProbe {
    var patterns: [Tensor?]
    init(layers: Int) { patterns = Array(repeating: nil, count: layers) }
    func wants(_ site: Site) -> Bool { site.kind == .attentionPattern }
    func visit(_ site: Site, _ value: Variable) -> Variable { value }
    func observe(_ site: Site, _ value: Tensor) {
        if site.kind == .attentionPattern, let layer = site.layer { patterns[layer] = value }
    }
}
