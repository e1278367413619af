import Foundation
import SeqLensModels
import SeqLensTensor

/// Runs one attribution method on one sequence: every attributed step at once.
///
/// Each method is written as Captum computes it, with the input variants (interpolation points,
/// samples, positions) as the batch of `GradientEngine` and the steps as its cotangents.
struct MethodRunner {
    let engine: GradientEngine
    let method: AttributionMethod
    let arguments: MethodArguments
    /// Resolved activation site for layer methods.
    let site: Site?

    struct Output {
        /// (K, T, W): step k's attribution of position t (only t < position_k is meaningful).
        let attributions: Tensor
        /// Convergence deltas per step, when asked for.
        let deltas: [Float]?
        /// (K, V) the logits of each step on the unmodified input, when a pass computed them
        /// (the step scores then need no forward of their own).
        var inputLogits: Tensor? = nil
    }

    /// - Parameters:
    ///   - input: (1, T, C) token embeddings of the sequence.
    ///   - baseline: (1, T, C) baseline embeddings, for methods that use one.
    func run(input: Tensor, baseline: Tensor?, steps: [AttributedStep]) throws -> Output {
        switch method {
        case .dummy:
            throw AttributionError.invalidArgument("the dummy method computes no attributions")
        case .saliency:
            let result = try engine.run(.embeddings(input), steps: steps), g = result.gradients
            return Output(attributions: squeezeVariant(arguments.absolute ? g.map(abs) : g), deltas: nil,
                          inputLogits: result.logits)
        case .inputXGradient:
            let result = try engine.run(.embeddings(input), steps: steps)
            return Output(attributions: squeezeVariant(result.gradients).multiplyingEachSlice(by: input), deltas: nil,
                          inputLogits: result.logits)
        case .deeplift:
            // No module of these architectures is among Captum's DeepLIFT nonlinearities
            // (ReLU, ELU, Sigmoid, Tanh, nn.Softmax, max-pooling): the rescale rule never
            // applies and DeepLIFT reduces to (x − x̄) ⊙ ∇f(x).
            let b = try require(baseline)
            let result = try engine.run(.embeddings(input), steps: steps)
            return Output(attributions: squeezeVariant(result.gradients).multiplyingEachSlice(by: input.minus(b)), deltas: nil,
                          inputLogits: result.logits)
        case .layerGradientXActivation:
            let result = try engine.run(.site(try requireSite(), embeddings: input, replacement: nil), steps: steps)
            let g = squeezeVariant(result.gradients)
            return Output(attributions: arguments.multiplyByInputs ? g.multiplyingEachSlice(by: result.input) : g, deltas: nil,
                          inputLogits: result.logits)
        case .layerDeeplift:
            let site = try requireSite(), b = try require(baseline)
            let baselineActivation = try activation(site: site, embeddings: b)
            let result = try engine.run(.site(site, embeddings: input, replacement: nil), steps: steps)
            let g = squeezeVariant(result.gradients)
            return Output(attributions: g.multiplyingEachSlice(by: result.input.minus(baselineActivation)), deltas: nil,
                          inputLogits: result.logits)
        case .integratedGradients:
            return try integratedGradients(input: input, baseline: try require(baseline), steps: steps)
        case .layerIntegratedGradients:
            return try layerIntegratedGradients(input: input, baseline: try require(baseline), steps: steps)
        case .gradientShap:
            return try gradientShap(input: input, baseline: try require(baseline), steps: steps)
        case .sequentialIntegratedGradients:
            return try sequentialIntegratedGradients(input: input, baseline: try require(baseline), steps: steps)
        }
    }

    // MARK: Integrated gradients

    private func integratedGradients(input: Tensor, baseline: Tensor, steps: [AttributedStep]) throws -> Output {
        let (alphas, weights) = arguments.integration.points(arguments.steps)
        let difference = input.minus(baseline)
        let total = try weightedGradientSum(count: alphas.count, weights: weights, steps: steps) { range in
            .embeddings(Tensor.stacked(range.map { baseline.adding(difference, scaledBy: alphas[$0]).slice(0) }))
        }
        let attributions = arguments.multiplyByInputs ? total.multiplyingEachSlice(by: difference) : total
        let deltas = arguments.returnConvergenceDelta
            ? try convergenceDeltas(attributions, from: .embeddings(baseline), to: .embeddings(input), steps: steps) : nil
        return Output(attributions: attributions, deltas: deltas)
    }

