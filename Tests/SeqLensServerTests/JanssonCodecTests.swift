import Testing

@testable import SeqLensServer

@Suite struct JanssonCodecTests {
    @Test func roundTripsEveryKindOfValue() throws {
        let value: RPCValue = [
            "null": .null, "true": true, "false": false, "int": -42, "big": .integer(Int(Int64.max)), "real": 0.25,
            "text": "héllo \"quoted\"\n\u{0}nul", "array": [1, "two", [3.5]], "object": ["nested": []],
        ]
        let decoded = try JanssonCodec.decode(JanssonCodec.encode(value))
        #expect(decoded.value == value)
    }

    @Test func floatsRoundTripAtFloat32Precision() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<1000 {
            let float = Float(bitPattern: UInt32.random(in: 0..<0x7F80_0000, using: &generator))
            let text = JanssonCodec.encode(.array([.number(Double(float))]))
            let back = try JanssonCodec.decode(text).value.arrayValue?.first?.doubleValue
            #expect(back.map(Float.init) == float, "\(float) written as \(String(decoding: text, as: UTF8.self))")
        }
    }

    @Test func writesCompactSortedJSON() {
        #expect(String(decoding: JanssonCodec.encode(["b": 1, "a": [true, .null]]), as: UTF8.self) == #"{"a":[true,null],"b":1}"#)
        #expect(String(decoding: JanssonCodec.encode(.number(.nan)), as: UTF8.self) == "null")
    }

    @Test func reportsWhereParsingFailed() {
        #expect(throws: JSONParseError.self) { try JanssonCodec.decode(Array("{\"a\": tru}".utf8)) }
        do {
            _ = try JanssonCodec.decode(Array("{\n  \"a\": ]".utf8))
        } catch {
            #expect(error.line == 2)
            #expect(error.description.contains("line 2"))
        }
    }

    @Test func rejectsInvalidUTF8AndEmptyInput() {
        #expect(throws: JSONParseError.self) { try JanssonCodec.decode([0x22, 0xFF, 0x22]) }
        #expect(throws: JSONParseError.self) { try JanssonCodec.decode([UInt8]()) }
    }

    @Test func reportsBytesConsumedByTheFirstValue() throws {
        let decoded = try JanssonCodec.decode(Array(#"{"a":1}Content-Length"#.utf8))
        #expect(decoded.consumedBytes == 7)
        #expect(decoded.value == ["a": 1])
    }

    /// Long plain strings are written without jansson; the text must equal jansson's own.
    @Test func longStringsAreWrittenAsJanssonWould() throws {
        let long = String(repeating: "AbC+/09=", count: 20_000)  // 160,000 bytes, nothing to escape
        let escaped = String(repeating: "a\"b\\c\n", count: 20_000)  // long, but must be escaped
        let value: RPCValue = ["a": .string(long), "b": [.string(escaped), .string(long + "x")], "c": "short"]
        let text = JanssonCodec.encode(value)
        #expect(try JanssonCodec.decode(text).value == value)
        let expected = #"{"a":""# + long + #"","b":[""# + String(repeating: #"a\"b\\c\n"#, count: 20_000)
            + #"",""# + long + #"x"],"c":"short"}"#
        #expect(String(decoding: text, as: UTF8.self) == expected)
        // A client's text that looks like a placeholder is left alone (the nonce is per message).
        let lookalike: RPCValue = [.string(long), .string("00000000000000000000000000000000" + "0")]
        #expect(try JanssonCodec.decode(JanssonCodec.encode(lookalike)).value == lookalike)
    }
}
