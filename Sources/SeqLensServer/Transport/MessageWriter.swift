import Foundation
import Synchronization

/// Writes framed messages to the protocol descriptor; whole frames only, from any thread.
public final class MessageWriter: Sendable {
    private let descriptor: Int32
    /// False once the reader of our output has gone away (EPIPE): further output is dropped.
    private let open = Mutex(true)

    public init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    public func send(_ message: RPCValue) {
        let body = JanssonCodec.encode(message)
        var frame = Array("Content-Length: \(body.count)\r\n\r\n".utf8)
        frame.append(contentsOf: body)
        open.withLock { open in
            guard open else { return }
            open = Self.writeAll(frame, to: descriptor)
        }
    }

    public func sendResult(_ result: RPCValue, id: RequestID) {
        send(["jsonrpc": "2.0", "id": id.json, "result": result])
    }

    public func sendError(_ error: RPCError, id: RequestID?) {
        send(["jsonrpc": "2.0", "id": id?.json ?? .null, "error": error.json])
    }

    public func sendNotification(_ method: String, params: RPCValue) {
        send(["jsonrpc": "2.0", "method": .string(method), "params": params])
    }

    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += written
            }
            return true
        }
    }
}
