import Foundation
import Testing
@testable import SeqLensTensor

/// Deterministic pseudo-random numbers for reproducible test tensors.
struct TestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 6364136223846793005 &+ 1442695040888963407 }
    mutating func next() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float((state >> 40) & 0xFFFFFF) / Float(0x1000000) * 2 - 1
    }
    mutating func tensor(_ shape: [Int], scale: Float = 1) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in next() * scale })
    }
}

/// Checks every input's vector-Jacobian product against central finite differences, element by
/// element, for K = 3 random cotangents at once (the leading cotangent dimension).
func checkGradients(
    _ inputs: [Tensor], epsilon: Float = 1e-2, tolerance: Double = 2e-3, seed: UInt64 = 7,
    _ f: ([Variable]) -> Variable
) -> Double {
    var random = TestRandom(seed: seed)
    let tape = Tape()
    let variables = inputs.map { tape.variable($0) }
    let output = f(variables)
    let k = 3
    let cotangent = random.tensor([k] + output.shape)
    let analytic = tape.gradients(seeds: [(output, cotangent)], wrt: variables)
    var worst = 0.0
    for (index, input) in inputs.enumerated() {
        #expect(analytic[index].shape == [k] + input.shape)
        for element in 0..<input.count {
            func evaluate(_ delta: Float) -> [Float] {
                var shifted = inputs
                shifted[index].scalars[element] += delta
                return f(shifted.map { Variable(constant: $0) }).value.scalars
            }
            let plus = evaluate(epsilon), minus = evaluate(-epsilon)
            for slice in 0..<k {
                var numeric = 0.0
                for j in 0..<plus.count {
                    numeric += Double(cotangent.scalars[slice * plus.count + j]) * Double(plus[j] - minus[j])
                }
                numeric /= Double(2 * epsilon)
                let exact = Double(analytic[index].scalars[slice * input.count + element])
                let error = abs(numeric - exact) / max(1, abs(exact))
                worst = max(worst, error)
            }
        }
    }
    #expect(worst < tolerance, "max relative gradient error \(worst)")
    return worst
}

@Suite("Every op's backward agrees with central finite differences, K = 3 cotangents")
struct GradientCheckTests {
    var random = TestRandom(seed: 1)

    @Test func linearBothLayouts() {
        var random = self.random
        let x = random.tensor([2, 3, 5])
        let w = random.tensor([4, 5]), b = random.tensor([4])
        _ = checkGradients([x]) { v in Linear(weight: w, bias: b, transposed: true)(v[0]) }
        let w2 = random.tensor([5, 4])
        _ = checkGradients([x]) { v in Linear(weight: w2, bias: nil, transposed: false)(v[0]) }
    }

    @Test func addMultiplyScale() {
        var random = self.random
        let a = random.tensor([3, 4]), b = random.tensor([3, 4])
        _ = checkGradients([a, b]) { v in add(v[0], v[1]) }
        _ = checkGradients([a, b]) { v in multiply(v[0], v[1]) }
        _ = checkGradients([a]) { v in scale(v[0], by: -0.7) }
        // A variable used twice accumulates both paths: d(a·a) = 2a.
        _ = checkGradients([a]) { v in multiply(v[0], v[0]) }
    }

    @Test func activations() {
        var random = self.random
        let x = random.tensor([4, 6], scale: 3)
        _ = checkGradients([x]) { v in geluTanh(v[0]) }
        _ = checkGradients([x]) { v in geluErf(v[0]) }
        _ = checkGradients([x]) { v in silu(v[0]) }
        let away = Tensor(shape: [8], scalars: [-2, -1, -0.5, -0.2, 0.3, 0.6, 1.1, 2])
        _ = checkGradients([away]) { v in relu(v[0]) }
    }

    @Test func normalizations() {
        var random = self.random
        let x = random.tensor([2, 3, 8], scale: 2)
        let g = random.tensor([8]), b = random.tensor([8])
        _ = checkGradients([x]) { v in layerNorm(v[0], gamma: g, beta: b, epsilon: 1e-5) }
        _ = checkGradients([x]) { v in rmsNorm(v[0], gamma: g, epsilon: 1e-6) }
    }

    @Test func softmaxes() {
        var random = self.random
        let x = random.tensor([3, 7], scale: 2)
        _ = checkGradients([x]) { v in softmax(v[0]) }
        _ = checkGradients([x]) { v in logSoftmax(v[0]) }
    }

