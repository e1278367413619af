import ArgumentParser
import Foundation
import SeqLensAttribution
import SeqLensModels

/// `seqlens inspect`: a look inside the model on one input, as tables in the terminal or JSON.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Look inside the model: activations, logit lens, activation patching, ablation.",
        discussion: """
            Sites are TransformerLens's hook names without "hook_": embed, blocks.{i}.resid_pre, \
            blocks.{i}.attn.z, attn.out, attn.pattern, resid_mid, mlp.out, resid_post, final_norm.out; \
            "*" stands for every layer (blocks.*.resid_post). transformers module paths \
            (model.layers.3.mlp) work too.
            """,
        subcommands: [InspectActivationsCommand.self, InspectLogitLensCommand.self, InspectPatchCommand.self, InspectAblateCommand.self])
}

/// Options every `inspect` subcommand shares.
struct InspectOutputOptions: ParsableArguments {
    @Flag(help: "Print JSON (the daemon's result shapes, tensors as nested lists) instead of tables.")
    var json = false
    @Option(help: "Terminal colours: trueColor, ansi256 or none (default: trueColor on a terminal).")
    var color: String?
    @Flag(name: .customLong("no-special-tokens"), help: "Do not add the tokenizer's special tokens (BOS) to inputs.")
    var noSpecialTokens = false
    @Option(help: "Terminal width for tables.") var width = 100

    var colorMode: TerminalColorMode {
        color.flatMap(TerminalColorMode.init(rawValue:)) ?? (isatty(STDOUT_FILENO) != 0 ? .trueColor : .none)
    }

    func encode(_ model: LanguageModel, _ text: String) -> [Int] { model.encode(text, addSpecialTokens: !noSpecialTokens) }
}

/// The sites named by `patterns` (globs and aliases), in order.
func resolveSites(_ model: LanguageModel, _ patterns: [String]) throws -> [Site] {
    try patterns.flatMap { try model.sites.resolve($0) }
}

/// A token given as an id or as text that encodes to exactly one token.
func resolveToken(_ model: LanguageModel, _ argument: String, option: String) throws -> Int {
    if let id = Int(argument) {
        try model.checkVocabulary([id])
        return id
    }
    let ids = model.encode(argument, addSpecialTokens: false)
    guard ids.count == 1 else {
        throw ValidationError("\(option) '\(argument)' encodes to \(ids.count) tokens \(model.tokenStrings(ids)); give one token or its id")
    }
    return ids[0]
}

/// `[{id, token}]` as the daemon's results carry them.
func tokenObjects(_ model: LanguageModel, _ ids: [Int]) -> [[String: Any]] {
    zip(ids, model.tokenStrings(ids)).map { ["id": $0, "token": $1] }
}

/// Nested arrays of a tensor of any rank (row-major).
func nestedArray(_ values: [Float], shape: [Int]) -> Any {
    guard let first = shape.first else { return values.first.map { Double($0) as Any } ?? NSNull() }
    if shape.count == 1 { return values.map { $0.isFinite ? Double($0) as Any : NSNull() } }
    let stride = values.count / max(1, first)
    return (0..<first).map { nestedArray(Array(values[($0 * stride)..<(($0 + 1) * stride)]), shape: Array(shape.dropFirst())) }
}
