/// How the terminal heatmap colours its cells.
public enum TerminalColorMode: String, Sendable, CaseIterable {
    /// 24-bit background colours (most modern terminals; COLORTERM=truecolor).
    case trueColor
    /// The xterm 256-colour cube.
    case ansi256
    /// No escape codes (pipes, files, NO_COLOR).
    case none
}

/// Renders attributions as Inseq's console view does (rich table in viz.py,
/// get_saliency_heatmap_rich): generated tokens across, attributed tokens down, one row per
/// step score under a rule; coloured backgrounds instead of Inseq's coloured text.
public struct TerminalHeatmap: Sendable {
    public var colorMode: TerminalColorMode
    /// Terminal columns; wider tables are split into blocks of generated-token columns.
    public var width: Int
    /// Decimals of the attribution cells (Inseq rounds to 2).
    public var decimals: Int
    /// Longest token label before it is cut with "…".
    public var maximumTokenWidth: Int
    /// Colour range; nil uses Inseq's default (±max over the shown sequences).
    public var colorScale: ColorScale?

    public init(
        colorMode: TerminalColorMode = .trueColor, width: Int = 100, decimals: Int = 2, maximumTokenWidth: Int = 14,
        colorScale: ColorScale? = nil
    ) {
        self.colorMode = colorMode
        self.width = width
        self.decimals = decimals
        self.maximumTokenWidth = maximumTokenWidth
        self.colorScale = colorScale
    }

    /// All sequences of `output`, aggregated with their defaults when needed, one shared scale.
    public func render(_ output: FeatureAttributionOutput) throws(AttributionOutputError) -> String {
        let shown = try output.sequenceAttributions.map { sequence throws(AttributionOutputError) in
            ((sequence.sourceAttributions ?? sequence.targetAttributions)?.rank ?? 2) > 2 ? try sequence.aggregated() : sequence
        }
        let scale = colorScale ?? ColorScale.inseqDefault(for: shown)
        var out = ""
        for (index, sequence) in shown.enumerated() {
            for table in try HeatmapTable.tables(for: sequence) {
                out += "\n" + render(table, scale: scale, title: "\(ordinal(index)) instance — \(table.label) Saliency Heatmap")
            }
        }
        return out
    }

    /// One table with a given colour scale.
    public func render(_ table: HeatmapTable, scale: ColorScale, title: String? = nil) -> String {
        let rowLabels = table.rowTokens.map { clip(TerminalText.visible($0)) } + table.stepScores.map { clip(TerminalText.visible($0.name)) }
        let indexWidth = String(Swift.max(table.rowTokens.count - 1, 0)).count
        let labelWidth = rowLabels.map(TerminalText.width).max() ?? 0
        let headers = table.columnTokens.map { clip(TerminalText.visible($0)) }
        var cellText = table.cells.map { $0.map { formatScore($0, decimals: decimals) } }
        cellText += table.stepScores.map { $0.values.map { formatScore($0, decimals: 2) } }
        let columnWidths = headers.indices.map { column in
            Swift.max(TerminalText.width(headers[column]), String(column).count,
                      cellText.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0) + 2
        }
        let leftWidth = indexWidth + 1 + labelWidth + 1
        var blocks = TerminalText.columnBlocks(columnWidths, after: leftWidth, width: width)
        if blocks.isEmpty { blocks = [0..<0] }
        var out = title.map { "\($0)\n" } ?? ""
        for block in blocks {
            var line = String(repeating: " ", count: leftWidth)
            for column in block { line += TerminalText.centered(String(column), columnWidths[column]) }
            out += bold(line) + "\n"
            line = String(repeating: " ", count: leftWidth)
            for column in block { line += TerminalText.centered(headers[column], columnWidths[column]) }
            out += bold(line) + "\n"
            out += String(repeating: "━", count: leftWidth + block.reduce(0) { $0 + columnWidths[$1] }) + "\n"
            for (row, values) in table.cells.enumerated() {
                var line = TerminalText.padLeft(String(row), indexWidth) + " " + TerminalText.padLeft(rowLabels[row], labelWidth) + " "
                for column in block where column < values.count {
                    line += cell(cellText[row][column], values[column], columnWidths[column], scale)
                }
                out += line + "\n"
            }
            if !table.stepScores.isEmpty {
                out += String(repeating: "─", count: leftWidth + block.reduce(0) { $0 + columnWidths[$1] }) + "\n"
                for (offset, score) in table.stepScores.enumerated() {
                    let label = rowLabels[table.rowTokens.count + offset]
                    var line = String(repeating: " ", count: indexWidth + 1) + TerminalText.padLeft(label, labelWidth) + " "
                    for column in block where column < score.values.count {
                        line += TerminalText.centered(cellText[table.cells.count + offset][column], columnWidths[column])
                    }
                    out += bold(line) + "\n"
                }
            }
            out += "\n"
        }
        out += "→ : Generated tokens, ↓ : Attributed tokens\n"
        return out
    }

