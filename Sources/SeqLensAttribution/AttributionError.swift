/// Problems with an attribution request, each with a message a user can act on.
public enum AttributionError: Error, CustomStringConvertible, Equatable {
    case unknownMethod(String)
    case unknownStepFunction(String)
    case invalidArgument(String)
    /// A method argument (`methodArgs.<path>`) that is unknown, ill-typed or out of range.
    case invalidMethodArgument(MethodArgumentError)
    case generatedTextMismatch(input: String, generated: String)
    case positionsOutOfRange(start: Int, end: Int, length: Int)
    case missingContrast(String)
    case contrastTargetMismatch(String)
    case unknownSite(String)
    case unsupported(String)
    /// The problem of one input of several.
    indirect case inInput(Int, AttributionError)

    public var description: String {
        switch self {
        case .unknownMethod(let name):
            "unknown attribution method '\(name)' (known: \(AttributionMethods.names.joined(separator: ", ")))"
        case .unknownStepFunction(let name):
            "unknown step function '\(name)' (known: \(StepFunction.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .invalidArgument(let detail): detail
        case .invalidMethodArgument(let error): error.description
        case .generatedTextMismatch(let input, let generated):
            "generated text '\(generated)' does not start with its input '\(input)' (decoder-only models continue the input)"
        case .positionsOutOfRange(let start, let end, let length):
            "attribution positions \(start)..<\(end) are outside the sequence of \(length) tokens"
        case .missingContrast(let name):
            "step function '\(name)' needs contrastTargets (a contrastive continuation of each input)"
        case .contrastTargetMismatch(let detail): "contrast target: \(detail)"
        case .unknownSite(let site): "unknown activation site '\(site)'"
        case .unsupported(let detail): detail
        case .inInput(let index, let error): "input \(index): \(error.description)"
        }
    }
}

extension AttributionError {
    /// The error itself, without the input it concerns.
    public var innermost: AttributionError {
        if case .inInput(_, let inner) = self { return inner.innermost }
        return self
    }
}
