import SeqLensModels
import SeqLensTensor

/// What the gradient methods share: memory-bounded passes over input variants, completeness
/// gaps and site activations.
extension AttributionProblem {
    /// The last position any step reads, plus one: the positions a pass must run.
    var readLength: Int { (stepPositions.max() ?? 1) + 1 }

    /// Variants per pass: enough cotangent rows (K steps × T positions per variant) for GEMMs at
    /// full speed, and no more. Larger passes only add memory traffic and page faults: on the
    /// benchmark's 20 + 20 tokens, 2-3 variants per pass instead of all of them made integrated
    /// gradients 10-30% faster (tiny GPT-2, SmolLM2) and halved peak memory. Also capped so that
    /// one K-deep cotangent of the widest activation stays under 128 MB.
    /// The rows counted are those the backward computes: step k's slice stops at its own position
    /// (row-support pruning), so a variant costs Σ (p_k + 1) rows, not K × T. On a 20 + 20-token
    /// encoder-decoder (the opus-mt-shaped benchmark) that gives 4 variants instead of 3 and
    /// integrated gradients 12% faster; SmolLM2 20 + 20 is unchanged (44.7-47.1 s either way).
    func variantsPerPass(fixed: Int?) -> Int {
        if let fixed, fixed > 0 { return fixed }
        let computedRows = max(1, stepPositions.reduce(0) { $0 + $1 + 1 })
        let byRows = max(1, Self.cotangentRowsPerPass / computedRows)
        let storedRows = max(1, stepCount) * readLength
        let byMemory = max(1, (128 << 20) / max(1, storedRows * dimensions.hiddenSize * 4 * 4))
        return min(byRows, byMemory)
    }

    /// About the fewest cotangent rows per pass at which the backward's products stop getting
    /// faster per row on these machines.
    static let cotangentRowsPerPass = 2560

    /// Passes for `count` variants at `perPass` each.
    static func passes(_ count: Int, _ perPass: Int) -> Int { (count + perPass - 1) / perPass }

    /// Σ_i w_i ∇f(variant_i), (K, T, W), computing the variants `perPass` at a time.
    func weightedGradientSum(
        count: Int, weights: [Float], perPass: Int, variants: (Range<Int>) -> GradientInput
    ) throws -> Tensor {
        var total: Tensor?
        var start = 0
        while start < count {
            let range = start..<min(count, start + perPass)
            let g = try gradients.run(variants(range), steps: steps).gradients  // (K, b, T, W)
            let summed = g.weightedSumOverVariants(Array(weights[range]))
            total = total.map { $0 + summed } ?? summed
            start = range.upperBound
        }
        return total!
    }

    /// Completeness gap per step: Σ_t,w attribution − (f(end) − f(start)).
    func convergenceDeltas(_ attributions: Tensor, from start: GradientInput, to end: GradientInput) throws -> [Float] {
        let engine = gradients
        let endValues = try engine.values(end, steps: steps)[0], startValues = try engine.values(start, steps: steps)[0]
        let perStep = attributions.count / max(1, stepCount)
        return (0..<stepCount).map { k in
            let sum = attributions.scalars[(k * perStep)..<((k + 1) * perStep)].reduce(0, +)
            return sum - (endValues[k] - startValues[k])
        }
    }

    /// The site's activation (1, T, W) for some embeddings.
    func activation(site: Site, embeddings: Tensor) throws -> Tensor {
        let probe = SiteSubstitution(site: site, tape: nil, replacement: nil)
        _ = transformer.hiddenStates(embeddings: Variable(constant: embeddings),
                                     positions: Array(0..<embeddings.shape[1]), cache: nil, probe: probe)
        guard let observed = probe.observed else { throw AttributionError.unknownSite("\(site)") }
        return observed
    }
}

extension Tensor {
    /// (K, 1, T, W) -> (K, T, W)
    var squeezingVariant: Tensor { reshaped([shape[0], shape[2], shape[3]]) }
}
