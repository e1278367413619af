import SeqLensModels
import SeqLensTensor

/// One attributed generation step: the token at `position` of the full sequence is predicted
/// from the logits at `position − 1`.
struct AttributedStep {
    let position: Int
    let target: Int
    /// The contrastive token, when the function compares with one.
    let contrastTarget: Int?
    /// (V) logits of the contrastive context, when it differs from the attributed context
    /// (`contrast_force_inputs`); nil means the attributed context's own logits.
    let contrastLogits: [Float]?
    /// mc_dropout_prob_avg's scores under dropout (see `StepContext.noisyScores`).
    var noisyScores: [Float]? = nil
}

/// Where gradients are taken: the token embeddings, or a named activation site whose value may
/// be replaced (layer methods interpolate it).
enum GradientInput {
    /// (B, T, C) embeddings, one sequence per batch row.
    case embeddings(Tensor)
    /// The site's activation, computed from `embeddings` (B, T, C), optionally replaced by
    /// `replacement` (same shape as the site).
    case site(Site, embeddings: Tensor, replacement: Tensor?)
}

/// The batched reverse pass of house plan decision 2: one forward over the whole sequence for
/// B input variants, then one backward carrying the K steps as the leading cotangent dimension.
struct GradientEngine {
    let transformer: any CausalTransformer
    let function: StepFunction
    let options: StepFunctionOptions
    /// Called before each forward/backward pass: progress reports and cancellation (throw).
    var beforePass: () throws -> Void = {}

    struct Result {
        /// (K, B, T, W): the gradient of step k's function, for variant b, at position t.
        let gradients: Tensor
        /// The input itself (B, T, W): embeddings or the site activation actually used.
        let input: Tensor
        /// values[b][k]: the attributed function's value.
        let values: [[Float]]
        /// (B·K, V): the logits each step's function read, variant by variant.
        let logits: Tensor
    }

    func run(_ input: GradientInput, steps: [AttributedStep]) throws -> Result {
        try beforePass()
        let tape = Tape()
        let embeddings: Tensor
        var substitution: SiteSubstitution?
        var leaf: Variable?
        switch input {
        case .embeddings(let values):
            embeddings = values
            leaf = tape.variable(values)
        case .site(let site, let values, let replacement):
            embeddings = values
            substitution = SiteSubstitution(site: site, tape: tape, replacement: replacement)
        }
        let b = embeddings.shape[0], t = embeddings.shape[1]
        let hidden = transformer.hiddenStates(
            embeddings: leaf ?? Variable(constant: embeddings), positions: Array(0..<t), cache: nil, probe: substitution)
        if let substitution { leaf = substitution.leaf }
        guard let leaf else { throw AttributionError.unknownSite(substitution.map { "\($0.site)" } ?? "?") }
        let c = hidden.shape[2], k = steps.count

        // Logits only where a step reads them: rows (b, position − 1) for every step.
        var rows: [Int] = []
        for batch in 0..<b { for step in steps { rows.append(batch * t + step.position - 1) } }
        let headTape = Tape()
        let selected = headTape.variable(selectRows(Variable(constant: hidden.value), rows).value)
        let logits = transformer.logits(selected)
        let v = logits.shape[1]

        var values = [[Float]](repeating: [Float](repeating: 0, count: k), count: b)
        var logitCotangent = [Float](repeating: 0, count: rows.count * v)
        for batch in 0..<b {
            for (s, step) in steps.enumerated() {
                let row = batch * k + s
                let z = Array(logits.value.scalars[(row * v)..<((row + 1) * v)])
                let context = StepContext(logits: z, target: step.target, contrastLogits: step.contrastLogits,
                                          contrastTarget: step.contrastTarget, noisyScores: step.noisyScores)
                let result = try function.evaluate(context, options: options, withGradient: true)
                values[batch][s] = result.value
                if let g = result.gradient {
                    logitCotangent.replaceSubrange((row * v)..<((row + 1) * v), with: g)
                }
            }
        }
        // Through the LM head: one GEMM for all (b, k) rows.
        let hiddenRows = headTape.gradients(
            seeds: [(logits, Tensor(shape: [1, rows.count, v], scalars: logitCotangent))], wrt: [selected])[0]
        // Scatter: slice k holds, for each variant b, step k's row at position − 1.
        var seed = [Float](repeating: 0, count: k * b * t * c)
        hiddenRows.scalars.withUnsafeBufferPointer { src in
            seed.withUnsafeMutableBufferPointer { dst in
                for batch in 0..<b {
                    for (s, step) in steps.enumerated() {
                        let from = (batch * k + s) * c
                        let to = ((s * b + batch) * t + step.position - 1) * c
                        for j in 0..<c { dst[to + j] = src[from + j] }
                    }
                }
            }
        }
        // Causality: slice k's cotangents vanish at positions ≥ its step's position; until an
        // op mixes positions, only the seeded row position − 1 is nonzero.
        let support = RowSupport(positions: t, lengths: steps.map(\.position), starts: steps.map { $0.position - 1 })
        let gradients = tape.gradients(seeds: [(hidden, Tensor(shape: [k, b, t, c], scalars: seed))], wrt: [leaf],
                                       support: support)[0]
        return Result(gradients: gradients, input: leaf.value, values: values, logits: logits.value)
    }

