import ArgumentParser
import SeqLensServer

/// `seqlens`: the daemon (`serve`) and, from later issues, one-shot commands on the same engine.
@main
struct SeqLensCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seqlens",
        abstract: "A native interpretability engine for Transformers, served over JSON-RPC.",
        version: ServerInfo.version,
        subcommands: [ServeCommand.self, GenerateCommand.self, TokenizeCommand.self, AttributeCommand.self, InspectCommand.self])
}
