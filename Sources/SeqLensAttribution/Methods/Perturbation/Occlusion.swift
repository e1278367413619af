import SeqLensTensor

/// Inseq's occlusion (Captum's Occlusion over whole token embeddings): windows of
/// `slidingWindowShapes` tokens every `strides` tokens are replaced by the UNK baseline; a token's
/// attribution is |f(x) − f(x occluded)| averaged over the windows that cover it (Inseq takes the
/// absolute value of Captum's difference).
public struct Occlusion: AttributionMethod {
    public static let name = "occlusion"
    public static let summary = "Occlusion: |change of the attributed function| when windows of tokens become the UNK baseline."
    public static let needsGradients = false
    public static let outputKind = AttributionOutputKind.perToken
    public static let usesBaselines = true

    public var window = 1
    public var stride = 1

    public init(window: Int = 1, stride: Int = 1) {
        self.window = window
        self.stride = stride
    }

    var windowShape: TokenWindow?
    var strideShape: TokenWindow?

    enum CodingKeys: String, CodingKey { case window = "slidingWindowShapes", stride = "strides" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        windowShape = try c.argument(.window)
        strideShape = try c.argument(.stride)
        window = windowShape?.tokens ?? 1
        stride = strideShape?.tokens ?? 1
    }

    public func validate(for problem: AttributionProblem) throws {
        try windowShape?.check(hiddenSize: problem.dimensions.hiddenSize, field: "slidingWindowShapes")
        try strideShape?.check(hiddenSize: problem.dimensions.hiddenSize, field: "strides")
        let shortest = problem.stepPositions.min() ?? 0
        guard window >= 1, window <= shortest else {
            throw argumentError("slidingWindowShapes", "a window of \(window) tokens is larger than the shortest attributed prefix (\(shortest) tokens)")
        }
        guard stride >= 1 else { throw argumentError("strides", "expected at least 1 token, got \(stride)") }
    }

    public func plannedPasses(for problem: AttributionProblem) -> Int {
        1 + problem.perturbedPasses(starts: windowStarts(problem))
    }

    private func windowStarts(_ problem: AttributionProblem) -> [Int] {
        let longest = (problem.stepPositions.max() ?? 0)
        return Array(Swift.stride(from: 0, through: longest - window, by: stride))
    }

    public func attribute(_ problem: AttributionProblem) throws -> MethodResult {
        let difference = try OcclusionDifferences(problem: problem, window: window, stride: stride)
        return MethodResult(attributions: difference.attributions(absolute: true), inputLogits: difference.clean.logits)
    }
}

/// Captum's Occlusion for every step from one set of windowed variants: each window [i, i + w) is
/// one variant; step k (prefix of n_k tokens) counts the windows that fit in its prefix, as
/// Captum run on that prefix alone would.
struct OcclusionDifferences {
    let problem: AttributionProblem
    let window: Int
    let stride: Int
    let clean: AttributionProblem.CleanRun
    let starts: [Int]
    /// values[window][step]
    let values: [[Float]]

    init(problem: AttributionProblem, window: Int, stride: Int) throws {
        self.problem = problem
        self.window = window
        self.stride = stride
        clean = try problem.cleanRun()
        let longest = problem.stepPositions.max() ?? 0
        starts = Array(Swift.stride(from: 0, through: longest - window, by: stride))
        values = try problem.perturbedValues(starts.map { problem.embeddings(replacing: Array($0..<($0 + window))) }, clean: clean)
    }

    /// (K, T): per step, the mean over the windows covering each token (within the step's
    /// prefix) of f(x) − f(x with the window occluded); 0 where no window covers a token.
    func attributions(absolute: Bool) -> Tensor {
        let k = problem.stepCount, t = problem.length
        var out = [Float](repeating: 0, count: k * t)
        for (s, prefix) in problem.stepPositions.enumerated() {
            var total = [Double](repeating: 0, count: t), covered = [Int](repeating: 0, count: t)
            for (w, start) in starts.enumerated() where start + window <= prefix {
                let delta = Double(clean.values[s]) - Double(values[w][s])
                for position in start..<(start + window) {
                    total[position] += delta
                    covered[position] += 1
                }
            }
            for position in 0..<prefix where covered[position] > 0 {
                let mean = Float(total[position] / Double(covered[position]))
                out[s * t + position] = absolute ? abs(mean) : mean
            }
        }
        return Tensor(shape: [k, t], scalars: out)
    }
}
