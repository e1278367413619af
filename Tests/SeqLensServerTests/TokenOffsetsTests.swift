import Foundation
import Testing

@testable import SeqLensServer

/// `tokenize` with `returnOffsets`: each token's UTF-8 byte range in the text, what editors use to
/// highlight tokens without tokenizing again (issue 15). Through the real binary.
struct TokenOffsetsTests {
    /// Accents, CJK, emoji (one with a skin-tone modifier, split across tokens), newlines, a special
    /// token written in the text.
    static let texts = [
        "Héllo wörld, naïve café",
        "日本語のテキスト、漢字",
        "emoji 😀👍🏽 split 🇫🇷!",
        "two\nlines\r\n\ttabbed  spaces",
        "<|endoftext|>after a special token ü",
        "",
        "a",
    ]

    /// GPT-2's byte alphabet, inverted: the bytes a byte-level token string spells.
    static let byteForScalar: [Unicode.Scalar: UInt8] = {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var scalars = printable
        var extra = 0
        for byte in 0..<256 where !printable.contains(byte) {
            printable.append(byte)
            scalars.append(256 + extra)
            extra += 1
        }
        var table: [Unicode.Scalar: UInt8] = [:]
        for (byte, scalar) in zip(printable, scalars) { table[Unicode.Scalar(UInt32(scalar))!] = UInt8(byte) }
        return table
    }()

    static func spelledBytes(_ token: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for scalar in token.unicodeScalars {
            guard let byte = byteForScalar[scalar] else { return Array(token.utf8) }
            bytes.append(byte)
        }
        return bytes
    }

