import Foundation
import SeqLensTensor

/// Discretized integrated gradients (Sanyal & Ren 2021), as Inseq builds its paths: each token
/// walks from its embedding to the baseline's through anchor words of the vocabulary (among the
/// current word's 50 nearest neighbours, the one closest to its monotonic projection: "greedy", or
/// with the most monotonic dimensions: "maxcount"), each anchor made monotonic between the previous
/// point and the baseline; the attribution is Σ_k ∇f(p_k) ⊙ (p_{k+1} − p_k) along the reversed
/// path, all tokens moving together. Every step shares the tokens' paths, so the path points are
/// the batch of one gradient pass that carries every step.
public struct DiscretizedIntegratedGradients: AttributionMethod {
    public static let name = "discretized_integrated_gradients"
    public static let summary = "Integrated gradients along paths through the vocabulary's embeddings (Inseq's DIG)."
    public static let needsGradients = true
    public static let outputKind = AttributionOutputKind.granular
    public static let usesBaselines = true

    public enum Strategy: String, MethodArgumentChoice, Sendable { case greedy, maxcount }

    public var steps = 50
    public var strategy = Strategy.greedy
    public var internalBatchSize: Int?
    public var multiplyByInputs = false
    /// Inseq's neighbourhood size (its MonotonicPathBuilder's default).
    static let neighbours = 50

    public init(steps: Int = 50, strategy: Strategy = .greedy) {
        self.steps = steps
        self.strategy = strategy
    }

    enum CodingKeys: String, CodingKey { case steps = "nSteps", strategy, internalBatchSize, multiplyByInputs }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        steps = try c.argument(.steps, default: 50, in: 2...MethodLimits.steps)
        strategy = try c.argument(.strategy, default: .greedy)
        internalBatchSize = try c.argument(.internalBatchSize, in: 1...Int.max)
        multiplyByInputs = try c.argument(.multiplyByInputs, default: false)
    }

    public func validate(for problem: AttributionProblem) throws {
        guard (2...MethodLimits.steps).contains(steps) else {
            throw argumentError("nSteps", "expected an integer in 2...\(MethodLimits.steps), got \(steps)")
        }
    }

    public func plannedPasses(for problem: AttributionProblem) -> Int {
        AttributionProblem.passes(steps, problem.variantsPerPass(fixed: internalBatchSize))
    }

    public func attribute(_ problem: AttributionProblem) throws -> MethodResult {
        let t = problem.length, c = problem.dimensions.hiddenSize, n = steps
        let vocabulary = VocabularyNeighbours(problem)
        // paths[position]: n points (baseline first, input last) of C values.
        var paths: [[[Float]]] = []
        for position in 0..<t {
            paths.append(vocabulary.path(word: problem.ids[position], baseline: problem.baselineIds[position], steps: n,
                                         strategy: strategy, special: problem.specialTokenIds))
        }
        let perPass = problem.variantsPerPass(fixed: internalBatchSize)
        let k = problem.stepCount
        var total = [Float](repeating: 0, count: k * t * c)
        var start = 0
        while start < n - 1 {
            let range = start..<min(n - 1, start + perPass)
            var scalars = [Float]()
            scalars.reserveCapacity(range.count * t * c)
            for point in range { for position in 0..<t { scalars += paths[position][point] } }
            let g = try problem.gradients.run(.embeddings(Tensor(shape: [range.count, t, c], scalars: scalars)),
                                              steps: problem.steps).gradients.scalars  // (K, b, T, C)
            for s in 0..<k {
                for (offset, point) in range.enumerated() {
                    for position in 0..<t {
                        let next = paths[position][point + 1], here = paths[position][point]
                        let base = ((s * range.count + offset) * t + position) * c
                        for j in 0..<c { total[(s * t + position) * c + j] += g[base + j] * (next[j] - here[j]) }
                    }
                }
            }
            start = range.upperBound
        }
        if multiplyByInputs {
            let difference = problem.embeddings.minus(problem.baseline).scalars
            for i in total.indices { total[i] *= difference[i % (t * c)] }
        }
        return MethodResult(attributions: Tensor(shape: [k, t, c], scalars: total))
    }
}

/// The embedding matrix with nearest-neighbour queries, and Inseq's monotonic path builder.
struct VocabularyNeighbours {
    let rows: Int
    let width: Int
    let table: [Float]
    let squaredNorms: [Float]

    init(_ problem: AttributionProblem) {
        let v = problem.dimensions.vocabularySize
        self.init(table: problem.transformer.embed([Array(0..<v)]).scalars, width: problem.dimensions.hiddenSize)
    }

