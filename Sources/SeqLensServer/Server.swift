import Foundation
import Synchronization
import SeqLensAttribution

/// The JSON-RPC daemon: reads framed messages from one descriptor, answers on another.
///
/// The calling thread of `serve` reads input continuously; requests that compute run one at a
/// time on the compute queue; cheap ones answer at once. Lifecycle as in LSP: `initialize` first,
/// `shutdown` then `exit`; at end of input the queued requests are answered, then `serve` returns 0.
public final class Server: Sendable {
    enum Phase { case uninitialized, running, shuttingDown }

    public let environment: ServerEnvironment
    let writer: MessageWriter
    let configuration: ServerConfiguration
    let handlers: [String: AnyMethodHandler]
    let methodNames: [String]
    private let phase = Mutex(Phase.uninitialized)

    /// - Parameters:
    ///   - output: descriptor for protocol messages (the guarded standard output).
    ///   - loader: how `model/load` reads models; the engine by default.
    public convenience init(configuration: ServerConfiguration, output: Int32, loader: (any ResidentModelLoader)? = nil) {
        self.init(
            configuration: configuration, output: output,
            loader: loader ?? EngineModelLoader(),
            handlers: builtInHandlers)
    }

    init(configuration: ServerConfiguration, output: Int32, loader: any ResidentModelLoader, handlers: [AnyMethodHandler]) {
        self.configuration = configuration
        let registry = ModelRegistry(loader: loader, budgetBytes: configuration.memoryBudgetBytes)
        environment = ServerEnvironment(
            registry: registry, queue: ComputeQueue(), log: Logger(level: configuration.logLevel),
            saveRoot: configuration.saveRoot.flatMap(OutputFile.realPath) ?? configuration.saveRoot)
        writer = MessageWriter(descriptor: output)
        self.handlers = Dictionary(handlers.map { ($0.method, $0) }, uniquingKeysWith: { first, _ in first })
        methodNames = ["initialize", "shutdown"] + handlers.map(\.method)
    }

    var log: Logger { environment.log }

