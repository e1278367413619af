import Testing

@testable import SeqLensServer

@Suite struct ParamsReaderTests {
    @Test func readsTypedFields() throws {
        let reader = try ParamsReader(["model": "m", "texts": ["a", "b"], "n": 3, "x": 2.0, "flag": true, "ids": [[1], [2, 3]]])
        #expect(try reader.required("model", as: String.self) == "m")
        #expect(try reader.requiredArray("texts", of: String.self) == ["a", "b"])
        #expect(try reader.optional("n", as: Int.self) == 3)
        #expect(try reader.optional("x", as: Int.self) == 2)
        #expect(try reader.optional("flag", as: Bool.self) == true)
        #expect(try reader.requiredNestedArray("ids", of: Int.self) == [[1], [2, 3]])
        #expect(try reader.optional("absent", as: Int.self) == nil)
    }

    static let badTexts: [(RPCValue, String)] = [
        (["texts": "a"], "params.texts: expected an array of strings, got a string"),
        (["texts": ["a", 5]], "params.texts[1]: expected a string, got an integer"),
        ([:], "params.texts: expected an array of strings, it is missing"),
        (["texts": []], "params.texts: expected a non-empty array, got an empty one"),
    ]

    @Test(arguments: badTexts)
    func namesTheFieldAndTheExpectedType(params: RPCValue, message: String) throws {
        let reader = try ParamsReader(params)
        #expect(throws: RPCError(.invalidParams, message)) { try reader.requiredArray("texts", of: String.self) }
    }

    @Test func checksRanges() throws {
        let reader = try ParamsReader(["topP": 1.5, "k": 2.5])
        #expect(throws: RPCError(.invalidParams, "params.topP: expected a number in 0.0...1.0, got 1.5")) {
            try reader.optional("topP", in: 0.0...1.0)
        }
        #expect(throws: RPCError(.invalidParams, "params.k: expected an integer, got a number")) {
            try reader.optional("k", as: Int.self)
        }
    }

    @Test func rejectsParamsThatAreNotAnObject() {
        #expect(throws: RPCError(.invalidParams, "params: expected an object (parameters by name), got an array")) {
            try ParamsReader([1, 2])
        }
    }
}
