import Foundation
import Testing

@testable import SeqLensServer

/// Compute queue, cancellation and progress, in process (over pipes) and against the binary, with
/// tiny-gpt2 (about 0.2 ms a token in a debug build): long requests are many inputs.
@Suite struct SchedulingTests {
    /// 200 inputs x 120 tokens: several seconds of work, cancelled at its next token.
    static let longGenerate: RPCValue = [
        "model": "tiny-gpt2", "inputs": .array((0..<200).map { .string("Hello \($0)") }), "maxNewTokens": 120,
        "stopAtEos": false,
    ]

    @Test func cancellingARunningGenerateAnswersWithinOneSecond() throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        _ = daemon.client.call("model/load", ["path": .string(TinyModels.gpt2Path)])
        var params = Self.longGenerate.objectValue ?? [:]
        params["workDoneToken"] = "g"
        let id = daemon.client.request("generate", .object(params))
        // Wait until it computes: the first progress report.
        var lastPercentage: Int?
        while lastPercentage == nil, let message = daemon.client.next(timeout: 10) {
            if message["params"]?["value"]?["kind"] == "report" { lastPercentage = message["params"]?["value"]?["percentage"]?.intValue }
        }
        #expect(lastPercentage != nil)
        let cancelledAt = Date()
        daemon.client.notify("$/cancelRequest", ["id": .integer(id)])
        var end: RPCValue?
        let reply = daemon.client.response(to: id, timeout: 5) { notification in
            let value = notification["params"]?["value"]
            if value?["kind"] == "report" { lastPercentage = value?["percentage"]?.intValue }
            if value?["kind"] == "end" { end = value }
        }
        let elapsed = Date().timeIntervalSince(cancelledAt)
        #expect(reply?["error"]?["code"] == .integer(ErrorCode.requestCancelled.rawValue))
        #expect(elapsed < 1, "cancellation took \(elapsed) s")
        #expect(end == ["kind": "end", "message": "cancelled"])
        // Cancelled mid-way, far from the end.
        #expect((lastPercentage ?? 100) < 50)
        let expected = try TinyModels.gpt2.get().encode("next", addSpecialTokens: true)
        let next = daemon.client.call("tokenize", ["model": "tiny-gpt2", "texts": ["next"]])
        #expect(next?["results"]?.arrayValue?.first?["ids"] == expected.json)
        #expect(daemon.shutdown() == 0)
    }

    @Test func cancellingAQueuedRequestLeavesTheRunningOneUntouched() throws {
        let daemon = InProcessDaemon()
        daemon.initialize()
        _ = daemon.client.call("model/load", ["path": .string(TinyModels.gpt2Path), "id": "m"])
        let inputs = (0..<40).map { "Story \($0):" }
        let running = daemon.client.request(
            "generate", ["model": "m", "inputs": .array(inputs.map { .string($0) }), "maxNewTokens": 100, "stopAtEos": false])
        let queued = daemon.client.request("generate", ["model": "m", "inputs": ["b"], "maxNewTokens": 40])
        let status = daemon.client.call("server/status")
        #expect(status?["requests"]?["queued"]?.arrayValue?.contains { $0["id"] == .integer(queued) } == true)
        daemon.client.notify("$/cancelRequest", ["id": .integer(queued)])
        // The queued one is answered at once, before the running one finishes.
        let first = daemon.client.next()
        #expect(first?["id"] == .integer(queued))
        #expect(first?["error"]?["code"] == .integer(ErrorCode.requestCancelled.rawValue))
        #expect(first?["error"]?["message"]?.stringValue?.contains("before it started") == true)
        let results = daemon.client.response(to: running)?["result"]?["results"]?.arrayValue ?? []
        #expect(results.count == inputs.count)
        let model = try TinyModels.gpt2.get()
        for index in [0, inputs.count - 1] where index < results.count {
            let expected = try TinyModels.greedy(model, inputs[index], maxNewTokens: 100, stopAtEOS: false)
            #expect(results[index]["text"] == .string(expected.text))
            #expect(results[index]["tokens"]?.arrayValue?.map { $0["id"] } == expected.tokens.map { .integer($0.id) })
        }
        #expect(daemon.shutdown() == 0)
    }

    @Test func statusAnswersWhileARequestComputes() throws {
        let daemon = InProcessDaemon()
        daemon.initialize()
        _ = daemon.client.call("model/load", ["path": .string(TinyModels.gpt2Path)])
        var params = Self.longGenerate.objectValue ?? [:]
        params["workDoneToken"] = 1
        let running = daemon.client.request("generate", .object(params))
        _ = daemon.client.next()  // progress begin: it is running
        let started = Date()
        let id = daemon.client.request("server/status")
        let status = daemon.client.response(to: id) { _ in }
        #expect(Date().timeIntervalSince(started) < 0.3, "status waited for the computation")
        #expect(status?["result"]?["requests"]?["running"] == [["id": .integer(running), "method": "generate"]])
        #expect((status?["result"]?["uptimeSeconds"]?.doubleValue ?? -1) > 0)
        daemon.client.notify("$/cancelRequest", ["id": .integer(running)])
        #expect(daemon.client.response(to: running) { _ in }?["error"]?["code"] == .integer(ErrorCode.requestCancelled.rawValue))
        #expect(daemon.shutdown() == 0)
    }

    @Test func progressGoesFromBeginThroughRisingReportsToEnd() throws {
        let daemon = InProcessDaemon()
        daemon.initialize()
        _ = daemon.client.call("model/load", ["path": .string(TinyModels.gpt2Path)])
        let id = daemon.client.request(
            "generate",
            ["model": "tiny-gpt2", "inputs": ["a", "b"], "maxNewTokens": 10, "stopAtEos": false, "workDoneToken": "tok"])
        var values: [RPCValue] = []
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
