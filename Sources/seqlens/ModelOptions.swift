import ArgumentParser
import Foundation
import SeqLensModels

/// `--model`: a safetensors folder, a `.gguf` file, or `default` (SmolLM2, fetched if missing).
struct ModelOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "A safetensors folder, a .gguf file, or 'default' (SmolLM2-135M-Instruct).")
    var model: String = "default"

    func load() throws -> LanguageModel {
        try LanguageModel.load(ModelLocation(argument: model))
    }

    /// A model of either shape (commands that serve encoder-decoder models too).
    func loadAny() throws -> LoadedModel {
        try LoadedModel.load(ModelLocation(argument: model))
    }
}

/// Prints a JSON value (from Foundation objects) on stdout.
func printJSON(_ object: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    print(String(decoding: data, as: UTF8.self))
}

/// A readable message on stderr and exit status 1 for errors from the engine.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
}

func running<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as ValidationError {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch {
        FileHandle.standardError.write(Data("seqlens: \(error)\n".utf8))
        throw ExitCode.failure
    }
}
