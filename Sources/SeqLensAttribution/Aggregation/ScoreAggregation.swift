/// Which hidden units to keep before aggregating (Inseq's `select_idx`).
public enum HiddenSelection: Sendable, Equatable {
    /// One unit; the dimension is dropped without aggregating. Negative counts from the end.
    case index(Int)
    /// Units start..<end (Inseq's (start, end) tuple); negative values count from the end.
    case span(Int, Int)
    /// Individual units, no duplicates; negative values count from the end.
    case indices([Int])

    /// The selected positions among `count` units, as Inseq's validate_indices checks them.
    func resolve(count: Int) throws(AttributionOutputError) -> [Int] {
        func positive(_ index: Int) -> Int { index >= 0 ? index : count + index }
        switch self {
        case .index(let index):
            guard (-count..<count).contains(index) else {
                throw .invalidAggregation("select index \(index) out of range for \(count) units")
            }
            return [positive(index)]
        case .span(let start, let end):
            let (from, to) = (positive(start), positive(end))
            guard from < to, from >= 0, to <= count else {
                throw .invalidAggregation("select span (\(start), \(end)) invalid for \(count) units")
            }
            return Array(from..<to)
        case .indices(let list):
            if list.count == 1 { return try HiddenSelection.index(list[0]).resolve(count: count) }
            let resolved = list.map(positive)
            guard !list.isEmpty, resolved.allSatisfy({ $0 >= 0 && $0 < count }) else {
                throw .invalidAggregation("select indices \(list) invalid for \(count) units")
            }
            guard Set(resolved).count == resolved.count else { throw .invalidAggregation("duplicate select indices \(list)") }
            return resolved
        }
    }

    /// A single index drops the dimension instead of aggregating it.
    var dropsDimension: Bool {
        switch self {
        case .index: return true
        case .indices(let list): return list.count == 1
        case .span: return false
        }
    }
}

extension FeatureAttributionSequenceOutput {
    /// Inseq's `aggregate()` with no arguments: the default pipeline of this output's kind.
    /// Granular: vnorm over the hidden dimension, then each step's column normalised to unit L1
    /// norm over source + target positions (NaN counted as 0 and kept NaN). Plain: mean, then the
    /// same normalisation. Multi-dimensional: mean + normalisation once per extra dimension.
    /// Coarse: unchanged.
    public func aggregated() throws(AttributionOutputError) -> FeatureAttributionSequenceOutput {
        switch kind {
        case .coarse: return self
        case .granular: return try aggregated(.vnorm)
        case .plain: return try aggregated(.mean)
        case .multiDimensional:
            var current = self
            var functions = defaultAggregation ?? []
            while ((current.sourceAttributions ?? current.targetAttributions)?.rank ?? 2) > 2 {
                current = try current.aggregated(functions.isEmpty ? .mean : functions.removeFirst())
            }
            return current
        }
    }

    /// Inseq's `aggregate("<function>", normalize=..., rescale=..., select_idx=...)`
    /// (SequenceAttributionAggregator): keeps `selection` of the last dimension, reduces it with
    /// `function`, then normalises or rescales source and target attributions together.
    ///
    /// - Parameters:
    ///   - normalize: divide each column (dimension 0 of source and target stacked) by its L1
    ///     norm, floored at 1e-12 (torch F.normalize, p=1).
    ///   - rescale: divide everything by the largest |value| instead. As in Inseq, asking for
    ///     rescale without `normalize: false` throws.
    ///   - selection: hidden units to keep; `.index` drops the dimension without aggregating.
    /// Step scores are kept; sequence scores are reduced with `function` too.
    public func aggregated(
        _ function: AggregationFunction, normalize: Bool = true, rescale: Bool = false,
        selecting selection: HiddenSelection? = nil
    ) throws(AttributionOutputError) -> FeatureAttributionSequenceOutput {
        if normalize && rescale { throw .invalidAggregation("only one of normalize and rescale can be true") }
        func process(_ tensor: AttributionTensor?, _ name: String) throws(AttributionOutputError) -> AttributionTensor? {
            guard let tensor else { return nil }
            guard tensor.rank >= 3 || (tensor.rank >= 1 && selection?.dropsDimension == true) else {
                throw .invalidAggregation("\(name) has shape \(tensor.shape): nothing left to aggregate (already aggregated?)")
            }
            let last = tensor.rank - 1
            var reduced = tensor
            if let selection {
                reduced = tensor.selecting(try selection.resolve(count: tensor.shape[last]), along: last)
                if selection.dropsDimension {
                    var shape = reduced.shape
                    shape.removeLast()
                    return AttributionTensor(shape: shape, values: reduced.values)
                }
            }
            return reduced.reduced(along: last, with: function)
        }
        var out = self
        out.sourceAttributions = try process(sourceAttributions, "source_attributions")
        out.targetAttributions = try process(targetAttributions, "target_attributions")
        if normalize || rescale {
            let parts = [out.sourceAttributions, out.targetAttributions].compactMap { $0 }
            let scaled = parts.isEmpty ? [] : Self.scaleJointly(parts, normalize: normalize)
            var next = scaled.makeIterator()
            if out.sourceAttributions != nil { out.sourceAttributions = next.next() }
            if out.targetAttributions != nil { out.targetAttributions = next.next() }
        }
        for (name, scores) in sequenceScores {
            out.sequenceScores[name] = try process(scores, "sequence_scores.\(name)")
        }
        return out
    }

    /// Inseq's normalize / rescale on the tuple (source, target): both are concatenated along
    /// dimension 0, NaN set to 0, scaled, and NaN put back (torch_utils.postprocess_attribution_scores).
    static func scaleJointly(_ parts: [AttributionTensor], normalize: Bool) -> [AttributionTensor] {
        let columnShape = Array(parts[0].shape.dropFirst())
        let columns = columnShape.reduce(1, *)
        if normalize {
            var norms = [Double](repeating: 0, count: columns)
            for part in parts {
                for (index, value) in part.values.enumerated() where !value.isNaN {
                    norms[index % max(columns, 1)] += Double(abs(value))
                }
            }
            let denominators = norms.map { Float(Swift.max($0, 1e-12)) }
            return parts.map { part in
                var out = part
                for index in out.values.indices where !out.values[index].isNaN {
                    out.values[index] /= denominators[index % max(columns, 1)]
                }
                return out
            }
        }
        let largest = parts.reduce(Float(0)) { Swift.max($0, $1.values.reduce(0) { $1.isNaN ? $0 : Swift.max($0, abs($1)) }) }
        return parts.map { part in
            var out = part
            for index in out.values.indices where !out.values[index].isNaN { out.values[index] /= largest }
            return out
        }
    }
}

extension FeatureAttributionOutput {
    /// Every sequence aggregated with its default pipeline (Inseq's `out.aggregate()`).
    public func aggregated() throws(AttributionOutputError) -> FeatureAttributionOutput {
        var out = self
        out.sequenceAttributions = try sequenceAttributions.map { sequence throws(AttributionOutputError) in
            try sequence.aggregated()
        }
        return out
    }
}
