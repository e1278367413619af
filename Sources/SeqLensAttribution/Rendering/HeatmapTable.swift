/// The numbers of one heatmap, as Inseq's `show()` lays them out (inseq/data/viz.py,
/// get_heatmap_type): one column per generated token, one row per attributed token, then one
/// row per step score. Built from an aggregated (2-D) sequence output.
public struct HeatmapTable: Sendable, Equatable {
    /// "Source" or "Target", as in Inseq's "Source Saliency Heatmap" titles.
    public var label: String
    public var columnTokens: [String]
    public var rowTokens: [String]
    /// [rows][columns]; NaN where nothing is attributed (shown empty).
    public var cells: [[Float]]
    /// Step scores by name, one value per column, sorted by name.
    public var stepScores: [(name: String, values: [Float])]

    public static func == (lhs: HeatmapTable, rhs: HeatmapTable) -> Bool {
        lhs.label == rhs.label && lhs.columnTokens == rhs.columnTokens && lhs.rowTokens == rhs.rowTokens
            && lhs.cells.elementsEqual(rhs.cells) { $0.elementsEqual($1) { $0 == $1 || ($0.isNaN && $1.isNaN) } }
            && lhs.stepScores.map(\.name) == rhs.stepScores.map(\.name)
            && lhs.stepScores.map(\.values) == rhs.stepScores.map(\.values)
    }

    /// The tables Inseq shows for `sequence`: a source table when source attributions exist, a
    /// target table when target attributions exist (or, as in Inseq, when only step scores do).
    /// Sequences with more than two dimensions are aggregated with their default first.
    public static func tables(for sequence: FeatureAttributionSequenceOutput) throws(AttributionOutputError) -> [HeatmapTable] {
        var shown = sequence
        if ((sequence.sourceAttributions ?? sequence.targetAttributions)?.rank ?? 2) > 2 {
            shown = try sequence.aggregated()
        }
        let columns = shown.generatedTokens.map(\.token)
        let scores = shown.stepScores.keys.sorted().map { (name: $0, values: shown.stepScores[$0]?.values ?? []) }
        func rows(_ tensor: AttributionTensor?) -> [[Float]] {
            guard let tensor, tensor.rank == 2 else { return [] }
            return (0..<tensor.shape[0]).map { Array(tensor.values[($0 * tensor.shape[1])..<(($0 + 1) * tensor.shape[1])]) }
        }
        var tables: [HeatmapTable] = []
        if shown.sourceAttributions != nil {
            tables.append(HeatmapTable(label: "Source", columnTokens: columns, rowTokens: shown.source.map(\.token),
                                       cells: rows(shown.sourceAttributions), stepScores: scores))
        }
        if shown.targetAttributions != nil || (shown.sourceAttributions == nil && !scores.isEmpty) {
            let cells = rows(shown.targetAttributions)
            tables.append(HeatmapTable(label: "Target", columnTokens: columns,
                                       rowTokens: shown.target.prefix(cells.count).map(\.token), cells: cells, stepScores: scores))
        }
        return tables
    }
}

/// Maps values to colours on Inseq's diverging blue - beige - red scale (viz_utils.treescope_cmap).
public struct ColorScale: Sendable, Equatable {
    public var minimum: Float
    public var maximum: Float

    public init(minimum: Float, maximum: Float) {
        self.minimum = minimum
        self.maximum = maximum
    }

    /// Inseq's default range for `show()`: max over the sequences of `maximum` (at least 0),
    /// and its negation as minimum, so that 0 is always the neutral middle.
    public static func inseqDefault(for sequences: [FeatureAttributionSequenceOutput]) -> ColorScale {
        let largest = sequences.map(\.maximum).max() ?? 0
        return ColorScale(minimum: -largest, maximum: largest)
    }

    static let blue: (Double, Double, Double) = (33, 102, 172)
    static let beige: (Double, Double, Double) = (247, 252, 253)
    static let red: (Double, Double, Double) = (178, 24, 43)

    /// The background colour of `value`; nil for NaN.
    public func rgb(_ value: Float) -> (red: UInt8, green: UInt8, blue: UInt8)? {
        guard !value.isNaN else { return nil }
        let span = Double(maximum - minimum)
        var t = span > 0 ? Double(value - minimum) / span : 0.5
        t = Swift.min(1, Swift.max(0, t))
        let (from, to, f) = t < 0.5 ? (Self.blue, Self.beige, t * 2) : (Self.beige, Self.red, (t - 0.5) * 2)
        func mix(_ a: Double, _ b: Double) -> UInt8 { UInt8((a + (b - a) * f).rounded()) }
        return (mix(from.0, to.0), mix(from.1, to.1), mix(from.2, to.2))
    }

    /// Black or white text, whichever reads better on `rgb`.
    static func textIsDark(_ rgb: (red: UInt8, green: UInt8, blue: UInt8)) -> Bool {
        0.299 * Double(rgb.red) + 0.587 * Double(rgb.green) + 0.114 * Double(rgb.blue) > 140
    }
}

/// Fixed-decimals formatting without Foundation's locale-dependent String(format:).
func formatScore(_ value: Float, decimals: Int) -> String {
    guard value.isFinite else { return value.isNaN ? "" : (value > 0 ? "inf" : "-inf") }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (Double(value) * scale).rounded() / scale
    let negative = rounded < 0
    let magnitude = Swift.abs(rounded)
    let whole = magnitude.rounded(.down)
    var fraction = String(Int(((magnitude - whole) * scale).rounded()))
    fraction = String(repeating: "0", count: Swift.max(0, decimals - fraction.count)) + fraction
    let body = decimals > 0 ? "\(Int(whole)).\(fraction)" : "\(Int(whole))"
    return negative ? "-" + body : body
}
