import SeqLensTensor
import SeqLensTokenizers

/// A loaded model of either shape: what the daemon keeps resident.
public enum LoadedModel: Sendable {
    case causal(LanguageModel)
    case encoderDecoder(EncoderDecoderModel)

    public var info: ModelInfo {
        switch self {
        case .causal(let model): model.info
        case .encoderDecoder(let model): model.info
        }
    }

    /// The tokenizer with its sides (a decoder-only model's one tokenizer serves both).
    public var tokenizer: any TwoSidedTokenizer {
        switch self {
        case .causal(let model): SameOnBothSides(model.tokenizer)
        case .encoderDecoder(let model): model.tokenizer
        }
    }

    public var isEncoderDecoder: Bool {
        if case .encoderDecoder = self { return true }
        return false
    }

    /// Loads a model of either shape from `location`.
    public static func load(_ location: ModelLocation) throws -> LoadedModel {
        if case .path(let path) = location, let (data, type) = try ModelLoader.encoderDecoderConfiguration(folder: path) {
            MemoryPolicy.retainFreedMemory()
            BLAS.configureThreads()
            return .encoderDecoder(try EncoderDecoderLoader.load(folder: path, configuration: data, modelType: type))
        }
        return .causal(try LanguageModel.load(location))
    }
}
