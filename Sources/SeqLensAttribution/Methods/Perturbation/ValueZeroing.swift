import Foundation
import SeqLensModels
import SeqLensTensor

/// Value zeroing (Mohebbi et al. 2023), as Inseq computes it for decoder-only models: in block l
/// alone (its input kept clean), the value vectors of token j are zeroed; the score of j for the
/// query at position i is 1 − cos(clean, corrupted) of block l's output at i (the last block's
/// after the final norm), for i ≥ j; scores under 1e-5 become 0 and each query's row is divided by
/// its sum. A step's attribution per layer is the row of its predicting position.
///
/// Zeroing value vector j is zeroing attention column j before the values are mixed, which is how
/// it runs here: each block is re-run alone, for a batch of zeroed tokens at a time, from the first
/// zeroed position with the clean run's keys and values before it.
public struct ValueZeroing: AttributionMethod {
    public static let name = "value_zeroing"
    public static let summary = "Value zeroing: how much a block's output changes when a token's value vectors are zeroed."
    public static let needsGradients = false
    public static let outputKind = AttributionOutputKind.perLayer

    public enum SimilarityMetric: String, MethodArgumentChoice, Sendable {
        /// 1 − cosine similarity (Inseq's default).
        case cosine
        /// The euclidean distance between clean and corrupted states. Inseq 0.7.1's euclidean
        /// metric raises (torch.cdist gives an n × n matrix where a vector is expected).
        case euclidean
    }

    public var similarityMetric = SimilarityMetric.cosine
    /// Key/value heads whose values are zeroed: every layer the same, or per layer (a layer left
    /// out is not zeroed and scores 0, as in Inseq); nil: all heads.
    var zeroedUnits: ZeroedUnits?
    /// Score euclidean distances d as 1 − d, the formula Inseq 0.7.1 applies to whatever its metric
    /// returns (so every distance above 1 scores 0). Not in the protocol: tests reproduce the
    /// reference with it, to show the difference.
    var scoresDistanceAsSimilarity = false

    public init(similarityMetric: SimilarityMetric = .cosine) { self.similarityMetric = similarityMetric }

    enum CodingKeys: String, CodingKey { case similarityMetric, zeroedUnits = "decoderZeroedUnitsIndices" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        similarityMetric = try c.argument(.similarityMetric, default: .cosine)
        zeroedUnits = try c.argument(.zeroedUnits)
    }

    /// Inseq's minimum score: smaller ones are noise and become 0.
    static let minimumScore: Float = 1e-5

    public func validate(for problem: AttributionProblem) throws {
        _ = try units(problem)
    }

    /// Per layer, the key/value heads to zero (nil: the layer is not zeroed).
    func units(_ problem: AttributionProblem) throws -> [[Int]?] {
        let dims = problem.dimensions
        let all = Array(0..<dims.keyValueHeadCount)
        func resolve(_ selection: IndexSelection, _ field: String) throws -> [Int] {
            try selection.resolve(count: dims.keyValueHeadCount, field: field)
        }
        switch zeroedUnits {
        case nil: return Array(repeating: all, count: dims.layerCount)
        case .everyLayer(let selection)?:
            let heads = try resolve(selection, "decoderZeroedUnitsIndices")
            return Array(repeating: heads, count: dims.layerCount)
        case .perLayer(let map)?:
            var result = [[Int]?](repeating: nil, count: dims.layerCount)
            for (layer, selection) in map {
                guard (0..<dims.layerCount).contains(layer) else {
                    throw argumentError("decoderZeroedUnitsIndices.\(layer)", "no layer \(layer) (the model has \(dims.layerCount))")
                }
                result[layer] = try resolve(selection, "decoderZeroedUnitsIndices.\(layer)")
            }
            return result
        }
    }

    /// Zeroed tokens: every position some step's query sees.
    private func queries(_ problem: AttributionProblem) -> Int { (problem.stepPositions.max() ?? 1) }

    public func plannedPasses(for problem: AttributionProblem) -> Int {
        let n = queries(problem)
        let perLayer = ValueZeroingRun.batches(tokens: n, length: n).count
        return 1 + perLayer * ((try? units(problem))?.compactMap { $0 }.count ?? problem.dimensions.layerCount)
    }