    private func clip(_ text: String) -> String { TerminalText.clipped(text, to: maximumTokenWidth) }

    private func bold(_ text: String) -> String { colorMode == .none ? text : "\u{1B}[1m\(text)\u{1B}[0m" }

    private func cell(_ text: String, _ value: Float, _ width: Int, _ scale: ColorScale) -> String {
        TerminalCell.colored(TerminalText.centered(text, width), value, scale, colorMode)
    }

    private func ordinal(_ index: Int) -> String {
        let suffix = (10...20).contains(index % 100) ? "th" : ["th", "st", "nd", "rd"][index % 10 < 4 ? index % 10 : 0]
        return "\(index)\(suffix)"
    }
}

/// A cell's text on its scale's background colour, with black or white text for contrast.
enum TerminalCell {
    static func colored(_ padded: String, _ value: Float, _ scale: ColorScale, _ mode: TerminalColorMode) -> String {
        guard mode != .none, let rgb = scale.rgb(value) else { return padded }
        let dark = ColorScale.textIsDark(rgb)
        switch mode {
        case .trueColor:
            let foreground = dark ? "38;2;0;0;0" : "38;2;255;255;255"
            return "\u{1B}[48;2;\(rgb.red);\(rgb.green);\(rgb.blue);\(foreground)m\(padded)\u{1B}[0m"
        case .ansi256:
            func level(_ component: UInt8) -> Int { Int((Double(component) / 255 * 5).rounded()) }
            let index = 16 + 36 * level(rgb.red) + 6 * level(rgb.green) + level(rgb.blue)
            return "\u{1B}[48;5;\(index);\(dark ? "30" : "97")m\(padded)\u{1B}[0m"
        case .none:
            return padded
        }
    }
}

/// Terminal cell widths and safe display of token strings.
enum TerminalText {
    /// Control characters shown visibly (a token may hold "\t" or ESC), never sent raw.
    static func visible(_ token: String) -> String {
        var out = ""
        for scalar in token.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                    out += "\\x" + (scalar.value < 16 ? "0" : "") + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// Columns a terminal uses: 0 for combining marks, 2 for East Asian wide and emoji.
    static func width(_ text: String) -> Int {
        text.unicodeScalars.reduce(0) { total, scalar in
            let value = scalar.value
            if scalar.properties.generalCategory == .nonspacingMark || scalar.properties.generalCategory == .enclosingMark
                || value == 0x200D || (0xFE00...0xFE0F).contains(value)
            {
                return total
            }
            let wide =
                (0x1100...0x115F).contains(value) || (0x2E80...0xA4CF).contains(value) || (0xAC00...0xD7A3).contains(value)
                || (0xF900...0xFAFF).contains(value) || (0xFE30...0xFE4F).contains(value) || (0xFF00...0xFF60).contains(value)
                || (0xFFE0...0xFFE6).contains(value) || (0x1F300...0x1FAFF).contains(value) || (0x20000...0x3FFFD).contains(value)
            return total + (wide ? 2 : 1)
        }
    }

    /// `text` cut to at most `columns` columns, ending in "…" when cut.
    static func clipped(_ text: String, to columns: Int) -> String {
        guard width(text) > columns else { return text }
        var out = ""
        for character in text {
            if width(out + String(character)) > columns - 1 { break }
            out.append(character)
        }
        return out + "…"
    }

    /// Consecutive columns in blocks that fit `width` after a left margin (each block at least
    /// one column): a wide table is printed block under block.
    static func columnBlocks(_ widths: [Int], after margin: Int, width: Int) -> [Range<Int>] {
        var blocks: [Range<Int>] = []
        var start = 0
        while start < widths.count {
            var end = start, used = margin
            while end < widths.count && (end == start || used + widths[end] <= width) {
                used += widths[end]
                end += 1
            }
            blocks.append(start..<end)
            start = end
        }
        return blocks
    }

    static func padLeft(_ text: String, _ columns: Int) -> String {
        String(repeating: " ", count: Swift.max(0, columns - width(text))) + text
    }

    static func centered(_ text: String, _ columns: Int) -> String {
        let free = Swift.max(0, columns - width(text))
        return String(repeating: " ", count: free / 2) + text + String(repeating: " ", count: free - free / 2)
    }
}
