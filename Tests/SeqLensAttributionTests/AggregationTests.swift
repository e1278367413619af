import Foundation
import Testing
import SeqLensTestSupport

@testable import SeqLensAttribution

/// Every case of expected.json: Inseq's aggregate() on the committed files, replayed in Swift.
@Suite("Aggregation equals Inseq's aggregate()")
struct AggregationTests {
    static let tolerance: Float = 1e-6

    static var caseNames: [String] {
        OutputFixtures.cases.map { "\($0["name"] ?? "")|\($0["file"] ?? "")|\($0["sequence"] ?? "")" }
    }

    /// The Swift call matching the fixture case name (see make_output_fixtures.py).
    static func apply(_ name: String, _ sequence: FeatureAttributionSequenceOutput, pairedWith other: FeatureAttributionSequenceOutput)
        throws -> FeatureAttributionSequenceOutput
    {
        let spans = [TokenSpan(0, 2), TokenSpan(3, 5), TokenSpan(6, 8)]
        switch name {
        case "default": return try sequence.aggregated()
        case "sum-unnormalized": return try sequence.aggregated(.sum, normalize: false)
        case "sum-rescaled": return try sequence.aggregated(.sum, normalize: false, rescale: true)
        case "vnorm-select-span": return try sequence.aggregated(.vnorm, selecting: .span(2, 10))
        case "sum-select-one": return try sequence.aggregated(.sum, selecting: .index(5))
        case "subwords": return try sequence.aggregated().aggregatedSubwords(specialCharacters: ["Ġ"])
        case "subwords-suffix":
            return try sequence.aggregated().aggregatedSubwords(specialCharacters: ["Ġ"], isSuffixSymbol: true)
        case "subwords-default-chars": return try sequence.aggregated().aggregatedSubwords()
        case "spans": return try sequence.aggregated().aggregatedSpans(target: spans)
        case "spans-sum": return try sequence.aggregated().aggregatedSpans(target: spans, function: .sum)
        case "spans-granular": return try sequence.aggregatedSpans(target: spans)
        case "pair": return try sequence.aggregated().pairDifference(with: other.aggregated())
        default:
            let function = try #require(AggregationFunction(rawValue: name), "unknown case \(name)")
            return try sequence.aggregated(function)
        }
    }

    @Test("Aggregation case", arguments: caseNames)
    func matchesInseq(caseName: String) throws {
        let parts = caseName.split(separator: "|").map(String.init)
        let (name, file, index) = (parts[0], parts[1], Int(parts[2]) ?? -1)
        let reference = try #require(OutputFixtures.cases.first {
            $0["name"] as? String == name && $0["file"] as? String == file && $0["sequence"] as? Int == index
        })
        let expected = ReferenceSequence(raw: try #require(reference["result"] as? [String: Any]))
        let output = try OutputFixtures.load(file).sequenceAttributions[index]
        let other = try OutputFixtures.load("inseq-input-x-gradient.json").sequenceAttributions[index]
        let result = try Self.apply(name, output, pairedWith: other)

        #expect(result.source == expected.source)
        #expect(result.target == expected.target)
        #expect(result.attrPosStart == expected.attrPosStart)
        #expect(result.attrPosEnd == expected.attrPosEnd)
        #expect(result.sourceAttributions?.shape == expected.tensor("source")?.shape)
        #expect(result.targetAttributions?.shape == expected.tensor("target")?.shape)
        let difference = relativeDifference(result.targetAttributions, expected.tensor("target"))
        #expect(difference <= Self.tolerance, "\(reference["call"] ?? name): max |Δ| / max |ref| = \(difference)")
        #expect(relativeDifference(result.sourceAttributions, expected.tensor("source")) <= Self.tolerance)
        for (scoreName, values) in expected.stepScores {
            let mine = try #require(result.stepScores[scoreName])
            let stepDifference = relativeDifference(mine, AttributionTensor(shape: [values.count], values: values))
            #expect(stepDifference <= Self.tolerance, "step score \(scoreName): \(stepDifference)")
        }
    }

    @Test("Inseq's argument errors are errors here too")
    func invalidArguments() throws {
        let sequence = try OutputFixtures.load("inseq-saliency.json").sequenceAttributions[0]
        #expect(throws: AttributionOutputError.self) { try sequence.aggregated(.sum, rescale: true) }
        #expect(throws: AttributionOutputError.self) { try sequence.aggregated().aggregated(.vnorm) }
        #expect(throws: AttributionOutputError.self) { try sequence.aggregated(.sum, selecting: .index(64)) }
        #expect(throws: AttributionOutputError.self) { try sequence.aggregated(.sum, selecting: .indices([1, 1])) }
        #expect(throws: AttributionOutputError.self) { try sequence.aggregatedSpans(target: [TokenSpan(2, 2)]) }
        #expect(throws: AttributionOutputError.self) { try sequence.aggregatedSpans(target: [TokenSpan(0, 3), TokenSpan(2, 4)]) }
        #expect(throws: AttributionOutputError.self) { try sequence.aggregatedSpans(target: [TokenSpan(5, 99)]) }
        let longer = try OutputFixtures.load("inseq-saliency.json").sequenceAttributions[1]
        #expect(throws: AttributionOutputError.self) { try sequence.pairDifference(with: longer) }
    }

    @Test("Subword spans follow Inseq's rules, including its last-token quirk")
    func subwordRules() {
        func spans(_ tokens: [String], _ special: [String] = ["▁"], suffix: Bool = false) -> [[Int]] {
            FeatureAttributionSequenceOutput.subwordSpans(tokens.map { TokenWithId($0, id: 0) }, specialCharacters: special, isSuffixSymbol: suffix)
                .map { [$0.start, $0.end] }
        }
        #expect(spans(["▁phen", "omen", "al", "▁word"]) == [[0, 3]])
        #expect(spans(["▁a", "b", "c"]) == [[0, 2]])  // the last piece is left out, as in Inseq
        #expect(spans(["▁a", "b"]) == [])
        #expect(spans(["hello", "world"]) == [])  // no special character at all
        #expect(spans(["phen", "##omen", "##al", "x"], ["##"], suffix: true) == [[0, 3]])
    }
}
