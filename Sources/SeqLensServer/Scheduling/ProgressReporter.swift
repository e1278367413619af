import Synchronization

/// Sends LSP `$/progress` notifications (begin, report with percentage, end) for a request that
/// carried a `workDoneToken`. Reports are sent only when the whole percentage changes.
public final class ProgressReporter: Sendable {
    public let token: RPCValue
    private let send: @Sendable (RPCValue) -> Void
    private let state = Mutex<(began: Bool, ended: Bool, percentage: Int)>((false, false, -1))

    init(token: RPCValue, send: @escaping @Sendable (RPCValue) -> Void) {
        self.token = token
        self.send = send
    }

    public func begin(title: String, message: String? = nil) {
        let first = state.withLock { state in
            defer { state.began = true }
            return !state.began
        }
        guard first else { return }
        var value: [String: RPCValue] = [
            "kind": "begin", "title": .string(title), "cancellable": true, "percentage": 0,
        ]
        if let message { value["message"] = .string(message) }
        notify(value)
    }

    /// - Parameter fraction: work done, 0...1.
    public func report(fraction: Double, message: String? = nil) {
        let percentage = Int((min(max(fraction, 0), 1) * 100).rounded(.down))
        let changed = state.withLock { state in
            guard state.began, !state.ended, percentage != state.percentage else { return false }
            state.percentage = percentage
            return true
        }
        guard changed else { return }
        var value: [String: RPCValue] = ["kind": "report", "percentage": .integer(percentage)]
        if let message { value["message"] = .string(message) }
        notify(value)
    }

    /// Ends the progress if it began and has not ended yet.
    public func end(message: String? = nil) {
        let shouldSend = state.withLock { state in
            defer { state.ended = true }
            return state.began && !state.ended
        }
        guard shouldSend else { return }
        var value: [String: RPCValue] = ["kind": "end"]
        if let message { value["message"] = .string(message) }
        notify(value)
    }

    private func notify(_ value: [String: RPCValue]) {
        send(.object(["token": token, "value": .object(value)]))
    }
}
