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
        _ = try model.hiddenStates(ids, probe: editor)
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
    ///
    /// All sites' rows are unembedded together, a few hundred rows per product (one large GEMM
    /// instead of one per site), and each row is reduced in one pass: its maximum and log-sum-exp
    /// give every probability needed; the full softmax is never stored.
    public func logitLens(ids: [Int], sites: [Site], topK: Int, targets: [Int]) throws -> [LensReading] {
        try model.checkVocabulary(targets)
        if let pattern = sites.first(where: { $0.kind.isPattern || $0.kind == .attentionZ }) {
            throw AttributionError.invalidArgument("the logit lens reads residual-stream sites, not \(pattern)")
        }
        let recorded = try activations(ids: ids, sites: sites)
        let transformer = model.transformer
        let c = transformer.dimensions.hiddenSize, t = ids.count
        // Rows (site, position), normalised as the model's final norm would.
        var normed: [Float] = []
        normed.reserveCapacity(sites.count * t * c)
        for site in sites {
            let residual = Variable(constant: recorded[site]!.reshaped([1, t, c]))
            // final_norm.out is already normalised: unembed it as it is.
            normed += (site.kind == .finalNormOut ? residual : transformer.finalNorm(residual)).value.scalars
        }
        let rows = sites.count * t
        var top = [[TokenScore]](repeating: [], count: rows), chosen = [[TokenScore]](repeating: [], count: rows)
        let chunk = Self.lensRowsPerProduct
        for first in stride(from: 0, to: rows, by: chunk) {
            let count = min(chunk, rows - first)
            let block = Tensor(shape: [count, c], scalars: Array(normed[(first * c)..<((first + count) * c)]))
            let logits = transformer.logits(Variable(constant: block)).value  // (count, V)
            let v = logits.shape[1]
            logits.scalars.withUnsafeBufferPointer { all in
                // Each part writes only its own rows' entries.
                top.withUnsafeMutableBufferPointer { topRows in
                    chosen.withUnsafeMutableBufferPointer { chosenRows in
                        let topOut = topRows.baseAddress!, chosenOut = chosenRows.baseAddress!
                        Parallel.forEachRange(count, minimumPerPart: 8) { range in
                            for r in range {
                                let row = UnsafeBufferPointer(rebasing: all[(r * v)..<((r + 1) * v)])
                                let logSum = Self.logSumExp(row)
                                func score(_ id: Int) -> TokenScore {
                                    TokenScore(id: id, probability: Float(Foundation.exp(Double(row[id]) - logSum)), logit: row[id])
                                }
                                topOut[first + r] = Self.largest(row, count: min(topK, v)).map(score)
                                chosenOut[first + r] = targets.map(score)
                            }
                        }
                    }
                }
            }
        }
        return sites.enumerated().map { index, site in
            LensReading(site: site, top: Array(top[(index * t)..<((index + 1) * t)]),
                        targets: Array(chosen[(index * t)..<((index + 1) * t)]))
        }
    }

    /// Rows unembedded per product: large enough for full-speed GEMMs, small enough that the logits
    /// of a long input (rows × vocabulary) never sit in memory at once.
    static let lensRowsPerProduct = 256

    /// log Σ exp(row), accumulated in Double from the row's maximum.
    static func logSumExp(_ row: UnsafeBufferPointer<Float>) -> Double {
        let peak = row.max() ?? 0
        var sum: Double = 0
        for value in row { sum += Double(expf(value - peak)) }
        return Double(peak) + Foundation.log(sum)
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
    static func largest<Values: RandomAccessCollection>(_ values: Values, count: Int) -> [Int]
    where Values.Element == Float, Values.Index == Int {
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
