/// Why bytes on the input did not form a frame. Each case says what the client should fix.
public enum FramingError: Error, Equatable, CustomStringConvertible {
    /// Bytes where a `Content-Length` header was expected (for example JSON sent without a header).
    case unexpectedBytes(preview: String)
    case invalidHeaderLine(preview: String)
    case missingContentLength
    case invalidContentLength(String)
    case messageTooLarge(length: String, limit: Int)
    case headerTooLarge(limit: Int)
    /// A new header started `nextHeaderOffset` bytes into a body declared `declared` bytes long.
    case lengthMismatch(declared: Int, nextHeaderOffset: Int)
    /// The body held a complete JSON value followed by `extraBytes` more bytes.
    case bodyLongerThanMessage(declared: Int, messageBytes: Int)
    case truncatedAtEndOfInput(declared: Int, received: Int)

    public var description: String {
        switch self {
        case .unexpectedBytes(let preview):
            "expected a 'Content-Length: N' header, got bytes \(preview)"
        case .invalidHeaderLine(let preview):
            "invalid header line \(preview): expected 'Name: value' terminated by CRLF"
        case .missingContentLength:
            "the header block has no Content-Length field"
        case .invalidContentLength(let value):
            "Content-Length '\(value)' is not a non-negative decimal integer"
        case .messageTooLarge(let length, let limit):
            "Content-Length \(length) exceeds the limit of \(limit) bytes"
        case .headerTooLarge(let limit):
            "header block exceeds \(limit) bytes without a terminating empty line"
        case .lengthMismatch(let declared, let offset):
            "Content-Length \(declared) does not match the message: the next header starts after \(offset) bytes"
        case .bodyLongerThanMessage(let declared, let messageBytes):
            "Content-Length \(declared) does not match the message: its JSON ends after \(messageBytes) bytes"
        case .truncatedAtEndOfInput(let declared, let received):
            "input ended inside a message: Content-Length \(declared), received \(received) bytes"
        }
    }
}

/// What the framer found next in the input.
public enum FramerEvent: Equatable, Sendable {
    /// A complete message body.
    case message([UInt8])
    /// A broken frame, with whatever body bytes belonged to it (to recover a request id from).
    case broken(FramingError, body: [UInt8])
}

/// Splits the input into LSP-style frames: `Content-Length: N\r\n` (other fields ignored), an empty
/// line, then exactly N bytes of body.
///
/// The framer never consumes bytes past the frame it returns. After a broken frame it skips to
/// the next `Content-Length:` header. A valid JSON body can never contain `Content-Length: N` followed
/// by a raw CRLF (raw control characters are illegal in JSON strings), so finding that pattern inside
/// a body proves the declared length wrong and marks where the next frame begins.
public struct MessageFramer: Sendable {
    public let maximumMessageBytes: Int
    public let maximumHeaderBytes = 8192

    private var buffer: [UInt8] = []
    private var readIndex = 0
    /// Declared body length once the header has been read.
    private var bodyLength: Int?
    /// Body bytes already searched for an embedded header.
    private var bodyScanned = 0
    /// True after a reported error, until the next `Content-Length:` header.
    private var discarding = false

    private static let headerName = Array("Content-Length:".utf8)

    public init(maximumMessageBytes: Int = 256 << 20) {
        self.maximumMessageBytes = maximumMessageBytes
    }

