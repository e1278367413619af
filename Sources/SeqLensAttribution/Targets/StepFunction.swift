import Foundation

/// Inseq's step functions (inseq/attr/step_functions.py): scores of each generation step,
/// usable as step scores and as the attributed function.
public enum StepFunction: String, CaseIterable, Sendable {
    case logit, probability, entropy, crossentropy, perplexity
    case contrastLogits = "contrast_logits"
    case contrastProb = "contrast_prob"
    case contrastLogitsDiff = "contrast_logits_diff"
    case contrastProbDiff = "contrast_prob_diff"
    case pcxmi
    case klDivergence = "kl_divergence"
    case inContextPVI = "in_context_pvi"
    case topPSize = "top_p_size"
    case mcDropoutProbAvg = "mc_dropout_prob_avg"

    /// Whether the function compares with a contrastive prediction.
    public var isContrastive: Bool {
        switch self {
        case .contrastLogits, .contrastProb, .contrastLogitsDiff, .contrastProbDiff, .pcxmi, .klDivergence, .inContextPVI:
            return true
        default:
            return false
        }
    }
}

/// Options of the step functions, with Inseq's names and defaults.
public struct StepFunctionOptions: Sendable, Equatable {
    /// `logprob` of probability, contrast_prob and contrast_prob_diff.
    public var logProbability = false
    /// kl_divergence's filters (0 and 1 disable them) and top_p_size's threshold.
    public var topK = 0
    public var topP: Float = 1
    public var minTokensToKeep = 1
    /// Use the contrastive context when the function is the attributed one.
    public var contrastForceInputs = false
    /// mc_dropout_prob_avg's `n_mcd_steps`: forward passes with dropout.
    public var mcDropoutSteps = 5
    /// Seed of mc_dropout_prob_avg's dropout masks (Inseq draws from torch's global generator).
    public var mcDropoutSeed: UInt64 = 0

    public init() {}
}

/// What a step function sees at one step: the logits predicting the step's token and, for
/// contrastive functions, the contrastive prediction.
struct StepContext {
    /// (V) logits at the position before the step's token.
    let logits: [Float]
    let target: Int
    /// (V) logits of a separate contrastive context, a constant; nil when the contrastive
    /// token is read from `logits` (the attributed context), where it is differentiated too.
    let contrastLogits: [Float]?
    let contrastTarget: Int?
    /// mc_dropout_prob_avg: the target's probability (log-probability with `logprob`) under each
    /// forward pass with dropout; constants, as in Inseq.
    var noisyScores: [Float]? = nil
}

/// A step score's value and, when attributed, its gradient with respect to `logits`.
struct StepValue {
    var value: Float
    /// (V), nil when not asked for.
    var gradient: [Float]?
}

