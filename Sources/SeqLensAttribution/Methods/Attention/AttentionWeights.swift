import SeqLensModels
import SeqLensTensor

/// Inseq's `attention` attribution: each step's attention weights from its last prefix position
/// (the query that predicts the step's token) to every token, per layer and head, from one forward.
/// `layers` and `heads` keep some of them; `aggregate()` then reduces heads with
/// `headAggregation` and layers with `layerAggregation` (Inseq's default: mean, then mean),
/// normalising after each.
public struct AttentionWeights: AttributionMethod {
    public static let name = "attention"
    public static let summary = "Attention weights of each step's predicting position, per layer and head."
    public static let needsGradients = false
    public static let outputKind = AttributionOutputKind.perLayerHead

    var layers: IndexSelection?
    var heads: IndexSelection?
    public var headAggregation = AggregationFunction.mean
    public var layerAggregation = AggregationFunction.mean

    public init(layers: [Int]? = nil, heads: [Int]? = nil,
                headAggregation: AggregationFunction = .mean, layerAggregation: AggregationFunction = .mean) {
        self.layers = layers.map(IndexSelection.init)
        self.heads = heads.map(IndexSelection.init)
        self.headAggregation = headAggregation
        self.layerAggregation = layerAggregation
    }

    enum CodingKeys: String, CodingKey { case layers, heads, headAggregation, layerAggregation }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        layers = try c.argument(.layers)
        heads = try c.argument(.heads)
        headAggregation = try c.argument(.headAggregation, default: .mean)
        layerAggregation = try c.argument(.layerAggregation, default: .mean)
    }

    public func validate(for problem: AttributionProblem) throws {
        _ = try selectedLayers(problem)
        _ = try selectedHeads(problem)
    }

    func selectedLayers(_ problem: AttributionProblem) throws -> [Int] {
        let count = problem.dimensions.layerCount
        return try layers?.resolve(count: count, field: "layers") ?? Array(0..<count)
    }

    func selectedHeads(_ problem: AttributionProblem) throws -> [Int] {
        let count = problem.dimensions.headCount
        return try heads?.resolve(count: count, field: "heads") ?? Array(0..<count)
    }

    public func attribute(_ problem: AttributionProblem) throws -> MethodResult {
        let layerList = try selectedLayers(problem), headList = try selectedHeads(problem)
        let run = try AttentionPatterns(problem)
        let k = problem.stepCount, t = problem.length, l = layerList.count, h = headList.count
        var out = [Float](repeating: 0, count: k * t * l * h)
        // An encoder-decoder model's joined [source ; target]: the source columns are the
        // cross-attention weights, the target ones the decoder's self-attention (Inseq's
        // cross_attentions and decoder_attentions at the predicting query).
        let source = (problem.transformer as? JoinedSequenceView)?.sourceLength ?? 0
        let queries = t - source
        for (s, position) in problem.stepPositions.enumerated() {
            let query = position - 1 - source
            for (li, layer) in layerList.enumerated() {
                let pattern = run.patterns[layer].scalars
                let cross = source > 0 ? run.crossPatterns[layer].scalars : []
                for (hi, head) in headList.enumerated() {
                    let row = (head * queries + query) * queries
                    for key in 0...query { out[((s * t + source + key) * l + li) * h + hi] = pattern[row + key] }
                    let crossRow = (head * queries + query) * source
                    for key in 0..<source { out[((s * t + key) * l + li) * h + hi] = cross[crossRow + key] }
                }
            }
        }
        return MethodResult(attributions: Tensor(shape: [k, t, l, h], scalars: out), inputLogits: run.logits,
                            aggregation: [headAggregation, layerAggregation])
    }
}
