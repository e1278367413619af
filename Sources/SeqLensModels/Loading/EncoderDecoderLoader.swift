import Foundation
import SeqLensCheckpoints
import SeqLensFiles
import SeqLensTensor
import SeqLensTokenizers

/// Reads an encoder-decoder transformers folder: config.json, safetensors weights, the family's
/// tokenizer files and generation_config.json.
enum EncoderDecoderLoader {
    /// `model_type` values served as encoder-decoder models.
    static let architectures = ["bart", "marian", "mbart", "mt5", "t5"]

    static func load(folder: String, configuration data: Data, modelType: String) throws -> EncoderDecoderModel {
        let stored = FiniteWeights(base: SafetensorsWeights(store: try SafetensorsCheckpoint(path: folder)))
        let weights = CountingWeights(stored)
        func configuration() throws -> BartLayoutConfiguration {
            try JSONDecoder().decode(BartLayoutConfiguration.self, from: data)
        }
        let transformer: any EncoderDecoderTransformer
        let tokenizer: any TwoSidedTokenizer
        do {
            switch modelType {
            case "marian":
                transformer = try Marian.transformer(configuration: configuration(), weights: weights)
                tokenizer = try MarianTokenizer(folder: folder)
            case "bart":
                transformer = try Bart.transformer(configuration: configuration(), weights: weights, preNorm: false)
                tokenizer = SameOnBothSides(try ModelLoader.folderTokenizer(folder))
            case "mbart":
                transformer = try Bart.transformer(configuration: configuration(), weights: weights, preNorm: true)
                tokenizer = try MBartTokenizer(folder: folder)
            case "t5", "mt5":
                let cfg = try JSONDecoder().decode(T5Configuration.self, from: data)
                transformer = try T5Transformer(configuration: cfg, weights: weights,
                                                scalesOutputs: modelType == "t5" && cfg.scalesDecoderOutputs)
                tokenizer = SameOnBothSides(try UnigramTokenizer(tokenizerJSON: URL(fileURLWithPath: folder + "/tokenizer.json")))
            default:
                throw ModelError.unsupportedArchitecture(modelType)
            }
        } catch let error as DecodingError {
            throw ModelError.invalidConfiguration("config.json in \(folder): \(ArchitectureRegistry.describe(error))")
        } catch ModelError.invalidConfiguration(let detail) {
            throw ModelError.invalidConfiguration("config.json (model_type '\(modelType)'): \(detail)")
        }
        let generationFile: Data?
        do {
            generationFile = try RegularFile.contentsIfPresent(of: folder + "/generation_config.json", limit: 16 << 20)
        } catch {
            throw ModelError.invalidConfiguration(error.description)
        }
        var generation = try EncoderDecoderGenerationConfig.read(config: data, generation: generationFile)
        if generation.endOfSequence.isEmpty, let eos = tokenizer.specialTokens.eos { generation.endOfSequence = [eos] }
        let dims = transformer.dimensions
        guard (0..<dims.vocabularySize).contains(generation.decoderStartTokenID) else {
            throw ModelError.invalidConfiguration("decoder_start_token_id \(generation.decoderStartTokenID) is outside the vocabulary (size \(dims.vocabularySize))")
        }
        var special = tokenizer.specialTokens.roles
        special["decoder_start"] = generation.decoderStartTokenID
        let info = ModelInfo(
            architecture: modelType, layerCount: dims.layerCount, headCount: dims.headCount,
            keyValueHeadCount: dims.keyValueHeadCount, hiddenSize: dims.hiddenSize, vocabularySize: dims.vocabularySize,
            maxPositions: dims.maxPositions, memoryBytes: weights.bytes, specialTokens: special, source: folder)
        return EncoderDecoderModel(info: info, transformer: transformer, tokenizer: tokenizer, generation: generation)
    }
}
