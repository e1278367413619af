/// Feature attribution methods, with Inseq's names.
public enum AttributionMethod: String, CaseIterable, Sendable {
    case saliency
    case inputXGradient = "input_x_gradient"
    case integratedGradients = "integrated_gradients"
    case gradientShap = "gradient_shap"
    case deeplift
    case layerIntegratedGradients = "layer_integrated_gradients"
    case layerGradientXActivation = "layer_gradient_x_activation"
    case layerDeeplift = "layer_deeplift"
    case sequentialIntegratedGradients = "sequential_integrated_gradients"
    /// Step scores only, no attributions.
    case dummy

    /// Whether the method compares the input with a baseline.
    public var usesBaselines: Bool {
        switch self {
        case .integratedGradients, .gradientShap, .deeplift, .layerIntegratedGradients, .layerDeeplift,
             .sequentialIntegratedGradients:
            return true
        default:
            return false
        }
    }

    /// Whether attributions are taken at an activation site rather than the token embeddings.
    public var isLayerMethod: Bool {
        self == .layerIntegratedGradients || self == .layerGradientXActivation || self == .layerDeeplift
    }
}

/// Method parameters, with Captum's names and defaults.
public struct MethodArguments: Sendable, Equatable {
    /// Integration points of (sequential, layer) integrated gradients.
    public var steps = 50
    public var integration = IntegrationRule.gaussLegendre
    /// Most input variants per forward/backward pass; nil lets SeqLens choose by memory.
    public var internalBatchSize: Int?
    /// Saliency's `abs`.
    public var absolute = true
    /// Multiply gradients by (input − baseline), Captum's `multiply_by_inputs`.
    public var multiplyByInputs = true
    /// Gradient SHAP's samples, noise and random seed.
    public var samples = 5
    public var standardDeviation: Float = 0
    public var seed: UInt64 = 42
    /// Explicit Gradient SHAP draws, to reproduce a reference run exactly: one α per sample,
    /// either one list for every step or one list per step (Inseq draws anew at each step);
    /// noise (samples, T, C). Drawn from `seed` when nil.
    public var shapAlphas: [[Float]]?
    public var shapNoise: [Float]?
    /// The activation site of layer methods (`blocks.3.mlp.out`, or a transformers module path
    /// such as `model.layers.3.mlp`); nil means the token embeddings.
    public var layer: String?
    /// Report Σ attributions − (f(input) − f(baseline)) per step (integrated gradients).
    public var returnConvergenceDelta = false

    public init() {}
}
