import SeqLensTensor
import Foundation

/// One unit of work for the compute queue: a request that computes with a model.
struct ComputeJob: Sendable {
    var id: RequestID
    var method: String
    /// The resident model the request uses, kept from eviction while the job waits.
    var modelID: String?
    var cancellation: CancellationToken
    var run: @Sendable () -> Void
}

/// What `$/cancelRequest` found.
enum CancelOutcome {
    /// The job had not started; it was removed and must be answered with -32800 now.
    case removedFromQueue(ComputeJob)
    /// The job is running; it stops at its next step and answers -32800 itself.
    case signalled
    case notFound
}

/// Requests that compute run here one at a time, in arrival order, on a dedicated thread (the
/// BLAS library uses the cores), while the reader thread keeps reading the input.
final class ComputeQueue: @unchecked Sendable {
    // Guarded by `condition`.
    private let condition = NSCondition()
    private var pending: [ComputeJob] = []
    private var running: ComputeJob?
    private var closed = false
    private var worker: Thread?

    /// Starts the worker thread.
    func start() {
        let thread = Thread { [self] in workLoop() }
        thread.name = "seqlens-compute"
        thread.stackSize = 16 << 20
        worker = thread
        thread.start()
    }

    /// Queues `job`; false when the queue is closed.
    @discardableResult
    func enqueue(_ job: ComputeJob) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        pending.append(job)
        condition.signal()
        return true
    }

    func cancel(_ id: RequestID) -> CancelOutcome {
        condition.lock()
        defer { condition.unlock() }
        if let index = pending.firstIndex(where: { $0.id == id }) {
            return .removedFromQueue(pending.remove(at: index))
        }
        if let running, running.id == id {
            running.cancellation.cancel()
            return .signalled
        }
        return .notFound
    }

    /// Stops taking jobs, cancels the running one and removes the queued ones.
    /// - Returns: the removed jobs, which the caller must answer.
    @discardableResult
    func close() -> [ComputeJob] {
        condition.lock()
        defer { condition.unlock() }
        closed = true
        let dropped = pending
        pending.removeAll()
        running?.cancellation.cancel()
        condition.broadcast()
        return dropped
    }

    /// Stops taking jobs but lets the queued ones run (end of input: answer what was asked).
    func drain() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until no job is queued or running, at most `timeout` seconds (nil: no limit).
    func waitUntilIdle(timeout: TimeInterval? = nil) {
        // `wait(until: .distantFuture)` traps in Foundation on Linux: wait without a deadline instead.
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        condition.lock()
        defer { condition.unlock() }
        while running != nil || !pending.isEmpty {
            if let deadline {
                guard condition.wait(until: deadline) else { return }
            } else {
                condition.wait()
            }
        }
    }

    /// Queued and running requests, for `server/status`.
    func snapshot() -> (queued: [ComputeJob], running: ComputeJob?) {
        condition.lock()
        defer { condition.unlock() }
        return (pending, running)
    }

    /// Models that queued or running requests still need.
    func modelsInUse() -> Set<String> {
        condition.lock()
        defer { condition.unlock() }
        return Set((pending + (running.map { [$0] } ?? [])).compactMap(\.modelID))
    }

    private func workLoop() {
        var holdsFreedMemory = false
        while true {
            condition.lock()
            while pending.isEmpty && !closed {
                if holdsFreedMemory {
                    // Freed tensors stay in the heap between requests that follow each other
                    // (reusing them saves the page faults and zeroing of fresh memory: about a
                    // tenth of a forward); once the daemon has been idle a moment they go back.
                    if !condition.wait(until: Date(timeIntervalSinceNow: Self.idleBeforeRelease)) && pending.isEmpty {
                        condition.unlock()
                        MemoryPolicy.releaseFreedMemory()
                        holdsFreedMemory = false
                        condition.lock()
                    }
                } else {
                    condition.wait()
                }
            }
            if closed && pending.isEmpty {
                condition.unlock()
                return
            }
            let job = pending.removeFirst()
            running = job
            condition.unlock()

            job.run()
            holdsFreedMemory = true

            condition.lock()
            running = nil
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Seconds without a request before freed memory goes back to the system.
    static let idleBeforeRelease: TimeInterval = 0.5
}