extension StepFunction {
    /// Evaluates the function; the contrastive logits are constants, as in Inseq, where the
    /// contrastive forward never takes part in the gradient.
    func evaluate(_ context: StepContext, options: StepFunctionOptions, withGradient: Bool) throws -> StepValue {
        let z = context.logits, y = context.target
        func softmax(_ v: [Float]) -> [Float] {
            // A Double sum: in Float, the tens of thousands of tiny tail terms would vanish
            // against the head of the distribution and bias every probability upwards.
            let m = v.max() ?? 0
            var e = v.map { expf($0 - m) }
            let s = e.reduce(0.0) { $0 + Double($1) }
            for i in e.indices { e[i] = Float(Double(e[i]) / s) }
            return e
        }
        guard !isContrastive || context.contrastTarget != nil else { throw AttributionError.missingContrast(rawValue) }
        let t = context.contrastTarget ?? y
        /// Whether the contrastive token is read from the attributed logits (and differentiated).
        let shared = context.contrastLogits == nil
        let c = context.contrastLogits ?? z
        let zeros = [Float](repeating: 0, count: z.count)
        /// p_i or log p_i of `logits` and its gradient: p_i (e_i − p), or e_i − p.
        func probability(_ logits: [Float], _ i: Int, logProbability: Bool, gradient: Bool) -> StepValue {
            let p = softmax(logits)
            if logProbability {
                var g: [Float]? = nil
                if gradient { g = p.map { -$0 }; g![i] += 1 }
                return StepValue(value: logf(p[i]), gradient: g)
            }
            var g: [Float]? = nil
            if gradient { g = p.map { -p[i] * $0 }; g![i] += p[i] }
            return StepValue(value: p[i], gradient: g)
        }
        /// The contrastive score, differentiated only when it comes from the attributed logits.
        func contrastProbability(logProbability: Bool) -> StepValue {
            var value = probability(c, t, logProbability: logProbability, gradient: withGradient && shared)
            if withGradient && !shared { value.gradient = zeros }
            return value
        }
        func difference(_ a: StepValue, _ b: StepValue, scale: Float = 1) -> StepValue {
            StepValue(value: scale * (a.value - b.value),
                      gradient: a.gradient.map { ga in zip(ga, b.gradient ?? zeros).map { scale * ($0 - $1) } })
        }
        func unit(_ i: Int, when condition: Bool) -> [Float] {
            var g = zeros
            if condition { g[i] = 1 }
            return g
        }
        switch self {
        case .logit:
            var g: [Float]? = nil
            if withGradient { g = [Float](repeating: 0, count: z.count); g![y] = 1 }
            return StepValue(value: z[y], gradient: g)
        case .probability:
            return probability(z, y, logProbability: options.logProbability, gradient: withGradient)
        case .entropy:
            // H = −Σ p log p;  ∂H/∂z_j = −p_j (log p_j + H)
            let p = softmax(z)
            var h: Float = 0
            for v in p where v > 0 { h -= v * logf(v) }
            let g = withGradient ? p.map { $0 > 0 ? -$0 * (logf($0) + h) : 0 } : nil
            return StepValue(value: h, gradient: g)
        case .crossentropy, .perplexity:
            // CE = −log p_y;  ∂CE/∂z = p − e_y.  Perplexity is 2^CE (Inseq's base, not e).
            let p = softmax(z)
            let ce = -logf(p[y])
            var g: [Float]? = nil
            if withGradient { g = p; g![y] -= 1 }
            if self == .crossentropy { return StepValue(value: ce, gradient: g) }
            let value = powf(2, ce)
            return StepValue(value: value, gradient: g?.map { $0 * value * logf(2) })
        case .contrastLogits:
            return StepValue(value: c[t], gradient: withGradient ? unit(t, when: shared) : nil)
        case .contrastProb:
            return contrastProbability(logProbability: options.logProbability)
        case .contrastLogitsDiff:
            let own = StepValue(value: z[y], gradient: withGradient ? unit(y, when: true) : nil)
            let other = StepValue(value: c[t], gradient: withGradient ? unit(t, when: shared) : nil)
            return difference(own, other)
        case .contrastProbDiff:
            return difference(probability(z, y, logProbability: options.logProbability, gradient: withGradient),
                              contrastProbability(logProbability: options.logProbability))
        case .pcxmi:
            // −log2(p_y / q_t)
            return difference(probability(z, y, logProbability: true, gradient: withGradient),
                              contrastProbability(logProbability: true), scale: -1 / logf(2))
        case .inContextPVI:
            // −log p_y + log q_t
            return difference(probability(z, y, logProbability: true, gradient: withGradient),
                              contrastProbability(logProbability: true), scale: -1)
        case .klDivergence:
            let keep = KLFilter.keptIndices(logits: z, topK: options.topK, topP: options.topP,
                                            minTokensToKeep: options.minTokensToKeep)
            let pz = softmax(keep.map { z[$0] }), qz = softmax(keep.map { c[$0] })
            var kl: Float = 0
            for i in pz.indices where pz[i] > 0 { kl += pz[i] * (logf(pz[i]) - logf(qz[i])) }
            var g: [Float]? = nil
            if withGradient {
                // ∂KL/∂z_j = p_j (log p_j − log q_j − KL) on kept tokens.
                g = [Float](repeating: 0, count: z.count)
                for (i, index) in keep.enumerated() where pz[i] > 0 {
                    g![index] = pz[i] * (logf(pz[i]) - logf(qz[i]) - kl)
                }
            }
            return StepValue(value: kl, gradient: g)
        case .topPSize:
            let kept = KLFilter.keptIndices(logits: z, topK: 0, topP: options.topP, minTokensToKeep: 1)
            return StepValue(value: Float(kept.count), gradient: withGradient ? [Float](repeating: 0, count: z.count) : nil)
        case .mcDropoutProbAvg:
            // (p − mean(noisy)) / std(noisy), torch's unbiased std: NaN from a single pass.
            guard let noisy = context.noisyScores, !noisy.isEmpty else {
                throw AttributionError.unsupported("mc_dropout_prob_avg has no dropout passes to compare with")
            }
            let own = probability(z, y, logProbability: options.logProbability, gradient: withGradient)
            let n = Float(noisy.count)
            let mean = noisy.reduce(0, +) / n
            let deviation = (noisy.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)).squareRoot()
            return StepValue(value: (own.value - mean) / deviation, gradient: own.gradient?.map { $0 / deviation })
        }
    }
}

/// Inseq's filter_logits: top-p (nucleus) then top-k on the original logits; the same indices
/// are kept in the contrastive logits.
enum KLFilter {
    static func keptIndices(logits z: [Float], topK: Int, topP: Float, minTokensToKeep: Int) -> [Int] {
        var kept = Array(z.indices)
        if topP < 1 {
            // transformers' top_p_logits_mask: sort ascending, drop tokens whose cumulative mass
            // stays <= 1 − top_p, keeping at least minTokensToKeep.
            let ascending = z.indices.sorted { z[$0] < z[$1] }
            let m = z.max() ?? 0
            let total = z.reduce(0.0) { $0 + Double(expf($1 - m)) }
            var cumulative = 0.0
            var removed = Set<Int>()
            for (rank, index) in ascending.enumerated() {
                cumulative += Double(expf(z[index] - m)) / total
                if cumulative <= Double(1 - topP) && rank < ascending.count - minTokensToKeep { removed.insert(index) }
            }
            kept = kept.filter { !removed.contains($0) }
        }
        if topK > 0 && topK < kept.count {
            kept = Array(kept.sorted { z[$0] > z[$1] }.prefix(max(topK, minTokensToKeep))).sorted()
        }
        return kept
    }
}
