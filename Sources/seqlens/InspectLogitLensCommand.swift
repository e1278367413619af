import ArgumentParser
import Foundation
import SeqLensAttribution
import SeqLensModels

/// `seqlens inspect logit-lens`: the layer × position grid of the most likely next token read
/// from each residual site, coloured by its probability; with targets, their probabilities.
struct InspectLogitLensCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logit-lens",
        abstract: "Logit lens: the top next token at every layer and position (softmax(unembed(final_norm(r)))).",
        discussion: "Example: seqlens inspect logit-lens --model default \"The capital of France is\" --target \" Paris\"")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var output: InspectOutputOptions
    @Argument(help: "The input text.") var input: String
    @Option(name: .customLong("site"), help: "A site or glob (repeatable); default blocks.0.resid_pre and blocks.*.resid_post.")
    var sites: [String] = []
    @Option(help: "Top tokens per position (the table shows the first).") var topK = 5
    @Option(name: .customLong("target"), help: "A token (text or id) whose probability to show (repeatable).")
    var targets: [String] = []

    func run() throws {
        try running {
            let model = try modelOptions.load()
            let ids = output.encode(model, input)
            let sites = try resolveSites(model, sites.isEmpty ? ["blocks.0.resid_pre", "blocks.*.resid_post"] : sites)
            let targetIDs = try targets.map { try resolveToken(model, $0, option: "--target") }
            guard (1...100).contains(topK) else { throw ValidationError("--top-k must be between 1 and 100") }
            let readings = try Inspector(model: model).logitLens(ids: ids, sites: sites, topK: topK, targets: targetIDs)
            if output.json {
                func score(_ s: Inspector.TokenScore, token: Bool) -> [String: Any] {
                    var entry: [String: Any] = ["id": s.id, "prob": Double(s.probability), "logit": Double(s.logit)]
                    if token { entry["token"] = model.tokenizer.tokenString(s.id) }
                    return entry
                }
                try printJSON([
                    "tokens": tokenObjects(model, ids),
                    "layers": readings.map { reading in
                        [
                            "site": reading.site.description,
                            "positions": reading.top.indices.map { p -> [String: Any] in
                                var entry: [String: Any] = ["top": reading.top[p].map { score($0, token: true) }]
                                if !targetIDs.isEmpty { entry["targets"] = reading.targets[p].map { score($0, token: false) } }
                                return entry
                            },
                        ] as [String: Any]
                    },
                ])
                return
            }
            let columns = model.tokenStrings(ids)
            let rows = readings.map(\.site.description)
            let top = TerminalGrid(
                title: "Logit lens: top next token (coloured by its probability)", columnLabels: columns, rowLabels: rows,
                cells: readings.map { reading in
                    reading.top.map { best in
                        best.first.map { TerminalGrid.Cell(model.tokenizer.tokenString($0.id), value: $0.probability) }
                            ?? TerminalGrid.Cell("", value: .nan)
                    }
                },
                scale: ColorScale(minimum: -1, maximum: 1), legend: "→ : input positions (predicting the next token), ↓ : sites")
            print(top.render(colorMode: output.colorMode, width: output.width, maximumLabelWidth: 20))
            for (index, id) in targetIDs.enumerated() {
                let grid = TerminalGrid(
                    title: "Logit lens: p(\(model.tokenizer.tokenString(id)))", columnLabels: columns, rowLabels: rows,
                    cells: readings.map { $0.targets.map { TerminalGrid.Cell(String(format: "%.3f", $0[index].probability), value: $0[index].probability) } },
                    scale: ColorScale(minimum: -1, maximum: 1), legend: "→ : input positions, ↓ : sites")
                print(grid.render(colorMode: output.colorMode, width: output.width, maximumLabelWidth: 20))
            }
        }
    }
}