    /// Above this capacity the buffer is given back once what it holds has been read, so that one
    /// large frame does not pin its size for the life of the connection.
    static let retainedCapacity = 1 << 20

    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// Bytes the buffer has allocated (for tests and memory accounting).
    public var bufferCapacity: Int { buffer.capacity }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if readIndex > 65536 && readIndex > buffer.count / 2 {
            buffer.removeFirst(readIndex)
            readIndex = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Drops consumed bytes and, when the buffer has grown past `retainedCapacity` and is now
    /// mostly read, moves what is left into a right-sized allocation. Called between frames only,
    /// where no state but `readIndex` points into the buffer.
    private mutating func releaseConsumed() {
        guard buffer.capacity > Self.retainedCapacity else { return }
        let left = bufferedByteCount
        guard left <= buffer.capacity / 4 else { return }
        buffer = left == 0 ? [] : Array(buffer[readIndex...])
        readIndex = 0
    }

    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Skips what is left of a frame whose body did not parse, up to the next header.
    /// - Parameter remainder: body bytes after a complete JSON value, which may begin the next frame.
    public mutating func resynchronize(returning remainder: [UInt8] = []) {
        precondition(bodyLength == nil, "resynchronize is called between frames")
        if !remainder.isEmpty {
            buffer.replaceSubrange(readIndex..<readIndex, with: remainder)
        }
        discarding = true
    }

    /// The next message or error, or nil when more input is needed.
    public mutating func nextEvent() -> FramerEvent? {
        while true {
            if let length = bodyLength { return nextBody(length: length) }
            if discarding {
                guard skipToHeader(from: readIndex) else { return nil }
                discarding = false
            }
            switch readHeader() {
            case .needMoreInput: return nil
            case .header: continue
            case .error(let error): return .broken(error, body: [])
            }
        }
    }

    /// At end of input: a report of any partial frame left over.
    public mutating func finish() -> FramerEvent? {
        defer {
            buffer.removeAll()
            readIndex = 0
            bodyLength = nil
        }
        if let length = bodyLength {
            return .broken(.truncatedAtEndOfInput(declared: length, received: bufferedByteCount), body: [])
        }
        let rest = buffer[readIndex...]
        if discarding || rest.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return nil }
        return .broken(.unexpectedBytes(preview: Self.preview(rest)), body: [])
    }

    private enum HeaderOutcome { case needMoreInput, header, error(FramingError) }

    private mutating func readHeader() -> HeaderOutcome {
        guard let end = Self.find(Array("\r\n\r\n".utf8), in: buffer, from: readIndex) else {
            if let error = partialHeaderError() {
                recover(after: readIndex)
                return .error(error)
            }
            return .needMoreInput
        }
        var contentLength: FramingError? = .missingContentLength
        var length = 0
        var lineStart = readIndex
        while lineStart < end {
            let lineEnd = Self.find([0x0D, 0x0A], in: buffer, from: lineStart).map { min($0, end) } ?? end
            let line = buffer[lineStart..<lineEnd]
            guard let colon = line.firstIndex(of: 0x3A), colon > lineStart,
                line[lineStart..<colon].allSatisfy(Self.isTokenByte),
                line.allSatisfy({ $0 >= 0x20 && $0 < 0x7F || $0 == 0x09 })
            else {
                let error: FramingError =
                    lineStart == readIndex && Self.isTokenByte(buffer[readIndex]) == false
                    ? .unexpectedBytes(preview: Self.preview(line)) : .invalidHeaderLine(preview: Self.preview(line))
                recover(after: lineStart)
                return .error(error)
            }
            let name = String(decoding: line[lineStart..<colon], as: UTF8.self)
            if name.lowercased() == "content-length" {
                let isBlank = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
                let field = line[(colon + 1)...].drop(while: isBlank)
                let value = String(decoding: field.reversed().drop(while: isBlank).reversed(), as: UTF8.self)
                contentLength = validate(contentLength: value, into: &length)
            }
            lineStart = lineEnd + 2
        }
        if let error = contentLength {
            recover(after: readIndex)
            return .error(error)
        }
        readIndex = end + 4
        bodyLength = length
        bodyScanned = 0
        return .header
    }