    @Test func rotary() {
        var random = self.random
        let x = random.tensor([2, 3, 2 * 4])
        let rope = RotaryEmbedding(headDimension: 4, base: 10000)
        _ = checkGradients([x]) { v in rope(v[0], positions: [5, 6, 7]) }
    }

    /// GPT-NeoX's partial rotary: the first 2 of each head's 6 values rotate, the rest pass.
    @Test func partialRotary() {
        var random = self.random
        let x = random.tensor([2, 3, 2 * 6])
        let rope = RotaryEmbedding(headDimension: 6, base: 10000, rotaryDimension: 2)
        _ = checkGradients([x]) { v in rope(v[0], positions: [5, 6, 7]) }
        let y = rope(Variable(constant: x), positions: [5, 6, 7]).value.scalars
        for row in 0..<(2 * 3 * 2) {
            for i in 2..<6 { #expect(y[row * 6 + i] == x.scalars[row * 6 + i], "value \(i) of a head passes through") }
        }
    }

    @Test(arguments: [(4, 4, 0), (4, 2, 0), (4, 1, 2)])
    func attention(queryHeads: Int, keyValueHeads: Int, offset: Int) {
        var random = self.random
        let d = 3, t = 3, s = t + offset
        let q = random.tensor([2, t, queryHeads * d], scale: 1.5)
        let k = random.tensor([2, s, keyValueHeads * d], scale: 1.5)
        let v = random.tensor([2, s, keyValueHeads * d])
        _ = checkGradients([q, k, v]) { x in
            causalAttention(query: x[0], key: x[1], value: x[2], queryHeads: queryHeads,
                            keyValueHeads: keyValueHeads, offset: offset, scale: 1 / sqrtf(Float(d))).output
        }
    }

    @Test(arguments: [(4, 4), (4, 2)])
    func fusedSelfAttention(queryHeads: Int, keyValueHeads: Int) {
        var random = self.random
        let d = 3, t = 4
        let qkv = random.tensor([2, t, (queryHeads + 2 * keyValueHeads) * d], scale: 1.5)
        _ = checkGradients([qkv]) { x in
            causalSelfAttention(fused: x[0], queryHeads: queryHeads, keyValueHeads: keyValueHeads,
                                scale: 1 / sqrtf(Float(d))).output
        }
    }

    @Test func indexing() {
        var random = self.random
        let x = random.tensor([2, 3, 6])
        _ = checkGradients([x]) { v in columns(v[0], 2..<5) }
        _ = checkGradients([x]) { v in selectRows(v[0], [5, 0, 5]) }
        _ = checkGradients([x]) { v in softmax(reshape(v[0], [6, 6])) }
    }

    @Test func aWrongGradientFails() {
        // The checker itself must catch an error: a pullback off by a factor of 2.
        var random = self.random
        let x = random.tensor([5])
        withKnownIssue {
            _ = checkGradients([x]) { v in
                Tape.record(v[0].value, from: [v[0]]) { c in [c + c] }
            }
        }
    }
}

@Suite("Forward kernels on known values")
struct ForwardValueTests {
    @Test func attentionIsCausalAndGrouped() {
        // One head of width 1: outputs are running averages when all scores are equal.
        let q = Tensor(zeros: [1, 3, 1])
        let k = Tensor(zeros: [1, 3, 1])
        let v = Tensor(shape: [1, 3, 1], scalars: [3, 6, 9])
        let result = causalAttention(query: Variable(constant: q), key: Variable(constant: k),
                                     value: Variable(constant: v), queryHeads: 1, keyValueHeads: 1,
                                     offset: 0, scale: 1)
        #expect(result.output.value.scalars == [3, 4.5, 6])
        let third: Float = 1.0 / 3
        let expected: [Float] = [1, 0, 0, 0.5, 0.5, 0, third, third, third]
        #expect(result.probabilities.scalars == expected)
    }

    @Test func layerNormHasZeroMeanUnitVariance() {
        let x = Tensor(shape: [1, 4], scalars: [1, 2, 3, 4])
        let y = layerNorm(Variable(constant: x), gamma: Tensor(repeating: 1, shape: [4]), beta: nil, epsilon: 0).value.scalars
        let mean = y.reduce(0, +) / 4
        let variance = y.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 4
        #expect(abs(mean) < 1e-6 && abs(variance - 1) < 1e-5)
    }

    @Test func rotaryMatchesRotateHalfFormula() {
        // D = 2: (a, b) at position p rotates by p radians (inverse frequency 1).
        let rope = RotaryEmbedding(headDimension: 2, base: 10000)
        let x = Tensor(shape: [1, 1, 2], scalars: [1, 0])
        let y = rope(Variable(constant: x), positions: [1]).value.scalars
        #expect(abs(y[0] - cosf(1)) < 1e-6 && abs(y[1] - sinf(1)) < 1e-6)
    }

