import SeqLensTensor

/// transformers 5's `_beam_search` for one source (generation/utils.py): each step takes the
/// top `max(2, 1 + #eos) × beams` continuations of all running beams by accumulated processed
/// log-probability; those that end (EOS, or the length limit) enter the finished set with their
/// score divided by length ** length_penalty, the best unfinished ones keep running, and the
/// early-stopping heuristic decides when no running beam can still beat the finished ones.
/// The model's KV cache is reordered per surviving beam. Model-agnostic: an encoder-decoder model
/// starts from its decoder start token, a decoder-only one from the prompt.
struct BeamSearch {
    let processing: LogitsProcessing
    let beams: Int
    let returnSequences: Int
    /// Each beam's next-token logits: the first call gets every beam's whole starting sequence,
    /// later calls each beam's newest token.
    let stepLogits: (_ next: [[Int]], _ position: Int) throws -> [[Float]]
    /// Keeps, for each beam slot, the cache of beam `parents[slot]`.
    let reorder: (_ parents: [Int]) -> Void

    /// A hypothesis: the ids (the start first) and the processed log-probability of each chosen token.
    struct Hypothesis {
        var sequence: [Int]
        var stepScores: [Float]
        /// Softmax of the raw logits for each chosen token.
        var probabilities: [Float]
    }

    /// The returned hypotheses, best first, with transformers' sequence scores.
    struct Result {
        var hypotheses: [Hypothesis]
        var scores: [Float]
    }

    func run(start startSequence: [Int]) throws -> Result {
        let config = processing.config
        let maxLength = processing.maxLength
        let eos = config.endOfSequence
        let keep = max(2, 1 + eos.count) * beams
        let start = Hypothesis(sequence: startSequence, stepScores: [], probabilities: [])
        var running = Array(repeating: start, count: beams)
        var runningScores = [Float](repeating: -1e9, count: beams)
        runningScores[0] = 0
        var finished = running
        var finishedScores = [Float](repeating: -1e9, count: beams)
        var isFinished = [Bool](repeating: false, count: beams)
        var improvable = true
        var currentLength = startSequence.count
        let promptLength = startSequence.count
        var next = running.map(\.sequence)
        while true {
            let logits = try stepLogits(next, currentLength - next[0].count)
            // torch.topk over beams × vocabulary: the `keep` largest, ties to the lower flat index.
            // A bounded insertion: keep is a few beams, the vocabulary tens of thousands.
            var top: [(score: Float, beam: Int, id: Int, step: Float)] = []
            top.reserveCapacity(keep + 1)
            var raw: [[Float]] = []
            for beam in 0..<beams {
                raw.append(LogitsProcessing.logSoftmax(logits[beam]))
                var scores = raw[beam]
                processing.apply(&scores, sequence: running[beam].sequence)
                processing.renormalize(&scores)
                for (id, step) in scores.enumerated() {
                    let score = step + runningScores[beam]
                    if top.count == keep, !(score > top[keep - 1].score) { continue }
                    let slot = top.firstIndex { score > $0.score } ?? top.count
                    top.insert((score, beam, id, step), at: slot)
                    if top.count > keep { top.removeLast() }
                }
            }
            let extended = top.map { c -> Hypothesis in
                var h = running[c.beam]
                h.sequence.append(c.id)
                h.stepScores.append(c.step)
                h.probabilities.append(Float(exp(Double(raw[c.beam][c.id]))))
                return h
            }
            let hits = top.map { eos.contains($0.id) || currentLength + 1 >= maxLength }

            // The best `beams` continuations that do not end keep running.
            let runningOrder = top.indices.sorted {
                let a = top[$0].score + (hits[$0] ? -1e9 : 0), b = top[$1].score + (hits[$1] ? -1e9 : 0)
                return a != b ? a > b : $0 < $1
            }.prefix(beams)
            let parents = runningOrder.map { top[$0].beam }
            running = runningOrder.map { extended[$0] }
            runningScores = runningOrder.map { top[$0].score + (hits[$0] ? -1e9 : 0) }

            // Finished: the top `beams` candidates that just ended, scored by length, merged with
            // the finished set.
            let allFinished = isFinished.allSatisfy { $0 }
            let lengthDivisor = Float(pow(Double(currentLength + 1 - promptLength), Double(config.lengthPenalty)))
            var mergedScores = finishedScores, mergedHypotheses = finished, mergedFlags = isFinished
            for (k, candidate) in top.enumerated() {
                let justFinished = hits[k] && k < beams
                var score = candidate.score / lengthDivisor
                if allFinished && config.earlyStopping == .yes { score += -1e9 }
                if !improvable { score += -1e9 }
                if !justFinished { score += -1e9 }
                mergedScores.append(score)
                mergedHypotheses.append(extended[k])
                mergedFlags.append(justFinished)
            }
            let finishedOrder = mergedScores.indices.sorted {
                mergedScores[$0] != mergedScores[$1] ? mergedScores[$0] > mergedScores[$1] : $0 < $1
            }.prefix(beams)
            finished = finishedOrder.map { mergedHypotheses[$0] }
            finishedScores = finishedOrder.map { mergedScores[$0] }
            isFinished = finishedOrder.map { mergedFlags[$0] }

            reorder(parents)
            currentLength += 1
            // _check_early_stop_heuristic
            let bestLength = config.earlyStopping == .never && config.lengthPenalty > 0
                ? maxLength - promptLength : currentLength - promptLength
            let bestPossible = runningScores[0] / Float(pow(Double(bestLength), Double(config.lengthPenalty)))
            let worst = finishedScores.min() ?? -1e9
            improvable = improvable && isFinished.contains { finished in bestPossible > (finished ? worst : -1e9) }
            let openBeam = !(isFinished.allSatisfy { $0 } && config.earlyStopping == .yes)
            if !(improvable && openBeam && !hits.allSatisfy({ $0 })) { break }
            next = running.map { [$0.sequence.last!] }
        }
        let count = min(returnSequences, beams)
        return Result(hypotheses: Array(finished.prefix(count)), scores: Array(finishedScores.prefix(count)))
    }

    /// The result as the protocol reports it: beams without their start, the best one's tokens.
    func generation(
        _ result: Result, startLength: Int, decode: ([Int]) -> String, tokenString: (Int) -> String
    ) -> (beams: [Beam], tokens: [GeneratedToken], stop: StopReason, transitionScores: [Float]) {
        let beams = zip(result.hypotheses, result.scores).map { hypothesis, score in
            let ids = Array(hypothesis.sequence.dropFirst(startLength))
            return Beam(ids: ids, text: decode(ids), sequenceScore: score, transitionScores: hypothesis.stepScores)
        }
        let best = result.hypotheses[0]
        let tokens = zip(best.sequence.dropFirst(startLength), best.probabilities).map { id, probability in
            GeneratedToken(id: id, token: tokenString(id), probability: probability, alternatives: [])
        }
        let ended = best.sequence.count > startLength && processing.config.endOfSequence.contains(best.sequence.last!)
        return (beams, tokens, ended ? .endOfSequence : .maxNewTokens, best.stepScores)
    }
}

import Foundation
