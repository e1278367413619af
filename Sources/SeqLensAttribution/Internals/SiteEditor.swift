import SeqLensModels
import SeqLensTensor

/// A probe that records some sites and rewrites others during one forward pass: the mechanism
/// under inspection, patching, ablation and interventions.
final class SiteEditor: ActivationProbe {
    /// Rewrites a site's activation (B, T, W); forward only.
    typealias Edit = (Tensor) -> Tensor

    private let reads: Set<Site>
    private var edits: [Site: Edit]
    /// Per layer, an edit of attention probability rows (patterns are replaced this way).
    private let rowEdits: [Int: AttentionRowEdit]
    private(set) var recorded: [Site: Tensor] = [:]

    init(reading reads: Set<Site> = [], editing edits: [Site: Edit] = [:], editingRows rowEdits: [Int: AttentionRowEdit] = [:]) {
        self.reads = reads
        self.edits = edits
        self.rowEdits = rowEdits
    }

    func attentionRowEdit(layer: Int) -> AttentionRowEdit? { rowEdits[layer] }

    func wants(_ site: Site) -> Bool { reads.contains(site) || edits[site] != nil }

    func visit(_ site: Site, _ value: Variable) -> Variable {
        if reads.contains(site) { recorded[site] = value.value }
        guard let edit = edits[site] else { return value }
        let edited = edit(value.value)
        precondition(edited.shape == value.shape, "an edit of \(site) changed its shape \(value.shape) to \(edited.shape)")
        return Variable(constant: edited)
    }

    func observe(_ site: Site, _ value: Tensor) {
        if reads.contains(site) { recorded[site] = value }
    }
}

extension Tensor {
    /// A copy with `body` applied to the scalars.
    func modified(_ body: (inout [Float]) -> Void) -> Tensor {
        var scalars = self.scalars
        body(&scalars)
        return Tensor(shape: shape, scalars: scalars)
    }
}
