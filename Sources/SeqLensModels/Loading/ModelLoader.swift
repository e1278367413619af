import Foundation
import SeqLensFiles
import SeqLensCheckpoints
import SeqLensTokenizers

/// Reads a model from disk: a transformers folder (config.json, *.safetensors, tokenizer files,
/// generation_config.json) or a llama.cpp GGUF file (metadata, weights and tokenizer inside).
enum ModelLoader {
    struct Loaded {
        let transformer: any CausalTransformer
        let weightBytes: Int
        let tokenizer: any Tokenizer
        let architecture: String
        let endOfSequence: Set<Int>
        let generationDefaults: GenerationOptions
        let source: String
    }

    static func load(path: String) throws -> Loaded {
        guard !path.utf8.contains(0) else {
            throw ModelError.invalidConfiguration("the model path contains a NUL byte")
        }
        switch RegularFile.kind(of: path) {
        case .missing: throw ModelError.fileNotFound(path)
        case .folder: return try loadFolder(path)
        case .other: throw ModelError.invalidConfiguration("\(path) is not a folder or a regular file")
        case .regularFile:
            guard path.lowercased().hasSuffix(".gguf") else { throw ModelError.fileNotFound(path) }
            return try loadGGUF(path)
        }
    }

    /// config.json and its model_type when `folder` holds an encoder-decoder checkpoint.
    static func encoderDecoderConfiguration(folder: String) throws -> (Data, String)? {
        guard !folder.utf8.contains(0), RegularFile.kind(of: folder) == .folder,
              let config = try smallFile(folder + "/config.json"),
              let type = try? JSONDecoder().decode(ModelType.self, from: config).modelType,
              EncoderDecoderLoader.architectures.contains(type)
        else { return nil }
        return (config, type)
    }

    private static func loadFolder(_ folder: String) throws -> Loaded {
        guard let config = try smallFile(folder + "/config.json") else { throw ModelError.fileNotFound(folder) }
        if let type = try? JSONDecoder().decode(ModelType.self, from: config).modelType, EncoderDecoderLoader.architectures.contains(type) {
            throw ModelError.encoderDecoderModel(type)
        }
        let (transformer, bytes) = try ArchitectureRegistry.transformer(folder: folder, configuration: config)
        let facts = (try? JSONDecoder().decode(TokenFacts.self, from: config)) ?? TokenFacts()
        var generation = GenerationDefaults()
        if let data = try smallFile(folder + "/generation_config.json") {
            generation = (try? JSONDecoder().decode(GenerationDefaults.self, from: data)) ?? generation
        }
        let tokenizer = try folderTokenizer(folder)
        let eos = generation.eosTokenId?.ids ?? facts.eosTokenId?.ids ?? tokenizer.specialTokens.eos.map { [$0] } ?? []
        let modelType = (try? JSONDecoder().decode(ModelType.self, from: config).modelType) ?? "unknown"
        return Loaded(transformer: transformer, weightBytes: bytes, tokenizer: tokenizer, architecture: modelType,
                      endOfSequence: Set(eos), generationDefaults: generation.options, source: folder)
    }

    /// GGUF token types, each an Int32 as llama.cpp writes them.
    private static func tokenTypes(_ values: [Int]?) throws -> [Int32]? {
        try values.map { list in
            try list.map { value in
                guard let type = Int32(exactly: value) else {
                    throw ModelError.invalidConfiguration("GGUF tokenizer.ggml.token_type holds \(value), not a token type")
                }
                return type
            }
        }
    }

    /// config.json or generation_config.json (at most 16 MiB, a regular file), nil when absent.
    private static func smallFile(_ path: String) throws -> Data? {
        do {
            return try RegularFile.contentsIfPresent(of: path, limit: 16 << 20)
        } catch {
            throw ModelError.invalidConfiguration(error.description)
        }
    }

