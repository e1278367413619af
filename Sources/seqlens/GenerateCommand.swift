import ArgumentParser
import Foundation
import SeqLensModels

/// `seqlens generate`: a continuation with each token's probability (and alternatives).
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Generate a continuation with per-token probabilities.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Most tokens to generate.") var maxNewTokens = 20
    @Flag(help: "Sample instead of greedy decoding.") var doSample = false
    @Option(help: "Sampling temperature.") var temperature: Float = 1
    @Option(help: "Keep the k most likely tokens when sampling (0: all).") var topK = 0
    @Option(help: "Nucleus sampling mass (1: all).") var topP: Float = 1
    @Option(help: "Random seed for sampling.") var seed: UInt64 = 0
    @Option(help: "Show this many most likely alternatives per token.") var returnTopK = 0
    @Flag(help: "Print JSON instead of text.") var json = false

    @Argument(help: "Prompts to continue.") var prompts: [String]

    func validate() throws {
        guard maxNewTokens >= 1 else { throw ValidationError("--max-new-tokens must be at least 1") }
        guard temperature > 0 else { throw ValidationError("--temperature must be positive") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
    }

    func run() throws {
        try running {
            let model = try modelOptions.load()
            var options = GenerationOptions()
            options.maxNewTokens = maxNewTokens
            options.doSample = doSample
            options.temperature = temperature
            options.topK = topK
            options.topP = topP
            options.seed = seed
            options.returnTopK = returnTopK
            var results: [[String: Any]] = []
            for prompt in prompts {
                let generation = try model.generate(prompt: model.encode(prompt), options: options)
                if json {
                    results.append([
                        "prompt": prompt, "text": generation.text, "stopReason": generation.stopReason.rawValue,
                        "tokens": generation.tokens.map { token in
                            ["id": token.id, "token": token.token, "prob": Double(token.probability),
                             "top": token.alternatives.map { ["id": $0.id, "token": $0.token, "prob": Double($0.probability)] }]
                        },
                    ])
                    continue
                }
                print("\(prompt)\u{1B}[1m\(generation.text)\u{1B}[0m")
                for token in generation.tokens {
                    var line = String(format: "  %-20@ p=%.4f", token.token.debugDescription as NSString, token.probability)
                    if !token.alternatives.isEmpty {
                        line += "   " + token.alternatives.map { String(format: "%@ %.3f", $0.token.debugDescription as NSString, $0.probability) }.joined(separator: ", ")
                    }
                    print(line)
                }
            }
            if json { try printJSON(results) }
        }
    }
}