    /// Serves until `exit` or end of input.
    /// - Returns: the process exit status: 0 after `shutdown` + `exit` or at end of input, 1 for `exit`
    ///   without `shutdown` (as LSP prescribes).
    public func serve(input: Int32) -> Int32 {
        environment.queue.start()
        var framer = MessageFramer(maximumMessageBytes: configuration.maximumMessageBytes)
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        log.info("serving JSON-RPC on stdio (pid \(getpid()))")
        while true {
            let count = chunk.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 {
                if let event = framer.finish() { _ = handle(event, framer: &framer) }
                // The client is gone: nothing it asked for is worth finishing. Every request still
                // gets its one answer (-32800), in case the client reads on after closing its end.
                log.info("end of input: cancelling what is queued or running, then exiting")
                cancelEverything(reason: "input ended")
                environment.queue.waitUntilIdle(timeout: Self.exitGraceSeconds)
                return 0
            }
            chunk.withUnsafeBytes { framer.append(UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
            while let event = framer.nextEvent() {
                if let status = handle(event, framer: &framer) {
                    // After `shutdown`, finish what was queued before it (its own answer included).
                    if status == 0 { environment.queue.drain() } else { cancelEverything(reason: "exit without shutdown") }
                    environment.queue.waitUntilIdle(timeout: Self.exitGraceSeconds)
                    return status
                }
            }
        }
    }

    /// How long exiting waits for a running request to notice its cancellation; an operation that
    /// cannot be interrupted (a large model's load) is abandoned with the process after that.
    static let exitGraceSeconds: TimeInterval = 10

    /// Closes the queue, answers the queued requests -32800 and signals the running one, which
    /// answers -32800 itself at its next cancellation point.
    private func cancelEverything(reason: String) {
        for job in environment.queue.close() {
            job.cancellation.cancel()
            writer.sendError(RPCError(.requestCancelled, "request \(job.id) was cancelled before it started: \(reason)"), id: job.id)
        }
    }

    /// - Returns: an exit status once `exit` arrived.
    private func handle(_ event: FramerEvent, framer: inout MessageFramer) -> Int32? {
        switch event {
        case .broken(let error, let body):
            log.warning("broken frame: \(error)")
            writer.sendError(RPCError(.parseError, error.description), id: Self.recoverID(from: body))
            return nil
        case .message(let body):
            let decoded: DecodedBody
            do {
                decoded = try JanssonCodec.decode(body)
            } catch {
                writer.sendError(RPCError(.parseError, "message body is not valid JSON: \(error)"), id: nil)
                framer.resynchronize()
                return nil
            }
            let remainder = body[decoded.consumedBytes...]
            if !remainder.allSatisfy({ [0x20, 0x09, 0x0A, 0x0D].contains($0) }) {
                let error = FramingError.bodyLongerThanMessage(declared: body.count, messageBytes: decoded.consumedBytes)
                writer.sendError(RPCError(.parseError, error.description), id: decoded.value["id"].flatMap(RequestID.init))
                framer.resynchronize(returning: Array(remainder))
                return nil
            }
            return handle(message: decoded.value)
        }
    }

    /// The id of a broken frame's request, if its body prefix still parses.
    private static func recoverID(from body: [UInt8]) -> RequestID? {
        guard !body.isEmpty, let decoded = try? JanssonCodec.decode(body) else { return nil }
        return decoded.value["id"].flatMap(RequestID.init)
    }

    private func handle(message: RPCValue) -> Int32? {
        guard case .object(let members) = message else {
            let detail = message.arrayValue != nil ? "an array (batches are not supported)" : message.kindDescription
            writer.sendError(RPCError(.invalidRequest, "a message must be a JSON object, got \(detail)"), id: nil)
            return nil
        }
        var id: RequestID?
        if let rawID = members["id"] {
            guard let parsed = RequestID(rawID) else {
                writer.sendError(
                    RPCError(.invalidRequest, "field 'id' must be a string or an integer, got \(rawID.kindDescription)"), id: nil)
                return nil
            }
            id = parsed
        }
        guard members["jsonrpc"] == "2.0" else {
            let found: String
            switch members["jsonrpc"] {
            case nil: found = "it is missing"
            case .string(let version)?: found = "got \"\(version)\""
            case let other?: found = "got \(other.kindDescription)"
            }
            writer.sendError(RPCError(.invalidRequest, "field 'jsonrpc' must be the string \"2.0\", \(found)"), id: id)
            return nil
        }
        guard case .string(let method)? = members["method"] else {
            if id == nil && (members["result"] != nil || members["error"] != nil) {
                log.warning("ignoring a response: the server sends no requests")
                return nil
            }
            let found = members["method"].map { "got \($0.kindDescription)" } ?? "it is missing"
            writer.sendError(RPCError(.invalidRequest, "field 'method' must be a string, \(found)"), id: id)
            return nil
        }
        let params = members["params"]
        guard let id else { return handleNotification(method, params: params) }
        handleRequest(method, id: id, params: params)
        return nil
    }

    private func handleNotification(_ method: String, params: RPCValue?) -> Int32? {
        switch method {
        case "exit":
            let status: Int32 = phase.withLock { $0 } == .shuttingDown ? 0 : 1
            log.info("exit (status \(status))")
            return status
        case "initialized":
            log.debug("client initialized")
        case "$/cancelRequest":
            guard let rawID = params?["id"], let id = RequestID(rawID) else {
                log.warning("$/cancelRequest without a string or integer params.id: ignored")
                return nil
            }
            switch environment.queue.cancel(id) {
            case .removedFromQueue(let job):
                job.cancellation.cancel()
                writer.sendError(.cancelled(id, beforeStart: true), id: id)
            case .signalled: log.debug("cancelling running request \(id)")
            case .notFound: log.debug("$/cancelRequest for \(id): not queued or running")
            }
        default:
            log.log(method.hasPrefix("$/") ? .debug : .warning, "ignoring unknown notification '\(method)'")
        }
        return nil
    }

    private func handleRequest(_ method: String, id: RequestID, params: RPCValue?) {
        let current = phase.withLock { $0 }
        switch (current, method) {
        case (.uninitialized, "initialize"):
            do {
                writer.sendResult(try initialize(params), id: id)
                phase.withLock { $0 = .running }
            } catch {
                writer.sendError(rpcError(for: error, id: id), id: id)
            }
            return
        case (.uninitialized, _):
            writer.sendError(RPCError(.serverNotInitialized, "the server is not initialized: send 'initialize' before '\(method)'"), id: id)
            return
        case (.shuttingDown, _):
            writer.sendError(RPCError(.invalidRequest, "the server is shutting down: only the 'exit' notification is accepted, not '\(method)'"), id: id)
            return
        case (.running, "initialize"):
            writer.sendError(RPCError(.invalidRequest, "'initialize' was already received"), id: id)
            return
        case (.running, "shutdown"):
            phase.withLock { $0 = .shuttingDown }
            enqueueShutdown(id: id)
            return
        case (.running, _):
            dispatch(method, id: id, params: params)
        }
    }

    private func dispatch(_ method: String, id: RequestID, params: RPCValue?) {
        guard let handler = handlers[method] else {
            writer.sendError(
                RPCError(.methodNotFound, "unknown method '\(method)'; known methods: \(methodNames.joined(separator: ", "))"), id: id)
            return
        }
        let prepared: PreparedRequest
        let progress: ProgressReporter?
        do {
            prepared = try handler.prepare(params)
            progress = try progressReporter(params)
        } catch {
            writer.sendError(error, id: id)
            return
        }
        let cancellation = CancellationToken()
        let context = RequestContext(id: id, environment: environment, cancellation: cancellation, progress: progress)
        let writer = self.writer
        let log = self.log
        let run: @Sendable () -> Void = {
            guard !cancellation.isCancelled else {
                writer.sendError(.cancelled(id, beforeStart: true), id: id)
                return
            }
            let started = Date()
            do {
                let result = try prepared.run(context)
                progress?.end()
                writer.sendResult(result, id: id)
            } catch {
                let reply = rpcError(for: error, id: id)
                progress?.end(message: reply.code == .requestCancelled ? "cancelled" : "failed")
                writer.sendError(reply, id: id)
            }
            log.debug("\(method) \(id) answered in \(String(format: "%.2f", Date().timeIntervalSince(started) * 1000)) ms")
        }
        switch handler.execution {
        case .immediate: run()
        case .computeQueue:
            let job = ComputeJob(id: id, method: method, modelID: prepared.modelID, cancellation: cancellation, run: run)
            if !environment.queue.enqueue(job) {
                writer.sendError(RPCError(.invalidRequest, "the server is shutting down"), id: id)
            }
        }
    }

    private func progressReporter(_ params: RPCValue?) throws(RPCError) -> ProgressReporter? {
        guard let token = params?["workDoneToken"], token != .null else { return nil }
        guard RequestID(token) != nil else {
            throw RPCError.invalidParams("params.workDoneToken", expected: "a string or an integer", got: token)
        }
        let writer = self.writer
        return ProgressReporter(token: token) { writer.sendNotification("$/progress", params: $0) }
    }

    /// `shutdown` answers after the requests queued before it, then frees the models.
    private func enqueueShutdown(id: RequestID) {
        let environment = self.environment
        let writer = self.writer
        environment.queue.enqueue(
            ComputeJob(id: id, method: "shutdown", modelID: nil, cancellation: CancellationToken()) {
                for entry in environment.registry.entries { _ = try? environment.registry.unload(entry.id) }
                writer.sendResult(.null, id: id)
            })
    }

    private func initialize(_ params: RPCValue?) throws(RPCError) -> RPCValue {
        let reader = try ParamsReader(params)
        // LSP's InitializeParams are accepted (and ignored) so that LSP client libraries work.
        try reader.rejectUnknownFields([
            "processId", "clientInfo", "initializationOptions", "capabilities", "rootUri", "rootPath",
            "workspaceFolders", "trace", "locale", "workDoneToken",
        ])
        if let options = try reader.optionalObject("initializationOptions") {
            try options.rejectUnknownFields(["memoryBudgetBytes", "logLevel", "saveRoot"])
            if options.contains("memoryBudgetBytes") {
                environment.registry.budgetBytes = try options.optional("memoryBudgetBytes", in: 0...Int.max)
            }
            if let root = try options.optional("saveRoot", as: String.self) {
                try environment.narrowSaveRoot(to: root)
            }
            if let level = try options.optional("logLevel", as: String.self) {
                log.debug("initializationOptions.logLevel '\(level)' is ignored; use --log-level")
            }
        }
        if let client = try reader.optionalObject("clientInfo"), let name = try client.optional("name", as: String.self) {
            log.info("client: \(name)")
        }
        return [
            "serverInfo": ["name": .string(ServerInfo.name), "version": .string(ServerInfo.version)],
            "capabilities": [
                "methods": methodNames.json,
                "notifications": ["client": ServerInfo.clientNotifications.json, "server": ServerInfo.serverNotifications.json],
                "attributionMethods": ServerInfo.attributionMethods.json,
                "attributionMethodDetails": ServerInfo.attributionMethodDetails,
                "stepFunctions": ServerInfo.stepFunctions.json,
                "architectures": ServerInfo.architectures.json,
                "checkpointFormats": ServerInfo.checkpointFormats.json,
                "tokenizers": ServerInfo.tokenizers.json,
                "workDoneProgress": true,
                "cancellation": true,
                "memoryBudgetBytes": environment.registry.budgetBytes.map(RPCValue.integer) ?? .null,
            ],
        ]
    }
}
