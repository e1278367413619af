import Foundation
import Testing

@testable import SeqLensTokenizers

/// The hand-written scanners against HF `tokenizers`' regex pre-tokenizers, piece by piece.
@Suite struct PreTokenizerTests {
    /// End offsets, in Unicode scalars, of the pieces `kind` cuts `text` into.
    static func pieceEnds(_ kind: PreTokenizerKind, _ text: String) -> [Int] {
        let scalars = Array(text.unicodeScalars)
        let classes = scalars.map(CharacterClass.of)
        var ends: [Int] = []
        scalars.withUnsafeBufferPointer { scalars in
            classes.withUnsafeBufferPointer { classes in
                kind.forEachPieceEnd(scalars, classes) { ends.append($0) }
            }
        }
        return ends
    }

    static let fixtureKeys: [(PreTokenizerKind, String)] = [
        (.gpt2, "gpt2"), (.gpt2IndividualDigits, "smollm"), (.llama3, "llama3"), (.qwen2, "qwen2"),
    ]

    @Test(arguments: fixtureKeys)
    func piecesMatchHF(kind: PreTokenizerKind, key: String) throws {
        let strings = try TestFiles.strings
        let fixture: [String: Any] = try TestFiles.json("pretokenizers.json")
        let expected = try idLists(fixture[key])
        #expect(expected.count == strings.count)
        for (index, text) in strings.enumerated() {
            let ends = Self.pieceEnds(kind, text)
            #expect(
                ends == expected[index],
                "\(key) pieces of \(text.debugDescription): \(firstDifference(ends, expected[index]))")
        }
    }

    @Test func ggmlPreNames() {
        #expect(PreTokenizerKind(ggmlPre: "smollm") == .gpt2IndividualDigits)
        #expect(PreTokenizerKind(ggmlPre: "gpt-2") == .gpt2)
        #expect(PreTokenizerKind(ggmlPre: "llama-bpe") == .llama3)
        #expect(PreTokenizerKind(ggmlPre: "qwen2") == .qwen2)
        #expect(PreTokenizerKind(ggmlPre: "no-such-pre") == nil)
    }
}
