import Foundation
import SeqLensModels
import SeqLensTensor

/// Looks inside a model on one input: activations at any sites (TransformerLens's
/// `run_with_cache`) and the logit lens.
public struct Inspector {
    public let model: LanguageModel

    public init(model: LanguageModel) { self.model = model }

    /// The activations of `sites` for `ids`, each in its per-sequence shape (`SiteCatalog.shape`):
    /// `[T, C]`, `[T, H, D]` for `attn.z`, `[H, T, T]` for `attn.pattern`; with `positions`, only
    /// those rows (query rows of a pattern).
    /// - Throws: `ModelError` for an empty, too long or out-of-vocabulary input, or a position
    ///   outside it.
    public func activations(ids: [Int], sites: [Site], positions: [Int]? = nil) throws -> [Site: Tensor] {
        let t = ids.count
        if let bad = positions?.first(where: { $0 < 0 || $0 >= t }) {
            throw AttributionError.invalidArgument("position \(bad) is outside the input's \(t) tokens")
        }
        let editor = SiteEditor(reading: Set(sites))
        _ = try model.logits(ids, probe: editor)
        let catalog = model.sites
        var result: [Site: Tensor] = [:]
        for site in sites {
            guard let value = editor.recorded[site] else { throw ModelError.unknownSite("\(site)", reason: "the model has no such site") }
            let full = value.reshaped(catalog.shape(of: site, positions: t))
            result[site] = positions.map { Self.rows(full, $0, patternRows: site.kind.isPattern) } ?? full
        }
        return result
    }

    /// One site's logit-lens reading at every position.
    public struct LensReading: Sendable, Equatable {
        public var site: Site
        /// Per position: the `topK` most likely next tokens (id, probability, logit), best first.
        public var top: [[TokenScore]]
        /// Per position: the probability and logit of each requested target.
        public var targets: [[TokenScore]]
    }

    public struct TokenScore: Sendable, Equatable {
        public var id: Int
        public var probability: Float
        public var logit: Float
    }

    /// softmax(unembed(final_norm(r))) for each site r (nostalgebraist's logit lens). The last
    /// block's output goes through the final norm once, so its reading is the model's own.
    public func logitLens(ids: [Int], sites: [Site], topK: Int, targets: [Int]) throws -> [LensReading] {
        try model.checkVocabulary(targets)
        if let pattern = sites.first(where: { $0.kind.isPattern || $0.kind == .attentionZ }) {
            throw AttributionError.invalidArgument("the logit lens reads residual-stream sites, not \(pattern)")
        }
        let recorded = try activations(ids: ids, sites: sites)
        let transformer = model.transformer
        let c = transformer.dimensions.hiddenSize, t = ids.count
        return sites.map { site in
            let residual = Variable(constant: recorded[site]!.reshaped([1, t, c]))
            // final_norm.out is already normalised: unembed it as it is.
            let normed = site.kind == .finalNormOut ? residual : transformer.finalNorm(residual)
            let logits = transformer.logits(reshape(normed, [t, c])).value
            let v = logits.shape[1]
            var top: [[TokenScore]] = [], chosen: [[TokenScore]] = []
            for position in 0..<t {
                let row = Array(logits.scalars[(position * v)..<((position + 1) * v)])
                let probabilities = normalizedProbabilities(row)
                let best = Self.largest(probabilities, count: min(topK, v))
                top.append(best.map { TokenScore(id: $0, probability: probabilities[$0], logit: row[$0]) })
                chosen.append(targets.map { TokenScore(id: $0, probability: probabilities[$0], logit: row[$0]) })
            }
            return LensReading(site: site, top: top, targets: chosen)
        }
    }

    /// Rows of `tensor` at `positions`: the leading axis, or the query axis of a pattern [H, T, S].
    static func rows(_ tensor: Tensor, _ positions: [Int], patternRows: Bool) -> Tensor {
        if patternRows {
            let h = tensor.shape[0], t = tensor.shape[1], s = tensor.shape[2]
            var out: [Float] = []
            out.reserveCapacity(h * positions.count * s)
            for head in 0..<h {
                for p in positions { out += tensor.scalars[((head * t + p) * s)..<((head * t + p + 1) * s)] }
            }
            return Tensor(shape: [h, positions.count, s], scalars: out)
        }
        let width = tensor.count / max(1, tensor.shape[0])
        var out: [Float] = []
        out.reserveCapacity(positions.count * width)
        for p in positions { out += tensor.scalars[(p * width)..<((p + 1) * width)] }
        return Tensor(shape: [positions.count] + tensor.shape.dropFirst(), scalars: out)
    }

    /// Indices of the `count` largest values, largest first (ties: lower index first), in one
    /// pass that keeps the best `count` in order (the vocabulary is large, `count` small).
    static func largest(_ values: [Float], count: Int) -> [Int] {
        guard count > 0 else { return [] }
        var best: [Int] = []
        best.reserveCapacity(count + 1)
        for index in values.indices {
            if best.count == count, let last = best.last, values[index] <= values[last] { continue }
            var slot = best.count
            while slot > 0 && values[best[slot - 1]] < values[index] { slot -= 1 }
            best.insert(index, at: slot)
            if best.count > count { best.removeLast() }
        }
        return best
    }
}

/// softmax(row), stable, accumulated in Double.
func normalizedProbabilities(_ row: [Float]) -> [Float] {
    let peak = row.max() ?? 0
    var sum = 0.0
    let exps = row.map { value -> Double in
        let e = exp(Double(value - peak))
        sum += e
        return e
    }
    return exps.map { Float($0 / sum) }
}
