import Testing

@testable import SeqLensServer

@Suite struct MessageFramerTests {
    static func frame(_ body: String, length: Int? = nil) -> [UInt8] {
        Array("Content-Length: \(length ?? body.utf8.count)\r\n\r\n\(body)".utf8)
    }

    /// Feeds `bytes` in chunks of `chunkSize` and collects every event.
    static func events(_ bytes: [UInt8], chunkSize: Int = .max) -> [FramerEvent] {
        var framer = MessageFramer(maximumMessageBytes: 1 << 20)
        var events: [FramerEvent] = []
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + min(chunkSize, bytes.count))
            framer.append(Array(bytes[offset..<end]))
            while let event = framer.nextEvent() { events.append(event) }
            offset = end
        }
        if let last = framer.finish() { events.append(last) }
        return events
    }

    static func messages(_ events: [FramerEvent]) -> [String] {
        events.compactMap { if case .message(let body) = $0 { String(decoding: body, as: UTF8.self) } else { nil } }
    }

    static func errors(_ events: [FramerEvent]) -> [FramingError] {
        events.compactMap { if case .broken(let error, _) = $0 { error } else { nil } }
    }

    @Test(arguments: [1, 2, 3, 7, 1000])
    func splitsFramesFedInAnyChunks(chunkSize: Int) {
        let bodies = [#"{"a":1}"#, #"{"text":"Content-Length: 5 inside a string"}"#, "[]", #"{"é":"ü"}"#]
        let bytes = bodies.flatMap { Self.frame($0) }
        let events = Self.events(bytes, chunkSize: chunkSize)
        #expect(Self.messages(events) == bodies)
        #expect(Self.errors(events).isEmpty)
    }

    @Test func ignoresOtherHeaderFieldsAndNameCase() {
        let bytes = Array("Content-Type: application/vscode-jsonrpc; charset=utf-8\r\ncontent-length: 2\r\n\r\n{}".utf8)
        #expect(Self.messages(Self.events(bytes)) == ["{}"])
    }

    @Test func neverConsumesPastTheFrame() {
        var framer = MessageFramer()
        framer.append(Self.frame("{}") + Array("Content-Len".utf8))
        #expect(framer.nextEvent() == .message(Array("{}".utf8)))
        #expect(framer.nextEvent() == nil)
        #expect(framer.bufferedByteCount == 11)
    }

    @Test func reportsGarbageAtOnceAndResynchronizes() {
        var framer = MessageFramer()
        framer.append(Array("{\"jsonrpc\":\"2.0\"}".utf8))
        guard case .broken(.unexpectedBytes, _)? = framer.nextEvent() else {
            Issue.record("garbage without a following header should be reported at once")
            return
        }
        #expect(framer.nextEvent() == nil)
        framer.append(Array("more garbage".utf8) + Self.frame("{}"))
        #expect(framer.nextEvent() == .message(Array("{}".utf8)))
    }

    @Test(arguments: [
        ("Content-Length: abc\r\n\r\n{}", "invalidContentLength"),
        ("Content-Length: -2\r\n\r\n{}", "invalidContentLength"),
        ("Content-Type: x\r\n\r\n{}", "missingContentLength"),
        ("Content-Length: 99999999999999999999999\r\n\r\n{}", "messageTooLarge"),
        ("Content-Length: 2000000\r\n\r\n{}", "messageTooLarge"),
        ("Bad Header\r\n\r\n{}", "invalidHeaderLine"),
        ("\u{1}\u{2}binary", "unexpectedBytes"),
        ("Content-Length: 2\n\n{}", "invalidHeaderLine"),
    ])
    func reportsABrokenHeaderThenServesTheNextFrame(input: String, expected: String) {
        let events = Self.events(Array(input.utf8) + Self.frame(#"{"ok":true}"#))
        let errors = Self.errors(events)
        #expect(errors.count == 1, "\(errors)")
        #expect(errors.first.map(Self.caseName) == expected, "\(errors)")
        #expect(Self.messages(events) == [#"{"ok":true}"#])
    }

    static func caseName(_ error: FramingError) -> String {
        switch error {
        case .unexpectedBytes: "unexpectedBytes"
        case .invalidHeaderLine: "invalidHeaderLine"
        case .missingContentLength: "missingContentLength"
        case .invalidContentLength: "invalidContentLength"
        case .messageTooLarge: "messageTooLarge"
        case .headerTooLarge: "headerTooLarge"
        case .lengthMismatch: "lengthMismatch"
        case .bodyLongerThanMessage: "bodyLongerThanMessage"
        case .truncatedAtEndOfInput: "truncatedAtEndOfInput"
        }
    }

    @Test func tooLongLengthIsCaughtByTheNextHeader() {
        // Declares 50 bytes for a 7-byte body; the next frame's header shows up inside the "body".
        let bytes = Self.frame(#"{"a":1}"#, length: 50) + Self.frame(#"{"b":2}"#)
        let events = Self.events(bytes, chunkSize: 5)
        #expect(Self.errors(events) == [.lengthMismatch(declared: 50, nextHeaderOffset: 7)])
        #expect(Self.messages(events) == [#"{"b":2}"#])
        guard case .broken(_, let body) = events[0] else { return }
        #expect(String(decoding: body, as: UTF8.self) == #"{"a":1}"#)
    }

    @Test func tooShortLengthDeliversATruncatedBodyThenSkipsToTheNextHeader() {
        var framer = MessageFramer()
        framer.append(Self.frame(#"{"a":12345}"#, length: 6) + Self.frame(#"{"b":2}"#))
        #expect(framer.nextEvent() == .message(Array(#"{"a":1"#.utf8)))
        // The body does not parse, so the reader asks to skip what remains of the frame.
        framer.resynchronize()
        #expect(framer.nextEvent() == .message(Array(#"{"b":2}"#.utf8)))
    }

    @Test func reportsTruncationAtEndOfInput() {
        let events = Self.events(Array("Content-Length: 10\r\n\r\n{}".utf8))
        #expect(Self.errors(events) == [.truncatedAtEndOfInput(declared: 10, received: 2)])
    }

    @Test func errorMessagesQuoteTheOffendingBytes() {
        let events = Self.events(Array("\u{7}hello".utf8))
        #expect(Self.errors(events).first?.description == "expected a 'Content-Length: N' header, got bytes '\\x07hello'")
    }
}
