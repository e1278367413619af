import Foundation
import SeqLensServer
import Testing

/// A test-side JSON-RPC peer over two descriptors: writes raw or framed bytes, reads frames on a
/// background thread so that a test can wait for the next message with a timeout.
final class RPCTestClient: @unchecked Sendable {
    let writeDescriptor: Int32
    let readDescriptor: Int32
    private let condition = NSCondition()
    private var received: [RPCValue] = []
    private var endOfOutput = false
    private var nextID = 1000

    private let closeInputAction: @Sendable () -> Void

    /// - Parameter closeInput: closes the write side (its owner may be a `FileHandle`).
    init(writeDescriptor: Int32, readDescriptor: Int32, closeInput: (@Sendable () -> Void)? = nil) {
        // A daemon that died must fail the test that killed it, not end the whole test process
        // with SIGPIPE at the next write: writes to its closed pipe then fail with EPIPE instead.
        signal(SIGPIPE, SIG_IGN)
        self.writeDescriptor = writeDescriptor
        self.readDescriptor = readDescriptor
        self.closeInputAction = closeInput ?? { close(writeDescriptor) }
        let thread = Thread { [self] in readLoop() }
        thread.start()
    }

    func writeRaw(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let count = write(writeDescriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if count <= 0 { return }
                offset += count
            }
        }
    }

    func writeRaw(_ text: String) { writeRaw(Array(text.utf8)) }

    static func frame(_ body: [UInt8]) -> [UInt8] { Array("Content-Length: \(body.count)\r\n\r\n".utf8) + body }

    func send(_ message: RPCValue) { writeRaw(Self.frame(JanssonCodec.encode(message))) }

    /// Sends a request with a fresh integer id and returns the id.
    @discardableResult
    func request(_ method: String, _ params: RPCValue? = nil, id: Int? = nil) -> Int {
        condition.lock()
        nextID += 1
        let requestID = id ?? nextID
        condition.unlock()
        var message: [String: RPCValue] = ["jsonrpc": "2.0", "id": .integer(requestID), "method": .string(method)]
        if let params { message["params"] = params }
        send(.object(message))
        return requestID
    }

    func notify(_ method: String, _ params: RPCValue? = nil) {
        var message: [String: RPCValue] = ["jsonrpc": "2.0", "method": .string(method)]
        if let params { message["params"] = params }
        send(.object(message))
    }

    /// The next message from the server, or nil after `timeout` seconds or at end of output.
    func next(timeout: TimeInterval = 10) -> RPCValue? {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while received.isEmpty && !endOfOutput {
            if !condition.wait(until: deadline) { return nil }
        }
        return received.isEmpty ? nil : received.removeFirst()
    }

    /// True when the server closed its output and every message was read.
    func waitForEndOfOutput(timeout: TimeInterval = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while !endOfOutput, condition.wait(until: deadline) {}
        return endOfOutput
    }

    /// The response to `id`; notifications before it go to `onNotification`, other responses are
    /// recorded as issues.
    func response(
        to id: Int, timeout: TimeInterval = 10, onNotification: (RPCValue) -> Void = { _ in },
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> RPCValue? {
        let deadline = Date().addingTimeInterval(timeout)
        while let message = next(timeout: max(0, deadline.timeIntervalSinceNow)) {
            if message["id"] == .integer(id) { return message }
            if message["method"] != nil {
                onNotification(message)
            } else {
                Issue.record("unexpected message while waiting for \(id): \(message)", sourceLocation: sourceLocation)
            }
        }
        Issue.record("no response to request \(id) within \(timeout) s", sourceLocation: sourceLocation)
        return nil
    }

    /// Sends a request and returns its `result`, recording an issue for an error.
    func call(
        _ method: String, _ params: RPCValue? = nil, timeout: TimeInterval = 10,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> RPCValue? {
        let id = request(method, params)
        guard let reply = response(to: id, timeout: timeout, sourceLocation: sourceLocation) else { return nil }
        if let error = reply["error"] { Issue.record("\(method) failed: \(error)", sourceLocation: sourceLocation) }
        return reply["result"]
    }

    func closeInput() { closeInputAction() }

    private func readLoop() {
        var framer = MessageFramer()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(readDescriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            chunk.withUnsafeBytes { framer.append(UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
            while let event = framer.nextEvent() {
                let value: RPCValue
                switch event {
                case .message(let body):
                    value = (try? JanssonCodec.decode(body).value) ?? ["unparsable": .string(String(decoding: body, as: UTF8.self))]
                case .broken(let error, _):
                    value = ["brokenFrameFromServer": .string(error.description)]
                }
                condition.lock()
                received.append(value)
                condition.signal()
                condition.unlock()
            }
        }
        condition.lock()
        endOfOutput = true
        condition.broadcast()
        condition.unlock()
    }
}
