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
    @Option(help: "Beam search with this many beams (encoder-decoder models: default the checkpoint's generation config; decoder-only: 1, greedy).")
    var numBeams: Int?
    @Option(help: "Beams to show, best first (at most --num-beams).")
    var numReturnSequences: Int?
    @Flag(help: "Print JSON instead of text.") var json = false

    @Argument(help: "Prompts to continue.") var prompts: [String]

    func validate() throws {
        guard maxNewTokens >= 1 else { throw ValidationError("--max-new-tokens must be at least 1") }
        guard temperature > 0 else { throw ValidationError("--temperature must be positive") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        if let numBeams, !(1...64).contains(numBeams) { throw ValidationError("--num-beams must be in 1...64") }
        if let count = numReturnSequences, !(1...64).contains(count) { throw ValidationError("--num-return-sequences must be in 1...64") }
    }

    func run() throws {
        try running {
            let loaded = try modelOptions.loadAny()
            if case .encoderDecoder(let model) = loaded { return try translate(model) }
            guard case .causal(let model) = loaded else { return }
            if let numBeams, numBeams > 1 { return try beamSearch(model, beams: numBeams) }
            guard numReturnSequences == nil else { throw CommandFailure(description: "--num-return-sequences needs --num-beams > 1") }
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

    /// Beam search from each prompt of a decoder-only model, the beams listed with their scores.
    private func beamSearch(_ model: LanguageModel, beams: Int) throws {
        guard !doSample, returnTopK == 0 else { throw CommandFailure(description: "--do-sample and --return-top-k do not combine with --num-beams") }
        if let count = numReturnSequences, count > beams {
            throw CommandFailure(description: "--num-return-sequences \(count) is more than --num-beams \(beams)")
        }
        var options = EncoderDecoderGenerationOptions()
        options.maxNewTokens = maxNewTokens
        options.numBeams = beams
        options.numReturnSequences = numReturnSequences
        let generations = try prompts.map { try model.beamSearch(prompt: model.encode($0), options: options) }
        try report(zip(prompts, generations).map { ($0, $1.text, $1.stopReason, $1.tokens, $1.beams) }, promptKey: "prompt")
    }

    /// Generations with their beams, as text or (with --json) as JSON.
    private func report(_ generations: [(String, String, StopReason, [GeneratedToken], [Beam])], promptKey: String) throws {
        var results: [[String: Any]] = []
        for (prompt, text, stop, tokens, beams) in generations {
            if json {
                results.append([
                    promptKey: prompt, "text": text, "stopReason": stop.rawValue,
                    "tokens": tokens.map { ["id": $0.id, "token": $0.token, "prob": Double($0.probability)] },
                    "beams": beams.map { ["text": $0.text, "ids": $0.ids, "sequenceScore": Double($0.sequenceScore)] },
                ])
                continue
            }
            print(promptKey == "source" ? "\(prompt)\n→ \u{1B}[1m\(text)\u{1B}[0m" : "\(prompt)\u{1B}[1m\(text)\u{1B}[0m")
            for token in tokens {
                print(String(format: "  %-20@ p=%.4f", token.token.debugDescription as NSString, token.probability))
            }
            for (rank, beam) in beams.enumerated() where beams.count > 1 {
                print(String(format: "  beam %d  score %.4f  ", rank + 1, beam.sequenceScore) + beam.text)
            }
        }
        if json { try printJSON(results) }
    }

    /// Each prompt as an encoder-decoder model's source: greedy or beam search as its generation
    /// config says, the beams listed with their scores.
    private func translate(_ model: EncoderDecoderModel) throws {
        guard !doSample else { throw CommandFailure(description: "--do-sample serves decoder-only models so far") }
        var options = EncoderDecoderGenerationOptions()
        options.maxNewTokens = maxNewTokens
        options.numBeams = numBeams
        options.numReturnSequences = numReturnSequences
        options.returnTopK = returnTopK
        let generations = try prompts.map { prompt in
            let source = model.tokenizer.encode(prompt, side: .source, addSpecialTokens: true)
            try model.check(source, side: .source)
            return try model.generate(source: source, options: options)
        }
        try report(zip(prompts, generations).map { ($0, $1.text, $1.stopReason, $1.tokens, $1.beams) }, promptKey: "source")
    }
}