    private func layerIntegratedGradients(input: Tensor, baseline: Tensor, steps: [AttributedStep]) throws -> Output {
        let site = try requireSite()
        let (alphas, weights) = arguments.integration.points(arguments.steps)
        let inputActivation = try activation(site: site, embeddings: input)
        let baselineActivation = try activation(site: site, embeddings: baseline)
        let difference = inputActivation.minus(baselineActivation)
        let t = input.shape[1], c = input.shape[2]
        let total = try weightedGradientSum(count: alphas.count, weights: weights, steps: steps) { range in
            let points = Tensor.stacked(range.map { baselineActivation.adding(difference, scaledBy: alphas[$0]).slice(0) })
            let embeddings = Tensor(shape: [range.count, t, c], scalars: Array(repeating: input.scalars, count: range.count).flatMap { $0 })
            return .site(site, embeddings: embeddings, replacement: points)
        }
        let attributions = arguments.multiplyByInputs ? total.multiplyingEachSlice(by: difference) : total
        let deltas = arguments.returnConvergenceDelta
            ? try convergenceDeltas(attributions, from: .site(site, embeddings: input, replacement: baselineActivation),
                                    to: .site(site, embeddings: input, replacement: nil), steps: steps) : nil
        return Output(attributions: attributions, deltas: deltas)
    }

    /// Σ_i w_i ∇f(variant_i), (K, T, W), computing the variants in memory-bounded chunks.
    private func weightedGradientSum(
        count: Int, weights: [Float], steps: [AttributedStep], variants: (Range<Int>) -> GradientInput
    ) throws -> Tensor {
        var total: Tensor?
        let chunk = chunkSize(steps: steps.count, length: (steps.map(\.position).max() ?? 1) + 1)
        var start = 0
        while start < count {
            let range = start..<min(count, start + chunk)
            let g = try engine.run(variants(range), steps: steps).gradients  // (K, b, T, W)
            let summed = g.weightedSumOverVariants(Array(weights[range]))
            total = total.map { $0 + summed } ?? summed
            start = range.upperBound
        }
        return total!
    }

    /// Completeness gap per step: Σ_t,w attribution − (f(input) − f(baseline)).
    private func convergenceDeltas(
        _ attributions: Tensor, from start: GradientInput, to end: GradientInput, steps: [AttributedStep]
    ) throws -> [Float] {
        let endValues = try engine.values(end, steps: steps)[0], startValues = try engine.values(start, steps: steps)[0]
        let perStep = attributions.count / steps.count
        return steps.indices.map { k in
            let sum = attributions.scalars[(k * perStep)..<((k + 1) * perStep)].reduce(0, +)
            return sum - (endValues[k] - startValues[k])
        }
    }

    // MARK: Gradient SHAP

    private func gradientShap(input: Tensor, baseline: Tensor, steps: [AttributedStep]) throws -> Output {
        if let perStep = arguments.shapAlphas, perStep.count > 1 {
            // Draws that differ by step: each step is its own pass.
            guard perStep.count == steps.count else {
                throw AttributionError.invalidArgument("gradient_shap: \(perStep.count) lists of alphas for \(steps.count) steps")
            }
            var parts: [Tensor] = []
            for (k, step) in steps.enumerated() {
                var single = arguments
                single.shapAlphas = [perStep[k]]
                let runner = MethodRunner(engine: engine, method: method, arguments: single, site: site)
                parts.append(try runner.gradientShap(input: input, baseline: baseline, steps: [step]).attributions.slice(0))
            }
            return Output(attributions: Tensor.stacked(parts), deltas: nil)
        }
        let n = arguments.samples, size = input.count
        var random = NormalRandom(seed: arguments.seed)
        let alphas = arguments.shapAlphas?.first ?? (0..<n).map { _ in Float(random.uniform()) }
        let noise = arguments.shapNoise ?? (0..<(n * size)).map { _ in
            arguments.standardDeviation == 0 ? 0 : Float(random.normal()) * arguments.standardDeviation
        }
        guard alphas.count == n, noise.count == n * size else {
            throw AttributionError.invalidArgument("gradient_shap: expected \(n) alphas and \(n)x\(input.shape) noise values")
        }
        // Sample i: noisy input x̃ = x + ε_i, evaluated at x̄ + α_i (x̃ − x̄); attribution
        // (x̃ − x̄) ⊙ ∇f, averaged over the samples (Captum's NoiseTunnel over InputBaselineXGradient).
        let noisy = (0..<n).map { i in
            Tensor(shape: input.shape, scalars: (0..<size).map { input.scalars[$0] + noise[i * size + $0] })
        }
        var total: Tensor?
        let chunk = chunkSize(steps: steps.count, length: (steps.map(\.position).max() ?? 1) + 1)
        var start = 0
        while start < n {
            let range = start..<min(n, start + chunk)
            let points = Tensor.stacked(range.map { baseline.adding(noisy[$0].minus(baseline), scaledBy: alphas[$0]).slice(0) })
            let g = try engine.run(.embeddings(points), steps: steps).gradients
            for (offset, i) in range.enumerated() {
                var term = g.variant(offset)
                if arguments.multiplyByInputs { term = term.multiplyingEachSlice(by: noisy[i].minus(baseline)) }
                total = total.map { $0 + term } ?? term
            }
            start = range.upperBound
        }
        return Output(attributions: total!.scaled(by: 1 / Float(n)), deltas: nil)
    }

