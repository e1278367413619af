/// A value flowing through a differentiable computation: a tensor plus, when recorded on a
/// tape, its node index.
///
/// Constants (weights, inputs that need no gradient) carry no tape; an op whose inputs are all
/// constants records nothing, so the same forward code serves inference and attribution.
public struct Variable {
    public let value: Tensor
    let node: Int
    /// Weak: pullbacks capture their operands, so a strong reference would make every recorded
    /// tape a reference cycle and leak its saved activations. The tape's owner keeps it alive.
    weak var tape: Tape?

    /// A constant: no gradient flows into it.
    public init(constant value: Tensor) {
        self.value = value
        self.node = -1
        self.tape = nil
    }

    init(value: Tensor, node: Int, tape: Tape) {
        self.value = value
        self.node = node
        self.tape = tape
    }

    public var shape: [Int] { value.shape }
    public var isTracked: Bool { tape != nil }
}

/// Reverse-mode recording of ops (house plan decision 3).
///
/// Every pullback receives a cotangent with a leading dimension K (shape `[K] + output.shape`)
/// and returns cotangents `[K] + input.shape`, so K output directions (e.g. every generated step
/// of a sequence) are propagated in one backward pass (decision 2). Weights are constants and
/// get no gradient (decision 1).
public final class Tape {
    /// Maps the output cotangent to one cotangent per input (nil where the input is a constant).
    /// The pullback owns the cotangent: when nothing else holds it, it may return it changed
    /// in place (copy-on-write copies it otherwise).
    public typealias Pullback = (consuming Tensor) -> [Tensor?]
    /// A pullback that may skip the rows a `RowSupport` declares zero.
    public typealias SupportAwarePullback = (consuming Tensor, RowSupport?) -> [Tensor?]

    private var inputs: [[Int]] = []
    private var pullbacks: [SupportAwarePullback?] = []
    private var shapes: [[Int]] = []
    /// How each node's output positions depend on its inputs' positions: what row support its
    /// inputs' cotangents inherit (see `RowSupport.starts`).
    /// One entry for all inputs, or one per input.
    private var rowDependences: [[RowDependence]] = []

    public init() {}

    /// Number of recorded nodes (leaves included).
    public var nodeCount: Int { pullbacks.count }

    /// A leaf to differentiate with respect to.
    public func variable(_ value: Tensor) -> Variable {
        append(value, inputs: [], rowDependences: [.samePosition], pullback: nil)
    }

    /// Records `value` as computed from `operands` by an op whose pullback is given. Called by
    /// ops; returns a constant when no operand is on a tape.
    /// - Parameter preservesRows: true when output position t depends on input position t only
    ///   (for (B, T, ...) values): projections, norms, elementwise ops. False, the safe default,
    ///   for ops that mix positions, such as attention.
    public static func record(
        _ value: Tensor, from operands: [Variable], preservesRows: Bool = false, pullback: @escaping Pullback
    ) -> Variable {
        record(value, from: operands, rowDependence: preservesRows ? .samePosition : .earlierPositions,
               supportAwarePullback: { cotangent, _ in pullback(consume cotangent) })
    }

    /// Records an op whose pullback can use the row support of its output's cotangent.
    public static func record(
        _ value: Tensor, from operands: [Variable], preservesRows: Bool = false,
        supportAwarePullback pullback: @escaping SupportAwarePullback
    ) -> Variable {
        record(value, from: operands, rowDependence: preservesRows ? .samePosition : .earlierPositions,
               supportAwarePullback: pullback)
    }

    /// Records an op whose output positions depend on all its inputs' as `rowDependence` says.
    public static func record(
        _ value: Tensor, from operands: [Variable], rowDependence: RowDependence,
        supportAwarePullback pullback: @escaping SupportAwarePullback
    ) -> Variable {
        record(value, from: operands, rowDependences: [rowDependence], supportAwarePullback: pullback)
    }

    /// Records an op whose output positions depend on each input's as `rowDependences` (one per
    /// operand) says: cross-attention reads its queries row by row and its keys all at once.
    public static func record(
        _ value: Tensor, from operands: [Variable], rowDependences: [RowDependence],
        supportAwarePullback pullback: @escaping SupportAwarePullback
    ) -> Variable {
        precondition(rowDependences.count == 1 || rowDependences.count == operands.count,
                     "\(rowDependences.count) row dependences for \(operands.count) operands")
        guard let tape = operands.first(where: { $0.isTracked })?.tape else {
            return Variable(constant: value)
        }
        return tape.append(value, inputs: operands.map { $0.tape === tape ? $0.node : -1 },
                           rowDependences: rowDependences, pullback: pullback)
    }

    private func append(
        _ value: Tensor, inputs operandNodes: [Int], rowDependences dependences: [RowDependence],
        pullback: SupportAwarePullback?
    ) -> Variable {
        let node = pullbacks.count
        inputs.append(operandNodes)
        pullbacks.append(pullback)
        shapes.append(value.shape)
        rowDependences.append(dependences)
        return Variable(value: value, node: node, tape: self)
    }

