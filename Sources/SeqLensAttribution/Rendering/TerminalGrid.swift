/// A labelled grid of coloured cells for the terminal: the internals views (logit lens as layer ×
/// position of top tokens, activation patching and head sweeps as numbers), drawn like the
/// attribution heatmap and split into column blocks that fit the terminal.
public struct TerminalGrid: Sendable {
    public struct Cell: Sendable, Equatable {
        public var text: String
        /// The value its colour shows; NaN for no colour.
        public var value: Float

        public init(_ text: String, value: Float) {
            self.text = text
            self.value = value
        }
    }

    public var title: String
    public var columnLabels: [String]
    public var rowLabels: [String]
    /// [rows][columns].
    public var cells: [[Cell]]
    public var scale: ColorScale
    /// What the axes mean, printed under the grid.
    public var legend: String

    public init(title: String, columnLabels: [String], rowLabels: [String], cells: [[Cell]], scale: ColorScale, legend: String) {
        self.title = title
        self.columnLabels = columnLabels
        self.rowLabels = rowLabels
        self.cells = cells
        self.scale = scale
        self.legend = legend
    }

    /// Numbers with `decimals` decimals, coloured on a scale centred on zero (±max |value|).
    public static func numbers(
        title: String, columnLabels: [String], rowLabels: [String], values: [[Float]], decimals: Int = 2, legend: String
    ) -> TerminalGrid {
        let largest = values.flatMap { $0 }.filter { !$0.isNaN }.map(abs).max() ?? 0
        return TerminalGrid(
            title: title, columnLabels: columnLabels, rowLabels: rowLabels,
            cells: values.map { $0.map { Cell(formatScore($0, decimals: decimals), value: $0) } },
            scale: ColorScale(minimum: -largest, maximum: largest), legend: legend)
    }

    public func render(colorMode: TerminalColorMode, width: Int = 100, maximumLabelWidth: Int = 14) -> String {
        func clip(_ text: String) -> String { TerminalText.clipped(TerminalText.visible(text), to: maximumLabelWidth) }
        let headers = columnLabels.map(clip)
        let rows = rowLabels.map(clip)
        let texts = cells.map { $0.map { clip($0.text) } }
        let labelWidth = rows.map(TerminalText.width).max() ?? 0
        let columnWidths = headers.indices.map { column in
            max(TerminalText.width(headers[column]), String(column).count,
                texts.map { column < $0.count ? TerminalText.width($0[column]) : 0 }.max() ?? 0) + 2
        }
        let leftWidth = labelWidth + 1
        let blocks = TerminalText.columnBlocks(columnWidths, after: leftWidth, width: width)
        func bold(_ text: String) -> String { colorMode == .none ? text : "\u{1B}[1m\(text)\u{1B}[0m" }
        var out = title + "\n"
        for block in blocks {
            var line = String(repeating: " ", count: leftWidth)
            for column in block { line += TerminalText.centered(String(column), columnWidths[column]) }
            out += bold(line) + "\n"
            line = String(repeating: " ", count: leftWidth)
            for column in block { line += TerminalText.centered(headers[column], columnWidths[column]) }
            out += bold(line) + "\n"
            out += String(repeating: "━", count: leftWidth + block.reduce(0) { $0 + columnWidths[$1] }) + "\n"
            for (row, label) in rows.enumerated() {
                var line = TerminalText.padLeft(label, labelWidth) + " "
                for column in block where column < cells[row].count {
                    line += TerminalCell.colored(
                        TerminalText.centered(texts[row][column], columnWidths[column]), cells[row][column].value, scale, colorMode)
                }
                out += line + "\n"
            }
            out += "\n"
        }
        return out + legend + "\n"
    }
}
