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
}
