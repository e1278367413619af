import Foundation
import SeqLensModels
import Testing

@testable import SeqLensServer

/// The reliability test of issue 10, against the real `seqlens serve` binary over local pipes: hostile
/// frames, a cancellation storm, a soak with the daemon's RSS sampled, and a sweep of mutated
/// checkpoints through one daemon. Bounded loops, seeded (SEQLENS_RELIABILITY_SEED replays a run),
/// a few minutes in all; each test prints a one-line summary for the CI log.
@Suite(.serialized) struct ReliabilityTests {
    static let seed: UInt64 = ProcessInfo.processInfo.environment["SEQLENS_RELIABILITY_SEED"].flatMap { UInt64($0) } ?? 20_240_610

    static func log(_ line: String) { print("[reliability] \(line)") }

    // MARK: - a. Hostile frames

    /// A hostile input and what it may get: `errors` is how many error responses (id null or its own)
    /// it must produce; `result` means it is in fact a valid request and must get its result.
    struct Hostile {
        enum Answer { case error, errorOrResult, nothing, anyCount }
        var name: String
        var bytes: [UInt8]
        var answer: Answer
        /// The id its response (if any) carries, when it has a usable one.
        var id: RPCValue? = nil
    }

    static func hostileInputs(random: inout SeededGenerator) -> [Hostile] {
        func framed(_ body: [UInt8]) -> [UInt8] { RPCTestClient.frame(body) }
        func framed(_ text: String) -> [UInt8] { framed(Array(text.utf8)) }
        func raw(_ text: String) -> [UInt8] { Array(text.utf8) }
        let list = #"{"jsonrpc":"2.0","id":900001,"method":"model/list"}"#
        var garbage = [UInt8](repeating: 0, count: 4096)
        for index in garbage.indices { garbage[index] = UInt8(truncatingIfNeeded: random.next()) }
        var printable = ""
        // No ':' (a line with one is a header field, which LSP lets a server ignore).
        for _ in 0..<300 { printable.append(Character(UnicodeScalar(UInt8(32 + random.next() % 95)))) }
        printable = printable.replacingOccurrences(of: ":", with: ";")
        var inputs: [Hostile] = [
            Hostile(name: "garbage bytes", bytes: [1, 2, 3, 0xFF, 0xFE, 0], answer: .error),
            Hostile(name: "4 KB of random bytes", bytes: garbage, answer: .error),
            Hostile(name: "a line of printable garbage", bytes: raw(printable + "\r\n"), answer: .error),
            Hostile(name: "NUL bytes unframed", bytes: [UInt8](repeating: 0, count: 64), answer: .error),
            Hostile(name: "JSON without a header", bytes: raw(list), answer: .error),
            Hostile(name: "Content-Length longer than the body", bytes: raw("Content-Length: 5000\r\n\r\n" + list), answer: .error, id: 900001),
            Hostile(name: "Content-Length shorter than the body", bytes: raw("Content-Length: 12\r\n\r\n" + list), answer: .error),
            Hostile(name: "Content-Length 10^20", bytes: raw("Content-Length: 100000000000000000000\r\n\r\n{}"), answer: .error),
            Hostile(name: "Content-Length 2^40", bytes: raw("Content-Length: 1099511627776\r\n\r\n{}"), answer: .error),
            Hostile(name: "Content-Length 2^63-1", bytes: raw("Content-Length: 9223372036854775807\r\n\r\n{}"), answer: .error),
            Hostile(name: "Content-Length -1", bytes: raw("Content-Length: -1\r\n\r\n{}"), answer: .error),
            Hostile(name: "Content-Length in hex", bytes: raw("Content-Length: 0x10\r\n\r\n{}"), answer: .error),
            Hostile(name: "Content-Length empty", bytes: raw("Content-Length: \r\n\r\n{}"), answer: .error),
            Hostile(name: "header and no body", bytes: raw("Content-Length: 30\r\n\r\n"), answer: .error),
            Hostile(name: "two conflicting Content-Lengths", bytes: raw("Content-Length: 2\r\nContent-Length: \(list.utf8.count)\r\n\r\n" + list), answer: .anyCount, id: 900001),
            Hostile(name: "a 100 KB header line", bytes: raw("X-Junk: " + String(repeating: "a", count: 100_000) + "\r\nContent-Length: 2\r\n\r\n{}"), answer: .anyCount),
            Hostile(name: "100k '[' framed", bytes: framed(String(repeating: "[", count: 100_000)), answer: .error),
            Hostile(name: "100k '[' and ']' framed", bytes: framed(String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)), answer: .error),
            Hostile(name: "100k '{\"a\":' framed", bytes: framed(String(repeating: #"{"a":"#, count: 100_000)), answer: .error),
            Hostile(name: "100k '[' unframed", bytes: raw(String(repeating: "[", count: 100_000)), answer: .error),
            Hostile(name: "params nested 5000 deep", bytes: framed(#"{"jsonrpc":"2.0","id":900002,"method":"tokenize","params":{"model":"m","texts":"# + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "}}"), answer: .error, id: 900002),
            Hostile(name: "body not UTF-8", bytes: framed([0x22, 0xC3, 0x28, 0x22]), answer: .error),
            Hostile(name: "invalid UTF-8 inside a request's string", bytes: framed(raw(#"{"jsonrpc":"2.0","id":900003,"method":"tokenize","params":{"model":"m","texts":[""#) + [0xFF, 0xFE, 0xC0, 0x80] + raw(#""]}}"#)), answer: .error, id: 900003),
            Hostile(name: "raw NUL inside a request's string", bytes: framed(raw(#"{"jsonrpc":"2.0","id":900004,"method":"tokenize","params":{"model":"m","texts":["a"#) + [0] + raw(#"b"]}}"#)), answer: .error, id: 900004),
            Hostile(name: "NUL bytes framed", bytes: framed([0, 0, 0, 0]), answer: .error),
            Hostile(name: "escaped NUL in the method", bytes: framed(#"{"jsonrpc":"2.0","id":900005,"method":"model/list\u0000x"}"#), answer: .error, id: 900005),
            Hostile(name: "empty body", bytes: raw("Content-Length: 0\r\n\r\n"), answer: .error),
            Hostile(name: "body of whitespace", bytes: framed("   \r\n\t "), answer: .error),
            Hostile(name: "a number", bytes: framed("42"), answer: .error),
            Hostile(name: "a string", bytes: framed(#""model/list""#), answer: .error),
            Hostile(name: "null", bytes: framed("null"), answer: .error),
            Hostile(name: "true", bytes: framed("true"), answer: .error),
            Hostile(name: "an empty array", bytes: framed("[]"), answer: .error),
            Hostile(name: "a batch of two requests", bytes: framed("[" + list + "," + list + "]"), answer: .error),
            Hostile(name: "an array of numbers", bytes: framed("[1,2,3]"), answer: .error),
            Hostile(name: "id null", bytes: framed(#"{"jsonrpc":"2.0","id":null,"method":"model/list"}"#), answer: .error),
            Hostile(name: "id 1.5", bytes: framed(#"{"jsonrpc":"2.0","id":1.5,"method":"model/list"}"#), answer: .error),
            Hostile(name: "id true", bytes: framed(#"{"jsonrpc":"2.0","id":true,"method":"model/list"}"#), answer: .error),
            Hostile(name: "id an object", bytes: framed(#"{"jsonrpc":"2.0","id":{"a":1},"method":"model/list"}"#), answer: .error),
            Hostile(name: "id an array", bytes: framed(#"{"jsonrpc":"2.0","id":[1],"method":"model/list"}"#), answer: .error),
            Hostile(name: "id 2^70", bytes: framed(#"{"jsonrpc":"2.0","id":1180591620717411303424,"method":"model/list"}"#), answer: .error),
            Hostile(name: "id 1e3", bytes: framed(#"{"jsonrpc":"2.0","id":1e3,"method":"model/list"}"#), answer: .anyCount),
            Hostile(name: "no jsonrpc", bytes: framed(#"{"id":900006,"method":"model/list"}"#), answer: .error, id: 900006),
            Hostile(name: "jsonrpc 2.0 as a number", bytes: framed(#"{"jsonrpc":2.0,"id":900007,"method":"model/list"}"#), answer: .error, id: 900007),
            Hostile(name: "jsonrpc 1.0", bytes: framed(#"{"jsonrpc":"1.0","id":900008,"method":"model/list"}"#), answer: .error, id: 900008),
            Hostile(name: "no method", bytes: framed(#"{"jsonrpc":"2.0","id":900009}"#), answer: .error, id: 900009),
            Hostile(name: "method a number", bytes: framed(#"{"jsonrpc":"2.0","id":900010,"method":12}"#), answer: .error, id: 900010),
            Hostile(name: "method empty", bytes: framed(#"{"jsonrpc":"2.0","id":900011,"method":""}"#), answer: .error, id: 900011),
            Hostile(name: "unknown $/ request", bytes: framed(#"{"jsonrpc":"2.0","id":900012,"method":"$/bogus"}"#), answer: .error, id: 900012),
            Hostile(name: "unknown method", bytes: framed(#"{"jsonrpc":"2.0","id":900013,"method":"model/explode","params":{}}"#), answer: .error, id: 900013),
            Hostile(name: "params a string", bytes: framed(#"{"jsonrpc":"2.0","id":900014,"method":"tokenize","params":"x"}"#), answer: .error, id: 900014),
            Hostile(name: "params null", bytes: framed(#"{"jsonrpc":"2.0","id":900015,"method":"tokenize","params":null}"#), answer: .error, id: 900015),
            Hostile(name: "params an array", bytes: framed(#"{"jsonrpc":"2.0","id":900016,"method":"tokenize","params":["m",["a"]]}"#), answer: .error, id: 900016),
            Hostile(name: "result and error from the client", bytes: framed(#"{"jsonrpc":"2.0","id":900017,"result":1,"error":{"code":1,"message":"x"}}"#), answer: .anyCount, id: 900017),
            Hostile(name: "a response to nothing", bytes: framed(#"{"jsonrpc":"2.0","id":900018,"result":{}}"#), answer: .anyCount, id: 900018),
            Hostile(name: "initialize again", bytes: framed(#"{"jsonrpc":"2.0","id":900019,"method":"initialize","params":{}}"#), answer: .error, id: 900019),
            Hostile(name: "unknown notification", bytes: framed(#"{"jsonrpc":"2.0","method":"bogus/notify","params":{}}"#), answer: .nothing),
            Hostile(name: "cancel with params a string", bytes: framed(#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":"x"}"#), answer: .nothing),
            Hostile(name: "cancel of an unknown id", bytes: framed(#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":123456789}}"#), answer: .nothing),
            Hostile(name: "cancel with an object id", bytes: framed(#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":{}}}"#), answer: .nothing),
            Hostile(name: "wrong param types", bytes: framed(#"{"jsonrpc":"2.0","id":900020,"method":"generate","params":{"model":7,"inputs":{"a":1},"maxNewTokens":"x"}}"#), answer: .error, id: 900020),
            Hostile(name: "maxNewTokens 2^62", bytes: framed(#"{"jsonrpc":"2.0","id":900021,"method":"generate","params":{"model":"m","inputs":["a"],"maxNewTokens":4611686018427387904}}"#), answer: .error, id: 900021),
            Hostile(name: "detokenize 100k ids", bytes: framed(#"{"jsonrpc":"2.0","id":900022,"method":"detokenize","params":{"model":"m","ids":[["# + Array(repeating: "97", count: 100_000).joined(separator: ",") + "]]}}"), answer: .errorOrResult, id: 900022),
            Hostile(name: "detokenize id -1", bytes: framed(#"{"jsonrpc":"2.0","id":900023,"method":"detokenize","params":{"model":"m","ids":[[-1]]}}"#), answer: .error, id: 900023),
            Hostile(name: "lone surrogate in a text", bytes: framed(#"{"jsonrpc":"2.0","id":900024,"method":"tokenize","params":{"model":"m","texts":["a\ud800b"]}}"#), answer: .errorOrResult, id: 900024),
            Hostile(name: "duplicate keys", bytes: framed(#"{"jsonrpc":"2.0","id":900025,"id":900026,"method":"model/list"}"#), answer: .errorOrResult, id: 900026),
            Hostile(name: "a 1000-level params object for model/list", bytes: framed(#"{"jsonrpc":"2.0","id":900027,"method":"model/list","params":"# + String(repeating: #"{"a":"#, count: 1000) + "1" + String(repeating: "}", count: 1000) + "}"), answer: .errorOrResult, id: 900027),
        ]
        // Frames split at every byte, or glued to the next one, are still frames: covered by the
        // probes below. A few frames cut in the middle of the header, then garbage.
        inputs.append(Hostile(name: "header cut, then garbage", bytes: raw("Content-Len") + [0xFF, 0x00] + raw("\r\n\r\n"), answer: .error))
        return inputs
    }

    /// Valid requests sent between the hostile inputs, each with the result it must get.
    struct Probe {
        var id: RPCValue
        var frame: [UInt8]
        var check: (RPCValue) -> String?
    }

    @Test func hostileFramesInterleavedWithValidRequests() throws {
        let started = Date()
        var random = SeededGenerator(seed: Self.seed)
        let model = try TinyModels.gpt2.get()
        let daemon = try DaemonProcess()
        daemon.initialize()
        _ = try #require(daemon.client.call("model/load", ["path": .string(TinyModels.gpt2Path), "id": "m"]))

        var probeNumber = 0
        func makeProbe() throws -> Probe {
            probeNumber += 1
            // Ids alternate between integers and strings (empty, long, with escapes).
            let id: RPCValue =
                switch probeNumber % 5 {
                case 0: .string("probe-\(probeNumber)")
                case 1: .integer(probeNumber)
                case 2: .string(probeNumber == 2 ? "" : "p\"\\\u{1}\(probeNumber)é😀")
                case 3: .string(String(repeating: "x", count: 2000) + "\(probeNumber)")
                default: .integer(-probeNumber)
                }
            let texts = ["Hello world", "Content-Length: 10\r\n\r\n{}", "\u{0}nul and é😀", "tab\tand\nnewline \(probeNumber)"]
            let text = texts[probeNumber % texts.count]
            if probeNumber % 3 == 0 {
                let message: RPCValue = ["jsonrpc": "2.0", "id": id, "method": "model/list"]
                return Probe(id: id, frame: RPCTestClient.frame(JanssonCodec.encode(message))) { reply in
                    reply["result"]?["models"]?.arrayValue?.first?["id"] == "m" ? nil : "model/list got \(reply)"
                }
            }
            let expected = model.encode(text, addSpecialTokens: true).json
            let message: RPCValue = ["jsonrpc": "2.0", "id": id, "method": "tokenize", "params": ["model": "m", "texts": [.string(text)]]]
            return Probe(id: id, frame: RPCTestClient.frame(JanssonCodec.encode(message))) { reply in
                reply["result"]?["results"]?.arrayValue?.first?["ids"] == expected ? nil : "tokenize \(text.debugDescription) got \(reply)"
            }
        }

        /// Sends bytes in one write, or in random pieces (down to single bytes).
        func write(_ bytes: [UInt8]) {
            switch random.next() % 4 {
            case 0 where bytes.count < 4096:
                for byte in bytes { daemon.client.writeRaw([byte]) }
            case 1:
                var offset = 0
                while offset < bytes.count {
                    let count = min(bytes.count - offset, 1 + Int(random.next() % 700))
                    daemon.client.writeRaw(Array(bytes[offset..<(offset + count)]))
                    offset += count
                }
            default:
                daemon.client.writeRaw(bytes)
            }
        }

        var tally = OutcomeTally()
        var validAnswered = 0, validSent = 0
        let hostile = Self.hostileInputs(random: &random)
        // Each hostile input twice, in a seeded order; some glued to the probe in one write.
        var order = Array(hostile.indices) + Array(hostile.indices)
        order.shuffle(using: &random)
        for index in order {
            let input = hostile[index]
            let probes = try (0..<(1 + Int(random.next() % 2))).map { _ in try makeProbe() }
            validSent += probes.count
            if random.next() % 3 == 0 {
                write(input.bytes + probes.flatMap(\.frame))
            } else {
                write(input.bytes)
                for probe in probes { write(probe.frame) }
            }
            var pending = probes
            var answers: [RPCValue] = []
            while !pending.isEmpty {
                guard let message = daemon.client.next(timeout: 10) else {
                    Issue.record("\(input.name): no answer to probe \(pending[0].id) within 10 s (daemon alive: \(daemon.isAlive)); stderr: \(daemon.standardErrorTail())")
                    try #require(daemon.isAlive, "the daemon died after \(input.name)")
                    break
                }
                if let problem = responseProblems(message) { Issue.record("\(input.name): malformed output: \(problem): \(message)") }
                if message["method"] != nil { continue }
                if let position = pending.firstIndex(where: { $0.id == message["id"] }) {
                    if let problem = pending[position].check(message) { Issue.record("\(input.name): \(problem)") }
                    pending.remove(at: position)
                    validAnswered += 1
                } else {
                    answers.append(message)
                }
            }
            // What the hostile input itself got.
            for answer in answers {
                let id = answer["id"] ?? .null
                if id != .null && id != input.id { Issue.record("\(input.name): a response with an unexpected id: \(answer)") }
                if let code = answer["error"]?["code"]?.intValue {
                    tally.add("error \(code)")
                    if !ProtocolSpecification.universalCodes.contains(code) && code != -32011 && code != -32001 && code != -32010 {
                        tally.add("unusual code")
                    }
                } else {
                    tally.add("result")
                    if input.answer != .errorOrResult && input.answer != .anyCount { Issue.record("\(input.name): a result: \(answer)") }
                }
            }
            switch input.answer {
            case .error:
                #expect(answers.count == 1 && answers.first?["error"] != nil, "\(input.name): expected one error, got \(answers)")
            case .errorOrResult:
                #expect(answers.count == 1, "\(input.name): expected one response, got \(answers)")
            case .nothing:
                #expect(answers.isEmpty, "\(input.name): expected no response, got \(answers)")
                tally.add("no response")
            case .anyCount:
                #expect(answers.count <= 2, "\(input.name): \(answers)")
            }
            try #require(daemon.isAlive, "the daemon died after \(input.name): \(daemon.standardErrorTail())")
        }
        #expect(validAnswered == validSent)
        #expect(validSent >= 2 * hostile.count)
        // Nothing more is on the way, and the daemon ends cleanly.
        #expect(daemon.client.next(timeout: 0.3) == nil)
        #expect(daemon.shutdown() == 0, "\(daemon.standardErrorTail())")
        #expect(daemon.client.waitForEndOfOutput())
        #expect(!daemon.standardError.contains("Fatal error"))
        Self.log(
            "hostile frames: \(order.count) hostile inputs (\(hostile.count) kinds x 2), \(validSent) valid requests, "
                + "\(validAnswered) answered correctly; hostile outcomes: \(tally.line); \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }

    // MARK: - b. Cancellation storm

    @Test func cancellationStormAnswersEveryRequestExactlyOnce() throws {
        let started = Date()
        var random = SeededGenerator(seed: Self.seed &+ 1)
        let model = try TinyModels.gpt2.get()
        let daemon = try DaemonProcess()
        daemon.initialize()
        _ = try #require(daemon.client.call("model/load", ["path": .string(TinyModels.gpt2Path), "id": "m"]))

        struct Request {
            var id: RPCValue
            var message: RPCValue
            var method: String
            var inputs: [String]
            var maxNewTokens: Int
            /// Cancellations sent after the request.
            var cancels = 0
            /// A cancellation sent before the request (for an id not yet in flight: must be ignored).
            var cancelledBeforeSend = false
        }
        let prompts = ["Hello", "The cat sat on", "Once upon a time", "1 2 3", "é😀 unicode", "A longer prompt about the weather today"]
        var requests: [Request] = []
        // Phase 1: a burst of 150 mixed requests (most cancellations land on queued ones); phase 2: 50
        // long generations one at a time, each cancelled (or not) a seeded moment after it starts.
        let burst = 150, count = 200
        for index in 0..<count {
            let id: RPCValue = index % 3 == 0 ? .string("storm-\(index)") : .integer(50_000 + index)
            let inputs = (0..<(1 + Int(random.next() % 3))).map { _ in prompts[Int(random.next() % UInt64(prompts.count))] }
            var params: [String: RPCValue] = ["model": "m", "inputs": .array(inputs.map { .string($0) })]
            let method: String
            var maxNewTokens: Int
            if index >= burst || random.next() % 10 < 7 {
                method = "generate"
                // Mostly short in the burst, some long enough to be cancelled while they run; long in phase 2.
                // (the longest prompt is 23 tokens: at most 123 of tiny-gpt2's 128 positions)
                maxNewTokens = index >= burst || random.next() % 5 == 0 ? 60 + Int(random.next() % 41) : 1 + Int(random.next() % 16)
                params["maxNewTokens"] = .integer(maxNewTokens)
                params["stopAtEos"] = false
            } else {
                method = "attribute"
                maxNewTokens = 1 + Int(random.next() % 3)
                params["generationArgs"] = ["maxNewTokens": .integer(maxNewTokens)]
                let methods: [RPCValue] = ["saliency", "input_x_gradient", "integrated_gradients"]
                let chosen = methods[Int(random.next() % 3)]
                params["method"] = chosen
                if chosen == "integrated_gradients" { params["methodArgs"] = ["nSteps": .integer(4 + Int(random.next() % 12))] }
            }
            if random.next() % 4 == 0 { params["workDoneToken"] = .string("progress-\(index)") }
            let message: RPCValue = ["jsonrpc": "2.0", "id": id, "method": .string(method), "params": .object(params)]
            requests.append(Request(id: id, message: message, method: method, inputs: inputs, maxNewTokens: maxNewTokens))
        }

        // The schedule: every request sent in order; cancellations at seeded moments (before the
        // request, right after it, a few requests later, after a pause), some twice; cancellations
        // of ids that never existed; pauses. `awaitResponses(n)` waits until n more responses came.
        enum Action { case send(Int), cancel(RPCValue), pause(UInt32), awaitResponses(Int) }
        var actions: [Action] = []
        var deferred: [(at: Int, id: RPCValue)] = []
        var fakeCancels = 0, realCancels = 0
        func fakeCancel() {
            let fake: RPCValue = random.next() % 2 == 0 ? .integer(9_000_000 + Int(random.next() % 1000)) : .string("nope-\(random.next() % 1000)")
            actions.append(.cancel(fake))
            fakeCancels += 1
        }
        for index in 0..<burst {
            for entry in deferred where entry.at == index { actions.append(.cancel(entry.id)) }
            let roll = random.next() % 100
            if roll < 5 {
                actions.append(.cancel(requests[index].id))  // before it exists: ignored
                requests[index].cancelledBeforeSend = true
            }
            actions.append(.send(index))
            switch roll {
            case 5..<20:
                actions.append(.cancel(requests[index].id))
                requests[index].cancels += 1
            case 20..<35:
                deferred.append((index + 1 + Int(random.next() % 6), requests[index].id))
                requests[index].cancels += 1
            case 35..<42:
                actions.append(.pause(UInt32(500 + random.next() % 8000)))
                actions.append(.cancel(requests[index].id))
                actions.append(.cancel(requests[index].id))  // duplicate
                requests[index].cancels += 2
            default: break
            }
            if random.next() % 4 == 0 { fakeCancel() }
            if random.next() % 10 == 0 { actions.append(.pause(UInt32(random.next() % 3000))) }
        }
        for entry in deferred where entry.at >= burst { actions.append(.cancel(entry.id)) }
        // A second cancellation of some at the end of the burst (most are done by then: ignored).
        for index in 0..<burst where random.next() % 5 == 0 {
            actions.append(.cancel(requests[index].id))
            requests[index].cancels += 1
        }
        actions.append(.awaitResponses(burst))
        for index in burst..<count {
            actions.append(.send(index))
            if random.next() % 5 != 0 {
                actions.append(.pause(UInt32(random.next() % 20_000)))
                actions.append(.cancel(requests[index].id))
                requests[index].cancels += 1
                if random.next() % 2 == 0 {
                    actions.append(.cancel(requests[index].id))
                    requests[index].cancels += 1
                }
            }
            if random.next() % 3 == 0 { fakeCancel() }
            actions.append(.awaitResponses(1))
        }
        realCancels = requests.map(\.cancels).reduce(0, +) + requests.filter(\.cancelledBeforeSend).count

        // Send from another thread while this one reads, so that nothing waits on a full pipe.
        let client = daemon.client
        let schedule = actions
        let messages = requests.map(\.message)
        let answered = DispatchSemaphore(value: 0)
        let sender = Thread {
            for action in schedule {
                switch action {
                case .send(let index): client.send(messages[index])
                case .cancel(let id): client.notify("$/cancelRequest", ["id": id])
                case .pause(let microseconds): usleep(microseconds)
                case .awaitResponses(let count):
                    for _ in 0..<count where answered.wait(timeout: .now() + 30) == .timedOut { return }
                }
            }
        }
        sender.start()

        var responses: [RPCValue: [RPCValue]] = [:]
        var stray: [RPCValue] = []
        var progress = 0
        let deadline = Date().addingTimeInterval(90)
        while responses.count < count, Date() < deadline {
            guard let message = daemon.client.next(timeout: max(0.1, deadline.timeIntervalSinceNow)) else { break }
            if let problem = responseProblems(message) { Issue.record("malformed output: \(problem)") }
            if message["method"] != nil {
                progress += 1
                continue
            }
            let id = message["id"] ?? .null
            if requests.contains(where: { $0.id == id }) {
                responses[id, default: []].append(message)
                answered.signal()
            } else {
                stray.append(message)
            }
        }
        // Anything late (a duplicate) arrives within a moment.
        while let message = daemon.client.next(timeout: 0.5) {
            if message["method"] != nil { continue }
            let id = message["id"] ?? .null
            if requests.contains(where: { $0.id == id }) { responses[id, default: []].append(message) } else { stray.append(message) }
        }
        #expect(daemon.isAlive, "the daemon died: \(daemon.standardErrorTail())")
        #expect(stray.isEmpty, "responses to nothing sent: \(stray.prefix(5))")

        var tally = OutcomeTally()
        var checkedGenerations = 0
        for request in requests {
            let answers = responses[request.id] ?? []
            guard answers.count == 1, let answer = answers.first else {
                Issue.record("request \(request.id) (\(request.method)) got \(answers.count) responses: \(answers.prefix(2))")
                tally.add(answers.isEmpty ? "lost" : "duplicated")
                continue
            }
            if let error = answer["error"] {
                let code = error["code"]?.intValue
                if code == ErrorCode.requestCancelled.rawValue {
                    let queued = error["message"]?.stringValue?.contains("before it started") == true
                    tally.add(queued ? "cancelled queued" : "cancelled running")
                    if request.cancels == 0 {
                        let why = request.cancelledBeforeSend ? "its id was cancelled before the request was sent" : "it was never cancelled"
                        Issue.record("request \(request.id): \(why), but it got \(error)")
                        tally.add("cancelled by a cancel of a not-yet-sent id")
                    }
                } else {
                    tally.add("error \(code ?? 0)")
                    Issue.record("request \(request.id) (\(request.method)): \(error)")
                }
                continue
            }
            tally.add("\(request.method) result")
            let results = answer["result"]?["results"]?.arrayValue ?? []
            #expect(results.count == request.inputs.count, "request \(request.id): \(results.count) results for \(request.inputs.count) inputs")
            guard request.method == "generate" else { continue }
            // Every completed generation is the engine's greedy continuation.
            for (input, result) in zip(request.inputs, results) {
                let expected = try TinyModels.greedy(model, input, maxNewTokens: request.maxNewTokens, stopAtEOS: false)
                #expect(result["tokens"]?.arrayValue?.map { $0["id"] } == expected.tokens.map { .integer($0.id) }, "request \(request.id) input \(input.debugDescription)")
                checkedGenerations += 1
            }
        }
        #expect(responses.count == count)
        #expect(tally["lost"] == 0 && tally["duplicated"] == 0)
        // The storm did cancel something (the schedule guarantees cancels before most requests finish).
        #expect(tally["cancelled queued"] > 0 && tally["cancelled running"] > 0, "\(tally.line)")

        // Afterwards: nothing running or queued, and a final request works.
        let status = daemon.client.call("server/status")
        #expect(status?["requests"]?["running"] == [], "\(String(describing: status))")
        #expect(status?["requests"]?["queued"] == [], "\(String(describing: status))")
        let final = daemon.client.call("generate", ["model": "m", "inputs": ["The final request"], "maxNewTokens": 8, "stopAtEos": false])
        let expected = try TinyModels.greedy(model, "The final request", maxNewTokens: 8, stopAtEOS: false)
        #expect(final?["results"]?.arrayValue?.first?["text"] == .string(expected.text))
        #expect(daemon.shutdown() == 0, "\(daemon.standardErrorTail())")
        Self.log(
            "cancellation storm: \(count) requests, \(realCancels) cancels of them (\(requests.filter { $0.cancels > 1 }.count) duplicated), "
                + "\(fakeCancels) cancels of ids never sent; outcomes: \(tally.line); \(checkedGenerations) generations checked against the engine, "
                + "\(progress) progress notifications; \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }

    // MARK: - c. Soak

    /// A few thousand cheap requests, pipelined 16 deep, with the daemon's VmRSS sampled every 250.
    ///
    /// Tolerance: after a warm-up of 1,500 requests (allocator arenas, caches and the first
    /// generation's buffers are in place), no later sample may exceed the warm-up level by more than
    /// 10% + 8 MB. That absorbs malloc's retention and fragmentation (a few MB, not growing) while a
    /// leak of about 2-3 KB per request (4,500 requests after the warm-up) fails; a leaked KV cache,
    /// logits buffer or response per request is far larger than that.
    @Test func soakKeepsTheDaemonsMemoryFlat() throws {
        let started = Date()
        var random = SeededGenerator(seed: Self.seed &+ 2)
        let model = try TinyModels.gpt2.get()
        let daemon = try DaemonProcess()
        daemon.initialize()
        _ = try #require(daemon.client.call("model/load", ["path": .string(TinyModels.gpt2Path), "id": "m"]))
        try #require(daemon.residentBytes != nil, "VmRSS not readable from /proc/\(daemon.pid)/status")

        let texts = (0..<24).map { "soak text \($0) " + String(repeating: "ab é ", count: $0 % 7) }
        let expectedIDs = texts.map { model.encode($0, addSpecialTokens: true).json }
        let total = 6000, warmUp = 1500, sampleEvery = 250, window = 16
        var samples: [(requests: Int, bytes: Int)] = []
        var pending: [Int: (kind: String, text: Int, tokens: Int)] = [:]
        var sent = 0, answered = 0
        var tally = OutcomeTally()
        let deadline = Date().addingTimeInterval(120)
        while answered < total, Date() < deadline {
            while sent < total && pending.count < window {
                let roll = random.next() % 100
                let text = Int(random.next() % UInt64(texts.count))
                let id: Int
                switch roll {
                case 0..<45:
                    id = daemon.client.request("tokenize", ["model": "m", "texts": [.string(texts[text])]])
                    pending[id] = ("tokenize", text, 0)
                case 45..<80:
                    let tokens = 1 + Int(random.next() % 2)
                    id = daemon.client.request("generate", ["model": "m", "inputs": [.string(texts[text])], "maxNewTokens": .integer(tokens), "stopAtEos": false])
                    pending[id] = ("generate", text, tokens)
                case 80..<95:
                    id = daemon.client.request("model/list")
                    pending[id] = ("model/list", 0, 0)
                default:
                    id = daemon.client.request("detokenize", ["model": "m", "ids": [expectedIDs[text]]])
                    pending[id] = ("detokenize", text, 0)
                }
                sent += 1
            }
            guard let message = daemon.client.next(timeout: 10) else {
                Issue.record("no response within 10 s after \(answered) answers (alive: \(daemon.isAlive)): \(daemon.standardErrorTail())")
                break
            }
            if message["method"] != nil { continue }
            guard let id = message["id"]?.intValue, let request = pending.removeValue(forKey: id) else {
                Issue.record("unexpected message: \(message)")
                continue
            }
            answered += 1
            tally.add(request.kind)
            let result = message["result"]
            switch request.kind {
            case "tokenize":
                #expect(result?["results"]?.arrayValue?.first?["ids"] == expectedIDs[request.text], "\(message)")
            case "generate":
                #expect(result?["results"]?.arrayValue?.first?["tokens"]?.arrayValue?.count == request.tokens, "\(message)")
            case "model/list":
                #expect(result?["models"]?.arrayValue?.count == 1, "\(message)")
            default:
                #expect(result?["texts"]?.arrayValue?.first == .string(texts[request.text]), "\(message)")
            }
            if answered % sampleEvery == 0, let bytes = daemon.residentBytes { samples.append((answered, bytes)) }
        }
        #expect(answered == total)
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed < 90, "the soak took \(elapsed) s")
        let baseline = try #require(samples.last { $0.requests <= warmUp }?.bytes)
        let after = samples.filter { $0.requests > warmUp }
        try #require(after.count >= 10)
        let limit = baseline + baseline / 10 + 8 << 20
        let peak = after.map(\.bytes).max() ?? 0
        #expect(peak <= limit, "RSS grew from \(baseline >> 10) kB after the warm-up to \(peak >> 10) kB (limit \(limit >> 10) kB): \(samples.map { $0.bytes >> 10 })")
        #expect(daemon.shutdown() == 0, "\(daemon.standardErrorTail())")
        func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1_048_576) }
        Self.log(
            "soak: \(answered) requests (\(tally.line)) in \(String(format: "%.1f", elapsed)) s; VmRSS first \(megabytes(samples.first?.bytes ?? 0)), "
                + "after warm-up (\(warmUp)) \(megabytes(baseline)), peak after \(megabytes(peak)), last \(megabytes(after.last?.bytes ?? 0)), limit \(megabytes(limit)); "
                + "\(samples.count) samples")
    }

    // MARK: - d. Mutated checkpoints

    @Test func mutatedCheckpointSweepThroughOneDaemon() throws {
        let started = Date()
        let mutants = try CheckpointMutantCatalogue.all(seed: Self.seed &+ 3)
        try #require(mutants.count >= 1000, "only \(mutants.count) mutants")
        let manager = FileManager.default
        let root = manager.temporaryDirectory.appendingPathComponent("seqlens-reliability-\(getpid())-\(UUID().uuidString.prefix(8))")
        try manager.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? manager.removeItem(at: root) }
        // Pristine copies to hard-link unchanged files from (same file system as the mutants).
        let pristine = root.appendingPathComponent("pristine")
        var fixtureFiles: [String: [String]] = [:]
        for fixture in CheckpointMutantCatalogue.safetensorsFixtures {
            let folder = pristine.appendingPathComponent(fixture)
            try manager.createDirectory(at: folder, withIntermediateDirectories: true)
            let files = try CheckpointMutantCatalogue.fixtureFiles(fixture)
            for file in files {
                try manager.copyItem(
                    at: CheckpointMutantCatalogue.modelsFolder.appendingPathComponent(fixture).appendingPathComponent(file),
                    to: folder.appendingPathComponent(file))
            }
            fixtureFiles[fixture] = files
        }
        var tensorNames: [String: [String]] = [:]
        for fixture in Set(mutants.map(\.fixture)) { tensorNames[fixture] = CheckpointMutantCatalogue.tensorNames(of: fixture) }

        func write(_ mutant: CheckpointMutant, number: Int) throws -> URL {
            let overrides = mutant.files()
            if mutant.fixture.hasSuffix(".gguf") {
                let file = root.appendingPathComponent("m\(number).gguf")
                try Data(overrides["model.gguf"].flatMap { $0 } ?? []).write(to: file)
                return file
            }
            let folder = root.appendingPathComponent("m\(number)")
            try manager.createDirectory(at: folder, withIntermediateDirectories: true)
            for file in fixtureFiles[mutant.fixture] ?? [] where overrides[file] == nil {
                let source = pristine.appendingPathComponent(mutant.fixture).appendingPathComponent(file)
                let destination = folder.appendingPathComponent(file)
                if link(source.path, destination.path) != 0 { try manager.copyItem(at: source, to: destination) }
            }
            for (file, bytes) in overrides {
                if let bytes { try Data(bytes).write(to: folder.appendingPathComponent(file)) }
            }
            return folder
        }

        var daemon = try DaemonProcess()
        daemon.initialize()
        var restarts = 0
        var outcomes: [String: OutcomeTally] = [:]
        var byOutcome = OutcomeTally()
        var failures: [String] = []
        var answeredLoads = 0
        let timeout: TimeInterval = 10

        /// After no answer: a crash if the daemon closed its output (its backtrace may still be being
        /// written: given 5 s), else a hang (killed); either way a fresh daemon carries on the sweep.
        func restart(after mutant: CheckpointMutant, what: String) throws -> String {
            let crashed = daemon.client.waitForEndOfOutput(timeout: 0.5)
            let status = crashed ? daemon.waitForExit(timeout: 5) : daemon.waitForExit(timeout: 0)
            let reason = Self.crashSummary(daemon.standardError)
            let outcome = crashed ? "CRASH" : "HANG"
            failures.append("\(outcome) in \(what): \(mutant.name) (exit status \(status.map(String.init) ?? "none, killed")): \(reason)")
            Issue.record("the daemon \(crashed ? "died" : "hung") on \(what) of \(mutant.name): \(reason)")
            restarts += 1
            daemon = try DaemonProcess()
            daemon.initialize()
            return outcome
        }

        for (number, mutant) in mutants.enumerated() {
            let path = try write(mutant, number: number)
            defer { try? manager.removeItem(at: path) }
            let outcome: String
            let id = daemon.client.request("model/load", ["path": .string(path.path), "id": "mutant"])
            let reply = daemon.client.next(timeout: timeout)
            if reply == nil || reply?["id"] != .integer(id) {
                if let reply { failures.append("unexpected message for \(mutant.name): \(reply)") }
                outcome = try restart(after: mutant, what: "model/load")
            } else if let error = reply?["error"] {
                answeredLoads += 1
                let code = error["code"]?.intValue ?? 0
                let message = error["message"]?.stringValue ?? ""
                if code != ErrorCode.modelLoadFailed.rawValue {
                    outcome = "error \(code)"
                    failures.append("wrong code \(code) for \(mutant.name): \(message)")
                    Issue.record("\(mutant.name): expected -32011, got \(code): \(message)")
                } else {
                    let lowered = message.lowercased()
                    var named = mutant.mentions.contains { lowered.contains($0.lowercased()) }
                    if !named && mutant.tensorNamesCount { named = (tensorNames[mutant.fixture] ?? []).contains { message.contains($0) } }
                    if message.isEmpty || !named {
                        outcome = "-32011 vague"
                        failures.append("vague message for \(mutant.name) (expected one of \(mutant.mentions)): \(message)")
                        Issue.record("\(mutant.name): the message does not name the problem (one of \(mutant.mentions)): \(message)")
                    } else {
                        outcome = "-32011"
                    }
                }
            } else {
                answeredLoads += 1
                if mutant.expectation == .mustFail {
                    outcome = "LOADED (should fail)"
                    failures.append("loaded but should not: \(mutant.name)")
                    Issue.record("\(mutant.name) loaded; it should be refused with -32011")
                } else {
                    outcome = "loaded"
                }
                // A loaded mutant must also survive a short generation, with numbers where the spec says numbers.
                let generate = daemon.client.request("generate", ["model": "mutant", "inputs": ["Hello"], "maxNewTokens": 2, "stopAtEos": false])
                let generated = daemon.client.next(timeout: timeout)
                if generated == nil || generated?["id"] != .integer(generate) {
                    let failure = try restart(after: mutant, what: "generate after a successful load") + " in generate"
                    byOutcome.add(failure)
                    outcomes[mutant.kind, default: OutcomeTally()].add(failure)
                    continue
                }
                if let tokens = generated?["result"]?["results"]?.arrayValue?.first?["tokens"]?.arrayValue {
                    let numeric = tokens.allSatisfy { $0["prob"]?.doubleValue?.isFinite == true }
                    if !numeric {
                        failures.append("generate after loading \(mutant.name) gave non-numeric probabilities: \(tokens.map { $0["prob"] ?? .null })")
                        Issue.record("\(mutant.name): generate returned a prob that is not a finite number: \(tokens.map { $0["prob"] ?? .null })")
                        byOutcome.add("non-finite prob")
                    }
                }
                let unload = daemon.client.request("model/unload", ["model": "mutant"])
                if daemon.client.next(timeout: timeout)?["id"] != .integer(unload) {
                    _ = try restart(after: mutant, what: "model/unload")
                }
            }
            byOutcome.add(outcome)
            outcomes[mutant.kind, default: OutcomeTally()].add(outcome)
        }

        // After all of it, the unmutated GGUF and a folder load and generate as the engine does.
        let gguf = CheckpointMutantCatalogue.modelsFolder.appendingPathComponent(CheckpointMutantCatalogue.ggufFixture).path
        let loaded = daemon.client.call("model/load", ["path": .string(gguf), "id": "gguf"])
        #expect(loaded?["architecture"] == "llama" && loaded?["layers"] == 2, "\(String(describing: loaded))")
        let llama = try TinyModels.llama.get()
        for (modelID, path) in [("gguf", gguf), ("folder", TinyModels.llamaPath)] {
            if modelID == "folder" { _ = daemon.client.call("model/load", ["path": .string(path), "id": "folder"]) }
            let reply = daemon.client.call("generate", ["model": .string(modelID), "inputs": ["Hello world"], "maxNewTokens": 10, "stopAtEos": false])
            let expected = try TinyModels.greedy(llama, "Hello world", maxNewTokens: 10, stopAtEOS: false)
            #expect(reply?["results"]?.arrayValue?.first?["tokens"]?.arrayValue?.map { $0["id"] } == expected.tokens.map { .integer($0.id) }, "\(modelID)")
        }
        #expect(daemon.shutdown() == 0, "\(daemon.standardErrorTail())")

        let elapsed = Date().timeIntervalSince(started)
        #expect(restarts == 0, "the daemon had to be restarted \(restarts) times")
        #expect(answeredLoads + byOutcome["CRASH"] + byOutcome["HANG"] == mutants.count)
        #expect(answeredLoads >= 1000, "only \(answeredLoads) loads answered")
        Self.log("checkpoint sweep: \(mutants.count) mutants (\(Set(mutants.map(\.fixture)).count) fixtures), \(answeredLoads) loads answered, \(restarts) daemon restarts, \(String(format: "%.1f", elapsed)) s")
        Self.log("  outcomes: \(byOutcome.line)")
        for (kind, tally) in outcomes.sorted(by: { $0.key < $1.key }) { Self.log("  \(kind): \(tally.line)") }
        for failure in failures.prefix(2000) { Self.log("  FAIL \(failure)") }
        if failures.count > 2000 { Self.log("  ... \(failures.count - 2000) more failures") }
    }

    /// The lines of a crash report that say what and where: the runtime's message and the first
    /// frames in the project's sources.
    static func crashSummary(_ standardError: String) -> String {
        let lines = standardError.split(separator: "\n").map(String.init)
        var picked = lines.filter { ($0.hasPrefix("Fatal error") || $0.hasPrefix("*** ")) && !$0.contains("Backtracing") }
        let crashed = lines.firstIndex { $0.contains(" crashed:") } ?? 0
        picked += lines[crashed...].filter { $0.contains("/Sources/") }.prefix(3).map { line in
            line.split(separator: " ", omittingEmptySubsequences: true).drop { !$0.contains("0x") }.dropFirst().joined(separator: " ")
        }
        let unique = picked.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        return unique.isEmpty ? "stderr: " + String(standardError.suffix(300)) : unique.joined(separator: " | ")
    }
}
