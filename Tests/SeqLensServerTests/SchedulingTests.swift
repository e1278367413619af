import Foundation
import Testing

@testable import SeqLensServer

/// Compute queue, cancellation and progress, in process (over pipes) and against the binary.
@Suite struct SchedulingTests {
    @Test func cancellingARunningGenerateAnswersWithinOneSecond() throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        _ = daemon.client.call("model/load", ["path": "synthetic:slow?delayMs=20&maxPositions=100000", "id": "slow"])
        let id = daemon.client.request(
            "generate", ["model": "slow", "inputs": ["a"], "maxNewTokens": 5000, "workDoneToken": "g"])
        // Wait until it computes: the first progress report.
        var reports = 0
        while reports == 0, let message = daemon.client.next(timeout: 5) {
            if message["params"]?["value"]?["kind"] == "report" { reports += 1 }
        }
        #expect(reports == 1)
        let cancelledAt = Date()
        daemon.client.notify("$/cancelRequest", ["id": .integer(id)])
        var notifications: [JSONValue] = []
        let reply = daemon.client.response(to: id, timeout: 2) { notifications.append($0) }
        let elapsed = Date().timeIntervalSince(cancelledAt)
        #expect(reply?["error"]?["code"] == .integer(ErrorCode.requestCancelled.rawValue))
        #expect(elapsed < 1, "cancellation took \(elapsed) s")
        #expect(notifications.last?["params"]?["value"] == ["kind": "end", "message": "cancelled"])
        #expect(daemon.client.call("tokenize", ["model": "slow", "texts": ["b"]])?["results"]?.arrayValue?.count == 1)
        #expect(daemon.shutdown() == 0)
    }

    @Test func cancellingAQueuedRequestLeavesTheRunningOneUntouched() throws {
        let daemon = InProcessDaemon()
        daemon.initialize()
        _ = daemon.client.call("model/load", ["path": "synthetic:slow?delayMs=10", "id": "slow"])
        let running = daemon.client.request("generate", ["model": "slow", "inputs": ["a"], "maxNewTokens": 40])
        let queued = daemon.client.request("generate", ["model": "slow", "inputs": ["b"], "maxNewTokens": 40])
        let status = daemon.client.call("server/status")
        #expect(status?["requests"]?["queued"]?.arrayValue?.contains { $0["id"] == .integer(queued) } == true)
        daemon.client.notify("$/cancelRequest", ["id": .integer(queued)])
        // The queued one is answered at once, before the running one finishes.
        let first = daemon.client.next()
        #expect(first?["id"] == .integer(queued))
        #expect(first?["error"]?["code"] == .integer(ErrorCode.requestCancelled.rawValue))
        #expect(first?["error"]?["message"]?.stringValue?.contains("before it started") == true)
        let result = daemon.client.response(to: running)?["result"]?["results"]?.arrayValue?.first
        #expect(result?["tokens"]?.arrayValue?.count == 40)
        #expect(result?["text"]?.stringValue?.hasPrefix("bcdefghijklmnopqrstuvwxyzabcd") == true)
        #expect(daemon.shutdown() == 0)
    }

    @Test func statusAnswersWhileARequestComputes() throws {
        let daemon = InProcessDaemon()
        daemon.initialize()
        _ = daemon.client.call("model/load", ["path": "synthetic:slow?delayMs=20", "id": "slow"])
        let running = daemon.client.request(
            "generate", ["model": "slow", "inputs": ["a"], "maxNewTokens": 25, "workDoneToken": 1])
        _ = daemon.client.next()  // progress begin: it is running
        let started = Date()
        let id = daemon.client.request("server/status")
        let status = daemon.client.response(to: id) { _ in }
        #expect(Date().timeIntervalSince(started) < 0.3, "status waited for the computation")
        #expect(status?["result"]?["requests"]?["running"] == [["id": .integer(running), "method": "generate"]])
        #expect((status?["result"]?["uptimeSeconds"]?.doubleValue ?? -1) > 0)
        _ = daemon.client.response(to: running) { _ in }
        #expect(daemon.shutdown() == 0)
    }

    @Test func progressGoesFromBeginThroughRisingReportsToEnd() throws {
        let daemon = InProcessDaemon()
        daemon.initialize()
        _ = daemon.client.call("model/load", ["path": "synthetic:a"])
        let id = daemon.client.request(
            "generate", ["model": "synthetic:a", "inputs": ["a", "b"], "maxNewTokens": 10, "workDoneToken": "tok"])
        var values: [JSONValue] = []
        let reply = daemon.client.response(to: id) { notification in
            #expect(notification["method"] == "$/progress")
            #expect(notification["params"]?["token"] == "tok")
            if let value = notification["params"]?["value"] { values.append(value) }
        }
        #expect(reply?["result"]?["results"]?.arrayValue?.count == 2)
        #expect(values.first?["kind"] == "begin")
        #expect(values.last == ["kind": "end", "message": "done"])
        let percentages = values.dropFirst().dropLast().compactMap { $0["percentage"]?.intValue }
        #expect(percentages == [5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 95, 100])
        #expect(daemon.shutdown() == 0)
    }
}
