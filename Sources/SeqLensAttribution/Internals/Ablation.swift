import SeqLensModels
import SeqLensTensor

/// Zero or mean ablation of heads, positions or whole sites, and the sweep that knocks out
/// every head alone (TransformerLens's head ablation).
public struct Ablation: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable {
        case zero
        /// The site's mean over all positions of the same input's clean run.
        case mean
    }

    public var site: Site
    /// Heads of `attn.z` (its [T, H, D] slices); nil for the whole site.
    public var heads: [Int]?
    /// Positions to ablate; nil for all.
    public var positions: [Int]?
    public var mode: Mode

    public init(site: Site, heads: [Int]? = nil, positions: [Int]? = nil, mode: Mode = .zero) {
        self.site = site
        self.heads = heads
        self.positions = positions
        self.mode = mode
    }
}

/// Runs ablations on one input and reads log p(target) at its last position.
public struct Ablator {
    public let model: LanguageModel

    public init(model: LanguageModel) { self.model = model }

    public struct Result: Sendable, Equatable {
        public var baseline: Float
        public var ablated: Float
    }

    public func ablate(ids: [Int], ablations: [Ablation], target: Int) throws -> Result {
        let metric = InternalsMetric.logProbability(target: target)
        try model.checkVocabulary([target])
        try validate(ablations, length: ids.count)
        let means = ablations.contains { $0.mode == .mean }
        let recorder = SiteEditor(reading: means ? Set(ablations.map(\.site)) : [])
        let patching = ActivationPatching(model: model)
        let baseline = patching.lastRowMetric(try model.logits(ids, probe: recorder), metric)
        var edits: [Site: SiteEditor.Edit] = [:]
        for site in Set(ablations.map(\.site)) {
            let mine = ablations.filter { $0.site == site }
            let mean = recorder.recorded[site].map(Self.meanOverPositions)
            edits[site] = { value in
                mine.reduce(value) { current, ablation in
                    self.apply(ablation, to: current, mean: mean, batchRows: nil)
                }
            }
        }
        let ablated = patching.lastRowMetric(try model.logits(ids, probe: SiteEditor(editing: edits)), metric)
        return Result(baseline: baseline, ablated: ablated)
    }

    /// grid[layer][head]: log p(target) with that head zeroed at every position, minus the
    /// baseline. One run per layer, its heads as the batch, starting at that layer from the
    /// unablated run's input to it (the blocks below are unchanged by the ablation).
    public func headSweep(ids: [Int], target: Int, onLayer: (Int, Int) throws -> Void = { _, _ in }) throws -> (baseline: Float, grid: [[Float]]) {
        let metric = InternalsMetric.logProbability(target: target)
        try model.checkVocabulary([target])
        let transformer = model.transformer
        let dims = transformer.dimensions
        let h = dims.headCount, t = ids.count, v = dims.vocabularySize
        let patching = ActivationPatching(model: model)
        let inputs = SiteEditor(reading: Set((0..<dims.layerCount).map { Site.block($0, .residPre) }))
        let baseline = patching.lastRowMetric(try model.logits(ids, probe: inputs), metric)
        var grid: [[Float]] = []
        for layer in 0..<dims.layerCount {
            try onLayer(layer, dims.layerCount)
            let site = Site.block(layer, .attentionZ)
            let edit: SiteEditor.Edit = { value in  // (H, T, H·D): batch row b zeroes head b
                value.modified { scalars in
                    let d = dims.headDimension, width = h * d
                    for b in 0..<h {
                        for position in 0..<t {
                            let start = (b * t + position) * width + b * d
                            scalars.replaceSubrange(start..<(start + d), with: repeatElement(0, count: d))
                        }
                    }
                }
            }
            let input = inputs.recorded[.block(layer, .residPre)]!  // (1, T, C)
            let residual = Tensor(shape: [h, t, dims.hiddenSize], scalars: Array(repeating: input.scalars, count: h).flatMap { $0 })
            let hidden = transformer.hiddenStates(
                fromLayer: layer, residual: Variable(constant: residual),
                positions: Array(0..<t), cache: nil, probe: SiteEditor(editing: [site: edit]))
            let logits = transformer.logits(selectRows(hidden, (0..<h).map { $0 * t + t - 1 })).value
            grid.append(logits.scalars.withUnsafeBufferPointer { all in
                (0..<h).map { metric.value(UnsafeBufferPointer(rebasing: all[($0 * v)..<(($0 + 1) * v)])) - baseline }
            })
        }
        return (baseline, grid)
    }

    private func validate(_ ablations: [Ablation], length t: Int) throws {
        let heads = model.transformer.dimensions.headCount
        for ablation in ablations {
            if ablation.site.kind.isPattern {
                throw AttributionError.invalidArgument("\(ablation.site) cannot be ablated; ablate blocks.{i}.attn.z (heads) instead")
            }
            if let chosen = ablation.heads {
                guard ablation.site.kind == .attentionZ else {
                    throw AttributionError.invalidArgument("heads apply to attn.z sites, not \(ablation.site)")
                }
                if let bad = chosen.first(where: { $0 < 0 || $0 >= heads }) {
                    throw AttributionError.invalidArgument("head \(bad) is outside the model's \(heads) heads")
                }
            }
            if let bad = ablation.positions?.first(where: { $0 < 0 || $0 >= t }) {
                throw AttributionError.invalidArgument("position \(bad) is outside the input's \(t) tokens")
            }
        }
    }

    /// (1, T, W) -> (W): the mean over positions.
    static func meanOverPositions(_ value: Tensor) -> [Float] {
        let t = value.shape[1], w = value.count / t
        var mean = [Float](repeating: 0, count: w)
        for position in 0..<t { for j in 0..<w { mean[j] += value.scalars[position * w + j] } }
        return mean.map { $0 / Float(t) }
    }

    /// `value` (B, T, W) with the ablation's entries set to 0 or to the mean.
    func apply(_ ablation: Ablation, to value: Tensor, mean: [Float]?, batchRows: [Int]?) -> Tensor {
        let b = value.shape[0], t = value.shape[1], w = value.count / (b * t)
        let d = model.transformer.dimensions.headDimension
        let columns: [Range<Int>] = ablation.heads.map { $0.map { ($0 * d)..<(($0 + 1) * d) } } ?? [0..<w]
        return value.modified { scalars in
            for batch in batchRows ?? Array(0..<b) {
                for position in ablation.positions ?? Array(0..<t) {
                    let row = (batch * t + position) * w
                    for range in columns {
                        for j in range { scalars[row + j] = ablation.mode == .mean ? (mean?[j] ?? 0) : 0 }
                    }
                }
            }
        }
    }
}
