import Foundation
import SeqLensServer
import Testing

/// Paths in the package, found from this file (no SwiftPM resources).
enum PackagePaths {
    static let root: URL = {
        var folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while folder.path != "/" {
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path) { return folder }
            folder.deleteLastPathComponent()
        }
        return folder
    }()

    /// The built `seqlens` binary: `$SEQLENS_BIN`, else beside the test bundle, else .build/debug.
    static var binary: URL? {
        if let path = ProcessInfo.processInfo.environment["SEQLENS_BIN"] { return URL(fileURLWithPath: path) }
        var candidates: [URL] = []
        if let executable = Bundle.main.executableURL {
            var folder = executable.deletingLastPathComponent()
            for _ in 0..<4 {
                candidates.append(folder.appendingPathComponent("seqlens"))
                folder.deleteLastPathComponent()
            }
        }
        candidates.append(root.appendingPathComponent(".build/debug/seqlens"))
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    /// A committed tiny checkpoint (Tests/Fixtures/models/NAME: tiny-gpt2, tiny-llama, tiny-qwen2, ...).
    static func fixtureModel(_ name: String) -> String {
        root.appendingPathComponent("Tests/Fixtures/models/\(name)").path
    }

    /// The default model (SmolLM2) in the user cache, if it has been fetched.
    static var defaultModel: URL? {
        let environment = ProcessInfo.processInfo.environment
        let cache =
            environment["SEQLENS_CACHE"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: environment["XDG_CACHE_HOME"] ?? NSHomeDirectory() + "/.cache").appendingPathComponent("seqlens")
        let file = cache.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf")
        return FileManager.default.fileExists(atPath: file.path) ? file : nil
    }
}

/// The real `seqlens serve` binary as a child process, talked to over pipes.
final class DaemonProcess {
    let process = Process()
    let client: RPCTestClient
    private let errorPipe = Pipe()
    private let errorLog = LockedBytes()

    init(arguments: [String] = []) throws {
        guard let binary = PackagePaths.binary else {
            throw DaemonError.binaryMissing(PackagePaths.root.appendingPathComponent(".build/debug/seqlens").path)
        }
        let input = Pipe()
        let output = Pipe()
        process.executableURL = binary
        process.arguments = ["serve"] + arguments
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errorPipe
        errorPipe.fileHandleForReading.readabilityHandler = { [errorLog] handle in
            errorLog.append(handle.availableData)
        }
        try process.run()
        client = RPCTestClient(
            writeDescriptor: input.fileHandleForWriting.fileDescriptor,
            readDescriptor: output.fileHandleForReading.fileDescriptor,
            closeInput: { try? input.fileHandleForWriting.close() })
    }

    var standardError: String { errorLog.text }

    /// Waits for the process to end; nil if it is still running after `timeout` (then it is killed).
    func waitForExit(timeout: TimeInterval = 10) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            return nil
        }
        return process.terminationStatus
    }

    /// `initialize` + `initialized`; returns the initialize result.
    @discardableResult
    func initialize(_ options: RPCValue = [:]) -> RPCValue? {
        let result = client.call("initialize", ["processId": .null, "initializationOptions": options])
        client.notify("initialized", [:])
        return result
    }

    /// `shutdown` + `exit`; returns the exit status.
    func shutdown() -> Int32? {
        _ = client.call("shutdown")
        client.notify("exit")
        return waitForExit()
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}

/// Bytes appended from one thread and read from another.
final class LockedBytes: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()

    func append(_ more: Data) {
        lock.lock()
        data.append(more)
        lock.unlock()
    }

    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self)
    }
}

enum DaemonError: Error, CustomStringConvertible {
    case binaryMissing(String)
    var description: String {
        switch self {
        case .binaryMissing(let path): "no seqlens binary at \(path): build it (swift build) or set SEQLENS_BIN"
        }
    }
}

/// A `Server` running in this process on a thread, over real pipes.
final class InProcessDaemon: @unchecked Sendable {
    let client: RPCTestClient
    let server: Server
    private let done = NSCondition()
    private var status: Int32?

    init(configuration: ServerConfiguration = ServerConfiguration(logLevel: .error)) {
        var toServer: [Int32] = [0, 0]
        var fromServer: [Int32] = [0, 0]
        _ = pipe(&toServer)
        _ = pipe(&fromServer)
        let server = Server(configuration: configuration, output: fromServer[1])
        self.server = server
        client = RPCTestClient(writeDescriptor: toServer[1], readDescriptor: fromServer[0])
        let (serverInput, serverOutput) = (toServer[0], fromServer[1])
        let thread = Thread { [self] in
            let exitStatus = server.serve(input: serverInput)
            close(serverInput)
            close(serverOutput)
            done.lock()
            status = exitStatus
            done.broadcast()
            done.unlock()
        }
        thread.start()
    }

    func initialize(_ options: RPCValue = [:]) {
        _ = client.call("initialize", ["initializationOptions": options])
        client.notify("initialized")
    }

    func waitForExit(timeout: TimeInterval = 10) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        done.lock()
        defer { done.unlock() }
        while status == nil, done.wait(until: deadline) {}
        return status
    }

    func shutdown() -> Int32? {
        _ = client.call("shutdown")
        client.notify("exit")
        return waitForExit()
    }
}
