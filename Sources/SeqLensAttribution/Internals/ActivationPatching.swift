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
/// the patched site, so its row joins the batch of the runs patched at that position only at its
/// own block. Each block then runs once per position, for the sites at or below it.
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

        // Block sites in layer order; the others (embed, final_norm.out) run from the embeddings.
        let inBlocks = sites.indices.filter { sites[$0].layer != nil }.sorted { (sites[$0].layer!, $0) < (sites[$1].layer!, $1) }
        let outside = sites.indices.filter { sites[$0].layer == nil }
        var values = [[Float]](repeating: [Float](repeating: 0, count: patched.count), count: sites.count)
        for (run, position) in patched.enumerated() {
            try onRun(run, patched.count)
            let suffix = Array(corrupted[position...])
            let context = PatchContext(position: position, suffix: suffix, total: t, cache: cache, recorder: recorder,
                                       corruptedInputs: corruptedInputs, metric: metric)
            if !inBlocks.isEmpty {
                let row = growingRun(inBlocks.map { sites[$0] }, context)
                for (i, site) in inBlocks.enumerated() { values[site][run] = row[i] }
            }
            if !outside.isEmpty {
                let row = embeddingRun(outside.map { sites[$0] }, context)
                for (i, site) in outside.enumerated() { values[site][run] = row[i] }
            }
        }
        return Result(cleanMetric: cleanMetric, corruptedMetric: corruptedMetric, values: values)
    }


    /// What every patched run at one position shares.
    struct PatchContext {
        let position: Int
        let suffix: [Int]
        let total: Int
        let cache: KeyValueCache
        /// The clean run's activations at the patched sites.
        let recorder: SiteEditor
        /// The corrupted run's input to each block with a patched site.
        let corruptedInputs: SiteEditor
        let metric: InternalsMetric
    }

    /// The probe of a batch whose row i patches `batch[i]` at the context's position with the clean
    /// run's value: the suffix's first row, the one at `position`.
    func patchProbe(_ batch: [Site], _ context: PatchContext) -> SiteEditor {
        let t = context.total, position = context.position
        var edits: [Site: SiteEditor.Edit] = [:]
        var rowEdits: [Int: AttentionRowEdit] = [:]
        for site in Set(batch) where site.kind == .attentionPattern {
            // The patched query is the suffix's first row; its keys are the cache's `position`
            // rows and itself, as in the clean run's row `position`.
            let rows = Set(batch.indices.filter { batch[$0] == site })
            let clean = context.recorder.recorded[site]!  // (1, H, T, T)
            rowEdits[site.layer!] = { row, visible, batch, head, query in
                guard query == 0, rows.contains(batch) else { return }
                clean.scalars.withUnsafeBufferPointer { source in
                    row.update(from: source.baseAddress! + (head * t + position) * t, count: visible)
                }
            }
        }
        for site in Set(batch) where site.kind != .attentionPattern {
            let rows = batch.indices.filter { batch[$0] == site }
            let clean = context.recorder.recorded[site]!  // (1, T, W)
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
        return SiteEditor(editing: edits, editingRows: rowEdits)
    }

    /// Block sites patched at one position (in layer order), each block run once: a site's row
    /// joins the batch at its own block, starting from the corrupted run's input to that block
    /// (the blocks below compute exactly what the corrupted run did), so block l runs one row per
    /// site at or below it. Returns the metric of each site's run.
    func growingRun(_ batch: [Site], _ context: PatchContext) -> [Float] {
        let transformer = model.transformer
        let dims = transformer.dimensions
        let c = dims.hiddenSize, s = context.suffix.count, t = context.total, position = context.position
        let probe = patchProbe(batch, context)
        let positions = Array(position..<t)
        var residual: [Float] = []
        residual.reserveCapacity(batch.count * s * c)
        var joined = 0
        var hidden: Variable?
        while joined < batch.count {
            let layer = batch[joined].layer!
            let input = context.corruptedInputs.recorded[.block(layer, .residPre)]!  // (1, T, C)
            while joined < batch.count && batch[joined].layer! == layer {
                residual += input.scalars[(position * c)..<(t * c)]
                joined += 1
            }
            let end = joined < batch.count ? batch[joined].layer! : dims.layerCount
            let out = transformer.hiddenStates(
                layers: layer..<end, residual: Variable(constant: Tensor(shape: [joined, s, c], scalars: residual)),
                positions: positions, cache: context.cache.prefix(position, repeatedFor: joined, layers: layer..<end), probe: probe)
            if end == dims.layerCount { hidden = out } else { residual = out.value.scalars }
        }
        return lastRowMetrics(hidden!, rows: batch.count, suffix: s, metric: context.metric)
    }

    /// Sites outside the blocks (embed, final_norm.out) patched at one position: one batch from
    /// the embeddings up.
    func embeddingRun(_ batch: [Site], _ context: PatchContext) -> [Float] {
        let transformer = model.transformer
        let n = batch.count
        let hidden = transformer.hiddenStates(
            embeddings: Variable(constant: transformer.embed(Array(repeating: context.suffix, count: n))),
            positions: Array(context.position..<context.total), cache: context.cache.prefix(context.position, repeatedFor: n),
            probe: patchProbe(batch, context))
        return lastRowMetrics(hidden, rows: n, suffix: context.suffix.count, metric: context.metric)
    }

    /// The metric at the last position of each of `rows` sequences of final hidden states.
    func lastRowMetrics(_ hidden: Variable, rows n: Int, suffix s: Int, metric: InternalsMetric) -> [Float] {
        let transformer = model.transformer
        let v = transformer.dimensions.vocabularySize, c = transformer.dimensions.hiddenSize
        let logits = transformer.logits(selectRows(reshape(hidden, [n * s, c]), (0..<n).map { $0 * s + s - 1 })).value
        return logits.scalars.withUnsafeBufferPointer { all in
            (0..<n).map { row in metric.value(UnsafeBufferPointer(rebasing: all[(row * v)..<((row + 1) * v)])) }
        }
    }

    func lastRowMetric(_ logits: Tensor, _ metric: InternalsMetric) -> Float {
        let v = logits.shape[1], last = logits.shape[0] - 1
        return logits.scalars.withUnsafeBufferPointer { metric.value(UnsafeBufferPointer(rebasing: $0[(last * v)..<((last + 1) * v)])) }
    }
}
