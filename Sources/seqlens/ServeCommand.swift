import ArgumentParser
import Foundation
import SeqLensServer

/// `seqlens serve`: JSON-RPC 2.0 on stdin/stdout with LSP-style framing (see protocol/README.md).
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the daemon: JSON-RPC 2.0 over stdin/stdout with Content-Length framing.",
        discussion: """
            Only protocol messages are written to standard output; logs go to standard error.
            """)

    @Option(help: "Most bytes resident models may hold, e.g. 2G, 512M or 1000000 (default: no limit).")
    var memoryBudget: ByteCount?

    @Option(help: "How much to log on standard error.")
    var logLevel: LogLevel = .warning

    @Option(help: "Largest message body accepted, e.g. 16M (default: 16M).")
    var maxMessageBytes: ByteCount = ByteCount(bytes: RequestLimits.messageBytes)

    @Option(help: "Folder that every file the daemon writes must lie in; relative save paths resolve against it.")
    var saveRoot: String?

    func validate() throws {
        if let saveRoot {
            var status = stat()
            guard saveRoot.hasPrefix("/"), stat(saveRoot, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR else {
                throw ValidationError("--save-root must be an absolute path to an existing folder, got '\(saveRoot)'")
            }
        }
    }

    func run() throws {
        let output = try StandardOutputGuard.claimStandardOutput()
        let configuration = ServerConfiguration(
            memoryBudgetBytes: memoryBudget?.bytes, logLevel: logLevel, maximumMessageBytes: maxMessageBytes.bytes,
            saveRoot: saveRoot)
        let status = Server(configuration: configuration, output: output).serve(input: STDIN_FILENO)
        if status != 0 { throw ExitCode(status) }
    }
}

extension LogLevel: ExpressibleByArgument {}

/// A size in bytes given as an integer with an optional K, M, G (powers of 1024) suffix.
struct ByteCount: ExpressibleByArgument {
    var bytes: Int

    init(bytes: Int) { self.bytes = bytes }

    init?(argument: String) {
        let text = argument.uppercased().replacingOccurrences(of: "IB", with: "").replacingOccurrences(of: "B", with: "")
        let scales: [Character: Double] = ["K": 1024, "M": 1024 * 1024, "G": 1024 * 1024 * 1024]
        var number = Substring(text)
        var scale = 1.0
        if let last = text.last, let factor = scales[last] {
            scale = factor
            number = text.dropLast()
        }
        guard let value = Double(number), value >= 0, (value * scale) < Double(Int.max) else { return nil }
        bytes = Int(value * scale)
    }
}
