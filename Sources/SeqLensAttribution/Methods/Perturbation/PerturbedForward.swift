import SeqLensModels
import SeqLensTensor

/// An input variant for a perturbation method: the (T, C) embeddings, equal to the input's at every
/// position before `firstChanged`.
struct PerturbedInput {
    var embeddings: [Float]
    var firstChanged: Int
}

/// The forward passes of the perturbation methods (house plan, "the fast design"): a variant is one
/// forward over the sequence whose every step's value is read at once, since a position's output
/// depends only on the positions at or before it; the positions before the variant's first change
/// come from the unperturbed run's cache instead of being recomputed; variants run in batches
/// bounded by memory, each batch starting where its earliest change is.
extension AttributionProblem {
    /// The unperturbed run: its keys and values, and each step's logits (K, V) and value.
    struct CleanRun {
        let cache: KeyValueCache
        let logits: Tensor
        let values: [Float]
    }

    func cleanRun() throws -> CleanRun {
        try beginPass()
        let dims = dimensions, t = length
        let cache = KeyValueCache(layers: dims.layerCount, batch: 1, width: dims.keyValueHeadCount * dims.headDimension)
        let hidden = transformer.hiddenStates(embeddings: Variable(constant: embeddings), positions: Array(0..<t),
                                              cache: cache, probe: nil)
        let logits = transformer.logits(selectRows(hidden, steps.map { $0.position - 1 })).value
        let values = try GradientEngine.values(of: function, logits: logits, steps: steps, options: options)[0]
        return CleanRun(cache: cache, logits: logits, values: values)
    }

    /// Token rows (batch × new positions) per pass: large enough for full-speed products, small
    /// enough that a pass's activations stay within a few hundred MB on the widest models here.
    static let perturbedRowsPerPass = 512

    /// Passes `perturbedValues` makes for variants first changed at `starts` (in any order).
    func perturbedPasses(starts: [Int]) -> Int { perturbedBatches(starts.sorted()).count }

    private func perturbedBatches(_ sortedStarts: [Int]) -> [Range<Int>] {
        var batches: [Range<Int>] = []
        var begin = 0
        while begin < sortedStarts.count {
            let rowsEach = max(1, length - sortedStarts[begin])
            let size = max(1, Self.perturbedRowsPerPass / rowsEach)
            let end = min(sortedStarts.count, begin + size)
            batches.append(begin..<end)
            begin = end
        }
        return batches
    }

    /// The attributed function's value at every step for each variant: values[variant][step].
    /// Steps whose logits come before a variant's first change get the clean value.
    func perturbedValues(_ variants: [PerturbedInput], clean: CleanRun) throws -> [[Float]] {
        let order = variants.indices.sorted { variants[$0].firstChanged < variants[$1].firstChanged }
        var result = [[Float]](repeating: [], count: variants.count)
        let t = length, c = dimensions.hiddenSize
        for batch in perturbedBatches(order.map { variants[$0].firstChanged }) {
            try beginPass()
            let members = batch.map { order[$0] }
            let start = min(variants[members[0]].firstChanged, t - 1)
            // Steps read the logits at position − 1; those before `start` are unchanged.
            let changedSteps = steps.indices.filter { steps[$0].position - 1 >= start }
            guard !changedSteps.isEmpty else {
                for member in members { result[member] = clean.values }
                continue
            }
            let b = members.count, n = t - start
            var scalars = [Float]()
            scalars.reserveCapacity(b * n * c)
            for member in members { scalars += variants[member].embeddings[(start * c)..<(t * c)] }
            let cache = clean.cache.prefix(start, repeatedFor: b)
            let hidden = transformer.hiddenStates(
                embeddings: Variable(constant: Tensor(shape: [b, n, c], scalars: scalars)), positions: Array(start..<t),
                cache: cache, probe: nil)
            var rows: [Int] = []
            for row in 0..<b { for k in changedSteps { rows.append(row * n + steps[k].position - 1 - start) } }
            let logits = transformer.logits(selectRows(hidden, rows)).value
            let readSteps = changedSteps.map { steps[$0] }
            let values = try GradientEngine.values(of: function, logits: logits, steps: readSteps, options: options)
            for (row, member) in members.enumerated() {
                var perStep = clean.values
                for (index, k) in changedSteps.enumerated() { perStep[k] = values[row][index] }
                result[member] = perStep
            }
        }
        return result
    }

    /// The input's embeddings with the positions in `replaced` taken from the baseline.
    func embeddings(replacing replaced: [Int]) -> PerturbedInput {
        let c = dimensions.hiddenSize
        var scalars = embeddings.scalars
        for position in replaced {
            scalars.replaceSubrange((position * c)..<((position + 1) * c), with: baseline.scalars[(position * c)..<((position + 1) * c)])
        }
        return PerturbedInput(embeddings: scalars, firstChanged: replaced.min() ?? length)
    }
}
