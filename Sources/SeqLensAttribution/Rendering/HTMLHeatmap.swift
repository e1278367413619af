import Foundation

/// A self-contained HTML page with one heatmap table per sequence, like Inseq's HTML view
/// (viz.py, get_saliency_heatmap_html): same layout, values to 3 decimals, step-score rows
/// (bold when |value| >= 0.5, as Inseq), plus a tooltip with the full value on hover.
/// Inline CSS and JavaScript only: the page loads nothing from the network.
public struct HTMLHeatmap: Sendable {
    /// Decimals of the attribution cells (Inseq's HTML rounds to 3).
    public var decimals: Int
    /// Colour range; nil uses Inseq's default (±max over the shown sequences).
    public var colorScale: ColorScale?
    public var title: String

    public init(decimals: Int = 3, colorScale: ColorScale? = nil, title: String = "SeqLens attributions") {
        self.decimals = decimals
        self.colorScale = colorScale
        self.title = title
    }

    /// The whole page for `output` (sequences aggregated with their defaults when needed).
    public func render(_ output: FeatureAttributionOutput) throws(AttributionOutputError) -> String {
        let shown = try output.sequenceAttributions.map { sequence throws(AttributionOutputError) in
            ((sequence.sourceAttributions ?? sequence.targetAttributions)?.rank ?? 2) > 2 ? try sequence.aggregated() : sequence
        }
        let scale = colorScale ?? ColorScale.inseqDefault(for: shown)
        var body = ""
        if let method = output.info["attribution_method"]?.stringValue {
            body += "<p class=\"meta\">method: \(escape(method))"
            if let model = output.info["model_name"]?.stringValue { body += " · model: \(escape(model))" }
            body += "</p>\n"
        }
        for (index, sequence) in shown.enumerated() {
            body += "<section><h2>Instance \(index)</h2>\n"
            for table in try HeatmapTable.tables(for: sequence) { body += render(table, scale: scale) }
            body += "</section>\n"
        }
        return Self.page(title: escape(title), body: body)
    }

    /// Writes `render(output)` to `path` (relative to the current directory unless absolute),
    /// replacing a regular file there.
    public func write(_ output: FeatureAttributionOutput, to path: String) throws(AttributionOutputError) {
        let html = try render(output)
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        try OutputFile(absolute, overwrite: true).write(Data(html.utf8), overwrite: true)
    }

    func render(_ table: HeatmapTable, scale: ColorScale) -> String {
        var out = "<div class=\"heatmap\"><div class=\"caption\"><span class=\"title\">\(table.label) Saliency Heatmap</span>"
        out += "<br>→ : Generated tokens, ↓ : Attributed tokens</div>\n<table>\n<tr><th></th><th></th>"
        for index in table.columnTokens.indices { out += "<th>\(index)</th>" }
        out += "</tr>\n<tr><th></th><th></th>"
        for token in table.columnTokens { out += "<th class=\"token\">\(escape(token))</th>" }
        out += "</tr>\n"
        for (row, values) in table.cells.enumerated() {
            let rowToken = row < table.rowTokens.count ? table.rowTokens[row] : ""
            out += "<tr><th>\(row)</th><th class=\"token\">\(escape(rowToken))</th>"
            for (column, value) in values.enumerated() {
                let columnToken = column < table.columnTokens.count ? table.columnTokens[column] : ""
                let tip = "\(escape(rowToken)) → \(escape(columnToken)): \(value.isNaN ? "not attributed" : "\(value)")"
                if let rgb = scale.rgb(value) {
                    let ink = ColorScale.textIsDark(rgb) ? "#000" : "#fff"
                    out += "<td style=\"background:rgb(\(rgb.red),\(rgb.green),\(rgb.blue));color:\(ink)\" data-tip=\"\(tip)\">"
                    out += "\(formatScore(value, decimals: decimals))</td>"
                } else {
                    out += "<td class=\"empty\" data-tip=\"\(tip)\"></td>"
                }
            }
            out += "</tr>\n"
        }
        for score in table.stepScores {
            out += "<tr class=\"score\"><th></th><th>\(escape(score.name))</th>"
            for (column, value) in score.values.enumerated() {
                let text = formatScore(value, decimals: decimals)
                let tip = "\(escape(score.name)) of \(escape(column < table.columnTokens.count ? table.columnTokens[column] : "")): \(value)"
                out += "<td data-tip=\"\(tip)\">\(abs(value) >= 0.5 ? "<b>\(text)</b>" : text)</td>"
            }
            out += "</tr>\n"
        }
        return out + "</table></div>\n"
    }

    /// Text safe inside HTML elements and double-quoted attributes; control characters shown.
    func escape(_ text: String) -> String {
        var out = ""
        for character in TerminalText.visible(text) {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(title)</title>
        <style>
        body{font-family:sans-serif;margin:16px;color:#222}
        h1{font-size:20px} h2{font-size:16px;margin:18px 0 6px}
        .meta{color:#666;font-size:13px}
        .heatmap{border:1px solid #bbb;padding:10px;margin:6px 0;overflow-x:auto}
        .caption{margin:0 0 8px;font-size:13px} .caption .title{font-size:17px;font-weight:bold}
        table{border-collapse:collapse;font-size:13px}
        th,td{padding:4px 7px;text-align:center;border:1px solid #ddd;white-space:pre}
        th.token{font-family:monospace;font-weight:bold}
        td.empty{background:#fafafa}
        tr.score td,tr.score th{border-top:2px solid #555;background:#f4f4f4;color:#222}
        #tip{position:fixed;display:none;background:#222;color:#fff;padding:4px 8px;border-radius:4px;
             font:12px monospace;pointer-events:none;z-index:10;white-space:pre}
        </style></head>
        <body><h1>\(title)</h1>
        \(body)<div id="tip"></div>
        <script>
        (function(){var tip=document.getElementById('tip');
        document.querySelectorAll('[data-tip]').forEach(function(cell){
          cell.addEventListener('mouseenter',function(){tip.textContent=cell.getAttribute('data-tip');tip.style.display='block';});
          cell.addEventListener('mousemove',function(e){tip.style.left=(e.clientX+12)+'px';tip.style.top=(e.clientY+12)+'px';});
          cell.addEventListener('mouseleave',function(){tip.style.display='none';});});})();
        </script></body></html>

        """
    }
}
