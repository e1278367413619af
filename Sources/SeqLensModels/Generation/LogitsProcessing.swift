/// transformers' logits processors for one hypothesis, in `_get_logits_processor`'s order:
/// repetition penalty, no-repeat n-grams, bad words, forced BOS, forced EOS, then (after any
/// sampling warpers, which the caller applies) renormalisation.
struct LogitsProcessing {
    let config: EncoderDecoderGenerationConfig
    /// The total decoder length (start token included) at which generation stops.
    let maxLength: Int

    /// Processes `scores` (V) in place for the next token after `sequence` (the decoder ids so
    /// far, the start token first).
    func apply(_ scores: inout [Float], sequence: [Int]) {
        let length = sequence.count
        if config.repetitionPenalty != 1 {
            // RepetitionPenaltyLogitsProcessor: every id seen so far (the start token too).
            for id in Set(sequence) where id >= 0 && id < scores.count {
                scores[id] = scores[id] < 0 ? scores[id] * config.repetitionPenalty : scores[id] / config.repetitionPenalty
            }
        }
        let n = config.noRepeatNgramSize
        if n > 0, length >= n {
            // NoRepeatNGramLogitsProcessor: ban what would complete an n-gram already present.
            let prefix = Array(sequence[(length - n + 1)...])
            for start in 0...(length - n) where Array(sequence[start..<(start + n - 1)]) == prefix {
                let banned = sequence[start + n - 1]
                if banned >= 0 && banned < scores.count { scores[banned] = -.infinity }
            }
        }
        for words in config.badWordsIDs where !words.isEmpty {
            // NoBadWordsLogitsProcessor: the last id is banned when the rest ends the sequence.
            let head = words.dropLast()
            if head.isEmpty || (sequence.count >= head.count && Array(sequence.suffix(head.count)) == Array(head)) {
                let id = words[words.count - 1]
                if id >= 0 && id < scores.count { scores[id] = -.infinity }
            }
        }
        if let bos = config.forcedBOSTokenID, length == 1 {
            force(&scores, [bos])
        }
        if !config.forcedEOSTokenIDs.isEmpty, length == maxLength - 1 {
            force(&scores, config.forcedEOSTokenIDs)
        }
    }

    /// ForcedBOS/EOSTokenLogitsProcessor: every other id gets -inf, the forced ones 0.
    private func force(_ scores: inout [Float], _ ids: [Int]) {
        for i in scores.indices { scores[i] = -.infinity }
        for id in ids where id >= 0 && id < scores.count { scores[id] = 0 }
    }

    /// LogitNormalization, when the checkpoint asks for it.
    func renormalize(_ scores: inout [Float]) {
        guard config.renormalizeLogits else { return }
        scores = Self.logSoftmax(scores)
    }

    static func logSoftmax(_ x: [Float]) -> [Float] {
        let peak = x.max() ?? 0
        guard peak.isFinite else { return x }
        var sum: Double = 0
        for v in x { sum += Double((v - peak).exp) }
        let logSum = Float(log(sum))
        return x.map { $0 - peak - logSum }
    }
}

import Foundation

extension Float {
    fileprivate var exp: Float { Foundation.exp(self) }
}
