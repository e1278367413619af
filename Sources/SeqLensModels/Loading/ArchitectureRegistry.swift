import Foundation
import SeqLensCheckpoints

/// Maps a checkpoint's declared architecture (`model_type` in config.json,
/// `general.architecture` in GGUF) to the Swift implementation that runs it.
enum ArchitectureRegistry {
    static let supported = ["gpt2", "llama", "mistral", "qwen2", "qwen3", "phi3", "gemma", "gpt_neox", "opt"]
        + EncoderDecoderLoader.architectures

    /// Builds the transformer of a safetensors folder from its config.json.
    static func transformer(folder: String, configuration data: Data) throws -> (any CausalTransformer, bytes: Int) {
        let modelType: String
        do {
            let header = try JSONDecoder().decode(ModelTypeHeader.self, from: data)
            modelType = header.modelType
        } catch {
            throw ModelError.invalidConfiguration("config.json in \(folder) has no readable model_type (\(error))")
        }
        let stored = FiniteWeights(base: SafetensorsWeights(store: try SafetensorsCheckpoint(path: folder)))
        do {
            switch modelType {
            case "gpt2":
                let weights = CountingWeights(stored)
                let model = try GPT2(configuration: JSONDecoder().decode(GPT2Configuration.self, from: data), weights: weights)
                return (model, weights.bytes)
            case "llama", "mistral", "qwen2", "qwen3":
                let weights = CountingWeights(stored)
                let model = try Llama(configuration: JSONDecoder().decode(LlamaConfiguration.self, from: data), weights: weights)
                return (model, weights.bytes)
            case "gpt_neox":
                let weights = CountingWeights(stored)
                let model = try GPTNeoX(configuration: JSONDecoder().decode(GPTNeoXConfiguration.self, from: data), weights: weights)
                return (model, weights.bytes)
            case "opt":
                let weights = CountingWeights(stored)
                let model = try OPT(configuration: JSONDecoder().decode(OPTConfiguration.self, from: data), weights: weights)
                return (model, weights.bytes)
            case "gemma":
                let weights = CountingWeights(GemmaWeights(base: stored))
                let model = try Llama(configuration: JSONDecoder().decode(LlamaConfiguration.self, from: data), weights: weights)
                return (model, weights.bytes)
            case "phi3":
                let configuration = try JSONDecoder().decode(LlamaConfiguration.self, from: data)
                let weights = CountingWeights(Phi3Weights(base: stored, configuration: configuration))
                return (try Llama(configuration: configuration, weights: weights), weights.bytes)
            default:
                throw ModelError.unsupportedArchitecture(modelType)
            }
        } catch let error as DecodingError {
            throw ModelError.invalidConfiguration("config.json in \(folder): \(describe(error))")
        } catch ModelError.invalidConfiguration(let detail) {
            throw ModelError.invalidConfiguration("config.json (model_type '\(modelType)'): \(detail)")
        }
    }

    /// Builds the transformer of a GGUF file from its metadata.
    static func transformer(gguf file: GGUFFile) throws -> (any CausalTransformer, bytes: Int) {
        let architecture = file.metadata["general.architecture"]?.string ?? "(none)"
        guard ["llama", "mistral", "qwen2"].contains(architecture) else {
            throw ModelError.unsupportedArchitecture(architecture)
        }
        typealias Check = DimensionChecks
        /// A size from the metadata, checked under the key's own name.
        func size(_ key: String, atMost limit: Int, default fallback: Int? = nil) throws -> Int {
            let name = "\(architecture).\(key)"
            guard let value = file.metadata[name]?.int ?? fallback else {
                throw ModelError.invalidConfiguration("GGUF metadata lacks \(name)")
            }
            return try Check.positive(value, "GGUF \(name)", atMost: limit)
        }
        var cfg = LlamaConfiguration()
        cfg.modelType = architecture
        cfg.numHiddenLayers = try size("block_count", atMost: Check.maximumLayers)
        cfg.hiddenSize = try size("embedding_length", atMost: Check.maximumWidth)
        cfg.intermediateSize = try size("feed_forward_length", atMost: Check.maximumWidth)
        cfg.numAttentionHeads = try size("attention.head_count", atMost: Check.maximumHeads)
        cfg.numKeyValueHeads = try size("attention.head_count_kv", atMost: Check.maximumHeads, default: cfg.numAttentionHeads)
        cfg.maxPositionEmbeddings = try size("context_length", atMost: Check.maximumPositions, default: cfg.maxPositionEmbeddings)
        /// A number from the metadata, checked under the key's own name.
        func number(_ key: String, default fallback: Float) throws -> Float {
            let name = "\(architecture).\(key)"
            return try Check.nonNegative(file.metadata[name]?.float ?? fallback, "GGUF \(name)")
        }
        cfg.rmsNormEps = try number("attention.layer_norm_rms_epsilon", default: 1e-5)
        cfg.ropeTheta = try number("rope.freq_base", default: 10000)
        if file.metadata["\(architecture).attention.key_length"] != nil {
            cfg.headDim = try size("attention.key_length", atMost: Check.maximumWidth)
        }
        let tokenCount = file.metadata["tokenizer.ggml.tokens"]?.array?.count
        cfg.vocabSize = try Check.positive(
            file.metadata["\(architecture).vocab_size"]?.int ?? tokenCount ?? file.info("token_embd.weight")?.shape.first ?? 0,
            "GGUF vocabulary size (\(architecture).vocab_size, tokenizer.ggml.tokens)", atMost: Check.maximumVocabulary)
        cfg.attentionBias = file.info("blk.0.attn_q.bias") != nil
        cfg.tieWordEmbeddings = file.info("output.weight") == nil
        cfg.headMayBeTied = true
        let weights = CountingWeights(FiniteWeights(base: GGUFWeights(
            file: file, headCount: cfg.numAttentionHeads, keyValueHeadCount: cfg.keyValueHeads,
            permutesQueryKey: architecture == "llama" || architecture == "mistral")))
        return (try Llama(configuration: cfg, weights: weights), weights.bytes)
    }

    private struct ModelTypeHeader: Decodable {
        let modelType: String
        enum CodingKeys: String, CodingKey { case modelType = "model_type" }
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            return "field '\(context.codingPath.map(\.stringValue).joined(separator: "."))' should be \(type)"
        case .keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case .dataCorrupted(let context): return context.debugDescription
        @unknown default: return "\(error)"
        }
    }
}
