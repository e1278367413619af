import SeqLensModels
import SeqLensTensor

/// What a method attributes: one sequence, its attributed steps and the attributed function, with
/// the services methods build on (a batched forward to every step's value, the gradient engine,
/// site resolution, progress). The model side builds it; a method only reads it.
public final class AttributionProblem {
    let transformer: any CausalTransformer
    let sites: SiteCatalog
    /// The token ids up to the last attributed position (T).
    public let ids: [Int]
    /// (1, T, C) token embeddings: the inputs that may be perturbed or differentiated.
    public let embeddings: Tensor
    /// The attributed steps, in order.
    let steps: [AttributedStep]
    let function: StepFunction
    let options: StepFunctionOptions
    /// Whether each position sees only itself and earlier ones (every model today): a step's
    /// output then depends only on the positions before it.
    public let isCausal = true
    /// Whether the step scores will read the steps' logits on the unmodified input (a method that
    /// computes them anyway returns them in `MethodResult.inputLogits`; one that would only compute
    /// them for this may skip them when false).
    public internal(set) var wantsStepLogits = true
    /// The tokenizer's special tokens (DIG keeps their paths at the token).
    public let specialTokenIds: Set<Int>
    private let makeBaselineIds: () -> [Int]
    private let passes: PassCounter

    init(
        transformer: any CausalTransformer, sites: SiteCatalog, ids: [Int], steps: [AttributedStep],
        function: StepFunction, options: StepFunctionOptions, baselineIds: @escaping () -> [Int], passes: PassCounter,
        specialTokenIds: Set<Int> = []
    ) {
        self.specialTokenIds = specialTokenIds
        self.transformer = transformer
        self.sites = sites
        self.ids = ids
        self.embeddings = transformer.embed([ids])
        self.steps = steps
        self.function = function
        self.options = options
        self.makeBaselineIds = baselineIds
        self.passes = passes
    }

    /// Number of positions (T) and of attributed steps (K).
    public var length: Int { ids.count }
    public var stepCount: Int { steps.count }
    /// The full-sequence position of each step's target (its logits are read at position − 1).
    public var stepPositions: [Int] { steps.map(\.position) }
    public var dimensions: TransformerDimensions { transformer.dimensions }

    /// Inseq's baseline ids: UNK everywhere except EOS positions (unless EOS baselines are asked for).
    public private(set) lazy var baselineIds: [Int] = makeBaselineIds()
    /// (1, T, C) embeddings of the baseline ids.
    public private(set) lazy var baseline: Tensor = transformer.embed([baselineIds])

    /// The gradient engine on this problem's model and function; each of its passes counts for progress.
    var gradients: GradientEngine {
        var engine = GradientEngine(transformer: transformer, function: function, options: options)
        engine.beforePass = { [passes] in try passes.begin() }
        return engine
    }

    /// Marks the start of one pass of the method: progress, and the point where cancellation stops it.
    public func beginPass() throws { try passes.begin() }

    /// The site named `name` (a site name or a transformers module path); patterns are not sites
    /// that can be replaced or differentiated.
    func resolveSite(_ name: String?) throws -> Site {
        guard let name else { return Site(.embed) }
        guard let site = try? sites.resolveOne(name), !site.kind.isPattern else { throw AttributionError.unknownSite(name) }
        return site
    }

    /// The attributed function's value at every step, for each of B embedding variants
    /// (B, T, C): values[b][k]. One forward serves all steps, since step k reads position k − 1.
    public func functionValues(_ variants: Tensor) throws -> [[Float]] {
        let engine = GradientEngine(transformer: transformer, function: function, options: options)
        return try engine.values(.embeddings(variants), steps: steps)
    }
}

/// Counts a sequence's passes for progress reports; `begin` throws to cancel.
final class PassCounter {
    private(set) var done = 0
    var planned = 1
    let report: (Int, Int) throws -> Void

    init(report: @escaping (Int, Int) throws -> Void) { self.report = report }

    func begin() throws {
        done += 1
        try report(min(done, max(planned, 1)), max(planned, 1))
    }
}