    public func attribute(_ problem: AttributionProblem) throws -> MethodResult {
        let run = try ValueZeroingRun(problem: problem, length: queries(problem))
        let layerUnits = try units(problem)
        let n = run.length, layers = problem.dimensions.layerCount
        // scores[l][i * n + j]
        var scores = [[Float]](repeating: [Float](repeating: 0, count: n * n), count: layers)
        for layer in 0..<layers {
            guard let heads = layerUnits[layer] else { continue }
            scores[layer] = try run.scores(layer: layer, heads: heads, metric: similarityMetric)
            if similarityMetric == .euclidean && scoresDistanceAsSimilarity { scores[layer] = scores[layer].map { 1 - $0 } }
            for i in 0..<n {
                var sum: Float = 0
                for j in 0...i {
                    if scores[layer][i * n + j] < Self.minimumScore { scores[layer][i * n + j] = 0 }
                    sum += scores[layer][i * n + j]
                }
                if sum != 0 { for j in 0...i { scores[layer][i * n + j] /= sum } }
            }
        }
        let k = problem.stepCount, t = problem.length
        var out = [Float](repeating: 0, count: k * t * layers)
        for (s, position) in problem.stepPositions.enumerated() {
            let query = position - 1
            for j in 0...query {
                for layer in 0..<layers { out[(s * t + j) * layers + layer] = scores[layer][query * n + j] }
            }
        }
        return MethodResult(attributions: Tensor(shape: [k, t, layers], scalars: out), inputLogits: run.logits)
    }
}

/// Inseq's `decoder_zeroed_units_indices`: heads for every layer, or a map from layer to heads.
enum ZeroedUnits: Decodable, Equatable {
    case everyLayer(IndexSelection)
    case perLayer([Int: IndexSelection])

    init(from decoder: any Decoder) throws {
        if let selection = try? IndexSelection(from: decoder) {
            self = .everyLayer(selection)
            return
        }
        struct LayerKey: CodingKey {
            var stringValue: String
            var intValue: Int? { Int(stringValue) }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { stringValue = "\(intValue)" }
        }
        let container: KeyedDecodingContainer<LayerKey>
        do {
            container = try decoder.container(keyedBy: LayerKey.self)
        } catch {
            throw MethodArgumentError(decoder.codingPath.argumentPath, "expected a head index, a list of them, or an object {layer: heads}")
        }
        var map: [Int: IndexSelection] = [:]
        for key in container.allKeys {
            guard let layer = key.intValue else {
                throw MethodArgumentError((decoder.codingPath + [key]).argumentPath, "expected a layer number as the key")
            }
            map[layer] = try container.decode(IndexSelection.self, forKey: key)
        }
        self = .perLayer(map)
    }
}

/// The clean run of value zeroing and the re-runs of single blocks.
struct ValueZeroingRun {
    let problem: AttributionProblem
    /// Positions run (0..<length): up to the last step's predicting position.
    let length: Int
    let cache: KeyValueCache
    /// Per layer, the clean input (1, n, C) and output (1, n, C) of the block (the last block's
    /// output after the final norm).
    let inputs: [Tensor]
    let outputs: [Tensor]
    let logits: Tensor

    init(problem: AttributionProblem, length: Int) throws {
        try problem.beginPass()
        self.problem = problem
        self.length = length
        let dims = problem.dimensions, c = dims.hiddenSize
        cache = KeyValueCache(layers: dims.layerCount, batch: 1, width: dims.keyValueHeadCount * dims.headDimension)
        let recorder = BlockRecorder(layers: dims.layerCount)
        let prefix = Tensor(shape: [1, length, c], scalars: Array(problem.embeddings.scalars[0..<(length * c)]))
        let hidden = problem.transformer.hiddenStates(embeddings: Variable(constant: prefix), positions: Array(0..<length),
                                                      cache: cache, probe: recorder)
        inputs = recorder.inputs.map { $0! }
        outputs = recorder.outputs.dropLast().map { $0! } + [hidden.value]
        logits = problem.transformer.logits(selectRows(hidden, problem.stepPositions.map { $0 - 1 })).value
    }