    /// Checks one model's offsets for every text: ids unchanged by `returnOffsets`, one range per
    /// token, ranges in order, each holding exactly the bytes the token spells, together the text.
    static func checkOffsets(_ daemon: DaemonProcess, model: String, texts: [String] = texts) throws {
        let plain = try #require(
            daemon.client.call("tokenize", ["model": .string(model), "texts": .array(texts.map(RPCValue.string))])?["results"]?.arrayValue)
        let reply = try #require(
            daemon.client.call(
                "tokenize", ["model": .string(model), "texts": .array(texts.map(RPCValue.string)), "returnOffsets": true])?["results"]?
                .arrayValue)
        try #require(reply.count == texts.count)
        for (index, text) in texts.enumerated() {
            let result = reply[index]
            #expect(result["ids"] == plain[index]["ids"], "\(model) \(text): ids change with returnOffsets")
            #expect(result["tokens"] == plain[index]["tokens"])
            let tokens = try #require(result["tokens"]?.arrayValue?.compactMap { $0.stringValue })
            let offsets = try #require(result["offsets"]?.arrayValue)
            try #require(offsets.count == tokens.count, "\(model) \(text): \(offsets.count) offsets for \(tokens.count) tokens")
            let bytes = Array(text.utf8)
            var covered: [UInt8] = []
            var previousEnd = 0
            for (token, span) in zip(tokens, offsets) {
                let pair = try #require(span.arrayValue?.compactMap { $0.intValue })
                try #require(pair.count == 2)
                let (start, end) = (pair[0], pair[1])
                #expect(start == previousEnd, "\(model) \(text): token \(token) starts at \(start), the previous ended at \(previousEnd)")
                try #require(start <= end && end <= bytes.count)
                #expect(Array(bytes[start..<end]) == spelledBytes(token), "\(model) \(text): \(token) at \(start)..<\(end)")
                covered += bytes[start..<end]
                previousEnd = end
            }
            #expect(covered == bytes, "\(model) \(text): the ranges do not cover the text")
        }
    }

    @Test(arguments: ["tiny-gpt2", "tiny-llama", "tiny-qwen2"])
    func offsetsAreExactForMultibyteText(_ fixture: String) throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        try #require(daemon.client.call("model/load", ["path": .string(PackagePaths.fixtureModel(fixture)), "id": "m"]) != nil)
        try Self.checkOffsets(daemon, model: "m")
        // A multibyte character split across tokens: the tiny vocabularies spell CJK byte by byte,
        // so ranges start and end inside the character.
        let split = try #require(
            daemon.client.call("tokenize", ["model": "m", "texts": ["日"], "returnOffsets": true])?["results"]?.arrayValue?.first?["offsets"])
        #expect(split == [[0, 1], [1, 2], [2, 3]])
        #expect(daemon.shutdown() == 0)
    }

    /// A post-processor that adds BOS and EOS: they get empty ranges before and after the text, and
    /// `addSpecialTokens: false` leaves them out.
    @Test func specialTokensAddedByThePostProcessorHaveEmptyRanges() throws {
        let scratch = ScratchFolder()
        let folder = try scratch.model("tiny-llama", named: "bos")
        let url = URL(fileURLWithPath: folder + "/tokenizer.json")
        var tokenizer = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let special: [String: Any] = ["SpecialToken": ["id": "<|endoftext|>", "type_id": 0]]
        tokenizer["post_processor"] = [
            "type": "TemplateProcessing",
            "single": [special, ["Sequence": ["id": "A", "type_id": 0]], special],
            "pair": [["Sequence": ["id": "A", "type_id": 0]], ["Sequence": ["id": "B", "type_id": 1]]],
            "special_tokens": ["<|endoftext|>": ["id": "<|endoftext|>", "ids": [0], "tokens": ["<|endoftext|>"]]],
        ]
        try JSONSerialization.data(withJSONObject: tokenizer).write(to: url)

        let daemon = try DaemonProcess()
        daemon.initialize()
        try #require(daemon.client.call("model/load", ["path": .string(folder), "id": "m"]) != nil)
        let text = "ça 😀"
        let length = text.utf8.count
        let with = try #require(daemon.client.call("tokenize", ["model": "m", "texts": [.string(text)], "returnOffsets": true])?["results"]?.arrayValue?.first)
        let ids = try #require(with["ids"]?.arrayValue?.compactMap { $0.intValue })
        let offsets = try #require(with["offsets"]?.arrayValue)
        try #require(ids.count == offsets.count && ids.count >= 3)
        #expect(ids.first == 0 && ids.last == 0)
        #expect(offsets.first == [0, 0])
        #expect(offsets.last == RPCValue.array([.integer(length), .integer(length)]))
        let without = try #require(
            daemon.client.call("tokenize", ["model": "m", "texts": [.string(text)], "addSpecialTokens": false, "returnOffsets": true])?["results"]?.arrayValue?.first)
        #expect(without["ids"]?.arrayValue?.count == ids.count - 2)
        #expect(without["offsets"]?.arrayValue == Array(offsets.dropFirst().dropLast()))
        // A special token written in the text covers its own bytes, also with the post-processor.
        let written = try #require(
            daemon.client.call("tokenize", ["model": "m", "texts": ["<|endoftext|>x"], "returnOffsets": true])?["results"]?.arrayValue?.first?["offsets"])
        #expect(written == [[0, 0], [0, 13], [13, 14], [14, 14]])
        #expect(daemon.shutdown() == 0)
    }

    @Test func returnOffsetsMustBeABoolean() throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        try #require(daemon.client.call("model/load", ["path": .string(PackagePaths.fixtureModel("tiny-gpt2")), "id": "m"]) != nil)
        let id = daemon.client.request("tokenize", ["model": "m", "texts": ["a"], "returnOffsets": "yes"])
        let reply = try #require(daemon.client.response(to: id))
        #expect(reply["error"]?["code"] == -32602)
        #expect(reply["error"]?["message"]?.stringValue?.contains("params.returnOffsets: expected a boolean") == true)
        #expect(daemon.shutdown() == 0)
    }

    /// The attribution's target tokens are the tokens of the generated text, so an editor can place
    /// them with the offsets of `tokenize` on that text.
    @Test func attributionTargetsMatchTheOffsetsOfTheGeneratedText() throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        try #require(daemon.client.call("model/load", ["path": .string(PackagePaths.fixtureModel("tiny-llama")), "id": "m"]) != nil)
        let prompt = "Héllo wörld, 日本"
        let generated = prompt + "語 😀 ok"
        let attribution = try #require(
            daemon.client.call(
                "attribute", ["model": "m", "inputs": [.string(prompt)], "generatedTexts": [.string(generated)], "method": "saliency"])?["results"]?.arrayValue?.first)
        let tokens = try #require(daemon.client.call("tokenize", ["model": "m", "texts": [.string(generated)], "returnOffsets": true])?["results"]?.arrayValue?.first)
        #expect(attribution["target"]?.arrayValue?.compactMap { $0["id"] } == tokens["ids"]?.arrayValue)
        #expect(daemon.shutdown() == 0)
    }
}

/// The same with SmolLM2, whose merges put several bytes of a character, or a space and part of
/// one, in one token.
@Suite(.enabled(if: PackagePaths.defaultModel != nil, "SmolLM2 is not in the cache: run scripts/fetch-models.sh"))
struct DefaultModelTokenOffsetsTests {
    @Test func offsetsAreExactForMultibyteText() throws {
        let daemon = try DaemonProcess()
        daemon.initialize()
        try #require(daemon.client.call("model/load", ["path": "default", "id": "m"], timeout: 120) != nil)
        try TokenOffsetsTests.checkOffsets(
            daemon, model: "m",
            texts: TokenOffsetsTests.texts + ["<|im_start|>user\nBonjour, ça va? 你好 👋🏾<|im_end|>\n", "The capital of France is Paris."])
        let split = try #require(
            daemon.client.call("tokenize", ["model": "m", "texts": ["emoji 😀👍🏽"], "returnOffsets": true])?["results"]?.arrayValue?.first)
        let offsets = try #require(split["offsets"]?.arrayValue?.compactMap { (span: RPCValue) in span.arrayValue?.compactMap { $0.intValue } })
        // Some token boundary falls inside a 4-byte emoji (SmolLM2 splits them).
        let boundaries = Set(offsets.map { $0[1] })
        #expect(boundaries.contains { $0 > 6 && $0 < 10 } || boundaries.contains { $0 > 10 && $0 < 14 }, "\(offsets)")
        #expect(daemon.shutdown() == 0)
    }
}
