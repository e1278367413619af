import ArgumentParser
import Foundation
import SeqLensAttribution
import SeqLensModels

/// `seqlens attribute`: feature attribution of generated (or given) continuations, shown as a
/// terminal heatmap, optionally saved as Inseq JSON and as a self-contained HTML page.
struct AttributeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attribute",
        abstract: "Attribute generated tokens to the tokens before them (Inseq's model.attribute).",
        discussion: """
            Example: seqlens attribute --model default "The capital of France is" --max-new-tokens 5
            Methods: \(AttributionMethod.allCases.map(\.rawValue).joined(separator: ", ")).
            Step functions: \(StepFunction.allCases.map(\.rawValue).joined(separator: ", ")).
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Argument(help: "Input texts (prompts).") var inputs: [String]
    @Option(name: .customLong("generated-text"), help: "Forced continuation (prompt + text), one per input.")
    var generatedTexts: [String] = []
    @Option(help: "Attribution method.") var method: String = "saliency"
    @Option(help: "Integration steps of integrated gradients.") var nSteps = 50
    @Option(help: "Integration rule: gausslegendre, riemann_left, riemann_right, riemann_middle, riemann_trapezoid.")
    var integration = "gausslegendre"
    @Option(help: "Samples of gradient_shap.") var nSamples = 5
    @Option(help: "Activation site of layer methods, e.g. blocks.3.mlp.out or model.layers.3.mlp.") var layer: String?
    @Option(help: "Attributed function.") var attributedFn = "probability"
    @Option(parsing: .upToNextOption, help: "Step scores to compute, e.g. probability entropy.")
    var stepScores: [String] = ["probability"]
    @Option(name: .customLong("contrast-target"), help: "Contrastive continuation (prompt + text), one per input.")
    var contrastTargets: [String] = []
    @Option(help: "First attributed position.") var attrPosStart: Int?
    @Option(help: "End (exclusive) of the attributed positions.") var attrPosEnd: Int?
    @Option(help: "Tokens to generate when no --generated-text is given.") var maxNewTokens = 10
    @Option(help: "Write Inseq's JSON format (FeatureAttributionOutput.load reads it).") var save: String?
    @Flag(help: "Also save each step's attributions in the --save file (Inseq's output_step_attributions).")
    var outputStepAttributions = false
    @Option(help: "Write a self-contained HTML heatmap.") var html: String?
    @Flag(help: "Print the aggregated result as JSON instead of a heatmap.") var json = false
    @Option(help: "Terminal colours: truecolor, ansi256 or none.") var color: String?

    func run() throws {
        try running {
            let model = try modelOptions.load()
            var request = AttributionRequest(inputs: inputs)
            guard let method = AttributionMethod(rawValue: method) else { throw AttributionError.unknownMethod(self.method) }
            guard let function = StepFunction(rawValue: attributedFn) else { throw AttributionError.unknownStepFunction(attributedFn) }
            guard let rule = IntegrationRule(rawValue: integration) else {
                throw AttributionError.invalidArgument("unknown integration rule '\(integration)'")
            }
            request.method = method
            request.attributedFunction = function
            request.methodArguments.steps = nSteps
            request.methodArguments.integration = rule
            request.methodArguments.samples = nSamples
            request.methodArguments.layer = layer
            request.stepScores = try stepScores.map { name in
                guard let score = StepFunction(rawValue: name) else { throw AttributionError.unknownStepFunction(name) }
                return score
            }
            if !generatedTexts.isEmpty { request.generatedTexts = generatedTexts }
            if !contrastTargets.isEmpty { request.contrastTargets = contrastTargets }
            request.attrPosStart = attrPosStart
            request.attrPosEnd = attrPosEnd
            request.generation.maxNewTokens = maxNewTokens
            request.outputStepAttributions = outputStepAttributions
            let output = try Attributor(model: model).attribute(request)
            if let save { try output.save(to: save, overwrite: true) }
            if let html { try HTMLHeatmap().write(output.aggregated(), to: html) }
            if json {
                let aggregated = try output.aggregated()
                try printJSON(aggregated.sequenceAttributions.map { sequence -> [String: Any] in
                    [
                        "source": sequence.source.map(\.token), "target": sequence.target.map(\.token),
                        "attrPosStart": sequence.attrPosStart, "attrPosEnd": sequence.attrPosEnd,
                        "targetAttributions": sequence.targetAttributions.map(nested) ?? NSNull(),
                        "stepScores": sequence.stepScores.mapValues { $0.values.map(Double.init) },
                    ]
                })
            } else {
                let mode = color.flatMap(TerminalColorMode.init(rawValue:))
                    ?? (isatty(STDOUT_FILENO) != 0 ? .trueColor : .none)
                print(try TerminalHeatmap(colorMode: mode).render(output.aggregated()))
            }
        }
    }
}

/// Nested arrays of a 2-D tensor ([positions][steps]); NaN becomes null.
func nested(_ tensor: AttributionTensor) -> [[Any]] {
    let rows = tensor.shape[0], columns = tensor.count / max(1, rows)
    return (0..<rows).map { r in
        (0..<columns).map { c in
            let v = tensor.values[r * columns + c]
            return v.isNaN ? NSNull() : Double(v) as Any
        }
    }
}
