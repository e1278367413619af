import Foundation
import SeqLensModels
import SeqLensTensor

/// What activation patching and ablation measure at the last position of the input.
public enum InternalsMetric: Sendable, Equatable {
    /// logit(target) − logit(contrast).
    case logitDifference(target: Int, contrast: Int)
    /// log p(target).
    case logProbability(target: Int)

    var tokens: [Int] {
        switch self {
        case .logitDifference(let target, let contrast): [target, contrast]
        case .logProbability(let target): [target]
        }
    }

    /// The metric of one row of logits (V).
    func value(_ logits: UnsafeBufferPointer<Float>) -> Float {
        switch self {
        case .logitDifference(let target, let contrast):
            return logits[target] - logits[contrast]
        case .logProbability(let target):
            let peak = logits.max() ?? 0
            var sum = 0.0
            for value in logits { sum += Foundation.exp(Double(value - peak)) }
            return Float(Double(logits[target] - peak) - Foundation.log(sum))
        }
    }
}

/// Activation patching (causal tracing): run the corrupted input with one site's activation at
/// one position taken from the clean run, and read the metric at the last position.
///
/// Positions before the patched one are identical to the corrupted run, so each patched run
/// continues from the corrupted run's key/value cache at that position; all sites patched at one
/// position are one batch.
public struct ActivationPatching {
    public let model: LanguageModel

    public init(model: LanguageModel) { self.model = model }

    public struct Result: Sendable, Equatable {
        public var cleanMetric: Float
        public var corruptedMetric: Float
        /// values[site][i]: the metric with `site` patched at `positions[i]`.
        public var values: [[Float]]
    }

    /// - Parameters:
    ///   - clean, corrupted: token ids of equal length.
    ///   - positions: the positions to patch (every position by default).
    ///   - onRun: called before each patched run (progress, cancellation: throw to stop).
    public func patch(
        clean: [Int], corrupted: [Int], sites: [Site], positions: [Int]? = nil, metric: InternalsMetric,
        onRun: (Int, Int) throws -> Void = { _, _ in }
    ) throws -> Result {
        guard clean.count == corrupted.count else {
            throw AttributionError.invalidArgument(
                "clean and corrupted inputs must have the same number of tokens, got \(clean.count) and \(corrupted.count)")
        }
        if let cross = sites.first(where: { $0.kind == .crossAttentionPattern }) {
            throw AttributionError.invalidArgument("\(cross) cannot be patched in a decoder-only model")
        }
        try model.checkVocabulary(metric.tokens)
        let t = clean.count
        let patched = positions ?? Array(0..<t)
        if let bad = patched.first(where: { $0 < 0 || $0 >= t }) {
            throw AttributionError.invalidArgument("position \(bad) is outside the input's \(t) tokens")
        }
        let transformer = model.transformer
        let dims = transformer.dimensions
        let v = dims.vocabularySize

        let recorder = SiteEditor(reading: Set(sites))
        let cleanLogits = try model.logits(clean, probe: recorder)
        let cleanMetric = lastRowMetric(cleanLogits, metric)

        try model.checkVocabulary(corrupted)
        let cache = KeyValueCache(layers: dims.layerCount, batch: 1, width: dims.keyValueHeadCount * dims.headDimension)
        let corruptedHidden = transformer.hiddenStates(
            embeddings: Variable(constant: transformer.embed([corrupted])), positions: Array(0..<t), cache: cache, probe: nil)
        let corruptedMetric = lastRowMetric(
            transformer.logits(selectRows(corruptedHidden, [t - 1])).value, metric)

        var values = [[Float]](repeating: [], count: sites.count)
        for (run, position) in patched.enumerated() {
            try onRun(run, patched.count)
            let batch = sites.count
            var edits: [Site: SiteEditor.Edit] = [:]
            var rowEdits: [Int: AttentionRowEdit] = [:]
            // Batch row i patches sites[i]; several rows may patch the same site.
            for site in Set(sites) where site.kind == .attentionPattern {
                // The patched query is the suffix's first row; its keys are the cache's `position`
                // rows and itself, as in the clean run's row `position`.
                let rows = Set(sites.indices.filter { sites[$0] == site })
                let clean = recorder.recorded[site]!  // (1, H, T, T)
                rowEdits[site.layer!] = { row, visible, batch, head, query in
                    guard query == 0, rows.contains(batch) else { return }
                    clean.scalars.withUnsafeBufferPointer { source in
                        let start = (head * t + position) * t
                        row.update(from: source.baseAddress! + start, count: visible)
                    }
                }
            }
            for site in Set(sites) where site.kind != .attentionPattern {
                let rows = sites.indices.filter { sites[$0] == site }
                let clean = recorder.recorded[site]!  // (1, T, W)
                let width = clean.count / t
                let source = Array(clean.scalars[(position * width)..<((position + 1) * width)])
                edits[site] = { value in  // (batch, T − position, W)
                    value.modified { scalars in
                        let suffix = value.shape[1]
                        for row in rows {
                            scalars.replaceSubrange((row * suffix * width)..<(row * suffix * width + width), with: source)
                        }
                    }
                }
            }
            let suffix = Array(corrupted[position...])
            let hidden = transformer.hiddenStates(
                embeddings: Variable(constant: transformer.embed(Array(repeating: suffix, count: batch))),
                positions: Array(position..<t), cache: cache.prefix(position, repeatedFor: batch),
                probe: SiteEditor(editing: edits, editingRows: rowEdits))
            let lastRows = (0..<batch).map { $0 * suffix.count + suffix.count - 1 }
            let logits = transformer.logits(selectRows(reshape(hidden, [batch * suffix.count, dims.hiddenSize]), lastRows)).value
            logits.scalars.withUnsafeBufferPointer { all in
                for row in 0..<batch {
                    values[row].append(metric.value(UnsafeBufferPointer(rebasing: all[(row * v)..<((row + 1) * v)])))
                }
            }
        }
        return Result(cleanMetric: cleanMetric, corruptedMetric: corruptedMetric, values: values)
    }

    func lastRowMetric(_ logits: Tensor, _ metric: InternalsMetric) -> Float {
        let v = logits.shape[1], last = logits.shape[0] - 1
        return logits.scalars.withUnsafeBufferPointer { metric.value(UnsafeBufferPointer(rebasing: $0[(last * v)..<((last + 1) * v)])) }
    }
}