    @Test func linearMatchesHandProduct() {
        let x = Tensor(shape: [1, 2], scalars: [1, 2])
        let w = Tensor(shape: [3, 2], scalars: [1, 0, 0, 1, 1, 1])  // [out, in]
        let y = Linear(weight: w, bias: Tensor(shape: [3], scalars: [0.5, 0, 0]), transposed: true)(Variable(constant: x))
        #expect(y.value.scalars == [1.5, 2, 3])
    }
}

@Suite("Row support: skipping rows that must be zero changes nothing")
struct RowSupportTests {
    /// Slice k seeded only at position lengths[k] − 1, as attribution does.
    static func lastRowSeed(_ random: inout TestRandom, lengths: [Int], batch b: Int, positions t: Int, width c: Int) -> Tensor {
        var seed = Tensor(zeros: [lengths.count, b, t, c])
        for (k, length) in lengths.enumerated() {
            for batch in 0..<b { for j in 0..<c { seed.scalars[((k * b + batch) * t + length - 1) * c + j] = random.next() } }
        }
        return seed
    }

    @Test func truncatedBackwardEqualsFullBackward() {
        var random = TestRandom(seed: 3)
        let b = 2, t = 5, c = 8, heads = 2
        let x = random.tensor([b, t, c])
        let wq = random.tensor([c, c]), wk = random.tensor([c, c]), wv = random.tensor([c, c]), wo = random.tensor([c, c])
        let lengths = [3, 5, 1]
        func forward(_ tape: Tape) -> (Variable, Variable) {
            let input = tape.variable(x)
            let q = Linear(weight: wq, bias: nil, transposed: true)(input)
            let k = Linear(weight: wk, bias: nil, transposed: false)(input)
            let v = Linear(weight: wv, bias: nil, transposed: true)(input)
            let a = causalAttention(query: q, key: k, value: v, queryHeads: heads, keyValueHeads: heads, offset: 0, scale: 0.5)
            return (input, Linear(weight: wo, bias: nil, transposed: true)(geluTanh(a.output)))
        }
        let seed = Self.lastRowSeed(&random, lengths: lengths, batch: b, positions: t, width: c)
        let fullTape = Tape(), supportedTape = Tape()
        let (fullInput, fullOutput) = forward(fullTape)
        let (supportedInput, supportedOutput) = forward(supportedTape)
        let full = fullTape.gradients(seeds: [(fullOutput, seed)], wrt: [fullInput])[0]
        let supported = supportedTape.gradients(seeds: [(supportedOutput, seed)], wrt: [supportedInput],
                                                support: RowSupport(positions: t, lengths: lengths))[0]
        let worst = zip(full.scalars, supported.scalars).map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 1e-6)
        #expect(full.scalars.contains { $0 != 0 })
    }