    /// A folder's byte-level BPE tokenizer: tokenizer.json, else vocab.json + merges.txt.
    static func folderTokenizer(_ folder: String) throws -> any Tokenizer {
        let manager = FileManager.default
        let json = URL(fileURLWithPath: folder + "/tokenizer.json")
        if manager.fileExists(atPath: json.path) {
            return try ByteLevelBPETokenizer(tokenizerJSON: json)
        }
        let vocab = URL(fileURLWithPath: folder + "/vocab.json"), merges = URL(fileURLWithPath: folder + "/merges.txt")
        if manager.fileExists(atPath: vocab.path) && manager.fileExists(atPath: merges.path) {
            return try ByteLevelBPETokenizer(vocabJSON: vocab, mergesTXT: merges)
        }
        throw ModelError.invalidConfiguration("\(folder) has no tokenizer.json nor vocab.json + merges.txt")
    }

    private static func loadGGUF(_ path: String) throws -> Loaded {
        let file = try GGUFFile(path: path)
        let (transformer, bytes) = try ArchitectureRegistry.transformer(gguf: file)
        let meta = file.metadata
        guard meta["tokenizer.ggml.model"]?.string == "gpt2" else {
            throw ModelError.invalidConfiguration(
                "GGUF tokenizer model '\(meta["tokenizer.ggml.model"]?.string ?? "(none)")' is not supported (byte-level BPE 'gpt2' is)")
        }
        guard let tokens = meta["tokenizer.ggml.tokens"]?.strings, let merges = meta["tokenizer.ggml.merges"]?.strings else {
            throw ModelError.invalidConfiguration("GGUF file lacks tokenizer.ggml.tokens or tokenizer.ggml.merges")
        }
        let tokenizer = try ByteLevelBPETokenizer(
            ggufTokens: tokens, tokenTypes: try tokenTypes(meta["tokenizer.ggml.token_type"]?.ints),
            merges: merges, preTokenizer: meta["tokenizer.ggml.pre"]?.string,
            bosTokenId: meta["tokenizer.ggml.bos_token_id"]?.int, eosTokenId: meta["tokenizer.ggml.eos_token_id"]?.int,
            unknownTokenId: meta["tokenizer.ggml.unknown_token_id"]?.int,
            paddingTokenId: meta["tokenizer.ggml.padding_token_id"]?.int,
            addBOS: meta["tokenizer.ggml.add_bos_token"]?.bool, addEOS: meta["tokenizer.ggml.add_eos_token"]?.bool)
        let eos = meta["tokenizer.ggml.eos_token_id"]?.int.map { [$0] } ?? []
        return Loaded(transformer: transformer, weightBytes: bytes, tokenizer: tokenizer,
                      architecture: meta["general.architecture"]?.string ?? "llama",
                      endOfSequence: Set(eos), generationDefaults: GenerationOptions(), source: path)
    }
}

/// An id or a list of ids (transformers allows both for eos_token_id).
struct TokenIDs: Decodable {
    let ids: [Int]
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let one = try? c.decode(Int.self) { ids = [one] } else { ids = try c.decode([Int].self) }
    }
}

private struct TokenFacts: Decodable {
    var eosTokenId: TokenIDs?
    enum CodingKeys: String, CodingKey { case eosTokenId = "eos_token_id" }
}

private struct ModelType: Decodable {
    let modelType: String
    enum CodingKeys: String, CodingKey { case modelType = "model_type" }
}

/// generation_config.json: the defaults a checkpoint asks `generate` to use.
private struct GenerationDefaults: Decodable {
    var eosTokenId: TokenIDs?
    var doSample: Bool?
    var temperature: Float?
    var topK: Int?
    var topP: Float?
    var maxNewTokens: Int?

    enum CodingKeys: String, CodingKey {
        case eosTokenId = "eos_token_id", doSample = "do_sample", temperature, topK = "top_k", topP = "top_p"
        case maxNewTokens = "max_new_tokens"
    }

    init() {}

    var options: GenerationOptions {
        var options = GenerationOptions()
        if let doSample { options.doSample = doSample }
        if let temperature { options.temperature = temperature }
        if let topK { options.topK = topK }
        if let topP { options.topP = topP }
        if let maxNewTokens { options.maxNewTokens = maxNewTokens }
        return options
    }
}
