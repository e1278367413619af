import Foundation
import Synchronization
import SeqLensAttribution
import SeqLensModels

/// Where a request runs.
public enum Execution: Sendable {
    /// On the reader thread, at once: cheap requests that only read server state.
    case immediate
    /// On the compute queue, one request at a time: anything that touches a model.
    case computeQueue
}

/// A request's typed parameters, read from the JSON `params` object.
public protocol RequestParams: Sendable {
    /// Every field the method accepts; the dispatcher rejects any other with -32602 naming it
    /// (`workDoneToken` is accepted everywhere).
    static var fields: Set<String> { get }
    /// - Throws: `RPCError` with `invalidParams`, naming the field and what was expected.
    init(from params: ParamsReader) throws(RPCError)
    /// The resident model the request uses: kept from eviction while the request waits.
    var modelID: String? { get }
}

extension RequestParams {
    public var modelID: String? { nil }
}

/// Requests without parameters.
public struct NoParams: RequestParams {
    public static let fields: Set<String> = []
    public init(from params: ParamsReader) {}
}

/// One JSON-RPC method. Adding a method is one type conforming to this and one line in `builtInHandlers`.
public protocol MethodHandler: Sendable {
    associatedtype Params: RequestParams
    associatedtype Result: JSONRepresentable
    static var method: String { get }
    static var execution: Execution { get }
    /// - Throws: `RPCError`, `CancellationError` (answered -32800), `ModelError`, `AttributionError`
    ///   (-32602), or anything else (-32603).
    func handle(_ params: Params, context: RequestContext) throws -> Result
}

/// What a handler can use while it answers one request.
public struct RequestContext: Sendable {
    public let id: RequestID
    public let environment: ServerEnvironment
    public let cancellation: CancellationToken
    /// Present when the request carried a `workDoneToken`.
    public let progress: ProgressReporter?

    public var registry: ModelRegistry { environment.registry }

    /// - Throws: `CancellationError` once `$/cancelRequest` named this request.
    public func checkCancellation() throws(CancellationError) { try cancellation.check() }

    /// The file a `savePath` names, checked against the save root before any work is done (and
    /// again when written); nil without one.
    /// - Throws: -32602 naming `params.savePath`.
    func outputFile(_ savePath: String?, overwrite: Bool) throws(RPCError) -> OutputFile? {
        do {
            return try savePath.map { path throws(AttributionOutputError) in
                try OutputFile(path, root: environment.saveRoot, overwrite: overwrite)
            }
        } catch {
            throw RPCError(.invalidParams, "params.savePath: \(error)")
        }
    }
}

/// Server-wide state that handlers may read.
public final class ServerEnvironment: Sendable {
    public let registry: ModelRegistry
    public let startedAt: Date
    public let log: Logger
    let queue: ComputeQueue
    private let confinedRoot: Mutex<String?>

    init(registry: ModelRegistry, queue: ComputeQueue, log: Logger, saveRoot: String?) {
        self.registry = registry
        self.queue = queue
        self.log = log
        self.startedAt = Date()
        confinedRoot = Mutex(saveRoot)
    }

    /// The folder every written file must lie in (`--save-root`, narrowed by
    /// `initializationOptions.saveRoot`); nil when writes are not confined.
    public var saveRoot: String? { confinedRoot.withLock { $0 } }

    /// Confines writes to `folder`, which must lie inside the current root if there is one: a client
    /// may narrow what the daemon's owner allowed, never widen it.
    func narrowSaveRoot(to folder: String) throws(RPCError) {
        let field = "params.initializationOptions.saveRoot"
        guard folder.hasPrefix("/"), !folder.utf8.contains(0), let resolved = OutputFile.realPath(folder) else {
            throw RPCError(.invalidParams, "\(field): expected an absolute path to an existing folder, got '\(folder)'")
        }
        var status = stat()
        guard stat(resolved, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR else {
            throw RPCError(.invalidParams, "\(field): '\(folder)' is not a folder")
        }
        try confinedRoot.withLock { (root: inout String?) throws(RPCError) in
            if let current = root, let real = OutputFile.realPath(current),
                resolved != real && !resolved.hasPrefix(real == "/" ? "/" : real + "/")
            {
                throw RPCError(.invalidParams, "\(field): '\(folder)' is outside the daemon's save root \(current)")
            }
            root = resolved
        }
    }
}

/// A request whose parameters were read and checked, ready to run.
struct PreparedRequest: Sendable {
    var modelID: String?
    var run: @Sendable (RequestContext) throws -> RPCValue
}

/// A handler with its types erased, as the dispatcher stores it.
struct AnyMethodHandler: Sendable {
    let method: String
    let execution: Execution
    /// The fields its params may have (`workDoneToken` besides).
    let fields: Set<String>
    let prepare: @Sendable (RPCValue?) throws(RPCError) -> PreparedRequest

    init<Handler: MethodHandler>(_ handler: Handler) {
        method = Handler.method
        execution = Handler.execution
        fields = Handler.Params.fields
        prepare = { json throws(RPCError) in
            let reader = try ParamsReader(json)
            try reader.rejectUnknownFields(Handler.Params.fields.union(["workDoneToken"]))
            let params = try Handler.Params(from: reader)
            return PreparedRequest(modelID: params.modelID) { context in
                try handler.handle(params, context: context).json
            }
        }
    }
}

/// Maps what a handler threw to the error the client receives.
func rpcError(for error: any Error, id: RequestID) -> RPCError {
    switch error {
    case let error as RPCError: return error
    case is CancellationError: return .cancelled(id, beforeStart: false)
    case let error as ModelError:
        switch error {
        case .inputTooLong: return RPCError(.inputTooLong, error.description)
        case .emptyInput, .tokenOutOfRange, .unknownSite, .invalidIntervention: return RPCError(.invalidParams, error.description)
        default: return RPCError(.computationFailed, error.description)
        }
    case let error as AttributionError: return RPCError(.invalidParams, error.description)
    default: return RPCError(.internalError, "internal error: \(error)")
    }
}
