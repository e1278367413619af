/// A half-open range of token positions to merge into one, as Inseq's (start, end) tuples.
public struct TokenSpan: Sendable, Hashable {
    public var start: Int
    public var end: Int

    public init(_ start: Int, _ end: Int) {
        self.start = start
        self.end = end
    }
}

/// Step-score functions Inseq merges by product or sum rather than absmax when spans are merged
/// (DEFAULT_ATTRIBUTION_AGGREGATE_DICT["step_scores"]["spans"]); others use absmax.
let defaultStepScoreSpanFunctions: [String: AggregationFunction] = [
    "probability": .prod, "entropy": .sum, "crossentropy": .sum, "perplexity": .prod,
    "contrast_prob_diff": .prod, "contrast_prob": .prod, "pcxmi": .sum, "kl_divergence": .sum,
    "mc_dropout_prob_avg": .prod, "deltas": .absmax,
]

extension FeatureAttributionSequenceOutput {
    /// Inseq's `aggregate("spans", source_spans=..., target_spans=..., aggregate_fn=...)`
    /// (ContiguousSpanAggregator): merges each span of tokens into one token (strings joined,
    /// id -1) and its scores with `function`: attributions first along the generation steps
    /// (target spans shifted to step indices), then along the attributed positions.
    ///
    /// - Parameters:
    ///   - function: nil uses Inseq's defaults: absmax for attributions and sequence scores,
    ///     prod / sum / absmax per step-score name. A function given applies to everything.
    /// - Throws: `invalidSpans` for empty, overlapping, unordered or out-of-range spans.
    public func aggregatedSpans(
        source sourceSpans: [TokenSpan] = [], target targetSpans: [TokenSpan] = [],
        function: AggregationFunction? = nil
    ) throws(AttributionOutputError) -> FeatureAttributionSequenceOutput {
        try Self.validate(sourceSpans, length: source.count, side: "source")
        try Self.validate(targetSpans, length: target.count, side: "target")
        let attributionFunction = function ?? .absmax
        let stepSpans = Self.relativized(targetSpans, start: attrPosStart)
        var out = self
        out.source = Self.mergedTokens(source, sourceSpans)
        out.target = Self.mergedTokens(target, targetSpans)
        out.sourceAttributions = sourceAttributions.map {
            $0.mergingSpans(stepSpans, along: 1, with: attributionFunction)
                .mergingSpans(sourceSpans, along: 0, with: attributionFunction)
        }
        out.targetAttributions = targetAttributions.map {
            $0.mergingSpans(stepSpans, along: 1, with: attributionFunction)
                .mergingSpans(targetSpans, along: 0, with: attributionFunction)
        }
        for (name, scores) in stepScores {
            let stepFunction = function ?? defaultStepScoreSpanFunctions[name] ?? .absmax
            out.stepScores[name] = scores.mergingSpans(stepSpans, along: 0, with: stepFunction)
        }
        for (name, scores) in sequenceScores {
            let (rows, columns): ([TokenSpan], [TokenSpan]) =
                name.hasPrefix("decoder") ? (stepSpans, stepSpans)
                : name.hasPrefix("encoder") ? (sourceSpans, sourceSpans) : (sourceSpans, stepSpans)
            out.sequenceScores[name] = scores.mergingSpans(columns, along: 1, with: attributionFunction)
                .mergingSpans(rows, along: 0, with: attributionFunction)
        }
        if !targetSpans.isEmpty {
            out.attrPosStart = Self.mergedStart(targetSpans, start: attrPosStart)
            let merged = stepSpans.reduce(0) { $0 + $1.end - $1.start - 1 }
            out.attrPosEnd = out.attrPosStart + (attrPosEnd - attrPosStart - merged)
        }
        return out
    }

    /// Inseq's `aggregate("subwords", special_chars=..., is_suffix_symbol=...)`: finds word
    /// spans from the token strings (see `subwordSpans`) and merges them as `aggregatedSpans`.
    public func aggregatedSubwords(
        specialCharacters: [String] = ["▁"], isSuffixSymbol: Bool = false,
        aggregateSource: Bool = true, aggregateTarget: Bool = true, function: AggregationFunction? = nil
    ) throws(AttributionOutputError) -> FeatureAttributionSequenceOutput {
        try aggregatedSpans(
            source: aggregateSource ? Self.subwordSpans(source, specialCharacters: specialCharacters, isSuffixSymbol: isSuffixSymbol) : [],
            target: aggregateTarget ? Self.subwordSpans(target, specialCharacters: specialCharacters, isSuffixSymbol: isSuffixSymbol) : [],
            function: function)
    }