    /// Vector-Jacobian products: the cotangents of `targets` given cotangents seeded at some
    /// recorded variables.
    ///
    /// - Parameters:
    ///   - seeds: pairs of a recorded variable and its cotangent, shaped `[K] + variable.shape`
    ///     with the same K throughout.
    ///   - targets: variables whose cotangents to return (`[K] + shape`, zeros if unreached).
    ///   - support: which rows of each seed's slices can be nonzero; ops may skip the others.
    ///     The tape narrows it per node: below an op that mixes positions, rows before `starts`
    ///     can be nonzero too.
    public func gradients(seeds: [(Variable, Tensor)], wrt targets: [Variable], support: RowSupport? = nil) -> [Tensor] {
        precondition(!seeds.isEmpty, "no seed cotangent")
        let leading = seeds[0].1.shape[0]
        var cotangents = [Tensor?](repeating: nil, count: pullbacks.count)
        var supports = [RowSupport?](repeating: nil, count: pullbacks.count)
        for (variable, seed) in seeds {
            precondition(variable.tape === self, "seed variable is not on this tape")
            precondition(seed.shape == [leading] + shapes[variable.node],
                         "seed shape \(seed.shape) does not match [\(leading)] + \(shapes[variable.node])")
            supports[variable.node] = cotangents[variable.node] == nil ? support : support?.union(supports[variable.node])
            cotangents[variable.node] = cotangents[variable.node].map { $0 + seed } ?? seed
        }
        let wanted = Set(targets.map { $0.node })
        let lowest = targets.map(\.node).min() ?? 0
        var node = seeds.map { $0.0.node }.max()!
        while node >= max(lowest, 0) {
            defer { node -= 1 }
            guard let pullback = pullbacks[node], let cotangent = cotangents[node] else { continue }
            // Released before the pullback runs, so that it can reuse the storage.
            if !wanted.contains(node) { cotangents[node] = nil }
            let nodeSupport = supports[node]
            let inputCotangents = pullback(consume cotangent, nodeSupport)
            let dependences = rowDependences[node]
            for (index, (input, inputCotangent)) in zip(inputs[node], inputCotangents).enumerated() {
                guard input >= 0, let inputCotangent else { continue }
                let inputSupport: RowSupport?
                switch dependences.count == 1 ? dependences[0] : dependences[index] {
                case .samePosition: inputSupport = nodeSupport
                case .earlierPositions: inputSupport = nodeSupport?.fromFirstPosition
                case .anyPosition: inputSupport = nil
                case .shifted(let by, let inputPositions):
                    inputSupport = nodeSupport.map {
                        RowSupport(positions: inputPositions, lengths: $0.lengths.map { $0 - by }, starts: $0.starts.map { $0 - by })
                    }
                }
                // In place: the stored cotangent is usually uniquely owned (copy-on-write
                // copies it otherwise), which saves a tensor-sized allocation per residual add.
                if cotangents[input] == nil {
                    cotangents[input] = inputCotangent
                    supports[input] = inputSupport
                } else {
                    cotangents[input]!.add(inputCotangent)
                    supports[input] = inputSupport?.union(supports[input])
                }
            }
        }
        return targets.map { target in
            precondition(target.tape === self, "target variable is not on this tape")
            return cotangents[target.node] ?? Tensor(zeros: [leading] + shapes[target.node])
        }
    }
}

/// How an op's output positions depend on its inputs' positions (axis 1 of (B, T, ...) values),
/// which decides the row support its inputs' cotangents inherit.
public enum RowDependence: Sendable {
    /// Output position t reads input position t only: projections, norms, elementwise ops.
    case samePosition
    /// Output position t reads input positions up to t: causal attention.
    case earlierPositions
    /// Any output position may read any input position (an encoder's attention, cross-attention,
    /// or inputs whose position axis means something else): inputs get no row support.
    case anyPosition
    /// Output position p reads input position p − `by` of an input with `inputPositions`
    /// positions (placing a decoder's rows into a joined [source ; target] sequence, or taking
    /// them out of it): the support moves with the rows.
    case shifted(by: Int, inputPositions: Int)
}

/// Which rows of the cotangents can be nonzero, so that pullbacks skip the rest.
///
/// Attribution seeds slice k at position p_k − 1 of a causal model: through every op, the
/// cotangent rows of positions ≥ p_k stay exactly zero. Activations shaped (B, T, ...) with
/// T = `positions` then need only their first `lengths[k]` positions computed for slice k.
/// Above the first op that mixes positions (the top block's attention, going backwards), only
/// the seeded row itself is nonzero: positions before `starts[k]` are zero as well.
public struct RowSupport: Sendable, Equatable {
    /// The length T of the position axis (axis 1 of (B, T, ...) activations).
    public let positions: Int
    /// Per cotangent slice, how many leading positions can be nonzero.
    public let lengths: [Int]
    /// Per cotangent slice, the first position that can be nonzero.
    public let starts: [Int]

    public init(positions: Int, lengths: [Int], starts: [Int]? = nil) {
        precondition(starts == nil || starts!.count == lengths.count, "\(starts!.count) starts for \(lengths.count) slices")
        self.positions = positions
        let lengths = lengths.map { min(max($0, 0), positions) }
        self.lengths = lengths
        self.starts = starts.map { zip($0, lengths).map { min(max($0, 0), $1) } } ?? lengths.map { _ in 0 }
    }

    /// Slice k's rows that can be nonzero.
    public func rows(_ slice: Int) -> Range<Int> { starts[slice]..<lengths[slice] }

    /// The same lengths from position 0: what an op that mixes positions passes to its inputs.
    var fromFirstPosition: RowSupport { RowSupport(positions: positions, lengths: lengths) }

    /// Rows that either support allows (nil, no support, allows every row).
    func union(_ other: RowSupport?) -> RowSupport? {
        guard let other, other.positions == positions, other.lengths.count == lengths.count else { return nil }
        return RowSupport(positions: positions, lengths: zip(lengths, other.lengths).map { max($0, $1) },
                          starts: zip(starts, other.starts).map { min($0, $1) })
    }

    /// The support for an activation of `shape` under `slices` cotangents, when it applies.
    func applies(to shape: [Int], slices: Int) -> Bool {
        shape.count == 3 && shape[1] == positions && lengths.count == slices
    }
}
