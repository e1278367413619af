/// Every attribution method SeqLens serves: adding one is its file plus one line here.
public enum AttributionMethods {
    public static let all: [any AttributionMethod.Type] = [
        Saliency.self,
        InputXGradient.self,
        IntegratedGradients.self,
        GradientShap.self,
        DeepLift.self,
        LayerIntegratedGradients.self,
        LayerGradientXActivation.self,
        LayerDeepLift.self,
        SequentialIntegratedGradients.self,
        DiscretizedIntegratedGradients.self,
        Occlusion.self,
        FeatureAblation.self,
        AttentionWeights.self,
        AttentionRollout.self,
        ValueZeroing.self,
        Lime.self,
        ReAgent.self,
        ShapleyValueSampling.self,
        DummyMethod.self,
    ]

    /// The names, in registration order.
    public static var names: [String] { all.map { $0.name } }

    public static func type(named name: String) -> (any AttributionMethod.Type)? { all.first { $0.name == name } }

    /// The method `name` with `arguments` (a JSON object of its arguments; nil: the defaults).
    /// - Throws: `AttributionError.unknownMethod`, or `.invalidMethodArgument` naming the field.
    public static func make(_ name: String, arguments: JSONValue? = nil) throws(AttributionError) -> any AttributionMethod {
        guard let type = type(named: name) else { throw .unknownMethod(name) }
        return try make(type, arguments: arguments)
    }

    static func make<Method: AttributionMethod>(_ type: Method.Type, arguments: JSONValue?) throws(AttributionError)
        -> any AttributionMethod
    {
        do {
            return try MethodArgumentDecoder.decode(type, from: arguments)
        } catch let error as MethodArgumentError {
            throw .invalidMethodArgument(error)
        } catch {
            throw .invalidArgument("\(type.name) arguments: \(error)")
        }
    }

    /// A method's argument names (camelCase), as its decoder reads them.
    public static func argumentNames(of type: any AttributionMethod.Type) -> [String] {
        func names<Method: AttributionMethod>(_ type: Method.Type) -> [String] { MethodArgumentDecoder.fieldNames(of: type) }
        return names(type)
    }
}
