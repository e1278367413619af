import ArgumentParser
import SeqLensModels
import SeqLensTokenizers

extension TextSide: ExpressibleByArgument {}

/// `seqlens tokenize`: token ids and strings of each text.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize", abstract: "Show the tokens and ids of texts.")

    @OptionGroup var modelOptions: ModelOptions

    @Flag(help: "Add the tokenizer's special tokens (e.g. BOS).")
    var addSpecialTokens = false

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Option(help: "An encoder-decoder model's tokenizer side: source or target (HF's text_target).")
    var side: TextSide = .source

    @Argument(help: "Texts to tokenize.")
    var texts: [String]

    func run() throws {
        try running {
            let tokenizer = try modelOptions.loadAny().tokenizer
            var results: [[String: Any]] = []
            for text in texts {
                let ids = tokenizer.encode(text, side: side, addSpecialTokens: addSpecialTokens)
                let tokens = ids.map(tokenizer.tokenString)
                if json {
                    results.append(["text": text, "ids": ids, "tokens": tokens])
                } else {
                    print("\(ids.count) tokens: \(text.debugDescription)")
                    for (id, token) in zip(ids, tokens) { print(String(format: "%8d  ", id) + token) }
                }
            }
            if json { try printJSON(results) }
        }
    }
}