    private func validate(contentLength value: String, into length: inout Int) -> FramingError? {
        guard !value.isEmpty, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            return .invalidContentLength(value)
        }
        guard let parsed = Int(value), parsed <= maximumMessageBytes else {
            return .messageTooLarge(length: value, limit: maximumMessageBytes)
        }
        length = parsed
        return nil
    }

    /// An error as soon as pending bytes cannot begin a header, so garbage gets its answer at once.
    private func partialHeaderError() -> FramingError? {
        let pending = buffer[readIndex...]
        guard let first = pending.first else { return nil }
        if !Self.isTokenByte(first) { return .unexpectedBytes(preview: Self.preview(pending)) }
        if pending.count > maximumHeaderBytes { return .headerTooLarge(limit: maximumHeaderBytes) }
        var previous: UInt8 = 0
        var lineHasColon = false
        for byte in pending {
            switch byte {
            case 0x0A:
                if previous != 0x0D || !lineHasColon { return .invalidHeaderLine(preview: Self.preview(pending)) }
                lineHasColon = false
            case 0x0D, 0x09, 0x20..<0x7F:
                if byte == 0x3A { lineHasColon = true }
            default:
                return .unexpectedBytes(preview: Self.preview(pending))
            }
            previous = byte
        }
        return nil
    }

    /// After a header error: continue at the next `Content-Length:` after `position`, or discard.
    private mutating func recover(after position: Int) {
        if let next = Self.find(Self.headerName, in: buffer, from: position + 1) {
            readIndex = next
        } else {
            discarding = true
            readIndex = max(readIndex, buffer.count - (Self.headerName.count - 1))
        }
    }

    /// Drops bytes up to the next `Content-Length:`; false when none is buffered yet.
    private mutating func skipToHeader(from position: Int) -> Bool {
        if let next = Self.find(Self.headerName, in: buffer, from: position) {
            readIndex = next
            return true
        }
        // Keep a tail that might be the start of a header split across reads.
        readIndex = max(readIndex, buffer.count - (Self.headerName.count - 1))
        releaseConsumed()
        return false
    }

    private mutating func nextBody(length: Int) -> FramerEvent? {
        let available = min(bufferedByteCount, length)
        let scanStart = readIndex + max(0, bodyScanned - 24)
        if let offset = embeddedHeader(from: scanStart, to: readIndex + available) {
            let body = Array(buffer[readIndex..<offset])
            let consumed = offset - readIndex
            readIndex = offset
            bodyLength = nil
            releaseConsumed()
            return .broken(.lengthMismatch(declared: length, nextHeaderOffset: consumed), body: body)
        }
        bodyScanned = available
        guard bufferedByteCount >= length else { return nil }
        let body = Array(buffer[readIndex..<readIndex + length])
        readIndex += length
        bodyLength = nil
        releaseConsumed()
        return .message(body)
    }

    /// Offset of `Content-Length:[ \t]*[0-9]+\r\n` starting in `start..<end`, if any.
    private func embeddedHeader(from start: Int, to end: Int) -> Int? {
        var position = start
        while position < end, let found = Self.find(Self.headerName, in: buffer, from: position), found < end {
            var cursor = found + Self.headerName.count
            while cursor < buffer.count, buffer[cursor] == 0x20 || buffer[cursor] == 0x09 { cursor += 1 }
            let digitsStart = cursor
            while cursor < buffer.count, buffer[cursor] >= 0x30 && buffer[cursor] <= 0x39 { cursor += 1 }
            if cursor > digitsStart, cursor + 1 < buffer.count, buffer[cursor] == 0x0D, buffer[cursor + 1] == 0x0A {
                return found
            }
            position = found + 1
        }
        return nil
    }

    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "!"), UInt8(ascii: "#"),
            UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "*"),
            UInt8(ascii: "+"), UInt8(ascii: "^"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default: false
        }
    }

    /// First index of `needle` in `haystack` at or after `start`.
    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, start >= 0 else { return nil }
        let last = haystack.count - needle.count
        guard start <= last else { return nil }
        return haystack.withUnsafeBufferPointer { bytes in
            var index = start
            while index <= last {
                guard bytes[index] == first else {
                    index += 1
                    continue
                }
                var matched = 1
                while matched < needle.count, bytes[index + matched] == needle[matched] { matched += 1 }
                if matched == needle.count { return index }
                index += 1
            }
            return nil
        }
    }

    /// Up to 40 bytes, quoted, with non-printable bytes escaped: for error messages.
    static func preview<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var text = "'"
        for byte in bytes.prefix(40) {
            switch byte {
            case 0x0D: text += "\\r"
            case 0x0A: text += "\\n"
            case 0x20..<0x7F: text.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                text += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return text + (bytes.count > 40 ? "...'" : "'")
    }
}
