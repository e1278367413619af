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
            Methods: \(AttributionMethods.names.joined(separator: ", ")); each method's arguments go in
            --method-args as JSON (e.g. '{"nSteps": 10}'), and `seqlens attribute --list-methods` lists them.
            Step functions: \(StepFunction.allCases.map(\.rawValue).joined(separator: ", ")).
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Argument(help: "Input texts (prompts).") var inputs: [String] = []
    @Option(name: .customLong("generated-text"), help: "Forced continuation (prompt + text), one per input.")
    var generatedTexts: [String] = []
    @Option(help: "Attribution method.") var method: String = "saliency"
    @Option(help: "The method's arguments as a JSON object, with Inseq's names in camelCase, e.g. '{\"nSteps\": 10}'.")
    var methodArgs: String?
    @Option(help: "Shorthand for methodArgs.nSteps (integration steps).") var nSteps: Int?
    @Option(help: "Shorthand for methodArgs.integration: gausslegendre, riemann_left, riemann_right, riemann_middle, riemann_trapezoid.")
    var integration: String?
    @Option(help: "Shorthand for methodArgs.nSamples.") var nSamples: Int?
    @Option(help: "Shorthand for methodArgs.layer: the activation site of layer methods, e.g. blocks.3.mlp.out.") var layer: String?
    @Flag(help: "List the attribution methods with their arguments, and exit.") var listMethods = false
    @Flag(help: "Draw the progress bar on standard error even when it is not a terminal.") var progress = false
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

    /// --method-args with the shorthand options added (each given option wins).
    func methodArguments() throws -> JSONValue {
        var members: [String: JSONValue] = [:]
        if let methodArgs {
            guard case .object(let given) = try JSONValue(parsing: methodArgs) else {
                throw AttributionError.invalidArgument("--method-args: expected a JSON object, e.g. '{\"nSteps\": 10}'")
            }
            members = given
        }
        if let nSteps { members["nSteps"] = .int(nSteps) }
        if let integration { members["integration"] = .string(integration) }
        if let nSamples { members["nSamples"] = .int(nSamples) }
        if let layer { members["layer"] = .string(layer) }
        return .object(members)
    }

    @Flag(help: "Encoder-decoder models: attribute to the target (decoder) tokens too (Inseq's attribute_target).")
    var attributeTarget = false

    func run() throws {
        try running {
            if listMethods {
                for method in AttributionMethods.all {
                    let arguments = AttributionMethods.argumentNames(of: method)
                    print("\(method.name): \(method.summary)")
                    print("    arguments: \(arguments.isEmpty ? "none" : arguments.joined(separator: ", "))")
                }
                return
            }
            let loaded = try modelOptions.loadAny()
            var request = AttributionRequest(inputs: inputs)
            guard let function = StepFunction(rawValue: attributedFn) else { throw AttributionError.unknownStepFunction(attributedFn) }
            request.method = try AttributionMethods.make(method, arguments: methodArguments())
            request.attributedFunction = function
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
            let bar = ProgressBar.shouldDraw(forced: progress) ? ProgressBar() : nil
            let output: FeatureAttributionOutput
            switch loaded {
            case .encoderDecoder(let model):
                output = try EncoderDecoderAttributor(model: model, attributeTarget: attributeTarget).attribute(request) { bar?.update($0) }
            case .causal(let model):
                guard !attributeTarget else {
                    throw CommandFailure(description: "--attribute-target is for encoder-decoder models (a decoder-only model's attributions are always over its target)")
                }
                output = try Attributor(model: model).attribute(request) { bar?.update($0) }
            }
            bar?.finish()
            if let save { try output.save(to: save, overwrite: true) }
            if let html { try HTMLHeatmap().write(output.aggregated(), to: html) }
            if json {
                let aggregated = try output.aggregated()
                try printJSON(aggregated.sequenceAttributions.map { sequence -> [String: Any] in
                    [
                        "source": sequence.source.map(\.token), "target": sequence.target.map(\.token),
                        "attrPosStart": sequence.attrPosStart, "attrPosEnd": sequence.attrPosEnd,
                        "targetAttributions": sequence.targetAttributions.map(nested) ?? NSNull(),
                        "sourceAttributions": sequence.sourceAttributions.map(nested) ?? NSNull(),
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
