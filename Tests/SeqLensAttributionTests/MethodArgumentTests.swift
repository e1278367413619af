import Testing
@testable import SeqLensAttribution

/// Method arguments are decoded by each method's own type: defaults, types, ranges and unknown
/// fields, each error naming the field.
@Suite struct MethodArgumentTests {
    func error(_ method: String, _ arguments: JSONValue) -> AttributionError? {
        do {
            _ = try AttributionMethods.make(method, arguments: arguments)
            return nil
        } catch {
            return error
        }
    }

    @Test func defaultsAndGivenValues() throws {
        let ig = try #require(try AttributionMethods.make("integrated_gradients") as? IntegratedGradients)
        #expect(ig.steps == 50 && ig.integration == .gaussLegendre && ig.internalBatchSize == nil && ig.multiplyByInputs)
        let given = try #require(
            try AttributionMethods.make(
                "integrated_gradients",
                arguments: ["nSteps": .int(7), "integration": .string("riemann_left"), "internalBatchSize": .int(2)])
                as? IntegratedGradients)
        #expect(given.steps == 7 && given.integration == .riemannLeft && given.internalBatchSize == 2)
        // null is absent, and 3.0 is an integer (JSON has one number type).
        let shap = try #require(try AttributionMethods.make("gradient_shap", arguments: ["nSamples": .double(3), "seed": .null]) as? GradientShap)
        #expect(shap.samples == 3 && shap.seed == 42)
    }

    @Test func everyErrorNamesItsField() {
        #expect(error("saliency", ["nSteps": .int(5)])
            == .invalidMethodArgument(MethodArgumentError("nSteps", "unknown argument (this method takes: abs)")))
        #expect(error("input_x_gradient", ["abs": .bool(true)])
            == .invalidMethodArgument(MethodArgumentError("abs", "unknown argument (this method takes: none)")))
        #expect(error("integrated_gradients", ["nSteps": .string("ten")])
            == .invalidMethodArgument(MethodArgumentError("nSteps", "expected an integer, got a string")))
        #expect(error("integrated_gradients", ["nSteps": .double(2.5)])
            == .invalidMethodArgument(MethodArgumentError("nSteps", "expected an integer, got a number")))
        #expect(error("integrated_gradients", ["nSteps": .int(0)])
            == .invalidMethodArgument(MethodArgumentError("nSteps", "expected an integer in 1...10000, got 0")))
        #expect(error("integrated_gradients", ["integration": .string("simpson")])
            == .invalidMethodArgument(MethodArgumentError(
                "integration",
                "expected one of 'gausslegendre', 'riemann_left', 'riemann_right', 'riemann_middle', 'riemann_trapezoid', got 'simpson'")))
        #expect(error("integrated_gradients", ["integration": .string("riemann_trapezoid"), "nSteps": .int(1)])
            == .invalidMethodArgument(MethodArgumentError("nSteps", "riemann_trapezoid needs at least 2 steps, got 1")))
        #expect(error("gradient_shap", ["seed": .int(-1)])
            == .invalidMethodArgument(MethodArgumentError("seed", "-1 is out of range (0...18446744073709551615)")))
        #expect(error("saliency", .array([]))
            == .invalidMethodArgument(MethodArgumentError("", "expected an object of method arguments, got an array")))
        #expect(error("magic", [:]) == .unknownMethod("magic"))
    }

    /// The names a method lists are exactly those it decodes: every listed one is accepted.
    @Test(arguments: AttributionMethods.names)
    func listedArgumentsAreTheDecodedOnes(method: String) throws {
        let type = try #require(AttributionMethods.type(named: method))
        for name in AttributionMethods.argumentNames(of: type) {
            // A value of the wrong kind for every argument type is refused as ill-typed, not unknown.
            let refused = error(method, .object([name: .array([])]))
            #expect(refused.map { "\($0)".contains("expected") } == true, "\(method).\(name): \(String(describing: refused))")
        }
    }
}

extension JSONValue: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { $1 }))
    }
}