    // MARK: Sequential integrated gradients

    /// Position by position: only position i moves from baseline to input, the others stay at
    /// the input (Enguehard 2023, Inseq's SequentialIntegratedGradients).
    private func sequentialIntegratedGradients(input: Tensor, baseline: Tensor, steps: [AttributedStep]) throws -> Output {
        let (alphas, weights) = arguments.integration.points(arguments.steps)
        let t = input.shape[1], c = input.shape[2], k = steps.count
        let lastPosition = (steps.map(\.position).max() ?? 1) - 1
        var result = [Float](repeating: 0, count: k * t * c)
        let difference = input.minus(baseline)
        for position in 0...lastPosition {
            let total = try weightedGradientSum(count: alphas.count, weights: weights, steps: steps) { range in
                var scalars = [Float]()
                scalars.reserveCapacity(range.count * t * c)
                for i in range {
                    var variant = input.scalars
                    for j in 0..<c {
                        variant[position * c + j] = baseline.scalars[position * c + j] + alphas[i] * difference.scalars[position * c + j]
                    }
                    scalars.append(contentsOf: variant)
                }
                return .embeddings(Tensor(shape: [range.count, t, c], scalars: scalars))
            }
            for s in 0..<k {
                for j in 0..<c {
                    let g = total.scalars[(s * t + position) * c + j]
                    result[(s * t + position) * c + j] = arguments.multiplyByInputs ? g * difference.scalars[position * c + j] : g
                }
            }
        }
        return Output(attributions: Tensor(shape: [k, t, c], scalars: result), deltas: nil)
    }

    // MARK: Helpers

    /// How many forward/backward passes `run` makes for `steps` steps over `length` positions.
    func plannedPasses(steps: [AttributedStep]) -> Int {
        let chunk = chunkSize(steps: steps.count, length: (steps.map(\.position).max() ?? 1) + 1)
        func chunks(_ n: Int) -> Int { (n + chunk - 1) / chunk }
        switch method {
        case .dummy: return 0
        case .integratedGradients, .layerIntegratedGradients: return chunks(arguments.steps)
        case .sequentialIntegratedGradients: return (steps.map(\.position).max() ?? 1) * chunks(arguments.steps)
        case .gradientShap:
            return (arguments.shapAlphas?.count ?? 1) > 1 ? steps.count : chunks(arguments.samples)
        default: return 1
        }
    }

    /// The site's activation (1, T, W) for some embeddings.
    private func activation(site: Site, embeddings: Tensor) throws -> Tensor {
        let probe = SiteSubstitution(site: site, tape: nil, replacement: nil)
        _ = engine.transformer.hiddenStates(embeddings: Variable(constant: embeddings),
                                            positions: Array(0..<embeddings.shape[1]), cache: nil, probe: probe)
        guard let observed = probe.observed else { throw AttributionError.unknownSite("\(site)") }
        return observed
    }

    /// Variants per pass: enough cotangent rows (K steps × T positions per variant) for GEMMs at
    /// full speed, and no more. Larger passes only add memory traffic and page faults: on the
    /// benchmark's 20 + 20 tokens, 2-3 variants per pass instead of all of them made integrated
    /// gradients 10-30% faster (tiny GPT-2, SmolLM2) and halved peak memory. Also capped so that
    /// one K-deep cotangent of the widest activation stays under 128 MB.
    private func chunkSize(steps: Int, length: Int) -> Int {
        if let fixed = arguments.internalBatchSize, fixed > 0 { return fixed }
        let dims = engine.transformer.dimensions
        let rowsPerVariant = max(1, steps) * length
        let byRows = max(1, Self.cotangentRowsPerPass / rowsPerVariant)
        let byMemory = max(1, (128 << 20) / max(1, rowsPerVariant * dims.hiddenSize * 4 * 4))
        return min(byRows, byMemory)
    }

    /// About the fewest cotangent rows per pass at which the backward's products stop getting
    /// faster per row on these machines.
    static let cotangentRowsPerPass = 2560

    private func require(_ baseline: Tensor?) throws -> Tensor {
        guard let baseline else { throw AttributionError.invalidArgument("\(method.rawValue) needs baselines") }
        return baseline
    }

    private func requireSite() throws -> Site {
        guard let site else { throw AttributionError.invalidArgument("\(method.rawValue) needs a layer (methodArgs.layer)") }
        return site
    }

    /// (K, 1, T, W) -> (K, T, W)
    private func squeezeVariant(_ g: Tensor) -> Tensor {
        g.reshaped([g.shape[0], g.shape[2], g.shape[3]])
    }
}