    /// `table`: the (V, C) embedding rows.
    init(table: [Float], width c: Int) {
        self.table = table
        rows = table.count / c
        width = c
        squaredNorms = (0..<rows).map { row in (0..<c).reduce(Float(0)) { $0 + table[row * c + $1] * table[row * c + $1] } }
    }

    func vector(_ id: Int) -> [Float] { Array(table[(id * width)..<((id + 1) * width)]) }

    /// The `count` nearest other words of `id`, nearest first (sklearn's kneighbors_graph without
    /// self): float32 products shortlist them, exact float64 distances order them.
    func nearest(_ id: Int, count: Int) -> [Int] {
        var dots = [Float](repeating: 0, count: rows)
        table.withUnsafeBufferPointer { a in
            Array(table[(id * width)..<((id + 1) * width)]).withUnsafeBufferPointer { x in
                dots.withUnsafeMutableBufferPointer { y in
                    BLAS.gemv(transpose: false, rows: rows, columns: width, a: a.baseAddress!, lda: width, x: x.baseAddress!, y: y.baseAddress!)
                }
            }
        }
        let approximate = (0..<rows).map { squaredNorms[$0] - 2 * dots[$0] }
        let shortlist = (0..<rows).filter { $0 != id }.sorted { approximate[$0] < approximate[$1] }.prefix(count + 16)
        func exact(_ other: Int) -> Double {
            var sum = 0.0
            for j in 0..<width {
                let d = Double(table[id * width + j]) - Double(table[other * width + j])
                sum += d * d
            }
            return sum
        }
        let distances = Dictionary(uniqueKeysWithValues: shortlist.map { ($0, exact($0)) })
        return shortlist.sorted { (distances[$0]!, $0) < (distances[$1]!, $1) }.prefix(count).map { $0 }
    }

    /// The word and its n − 2 anchors (Inseq's find_path).
    func words(word: Int, baseline: Int, steps n: Int, strategy: DiscretizedIntegratedGradients.Strategy, special: Set<Int>) -> [Int] {
        if special.contains(word) { return Array(repeating: word, count: n - 1) }
        var words = [word], current = word
        for _ in 0..<(n - 2) {
            current = closest(to: current, baseline: baseline, path: words, steps: n, strategy: strategy)
            words.append(current)
        }
        return words
    }

    /// Inseq's monotonic path: n points from the baseline's embedding to the word's.
    func path(word: Int, baseline: Int, steps n: Int, strategy: DiscretizedIntegratedGradients.Strategy, special: Set<Int>) -> [[Float]] {
        let words = words(word: word, baseline: baseline, steps: n, strategy: strategy, special: special)
        let base = vector(baseline)
        var points = [vector(words[0])]
        for anchor in words.dropFirst() {
            points.append(Self.monotonic(vector(anchor), baseline: base, input: points.last!, steps: n))
        }
        points.append(base)
        return points.reversed()
    }

    private func closest(to word: Int, baseline: Int, path: [Int], steps n: Int, strategy: DiscretizedIntegratedGradients.Strategy) -> Int {
        if word == baseline { return baseline }
        let base = vector(baseline), here = vector(word)
        var best: (score: Double, id: Int)?
        for anchor in nearest(word, count: DiscretizedIntegratedGradients.neighbours) where anchor != baseline && !path.contains(anchor) {
            let a = vector(anchor)
            let score: Double
            switch strategy {
            case .greedy:
                let m = Self.monotonic(a, baseline: base, input: here, steps: n)
                score = zip(a, m).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
            case .maxcount:
                score = Double(10_000 - Self.monotonicDimensions(a, baseline: base, input: here).filter { $0 }.count)
            }
            if best == nil || score < best!.score { best = (score, anchor) }
        }
        return best?.id ?? baseline
    }

    static func monotonicDimensions(_ anchor: [Float], baseline: [Float], input: [Float]) -> [Bool] {
        (0..<anchor.count).map { j in
            let b = baseline[j], x = input[j], a = anchor[j]
            return (b > x && b >= a && a >= x) || (b < x && b <= a && a <= x) || (b == x && b == a)
        }
    }

    /// The anchor with each non-monotonic dimension moved to input − (input − baseline) / n.
    static func monotonic(_ anchor: [Float], baseline: [Float], input: [Float], steps n: Int) -> [Float] {
        let monotonic = monotonicDimensions(anchor, baseline: baseline, input: input)
        return (0..<anchor.count).map { j in monotonic[j] ? anchor[j] : input[j] - (1 / Float(n)) * (input[j] - baseline[j]) }
    }
}
