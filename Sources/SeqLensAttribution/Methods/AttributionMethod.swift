import SeqLensTensor

/// A feature attribution method, as a value holding its arguments.
///
/// A method is one type: `Decodable` from its arguments (Inseq's and Captum's names, camelCase,
/// with their defaults; `MethodArgumentDecoder` refuses unknown fields), and one registration in
/// `AttributionMethods.all`. The server, the command line, `initialize` and the spec's checks read
/// the registry, so nothing else names the method.
public protocol AttributionMethod: Sendable, Decodable {
    /// Inseq's name: `integrated_gradients`, `occlusion`.
    static var name: String { get }
    /// One line for listings and `--help`.
    static var summary: String { get }
    /// Whether the method differentiates the model (gradient methods) or only runs it forward.
    static var needsGradients: Bool { get }
    /// The trailing shape of each (position, step) attribution.
    static var outputKind: AttributionOutputKind { get }
    /// Whether it reads `AttributionProblem.baseline` (the UNK embeddings).
    static var usesBaselines: Bool { get }
    /// Whether it produces attributions at all (`dummy` computes step scores only).
    static var attributes: Bool { get }

    /// Checks that need the model (a site that exists, a window that fits), before any work.
    func validate(for problem: AttributionProblem) throws

    /// How many passes `attribute` makes, for progress.
    func plannedPasses(for problem: AttributionProblem) -> Int

    /// Attributes every step of the problem at once.
    func attribute(_ problem: AttributionProblem) throws -> MethodResult
}

extension AttributionMethod {
    public static var usesBaselines: Bool { false }
    public static var attributes: Bool { true }
    public func validate(for problem: AttributionProblem) throws {}
    public func plannedPasses(for problem: AttributionProblem) -> Int { 1 }
    public var name: String { Self.name }
}

/// What each (position, step) attribution is made of.
public enum AttributionOutputKind: String, Sendable, CaseIterable {
    /// One value per hidden unit (gradient methods): Inseq's granular outputs, aggregated by norm.
    case granular
    /// One value per token (occlusion, LIME): Inseq's coarse outputs.
    case perToken = "per_token"
    /// One value per layer (value zeroing).
    case perLayer = "per_layer"
    /// One value per layer and head (attention).
    case perLayerHead = "per_layer_head"
}

/// A method's result for one sequence.
public struct MethodResult {
    /// (K, T, W...): step k's attribution of position t (only t < position of step k is read);
    /// the trailing dimensions follow the method's output kind.
    public var attributions: Tensor?
    /// Convergence deltas per step, when asked for.
    public var deltas: [Float]?
    /// (K, V) the logits of each step on the unmodified input, when a pass computed them (the step
    /// scores then need no forward of their own).
    public var inputLogits: Tensor?
    /// How `aggregate()` reduces the trailing dimensions by default, last first (nil: Inseq's
    /// default for the output kind).
    public var aggregation: [AggregationFunction]?

    public init(attributions: Tensor?, deltas: [Float]? = nil, inputLogits: Tensor? = nil, aggregation: [AggregationFunction]? = nil) {
        self.attributions = attributions
        self.deltas = deltas
        self.inputLogits = inputLogits
        self.aggregation = aggregation
    }
}

extension AttributionOutputKind {
    /// The Inseq sequence-output class of this kind, which decides the default aggregation.
    var sequenceKind: SequenceOutputKind {
        switch self {
        case .granular: .granular
        case .perToken: .coarse
        case .perLayer, .perLayerHead: .multiDimensional
        }
    }
}