    /// Batches of zeroed tokens (0..<tokens): about `AttributionProblem.perturbedRowsPerPass`
    /// rows each, a batch starting at its first token.
    static func batches(tokens: Int, length: Int) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var start = 0
        while start < tokens {
            let size = max(1, AttributionProblem.perturbedRowsPerPass / max(1, length - start))
            result.append(start..<min(tokens, start + size))
            start += size
        }
        return result
    }

    /// 1 − similarity of block `layer`'s output at query i with token j's values zeroed in
    /// `heads`, for i ≥ j: [i * n + j].
    func scores(layer: Int, heads: [Int], metric: ValueZeroing.SimilarityMetric) throws -> [Float] {
        let n = length, c = problem.dimensions.hiddenSize
        let groupSize = problem.dimensions.headCount / problem.dimensions.keyValueHeadCount
        let zeroedQueryHeads = Set(heads.flatMap { kv in (kv * groupSize)..<((kv + 1) * groupSize) })
        var scores = [Float](repeating: 0, count: n * n)
        for batch in Self.batches(tokens: n, length: n) {
            try problem.beginPass()
            let start = batch.lowerBound, b = batch.count, rows = n - start
            let input = inputs[layer].scalars
            var residual = [Float]()
            residual.reserveCapacity(b * rows * c)
            for _ in 0..<b { residual += input[(start * c)..<(n * c)] }
            let probe = ColumnZeroing(layer: layer, columns: Array(batch), heads: zeroedQueryHeads)
            let out = problem.transformer.hiddenStates(
                layers: layer..<(layer + 1), residual: Variable(constant: Tensor(shape: [b, rows, c], scalars: residual)),
                positions: Array(start..<n), cache: cache.prefix(start, repeatedFor: b, layers: layer..<(layer + 1)),
                probe: probe
            ).value.scalars
            let clean = outputs[layer].scalars
            for (row, j) in batch.enumerated() {
                for i in j..<n {
                    let corrupted = ((row * rows) + (i - start)) * c, reference = i * c
                    scores[i * n + j] = Self.distance(clean, reference, out, corrupted, c, metric)
                }
            }
        }
        return scores
    }

    static func distance(_ a: [Float], _ ai: Int, _ b: [Float], _ bi: Int, _ c: Int, _ metric: ValueZeroing.SimilarityMetric) -> Float {
        var dot = 0.0, na = 0.0, nb = 0.0, squared = 0.0
        for x in 0..<c {
            let u = Double(a[ai + x]), v = Double(b[bi + x])
            dot += u * v
            na += u * u
            nb += v * v
            squared += (u - v) * (u - v)
        }
        switch metric {
        case .cosine:
            // torch's CosineSimilarity: x·y / max(‖x‖·‖y‖, eps), eps = 1e-8.
            return Float(1 - dot / max((na * nb).squareRoot(), 1e-8))
        case .euclidean:
            return Float(squared.squareRoot())
        }
    }
}

/// Zeroes, for batch row b, attention column `columns[b]` of `heads` in one layer: the zeroed
/// token's value vectors then contribute nothing.
private final class ColumnZeroing: ActivationProbe {
    let layer: Int
    let columns: [Int]
    let heads: Set<Int>

    init(layer: Int, columns: [Int], heads: Set<Int>) {
        self.layer = layer
        self.columns = columns
        self.heads = heads
    }

    func wants(_ site: Site) -> Bool { false }
    func visit(_ site: Site, _ value: Variable) -> Variable { value }
    func attentionRowEdit(layer: Int) -> AttentionRowEdit? {
        guard layer == self.layer else { return nil }
        let columns = self.columns, heads = self.heads
        return { row, visible, batch, head, _ in
            let column = columns[batch]
            if column < visible && heads.contains(head) { row[column] = 0 }
        }
    }
}

/// The clean input and output of every block.
private final class BlockRecorder: ActivationProbe {
    var inputs: [Tensor?]
    var outputs: [Tensor?]
    init(layers: Int) {
        inputs = Array(repeating: nil, count: layers)
        outputs = Array(repeating: nil, count: layers)
    }
    func wants(_ site: Site) -> Bool { site.kind == .residPre || site.kind == .residPost }
    func visit(_ site: Site, _ value: Variable) -> Variable {
        if let layer = site.layer {
            if site.kind == .residPre { inputs[layer] = value.value } else { outputs[layer] = value.value }
        }
        return value
    }
}
