import ArgumentParser
import Foundation
import SeqLensAttribution
import SeqLensModels

/// `seqlens inspect patch`: activation patching of clean into corrupted runs, as a site ×
/// position grid of the metric at the last position.
struct InspectPatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patch",
        abstract: "Activation patching: the metric with each site at each position taken from the clean run.",
        discussion: """
            Example: seqlens inspect patch --model default --clean "When Mary and John went to the store, John gave a drink to" \
            --corrupted "When Mary and John went to the store, Mary gave a drink to" --target " Mary" --contrast " John"
            With --contrast the metric is logit(target) - logit(contrast), otherwise log p(target).
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var output: InspectOutputOptions
    @Option(help: "The clean input.") var clean: String
    @Option(help: "The corrupted input (as many tokens as the clean one).") var corrupted: String
    @Option(name: .customLong("site"), help: "A site or glob (repeatable).") var sites: [String] = ["blocks.*.resid_pre"]
    @Option(parsing: .upToNextOption, help: "Positions to patch (default: every position).") var positions: [Int] = []
    @Option(help: "The metric's token (text or id).") var target: String
    @Option(help: "The contrast token of a logit difference (text or id).") var contrast: String?

    func run() throws {
        try running {
            let model = try modelOptions.load()
            let cleanIDs = output.encode(model, clean), corruptedIDs = output.encode(model, corrupted)
            let sites = try resolveSites(model, sites)
            let targetID = try resolveToken(model, target, option: "--target")
            let metric: InternalsMetric = try contrast.map {
                .logitDifference(target: targetID, contrast: try resolveToken(model, $0, option: "--contrast"))
            } ?? .logProbability(target: targetID)
            let chosen = positions.isEmpty ? Array(cleanIDs.indices) : positions
            let result = try ActivationPatching(model: model).patch(
                clean: cleanIDs, corrupted: corruptedIDs, sites: sites, positions: chosen, metric: metric)
            if output.json {
                try printJSON([
                    "tokens": tokenObjects(model, corruptedIDs), "cleanTokens": tokenObjects(model, cleanIDs),
                    "cleanMetric": Double(result.cleanMetric), "corruptedMetric": Double(result.corruptedMetric),
                    "positions": chosen,
                    "results": zip(sites, result.values).map { ["site": $0.description, "values": $1.map(Double.init)] as [String: Any] },
                ])
                return
            }
            let cleanTokens = model.tokenStrings(cleanIDs), corruptedTokens = model.tokenStrings(corruptedIDs)
            let columns = chosen.map { p in cleanTokens[p] == corruptedTokens[p] ? cleanTokens[p] : "\(corruptedTokens[p])→\(cleanTokens[p])" }
            let name = contrast == nil ? "log p(\(target))" : "logit(\(target)) − logit(\(contrast!))"
            let grid = TerminalGrid.numbers(
                title: "Activation patching: \(name) at the last position (clean \(String(format: "%.3f", result.cleanMetric)), corrupted \(String(format: "%.3f", result.corruptedMetric)))",
                columnLabels: columns, rowLabels: sites.map(\.description), values: result.values,
                legend: "→ : patched position (corrupted→clean token), ↓ : patched site")
            print(grid.render(colorMode: output.colorMode, width: output.width, maximumLabelWidth: 24))
        }
    }
}