    /// The values of the step function for each variant, without gradients (forward only).
    func values(_ input: GradientInput, steps: [AttributedStep]) throws -> [[Float]] {
        try Self.values(of: function, logits: stepLogits(input, steps: steps), steps: steps, options: options)
    }

    /// Logits (B·K, V) at the rows the steps read (position − 1), variant by variant: one forward.
    func stepLogits(_ input: GradientInput, steps: [AttributedStep]) -> Tensor {
        let embeddings: Tensor
        var substitution: SiteSubstitution?
        switch input {
        case .embeddings(let values): embeddings = values
        case .site(let site, let values, let replacement):
            embeddings = values
            substitution = SiteSubstitution(site: site, tape: nil, replacement: replacement)
        }
        let b = embeddings.shape[0], t = embeddings.shape[1]
        let hidden = transformer.hiddenStates(embeddings: Variable(constant: embeddings), positions: Array(0..<t),
                                              cache: nil, probe: substitution)
        var rows: [Int] = []
        for batch in 0..<b { for step in steps { rows.append(batch * t + step.position - 1) } }
        return transformer.logits(selectRows(hidden, rows)).value
    }

    /// values[b][k] of `function` from `stepLogits`' rows, so that several step functions share
    /// one forward pass.
    static func values(
        of function: StepFunction, logits: Tensor, steps: [AttributedStep], options: StepFunctionOptions
    ) throws -> [[Float]] {
        let v = logits.shape[1], variants = logits.shape[0] / max(1, steps.count)
        return try (0..<variants).map { batch in
            try steps.enumerated().map { s, step in
                let row = batch * steps.count + s
                let z = Array(logits.scalars[(row * v)..<((row + 1) * v)])
                return try function.evaluate(StepContext(logits: z, target: step.target, contrastLogits: step.contrastLogits,
                                                         contrastTarget: step.contrastTarget, noisyScores: step.noisyScores),
                                             options: options, withGradient: false).value
            }
        }
    }
}
/// Swaps a site's activation for a tape leaf (optionally with other values) so that gradients
/// can be taken with respect to it.
final class SiteSubstitution: ActivationProbe {
    let site: Site
    let tape: Tape?
    let replacement: Tensor?
    private(set) var leaf: Variable?
    private(set) var observed: Tensor?

    init(site: Site, tape: Tape?, replacement: Tensor?) {
        self.site = site
        self.tape = tape
        self.replacement = replacement
    }

    func wants(_ name: Site) -> Bool { name == site }

    func visit(_ name: Site, _ value: Variable) -> Variable {
        observed = value.value
        let used = replacement ?? value.value
        precondition(used.shape == value.shape, "replacement \(used.shape) for site \(name) of shape \(value.shape)")
        let variable = tape.map { $0.variable(used) } ?? Variable(constant: used)
        leaf = variable
        return variable
    }
}
