extension FeatureAttributionSequenceOutput {
    /// Inseq's `aggregate("pair", paired_attr=other)` (PairAggregator), also what
    /// `self - other` computes in Inseq: every tensor becomes `other - self` (Inseq's default
    /// function is `lambda x, y: y - x`), step and sequence scores too; tokens that differ become
    /// "a → b" with id -1. Positions and kind are kept from `self`.
    ///
    /// - Throws: `shapeMismatch` when token counts or tensor shapes differ.
    public func pairDifference(with other: FeatureAttributionSequenceOutput) throws(AttributionOutputError)
        -> FeatureAttributionSequenceOutput
    {
        guard source.count == other.source.count, target.count == other.target.count else {
            throw .shapeMismatch("pair needs equal token counts: source \(source.count) vs \(other.source.count), target \(target.count) vs \(other.target.count)")
        }
        func difference(_ mine: AttributionTensor?, _ theirs: AttributionTensor?, _ name: String) throws(AttributionOutputError) -> AttributionTensor? {
            guard let mine else { return nil }
            guard let theirs, theirs.shape == mine.shape else {
                throw .shapeMismatch("pair \(name): \(mine.shape) vs \(theirs.map { "\($0.shape)" } ?? "missing")")
            }
            var out = mine
            for index in out.values.indices { out.values[index] = theirs.values[index] - mine.values[index] }
            return out
        }
        func pairedTokens(_ mine: [TokenWithId], _ theirs: [TokenWithId]) -> [TokenWithId] {
            guard !theirs.isEmpty else { return mine }
            return zip(mine, theirs).map { $0.token == $1.token ? $0 : TokenWithId("\($0.token) → \($1.token)", id: -1) }
        }
        var out = self
        out.source = pairedTokens(source, other.source)
        out.target = pairedTokens(target, other.target)
        out.sourceAttributions = try difference(sourceAttributions, other.sourceAttributions, "source_attributions")
        out.targetAttributions = try difference(targetAttributions, other.targetAttributions, "target_attributions")
        for (name, scores) in stepScores {
            out.stepScores[name] = try difference(scores, other.stepScores[name], "step_scores.\(name)")
        }
        for (name, scores) in sequenceScores {
            out.sequenceScores[name] = try difference(scores, other.sequenceScores[name], "sequence_scores.\(name)")
        }
        return out
    }
}
