import SeqLensTensor

/// Autoregressive decoding with a key/value cache: one forward over the prompt, then one
/// position per new token.
struct Generator {
    let transformer: any CausalTransformer
    let endOfSequence: Set<Int>
    let tokenString: (Int) -> String

    func generate(
        prompt: [Int], options: GenerationOptions, onToken: (GeneratedToken, Int) throws -> Void
    ) throws -> (tokens: [GeneratedToken], stop: StopReason, logits: [[Float]]) {
        let dims = transformer.dimensions
        guard !prompt.isEmpty else { throw ModelError.emptyInput }
        for id in prompt where id < 0 || id >= dims.vocabularySize {
            throw ModelError.tokenOutOfRange(id: id, vocabularySize: dims.vocabularySize)
        }
        guard prompt.count <= dims.maxPositions else {
            throw ModelError.inputTooLong(tokens: prompt.count, limit: dims.maxPositions)
        }
        let cache = KeyValueCache(layers: dims.layerCount, batch: 1, width: dims.keyValueHeadCount * dims.headDimension)
        var sampler = Sampler(options: options)
        var tokens: [GeneratedToken] = []
        var kept: [[Float]] = []
        var next = prompt
        var position = 0
        while tokens.count < options.maxNewTokens {
            guard position + next.count <= dims.maxPositions else { return (tokens, .maxNewTokens, kept) }
            let embeddings = Variable(constant: transformer.embed([next]))
            let hidden = transformer.hiddenStates(
                embeddings: embeddings, positions: Array(position..<(position + next.count)), cache: cache, probe: nil)
            position += next.count
            let logits = transformer.logits(selectRows(hidden, [next.count - 1])).value.scalars
            if options.keepsStepLogits { kept.append(logits) }
            let probabilities = Sampler.softmax(logits)
            guard FiniteWeights.firstNonFinite(probabilities) == nil else {
                throw ModelError.nonFiniteOutput("the next-token probabilities after \(tokens.count) generated tokens")
            }
            let chosen = sampler.next(logits: logits)
            var alternatives: [TokenProbability] = []
            if options.returnTopK > 0 {
                let top = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(options.returnTopK)
                alternatives = top.map { TokenProbability(id: $0, token: tokenString($0), probability: probabilities[$0]) }
            }
            let token = GeneratedToken(id: chosen, token: tokenString(chosen), probability: probabilities[chosen],
                                       alternatives: alternatives)
            tokens.append(token)
            try onToken(token, tokens.count - 1)
            if options.stopAtEOS && endOfSequence.contains(chosen) { return (tokens, .endOfSequence, kept) }
            next = [chosen]
        }
        return (tokens, .maxNewTokens, kept)
    }
}