    /// Inseq's SubwordAggregator.get_spans. A token continues a word when it does not start with
    /// a special character (or, with `isSuffixSymbol`, when it does). No span when no token
    /// contains a special character. Inseq quirk kept: a word that ends the sequence loses its
    /// last piece (the span closes before the final token).
    public static func subwordSpans(
        _ tokens: [TokenWithId], specialCharacters: [String], isSuffixSymbol: Bool
    ) -> [TokenSpan] {
        let hasSpecial = tokens.contains { token in specialCharacters.contains { token.token.contains($0) } }
        guard hasSpecial else { return [] }
        var spans: [TokenSpan] = []
        var lastPrefix = 0
        for (index, token) in tokens.enumerated() {
            let startsSpecial = specialCharacters.contains { token.token.hasPrefix($0) }
            if startsSpecial == isSuffixSymbol {
                if index == tokens.count - 1 && index - lastPrefix > 1 { spans.append(TokenSpan(lastPrefix, index)) }
                continue
            }
            if index - lastPrefix > 1 { spans.append(TokenSpan(lastPrefix, index)) }
            lastPrefix = index
        }
        return spans
    }

    static func validate(_ spans: [TokenSpan], length: Int, side: String) throws(AttributionOutputError) {
        var previousEnd = -1
        for span in spans {
            guard span.end >= span.start + 1 else { throw .invalidSpans("\(side) span (\(span.start), \(span.end)) is empty") }
            guard span.start >= previousEnd, span.start >= 0 else {
                throw .invalidSpans("\(side) spans must be non-negative, non-overlapping and ascending: \(spans.map { ($0.start, $0.end) })")
            }
            guard span.end <= length else { throw .invalidSpans("\(side) span (\(span.start), \(span.end)) past \(length) tokens") }
            previousEnd = span.end
        }
    }

    /// Target spans as step indices: spans ending before the first attributed token dropped,
    /// starts before it clamped to step 0 (ContiguousSpanAggregator._relativize_target_spans).
    static func relativized(_ spans: [TokenSpan], start: Int) -> [TokenSpan] {
        guard start != 0 else { return spans }
        return spans.filter { $0.end > start }.map { TokenSpan($0.start > start ? $0.start - start : 0, $0.end - start) }
    }

    /// New attr_pos_start: merged prefix spans shrink it, and a span across the start moves it
    /// to that span's merged token (ContiguousSpanAggregator.aggregate_attr_pos_start).
    static func mergedStart(_ spans: [TokenSpan], start: Int) -> Int {
        var newStart = start - spans.filter { $0.end <= start }.reduce(0) { $0 + $1.end - $1.start - 1 }
        if let across = spans.first(where: { $0.start < start && start < $0.end }) { newStart -= start - across.start }
        return newStart
    }

    static func mergedTokens(_ tokens: [TokenWithId], _ spans: [TokenSpan]) -> [TokenWithId] {
        guard !spans.isEmpty else { return tokens }
        var out: [TokenWithId] = []
        var index = 0
        var spanIterator = spans.makeIterator()
        var nextSpan = spanIterator.next()
        while index < tokens.count {
            if let span = nextSpan, span.start == index {
                out.append(TokenWithId(tokens[span.start..<span.end].map(\.token).joined(), id: -1))
                index = span.end
                nextSpan = spanIterator.next()
            } else {
                out.append(tokens[index])
                index += 1
            }
        }
        return out
    }
}

extension AttributionTensor {
    /// torch_utils.aggregate_contiguous: each span along `axis` reduced to one slice with
    /// `function`; positions outside spans copied. Spans past the axis end are clipped.
    func mergingSpans(_ spans: [TokenSpan], along axis: Int, with function: AggregationFunction) -> AttributionTensor {
        guard !spans.isEmpty, axis < rank else { return self }
        let front = movingAxisToFront(axis)
        let size = front.shape[0]
        let inner = front.count / Swift.max(size, 1)
        var rows: [Float] = []
        var count = 0
        var position = 0
        front.values.withUnsafeBufferPointer { source in
            for span in spans {
                let start = Swift.min(span.start, size)
                let end = Swift.min(span.end, size)
                if start > position {
                    rows.append(contentsOf: source[(position * inner)..<(start * inner)])
                    count += start - position
                }
                if end > start {
                    for i in 0..<inner {
                        rows.append(function.reduce(source, offset: start * inner + i, stride: inner, count: end - start))
                    }
                    count += 1
                }
                position = Swift.max(position, end)
            }
            if position < size {
                rows.append(contentsOf: source[(position * inner)...])
                count += size - position
            }
        }
        var shape = front.shape
        shape[0] = count
        return AttributionTensor(shape: shape, values: rows).movingFrontAxis(to: axis)
    }
}
