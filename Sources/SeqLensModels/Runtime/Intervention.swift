import SeqLensTensor

/// A change to one site's activation on every forward pass (steering, knock-outs): add a
/// vector, scale, zero or replace, at chosen absolute positions or at all of them.
///
/// Applied as `x ⊙ mask + offset` with tape operations, so gradients flow through an intervened
/// model as they would through the changed network (zero and replace cut them at their rows).
public struct Intervention: Sendable, Equatable {
    public enum Operation: Sendable, Equatable {
        /// x + vector (the site's width).
        case add([Float])
        case scale(Float)
        case zero
        /// The vector instead of x.
        case replace([Float])
    }

    public var site: Site
    /// Absolute token positions (prompt and generated tokens); nil for every position.
    public var positions: [Int]?
    public var operation: Operation

    public init(site: Site, positions: [Int]? = nil, operation: Operation) {
        self.site = site
        self.positions = positions
        self.operation = operation
    }

    /// `value` (B, T, W) at absolute `positions` (T of them) with the change applied.
    func apply(to value: Variable, positions absolute: [Int]) -> Variable {
        let b = value.shape[0], t = value.shape[1], w = value.shape[2]
        let chosen = positions.map(Set.init)
        let rows = (0..<t).filter { chosen?.contains(absolute[$0]) ?? true }
        guard !rows.isEmpty else { return value }
        var mask = [Float](repeating: 1, count: b * t * w)
        var offset: [Float]?
        let factor: Float
        switch operation {
        case .add: factor = 1
        case .scale(let by): factor = by
        case .zero, .replace: factor = 0
        }
        switch operation {
        case .add(let vector), .replace(let vector): offset = [Float](repeating: 0, count: b * t * w)
            for batch in 0..<b {
                for row in rows { offset!.replaceSubrange(((batch * t + row) * w)..<((batch * t + row + 1) * w), with: vector) }
            }
        default: break
        }
        if factor != 1 {
            for batch in 0..<b {
                for row in rows { mask.replaceSubrange(((batch * t + row) * w)..<((batch * t + row + 1) * w), with: repeatElement(factor, count: w)) }
            }
        }
        var result = value
        if factor != 1 { result = multiply(result, Variable(constant: Tensor(shape: value.shape, scalars: mask))) }
        if let offset { result = add(result, Variable(constant: Tensor(shape: value.shape, scalars: offset))) }
        return result
    }
}

/// A model whose every forward applies interventions, around whatever probe the caller brings
/// (the caller's probe sees the site first, then the intervention changes it).
struct IntervenedTransformer: CausalTransformer {
    let base: any CausalTransformer
    let interventions: [Intervention]

    var dimensions: TransformerDimensions { base.dimensions }
    var dropout: DropoutRates { base.dropout }
    func embed(_ ids: [[Int]]) -> Tensor { base.embed(ids) }
    func logits(_ hidden: Variable) -> Variable { base.logits(hidden) }
    func finalNorm(_ residual: Variable) -> Variable { base.finalNorm(residual) }

    func hiddenStates(embeddings: Variable, positions: [Int], cache: KeyValueCache?, probe: ActivationProbe?) -> Variable {
        let steering = InterventionProbe(interventions: interventions, positions: positions, inner: probe)
        return base.hiddenStates(embeddings: embeddings, positions: positions, cache: cache, probe: steering)
    }

    func hiddenStates(
        layers: Range<Int>, residual: Variable, positions: [Int], cache: KeyValueCache?, probe: ActivationProbe?
    ) -> Variable {
        let steering = InterventionProbe(interventions: interventions, positions: positions, inner: probe)
        return base.hiddenStates(layers: layers, residual: residual, positions: positions, cache: cache, probe: steering)
    }
}

/// Applies interventions for one forward, after an inner probe.
final class InterventionProbe: ActivationProbe {
    let bySite: [Site: [Intervention]]
    let positions: [Int]
    let inner: ActivationProbe?

    init(interventions: [Intervention], positions: [Int], inner: ActivationProbe?) {
        bySite = Dictionary(grouping: interventions, by: \.site)
        self.positions = positions
        self.inner = inner
    }

    func wants(_ site: Site) -> Bool { bySite[site] != nil || inner?.wants(site) == true }

    func visit(_ site: Site, _ value: Variable) -> Variable {
        var result = inner?.wants(site) == true ? inner!.visit(site, value) : value
        for intervention in bySite[site] ?? [] { result = intervention.apply(to: result, positions: positions) }
        return result
    }

    func observe(_ site: Site, _ value: Tensor) {
        if inner?.wants(site) == true { inner!.observe(site, value) }
    }

    func attentionRowEdit(layer: Int) -> AttentionRowEdit? { inner?.attentionRowEdit(layer: layer) }
}

extension LanguageModel {
    /// This model with `interventions` applied on every forward: generation, attribution and
    /// inspection through it all see the changed network. The weights are shared.
    /// - Throws: `ModelError.unknownSite` for a site the model lacks or a pattern, and
    ///   `.invalidIntervention` for a vector of the wrong width.
    public func intervened(_ interventions: [Intervention]) throws -> LanguageModel {
        guard !interventions.isEmpty else { return self }
        let catalog = sites
        for intervention in interventions {
            guard catalog.contains(intervention.site), !intervention.site.kind.isPattern else {
                throw ModelError.unknownSite("\(intervention.site)", reason: "interventions apply to sites other than attention patterns")
            }
            let width = catalog.width(of: intervention.site)
            switch intervention.operation {
            case .add(let vector), .replace(let vector):
                guard vector.count == width else {
                    throw ModelError.invalidIntervention("\(intervention.site) is \(width) wide, the vector has \(vector.count) values")
                }
                guard vector.allSatisfy(\.isFinite) else { throw ModelError.invalidIntervention("the vector holds NaN or infinity") }
            case .scale(let factor):
                guard factor.isFinite else { throw ModelError.invalidIntervention("the factor must be finite") }
            case .zero: break
            }
        }
        return LanguageModel(copying: self, transformer: IntervenedTransformer(base: transformer, interventions: interventions))
    }
}
