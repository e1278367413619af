import ArgumentParser
import Foundation
import SeqLensAttribution
import SeqLensModels

/// `seqlens inspect ablate`: zero or mean ablation of heads, positions or sites, or the head
/// sweep (every head of every layer zeroed alone) as a layer × head grid.
struct InspectAblateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ablate",
        abstract: "Ablation: log p(target) at the last position with heads or sites zeroed (or mean-ablated); --sweep-heads for the grid.",
        discussion: """
            Examples: seqlens inspect ablate --model default "The capital of France is" --target " Paris" --sweep-heads
                      seqlens inspect ablate --model default "The capital of France is" --target " Paris" --site blocks.3.attn.z --heads 0 2
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var output: InspectOutputOptions
    @Argument(help: "The input text.") var input: String
    @Option(help: "The token whose log-probability is measured (text or id).") var target: String
    @Flag(help: "Zero every head of every layer alone: a layer × head grid of the change in log p(target).")
    var sweepHeads = false
    @Option(name: .customLong("site"), help: "A site or glob to ablate (repeatable).") var sites: [String] = []
    @Option(parsing: .upToNextOption, help: "Heads of attn.z sites (default: the whole site).") var heads: [Int] = []
    @Option(parsing: .upToNextOption, help: "Positions (default: every position).") var positions: [Int] = []
    @Option(help: "zero or mean (the mean over the input's positions).") var mode: String = "zero"

    func run() throws {
        try running {
            let model = try modelOptions.load()
            let ids = output.encode(model, input)
            let targetID = try resolveToken(model, target, option: "--target")
            let ablator = Ablator(model: model)
            if sweepHeads {
                guard sites.isEmpty else { throw ValidationError("--sweep-heads ablates every head; leave out --site") }
                let (baseline, grid) = try ablator.headSweep(ids: ids, target: targetID)
                if output.json {
                    try printJSON(["tokens": tokenObjects(model, ids), "baseline": ["logprob": Double(baseline)],
                                   "grid": grid.map { $0.map(Double.init) }])
                    return
                }
                let table = TerminalGrid.numbers(
                    title: "Head sweep: change in log p(\(target)) with one head zeroed (baseline \(String(format: "%.3f", baseline)))",
                    columnLabels: (0..<model.info.headCount).map { "head \($0)" },
                    rowLabels: (0..<grid.count).map { "layer \($0)" }, values: grid, legend: "→ : heads, ↓ : layers")
                print(table.render(colorMode: output.colorMode, width: output.width))
                return
            }
            guard !sites.isEmpty else { throw ValidationError("give --site (repeatable) or --sweep-heads") }
            guard let ablationMode = Ablation.Mode(rawValue: mode) else {
                throw ValidationError("--mode must be one of \(Ablation.Mode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let ablations = try resolveSites(model, sites).map {
                Ablation(site: $0, heads: heads.isEmpty ? nil : heads, positions: positions.isEmpty ? nil : positions, mode: ablationMode)
            }
            let result = try ablator.ablate(ids: ids, ablations: ablations, target: targetID)
            if output.json {
                try printJSON(["tokens": tokenObjects(model, ids), "baseline": ["logprob": Double(result.baseline)],
                               "ablated": ["logprob": Double(result.ablated)]])
                return
            }
            print("log p(\(target)) at the last position: \(String(format: "%.4f", result.baseline)) → \(String(format: "%.4f", result.ablated)) with \(ablations.map(\.site.description).joined(separator: ", ")) \(mode)-ablated (change \(String(format: "%+.4f", result.ablated - result.baseline)))")
        }
    }
}
