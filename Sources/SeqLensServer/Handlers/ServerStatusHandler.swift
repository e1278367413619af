import Foundation

/// `server/status`: resident models and memory, queued and running requests, uptime. Answers at
/// once, even while a request computes.
struct ServerStatusHandler: MethodHandler {
    static let method = "server/status"
    static let execution = Execution.immediate

    func handle(_ params: NoParams, context: RequestContext) throws -> RPCValue {
        let environment = context.environment
        let registry = environment.registry
        let (queued, running) = environment.queue.snapshot()
        let describe = { (job: ComputeJob) -> RPCValue in ["id": job.id.json, "method": .string(job.method)] }
        return [
            "uptimeSeconds": .number(Date().timeIntervalSince(environment.startedAt)),
            "models": .array(registry.entries.map { ModelDescription(entry: $0).json }),
            "memory": [
                "residentBytes": .integer(registry.residentBytes),
                "budgetBytes": registry.budgetBytes.map(RPCValue.integer) ?? .null,
            ],
            "requests": [
                "running": .array(running.map { [describe($0)] } ?? []),
                "queued": .array(queued.map(describe)),
            ],
            "modelLoadsFromStorage": .integer(registry.loadsFromStorage),
        ]
    }
}
