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
/// continues from the corrupted run's key/value cache at that position; so are the blocks below
/// the patched site, so it starts from the corrupted run's input to its block. The sites patched
/// at one position are batched, in layer order, about `rowsPerForward` rows per forward.
public struct ActivationPatching {
    public let model: LanguageModel
    /// Rows per patched forward (batch × suffix positions): enough for the products to run near
    /// full speed (64 to 256 measured the same on SmolLM2); beyond it, sites are split into
    /// batches by layer so that each starts higher.
    public var rowsPerForward = 128

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
        // Each block's input in the corrupted run: where a patched run at that layer starts.
        let startLayers = Set(sites.compactMap(\.layer))
        let corruptedInputs = SiteEditor(reading: Set(startLayers.map { Site.block($0, .residPre) }))
        let corruptedHidden = transformer.hiddenStates(
            embeddings: Variable(constant: transformer.embed([corrupted])), positions: Array(0..<t), cache: cache,
            probe: corruptedInputs)
        let corruptedMetric = lastRowMetric(
            transformer.logits(selectRows(corruptedHidden, [t - 1])).value, metric)

        // Sites in layer order, so that each batch starts as high as its lowest site allows.
        let byLayer = sites.indices.sorted { (sites[$0].layer ?? -1, $0) < (sites[$1].layer ?? -1, $1) }
        var values = [[Float]](repeating: [Float](repeating: 0, count: patched.count), count: sites.count)
        for (run, position) in patched.enumerated() {
            try onRun(run, patched.count)
            let suffix = Array(corrupted[position...])
            let perBatch = max(1, rowsPerForward / suffix.count)
            for first in stride(from: 0, to: byLayer.count, by: perBatch) {
                let members = Array(byLayer[first..<min(first + perBatch, byLayer.count)])  // batch row i patches sites[members[i]]
                let row = patchedRun(
                    members.map { sites[$0] }, position: position, suffix: suffix, total: t, cache: cache, recorder: recorder,
                    corruptedInputs: corruptedInputs, metric: metric)
                for (i, site) in members.enumerated() { values[site][run] = row[i] }
            }
        }
        return Result(cleanMetric: cleanMetric, corruptedMetric: corruptedMetric, values: values)
    }


    /// One batch of patched runs at `position`: row i patches `batch[i]` with the clean value and
    /// continues from the corrupted cache; the batch starts at its lowest site's block (the
    /// blocks below compute exactly what the corrupted run did), or at the embeddings for sites
    /// outside the blocks. Returns the metric of each row.
    func patchedRun(
        _ batch: [Site], position: Int, suffix: [Int], total t: Int, cache: KeyValueCache, recorder: SiteEditor,
        corruptedInputs: SiteEditor, metric: InternalsMetric
    ) -> [Float] {
        let transformer = model.transformer
        let dims = transformer.dimensions
        let v = dims.vocabularySize, c = dims.hiddenSize, n = batch.count, s = suffix.count
        var edits: [Site: SiteEditor.Edit] = [:]
        var rowEdits: [Int: AttentionRowEdit] = [:]
        for site in Set(batch) where site.kind == .attentionPattern {
            // The patched query is the suffix's first row; its keys are the cache's `position`
            // rows and itself, as in the clean run's row `position`.
            let rows = Set(batch.indices.filter { batch[$0] == site })
            let clean = recorder.recorded[site]!  // (1, H, T, T)
            rowEdits[site.layer!] = { row, visible, batch, head, query in
                guard query == 0, rows.contains(batch) else { return }
                clean.scalars.withUnsafeBufferPointer { source in
                    row.update(from: source.baseAddress! + (head * t + position) * t, count: visible)
                }
            }
        }
        for site in Set(batch) where site.kind != .attentionPattern {
            let rows = batch.indices.filter { batch[$0] == site }
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
        let probe = SiteEditor(editing: edits, editingRows: rowEdits)
        let positions = Array(position..<t), prefix = cache.prefix(position, repeatedFor: n)
        let hidden: Variable
        if batch.allSatisfy({ $0.layer != nil }), let first = batch.compactMap(\.layer).min() {
            let input = corruptedInputs.recorded[.block(first, .residPre)]!  // (1, T, C)
            var rows = [Float]()
            rows.reserveCapacity(n * s * c)
            for _ in 0..<n { rows += input.scalars[(position * c)..<(t * c)] }
            hidden = transformer.hiddenStates(
                fromLayer: first, residual: Variable(constant: Tensor(shape: [n, s, c], scalars: rows)),
                positions: positions, cache: prefix, probe: probe)
        } else {
            hidden = transformer.hiddenStates(
                embeddings: Variable(constant: transformer.embed(Array(repeating: suffix, count: n))),
                positions: positions, cache: prefix, probe: probe)
        }
        let lastRows = (0..<n).map { $0 * s + s - 1 }
        let logits = transformer.logits(selectRows(reshape(hidden, [n * s, c]), lastRows)).value
        return logits.scalars.withUnsafeBufferPointer { all in
            (0..<n).map { row in metric.value(UnsafeBufferPointer(rebasing: all[(row * v)..<((row + 1) * v)])) }
        }
    }

    func lastRowMetric(_ logits: Tensor, _ metric: InternalsMetric) -> Float {
        let v = logits.shape[1], last = logits.shape[0] - 1
        return logits.scalars.withUnsafeBufferPointer { metric.value(UnsafeBufferPointer(rebasing: $0[(last * v)..<((last + 1) * v)])) }
    }
}
