import Foundation
import Testing
import SeqLensTestSupport

@testable import SeqLensAttribution

@Suite("Terminal and HTML heatmaps")
struct RenderingTests {
    static let files = ["inseq-saliency.json", "inseq-input-x-gradient.json"]

    static func stripANSI(_ text: String) -> String {
        text.replacing(/\u{1B}\[[0-9;]*m/, with: "")
    }

    @Test("Table numbers and colour range equal what Inseq's show() prints", arguments: files)
    func showNumbers(file: String) throws {
        let output = try OutputFixtures.load(file)
        let show = try #require((OutputFixtures.expected["show"] as? [String: [String: Any]])?[file])
        let aggregated = try output.aggregated().sequenceAttributions
        let scale = ColorScale.inseqDefault(for: aggregated)
        #expect(abs(Double(scale.maximum) - (show["max_val"] as? Double ?? .nan)) <= 1e-6)
        #expect(abs(Double(scale.minimum) - (show["min_val"] as? Double ?? .nan)) <= 1e-6)
        let cells = try #require(show["cells"] as? [[[Any]]])
        for (sequence, expected) in zip(output.sequenceAttributions, cells) {
            let table = try #require(try HeatmapTable.tables(for: sequence).first)
            #expect(table.label == "Target")
            #expect(table.columnTokens == sequence.generatedTokens.map(\.token))
            #expect(table.cells.count == expected.count)
            for (row, expectedRow) in zip(table.cells, expected) {
                let shown = row.map { formatScore($0, decimals: 2) }
                let inseq = expectedRow.map { ($0 as? NSNumber).map { formatScore(Float($0.doubleValue), decimals: 2) } ?? "" }
                #expect(shown == inseq)
            }
        }
    }

    @Test("Terminal heatmap: every token, values, step scores, width-aware blocks, safe text")
    func terminal() throws {
        var output = try OutputFixtures.load("inseq-saliency.json")
        output.sequenceAttributions[0].target[1].token = "tab\there\u{1B}[31m"
        let text = try TerminalHeatmap(colorMode: .trueColor, width: 48).render(output)
        let plain = Self.stripANSI(text)
        #expect(!plain.contains("\u{1B}"), "a token's escape byte must not reach the terminal")
        #expect(plain.contains("tab\\there\\x1b"), "control characters shown escaped (and long tokens cut)")
        #expect(text.contains("\u{1B}[48;2;"))
        for sequence in output.sequenceAttributions {
            for token in sequence.target.dropFirst(2) { #expect(plain.contains(TerminalText.visible(token.token))) }
            let aggregated = try sequence.aggregated()
            let first = try #require(aggregated.targetAttributions?.values.first { !$0.isNaN })
            #expect(plain.contains(formatScore(first, decimals: 2)))
            let probability = try #require(sequence.stepScores["probability"]?.values.first)
            #expect(plain.contains(formatScore(probability, decimals: 2)))
        }
        #expect(plain.contains("probability"))
        #expect(plain.contains("→ : Generated tokens, ↓ : Attributed tokens"))
        for line in plain.split(separator: "\n") { #expect(TerminalText.width(String(line)) <= 48, "\(line)") }
        let narrow = Self.stripANSI(try TerminalHeatmap(colorMode: .none, width: 30).render(output))
        let wide = try TerminalHeatmap(colorMode: .none, width: 200).render(output)
        #expect(narrow.components(separatedBy: "━").count > wide.components(separatedBy: "━").count)
        #expect(!wide.contains("\u{1B}"))
        let palette = try TerminalHeatmap(colorMode: .ansi256).render(output)
        #expect(palette.contains("\u{1B}[48;5;"))
    }

    @Test("HTML heatmap is self-contained and holds every token and value")
    func html() throws {
        var output = try OutputFixtures.load("inseq-input-x-gradient.json")
        output.sequenceAttributions[0].target[0].token = "<script>x</script>&\"'"
        let html = try HTMLHeatmap().render(output)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(!html.contains("<script>x"), "tokens are escaped")
        #expect(html.contains("&lt;script&gt;x&lt;/script&gt;&amp;&quot;&#39;"))
        for pattern in ["http://", "https://", "src=", "<link", "@import", "url("] { #expect(!html.contains(pattern)) }
        for sequence in try output.aggregated().sequenceAttributions {
            for token in sequence.target.dropFirst() { #expect(html.contains(HTMLHeatmap().escape(token.token))) }
            for value in sequence.targetAttributions?.values ?? [] where !value.isNaN {
                #expect(html.contains(">\(formatScore(value, decimals: 3))</td>"))
                #expect(html.contains(": \(value)\""), "the tooltip holds the full value")
            }
        }
        #expect(html.components(separatedBy: "class=\"score\"").count - 1 == 2)
        if let directory = ProcessInfo.processInfo.environment["SEQLENS_RENDER_DIR"] {
            try HTMLHeatmap().write(try OutputFixtures.load("inseq-input-x-gradient.json"), to: directory + "/heatmap.html")
            let terminal = try TerminalHeatmap(width: 90).render(try OutputFixtures.load("inseq-saliency.json"))
            try Data(terminal.utf8).write(to: URL(fileURLWithPath: directory + "/heatmap.ansi"))
        }
    }

    @Test("Number formatting and colour scale ends")
    func formatting() {
        #expect(formatScore(0.125, decimals: 2) == "0.13" || formatScore(0.125, decimals: 2) == "0.12")
        #expect(formatScore(-1.5, decimals: 3) == "-1.500")
        #expect(formatScore(.nan, decimals: 2) == "")
        #expect(formatScore(12, decimals: 0) == "12")
        let scale = ColorScale(minimum: -1, maximum: 1)
        #expect(scale.rgb(-1)! == (33, 102, 172))
        #expect(scale.rgb(0)! == (247, 252, 253))
        #expect(scale.rgb(1)! == (178, 24, 43))
        #expect(scale.rgb(.nan) == nil)
    }
}