    /// Two pre-norm blocks: above the top attention only the seeded row carries a cotangent
    /// (`starts`), below it every earlier row does. Marking attention as row-preserving, or
    /// dropping a row the top block needs, makes the two backwards differ.
    @Test func seededRowBackwardEqualsFullBackward() {
        var random = TestRandom(seed: 5)
        let b = 2, t = 6, c = 8, heads = 2
        let x = random.tensor([b, t, c])
        let gamma = random.tensor([c]), beta = random.tensor([c])
        let blocks = (0..<2).map { _ in (qkv: random.tensor([c, 3 * c]), out: random.tensor([c, c]),
                                         up: random.tensor([2 * c, c]), gate: random.tensor([2 * c, c]), down: random.tensor([c, 2 * c])) }
        let lengths = [4, 6, 1, 2]
        var tops: [Variable] = []
        func forward(_ tape: Tape) -> (Variable, Variable) {
            let input = tape.variable(x)
            var h = input
            for block in blocks {
                let normed = layerNorm(h, gamma: gamma, beta: beta, epsilon: 1e-5)
                let qkv = Linear(weight: block.qkv, bias: nil, transposed: false)(normed)
                let a = causalAttention(query: columns(qkv, 0..<c), key: columns(qkv, c..<(2 * c)), value: columns(qkv, (2 * c)..<(3 * c)),
                                        queryHeads: heads, keyValueHeads: heads, offset: 0, scale: 0.5)
                h = add(h, Linear(weight: block.out, bias: nil, transposed: false)(a.output))
                let m = rmsNorm(h, gamma: gamma, epsilon: 1e-5)
                let up = Linear(weight: block.up, bias: nil, transposed: true)(m)
                let gated = multiply(silu(Linear(weight: block.gate, bias: nil, transposed: true)(m)), up)
                h = add(h, scale(Linear(weight: block.down, bias: nil, transposed: true)(gated), by: 0.5))
            }
            tops.append(h)
            return (input, layerNorm(h, gamma: gamma, beta: beta, epsilon: 1e-5))
        }
        let seed = Self.lastRowSeed(&random, lengths: lengths, batch: b, positions: t, width: c)
        let fullTape = Tape(), supportedTape = Tape()
        let (fullInput, fullOutput) = forward(fullTape)
        let (supportedInput, supportedOutput) = forward(supportedTape)
        let full = fullTape.gradients(seeds: [(fullOutput, seed)], wrt: [fullInput, tops[0]])
        let support = RowSupport(positions: t, lengths: lengths, starts: lengths.map { $0 - 1 })
        let supported = supportedTape.gradients(seeds: [(supportedOutput, seed)], wrt: [supportedInput, tops[1]], support: support)
        for (f, s) in zip(full, supported) {
            let worst = zip(f.scalars, s.scalars).map { abs($0 - $1) }.max() ?? 0
            #expect(worst < 1e-6)
        }
        // The input's gradient reaches rows before the seeded one; the residual above the top
        // block does not.
        let rowNorms = { (g: Tensor, k: Int, row: Int) in (0..<c).map { abs(g.scalars[((k * b) * t + row) * c + $0]) }.reduce(0, +) }
        #expect(rowNorms(full[0], 0, 0) > 0 && rowNorms(full[1], 0, 3) > 0 && rowNorms(full[1], 0, 2) == 0)
    }

    /// The fused [Q | K | V] attention is the three-block attention, values, pattern and
    /// backward (with and without a support), to the bit.
    @Test(arguments: [(2, 2), (4, 2)])
    func fusedAttentionEqualsThreeBlocks(queryHeads: Int, keyValueHeads: Int) {
        var random = TestRandom(seed: 11)
        let b = 2, t = 5, d = 4
        let qw = queryHeads * d, kvw = keyValueHeads * d
        let x = random.tensor([b, t, qw + 2 * kvw], scale: 1.5)
        let lengths = [5, 2, 4], starts = [4, 1, 0]
        var seed = Tensor(zeros: [lengths.count, b, t, qw])
        for k in 0..<lengths.count {
            for batch in 0..<b {
                for row in starts[k]..<lengths[k] {
                    for j in 0..<qw { seed.scalars[((k * b + batch) * t + row) * qw + j] = random.next() }
                }
            }
        }
        for support in [nil, RowSupport(positions: t, lengths: lengths, starts: starts)] {
            let fusedTape = Tape(), splitTape = Tape()
            let fusedInput = fusedTape.variable(x), splitInput = splitTape.variable(x)
            let fused = causalSelfAttention(fused: fusedInput, queryHeads: queryHeads, keyValueHeads: keyValueHeads, scale: 0.5)
            let split = causalAttention(
                query: columns(splitInput, 0..<qw), key: columns(splitInput, qw..<(qw + kvw)),
                value: columns(splitInput, (qw + kvw)..<(qw + 2 * kvw)), queryHeads: queryHeads,
                keyValueHeads: keyValueHeads, offset: 0, scale: 0.5)
            #expect(fused.output.value.scalars == split.output.value.scalars)
            #expect(fused.probabilities.scalars == split.probabilities.scalars)
            let dFused = fusedTape.gradients(seeds: [(fused.output, seed)], wrt: [fusedInput], support: support)[0]
            let dSplit = splitTape.gradients(seeds: [(split.output, seed)], wrt: [splitInput], support: support)[0]
            #expect(dFused.scalars == dSplit.scalars)
            #expect(dFused.scalars.contains { $0 != 0 })
        }
    }

    @Test func unionKeepsEveryRowEitherAllows() {
        let a = RowSupport(positions: 8, lengths: [3, 8], starts: [2, 7])
        let b = RowSupport(positions: 8, lengths: [5, 1], starts: [4, 0])
        let u = a.union(b)!
        #expect(u.lengths == [5, 8] && u.starts == [2, 0])
        #expect(u.rows(0) == 2..<5 && a.fromFirstPosition.starts == [0, 0])
        #expect(a.union(nil) == nil)
    }
}
