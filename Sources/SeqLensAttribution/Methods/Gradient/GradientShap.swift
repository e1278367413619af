import SeqLensTensor

/// Captum's GradientShap: NoiseTunnel over InputBaselineXGradient, against the UNK baseline.
public struct GradientShap: AttributionMethod {
    public static let name = "gradient_shap"
    public static let summary = "Gradient SHAP: expected gradients at random points between baseline and noisy input."
    public static let needsGradients = true
    public static let outputKind = AttributionOutputKind.granular
    public static let usesBaselines = true

    public var samples = 5
    public var standardDeviation: Float = 0
    public var seed: UInt64 = 42
    public var internalBatchSize: Int?
    public var multiplyByInputs = true
    /// Explicit draws, to reproduce a reference run exactly (not in the protocol): one α per
    /// sample, either one list for every step or one list per step (Inseq draws anew at each
    /// step); noise (samples, T, C). Drawn from `seed` when nil.
    public var alphas: [[Float]]?
    public var noise: [Float]?

    public init(samples: Int = 5, standardDeviation: Float = 0, seed: UInt64 = 42) {
        self.samples = samples
        self.standardDeviation = standardDeviation
        self.seed = seed
    }

    enum CodingKeys: String, CodingKey { case samples = "nSamples", standardDeviation = "stdevs", seed, internalBatchSize, multiplyByInputs }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        samples = try c.argument(.samples, default: 5, in: 1...MethodLimits.samples)
        standardDeviation = Float(try c.argument(.standardDeviation, default: 0, in: 0...1e6))
        seed = try c.argument(.seed, default: 42)
        internalBatchSize = try c.argument(.internalBatchSize, in: 1...Int.max)
        multiplyByInputs = try c.argument(.multiplyByInputs, default: true)
    }

    public func plannedPasses(for problem: AttributionProblem) -> Int {
        (alphas?.count ?? 1) > 1 ? problem.stepCount : AttributionProblem.passes(samples, problem.variantsPerPass(fixed: internalBatchSize))
    }

    public func attribute(_ problem: AttributionProblem) throws -> MethodResult {
        if let perStep = alphas, perStep.count > 1 {
            // Draws that differ by step: each step is its own pass.
            guard perStep.count == problem.stepCount else {
                throw AttributionError.invalidArgument("gradient_shap: \(perStep.count) lists of alphas for \(problem.stepCount) steps")
            }
            var parts: [Tensor] = []
            for k in 0..<problem.stepCount {
                var single = self
                single.alphas = [perStep[k]]
                parts.append(try single.attribute(problem, steps: [problem.steps[k]]).slice(0))
            }
            return MethodResult(attributions: Tensor.stacked(parts))
        }
        return MethodResult(attributions: try attribute(problem, steps: problem.steps))
    }

    private func attribute(_ problem: AttributionProblem, steps: [AttributedStep]) throws -> Tensor {
        let input = problem.embeddings, baseline = problem.baseline
        let n = samples, size = input.count
        var random = NormalRandom(seed: seed)
        let alphas = self.alphas?.first ?? (0..<n).map { _ in Float(random.uniform()) }
        let noise = self.noise ?? (0..<(n * size)).map { _ in
            standardDeviation == 0 ? 0 : Float(random.normal()) * standardDeviation
        }
        guard alphas.count == n, noise.count == n * size else {
            throw AttributionError.invalidArgument("gradient_shap: expected \(n) alphas and \(n)x\(input.shape) noise values")
        }
        // Sample i: noisy input x̃ = x + ε_i, evaluated at x̄ + α_i (x̃ − x̄); attribution
        // (x̃ − x̄) ⊙ ∇f, averaged over the samples.
        let noisy = (0..<n).map { i in
            Tensor(shape: input.shape, scalars: (0..<size).map { input.scalars[$0] + noise[i * size + $0] })
        }
        var total: Tensor?
        let perPass = problem.variantsPerPass(fixed: internalBatchSize)
        let engine = problem.gradients
        var start = 0
        while start < n {
            let range = start..<min(n, start + perPass)
            let points = Tensor.stacked(range.map { baseline.adding(noisy[$0].minus(baseline), scaledBy: alphas[$0]).slice(0) })
            let g = try engine.run(.embeddings(points), steps: steps).gradients
            for (offset, i) in range.enumerated() {
                var term = g.variant(offset)
                if multiplyByInputs { term = term.multiplyingEachSlice(by: noisy[i].minus(baseline)) }
                total = total.map { $0 + term } ?? term
            }
            start = range.upperBound
        }
        return total!.scaled(by: 1 / Float(n))
    }
}
