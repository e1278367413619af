/// Problems loading or running a model, each with a message a user can act on.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case fileNotFound(String)
    case unsupportedArchitecture(String)
    case invalidConfiguration(String)
    case missingWeight(String)
    case weightShapeMismatch(name: String, expected: [Int], found: [Int])
    /// A tensor whose values cannot be right (NaN or infinity).
    case invalidWeights(name: String, detail: String)
    /// The model computed NaN or infinite logits from a valid input (weights too large to be real).
    case nonFiniteOutput(String)
    case inputTooLong(tokens: Int, limit: Int)
    case emptyInput
    case tokenOutOfRange(id: Int, vocabularySize: Int)
    case defaultModelUnavailable(String)
    /// A site name that is not one of the model's (see `SiteCatalog`).
    case unknownSite(String, reason: String?)
    case invalidIntervention(String)
    /// An encoder-decoder checkpoint where only a decoder-only model can serve.
    case encoderDecoderModel(String)

    public var description: String {
        switch self {
        case .fileNotFound(let path): "no model at '\(path)': expected a folder with config.json and *.safetensors, or a .gguf file"
        case .unsupportedArchitecture(let name): "unsupported architecture '\(name)' (supported: \(ArchitectureRegistry.supported.joined(separator: ", ")))"
        case .invalidConfiguration(let detail): "invalid model configuration: \(detail)"
        case .missingWeight(let name): "checkpoint has no tensor '\(name)'"
        case .weightShapeMismatch(let name, let expected, let found):
            "tensor '\(name)' has shape \(found), but the configuration's sizes make it \(expected)"
        case .invalidWeights(let name, let detail): "tensor '\(name)': \(detail)"
        case .nonFiniteOutput(let detail): "the model computed non-finite values: \(detail)"
        case .inputTooLong(let tokens, let limit): "input of \(tokens) tokens exceeds the model's limit of \(limit) positions"
        case .emptyInput: "input is empty: at least one token is needed"
        case .tokenOutOfRange(let id, let size): "token id \(id) is outside the vocabulary (size \(size))"
        case .defaultModelUnavailable(let detail): "the default model could not be fetched: \(detail)"
        case .invalidIntervention(let detail): "invalid intervention: \(detail)"
        case .encoderDecoderModel(let architecture):
            "this is an encoder-decoder model ('\(architecture)'); this operation serves decoder-only models so far (encoder-decoder models support tokenize, detokenize and generate)"
        case .unknownSite(let name, let reason):
            "unknown activation site '\(name)'" + (reason.map { ": \($0)" } ?? "")
                + " (sites: embed, blocks.{i}.resid_pre|attn.pattern|attn.z|attn.out|resid_mid|mlp.out|resid_post, final_norm.out)"
        }
    }
}
