import Foundation
import SeqLensCheckpoints

/// Maps a checkpoint's declared architecture (`model_type` in config.json,
/// `general.architecture` in GGUF) to the Swift implementation that runs it.
enum ArchitectureRegistry {
    static let supported = ["gpt2", "llama", "mistral", "qwen2"]

    /// Builds the transformer of a safetensors folder from its config.json.
    static func transformer(folder: String, configuration data: Data) throws -> (any CausalTransformer, bytes: Int) {
        let modelType: String
        do {
            let header = try JSONDecoder().decode(ModelTypeHeader.self, from: data)
            modelType = header.modelType
        } catch {
            throw ModelError.invalidConfiguration("config.json in \(folder) has no readable model_type (\(error))")
        }
        let weights = CountingWeights(SafetensorsWeights(store: try SafetensorsCheckpoint(path: folder)))
        do {
            switch modelType {
            case "gpt2":
                let model = try GPT2(configuration: JSONDecoder().decode(GPT2Configuration.self, from: data), weights: weights)
                return (model, weights.bytes)
            case "llama", "mistral", "qwen2":
                let model = try Llama(configuration: JSONDecoder().decode(LlamaConfiguration.self, from: data), weights: weights)
                return (model, weights.bytes)
            default:
                throw ModelError.unsupportedArchitecture(modelType)
            }
        } catch let error as DecodingError {
            throw ModelError.invalidConfiguration("config.json in \(folder): \(describe(error))")
        }
    }

    /// Builds the transformer of a GGUF file from its metadata.
    static func transformer(gguf file: GGUFFile) throws -> (any CausalTransformer, bytes: Int) {
        let architecture = file.metadata["general.architecture"]?.string ?? "(none)"
        guard ["llama", "mistral", "qwen2"].contains(architecture) else {
            throw ModelError.unsupportedArchitecture(architecture)
        }
        func required(_ key: String) throws -> Int {
            guard let value = file.metadata["\(architecture).\(key)"]?.int else {
                throw ModelError.invalidConfiguration("GGUF metadata lacks \(architecture).\(key)")
            }
            return value
        }
        var cfg = LlamaConfiguration()
        cfg.modelType = architecture
        cfg.numHiddenLayers = try required("block_count")
        cfg.hiddenSize = try required("embedding_length")
        cfg.intermediateSize = try required("feed_forward_length")
        cfg.numAttentionHeads = try required("attention.head_count")
        cfg.numKeyValueHeads = file.metadata["\(architecture).attention.head_count_kv"]?.int ?? cfg.numAttentionHeads
        cfg.maxPositionEmbeddings = file.metadata["\(architecture).context_length"]?.int ?? cfg.maxPositionEmbeddings
        cfg.rmsNormEps = file.metadata["\(architecture).attention.layer_norm_rms_epsilon"]?.float ?? 1e-5
        cfg.ropeTheta = file.metadata["\(architecture).rope.freq_base"]?.float ?? 10000
        if let keyLength = file.metadata["\(architecture).attention.key_length"]?.int { cfg.headDim = keyLength }
        let tokenCount = file.metadata["tokenizer.ggml.tokens"]?.array?.count
        cfg.vocabSize = file.metadata["\(architecture).vocab_size"]?.int
            ?? tokenCount ?? file.info("token_embd.weight")?.shape.first ?? 0
        cfg.attentionBias = file.info("blk.0.attn_q.bias") != nil
        cfg.tieWordEmbeddings = file.info("output.weight") == nil
        let weights = CountingWeights(GGUFWeights(file: file, headCount: cfg.numAttentionHeads, keyValueHeadCount: cfg.keyValueHeads,
                                  permutesQueryKey: architecture == "llama" || architecture == "mistral"))
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
