import Foundation
import SeqLensModels

/// The committed tiny random checkpoints (Tests/Fixtures/models; 2 layers, hidden 64, vocabulary
/// 512, 128 positions): the daemon loads them in milliseconds, and tests load them in process too,
/// for the engine's own results to compare with.
enum TinyModels {
    static let gpt2Path = PackagePaths.fixtureModel("tiny-gpt2")
    static let llamaPath = PackagePaths.fixtureModel("tiny-llama")
    static let qwen2Path = PackagePaths.fixtureModel("tiny-qwen2")

    static let gpt2 = Result { try LanguageModel.load(.path(gpt2Path)) }
    static let llama = Result { try LanguageModel.load(.path(llamaPath)) }
    static let qwen2 = Result { try LanguageModel.load(.path(qwen2Path)) }

    /// A file that is not a checkpoint, for load failures (written once per test process).
    static let corruptCheckpoint: String = {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("seqlens-server-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let file = folder.appendingPathComponent("corrupt.gguf")
        try? Data("GGUF this is not a checkpoint".utf8).write(to: file)
        return file.path
    }()

    /// The engine's greedy continuation of `input` (special tokens added, as the daemon does).
    static func greedy(_ model: LanguageModel, _ input: String, maxNewTokens: Int, stopAtEOS: Bool = true) throws -> Generation {
        var options = GenerationOptions()
        options.maxNewTokens = maxNewTokens
        options.stopAtEOS = stopAtEOS
        return try model.generate(prompt: model.encode(input, addSpecialTokens: true), options: options)
    }
}
