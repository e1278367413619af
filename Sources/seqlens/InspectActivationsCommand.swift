import ArgumentParser
import Foundation
import SeqLensAttribution
import SeqLensModels

/// `seqlens inspect activations`: TransformerLens's `run_with_cache` for chosen sites. The table
/// shows each position's L2 norm per site (and, for attention patterns, the head-averaged pattern).
struct InspectActivationsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "activations",
        abstract: "Activations at sites (run_with_cache): per-position norms, attention patterns; --json for the tensors.",
        discussion: "Example: seqlens inspect activations --model default \"The capital of France is\" --site 'blocks.*.resid_post'")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var output: InspectOutputOptions
    @Argument(help: "The input text.") var input: String
    @Option(name: .customLong("site"), help: "A site or glob (repeatable).") var sites: [String] = ["blocks.*.resid_post"]
    @Option(parsing: .upToNextOption, help: "Only these positions (query rows of patterns).") var positions: [Int] = []

    func run() throws {
        try running {
            let model = try modelOptions.load()
            let ids = output.encode(model, input)
            let sites = try resolveSites(model, sites)
            let chosen = positions.isEmpty ? nil : positions
            let values = try Inspector(model: model).activations(ids: ids, sites: sites, positions: chosen)
            if output.json {
                var activations: [String: Any] = [:]
                for site in sites {
                    let tensor = values[site]!
                    activations[site.description] = ["shape": tensor.shape, "data": nestedArray(tensor.scalars, shape: tensor.shape)]
                }
                try printJSON(["tokens": tokenObjects(model, ids), "activations": activations])
                return
            }
            let tokens = model.tokenStrings(ids)
            let rowPositions = chosen ?? Array(ids.indices)
            let vectorSites = sites.filter { !$0.kind.isPattern }
            if !vectorSites.isEmpty {
                let norms: [[Float]] = vectorSites.map { site in
                    let tensor = values[site]!
                    let width = tensor.count / max(1, tensor.shape[0])
                    return (0..<tensor.shape[0]).map { row in
                        tensor.scalars[(row * width)..<((row + 1) * width)].reduce(0) { $0 + $1 * $1 }.squareRoot()
                    }
                }
                let largest = norms.flatMap { $0 }.max() ?? 0
                let grid = TerminalGrid(
                    title: "Activation norms (L2 per position)",
                    columnLabels: rowPositions.map { tokens[$0] }, rowLabels: vectorSites.map(\.description),
                    cells: norms.map { $0.map { TerminalGrid.Cell(String(format: "%.1f", $0), value: $0) } },
                    scale: ColorScale(minimum: -largest, maximum: largest), legend: "→ : positions, ↓ : sites")
                print(grid.render(colorMode: output.colorMode, width: output.width, maximumLabelWidth: 24))
            }
            for site in sites where site.kind.isPattern {
                let tensor = values[site]!  // [H, Q, K]
                let h = tensor.shape[0], q = tensor.shape[1], k = tensor.shape[2]
                let mean: [[Float]] = (0..<q).map { row in
                    (0..<k).map { key in (0..<h).reduce(0) { $0 + tensor.scalars[($1 * q + row) * k + key] } / Float(h) }
                }
                let grid = TerminalGrid.numbers(
                    title: "\(site), mean over \(h) heads", columnLabels: Array(tokens.prefix(k)),
                    rowLabels: rowPositions.map { tokens[$0] }, values: mean, legend: "→ : keys, ↓ : queries")
                print(grid.render(colorMode: output.colorMode, width: output.width))
            }
        }
    }
}
