import Foundation

/// Chooses the next token from logits as transformers' `generate` does: temperature, then
/// top-k, then top-p (nucleus) filtering, then a draw; or the argmax when not sampling.
struct Sampler {
    let options: GenerationOptions
    private var random: SplitMix64

    init(options: GenerationOptions) {
        self.options = options
        random = SplitMix64(seed: options.seed)
    }

    mutating func next(logits: [Float]) -> Int {
        guard options.doSample else { return Self.argmax(logits) }
        var scores = logits
        if options.temperature > 0, options.temperature != 1 {
            for i in scores.indices { scores[i] /= options.temperature }
        }
        var order = scores.indices.sorted { scores[$0] > scores[$1] }
        if options.topK > 0, options.topK < order.count {
            order.removeLast(order.count - options.topK)
        }
        var probabilities = Self.softmax(order.map { scores[$0] })
        if options.topP < 1 {
            // Keep the smallest prefix whose mass reaches top_p (at least one token), as
            // TopPLogitsWarper removes tokens whose ascending cumulative mass stays <= 1 - top_p.
            var cumulative: Float = 0, keep = 0
            for p in probabilities {
                keep += 1
                cumulative += p
                if cumulative >= options.topP { break }
            }
            order.removeLast(order.count - keep)
            probabilities = Self.softmax(order.map { scores[$0] })
        }
        var draw = Float(random.nextUnit())
        for (index, p) in zip(order, probabilities) {
            draw -= p
            if draw < 0 { return index }
        }
        return order.last ?? Self.argmax(logits)
    }

    static func argmax(_ values: [Float]) -> Int {
        var best = 0
        for i in values.indices where values[i] > values[best] { best = i }
        return best
    }

    /// Softmax with a Double sum (in Float the vocabulary's tail would be lost against its head).
    static func softmax(_ values: [Float]) -> [Float] {
        let maximum = values.max() ?? 0
        var exps = values.map { expf($0 - maximum) }
        let sum = exps.reduce(0.0) { $0 + Double($1) }
        for i in exps.indices { exps[i] = Float(Double(exps[i]) / sum) }
        return exps
    }
}

/// A small, fast, seedable generator so that sampling is reproducible from a seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
