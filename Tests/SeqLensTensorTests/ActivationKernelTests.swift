import CPackedKernels
import Foundation
import Testing

@testable import SeqLensTensor

/// The vectorised GELU (tanh) kernels against the formula in Double, at every level this CPU runs.
@Suite struct ActivationKernelTests {
    static let inputs: [Float] = {
        var state: UInt64 = 0x5EED
        func next() -> Float {  // a fixed LCG: the same inputs every run
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24) * 16 - 8
        }
        let grid = stride(from: Float(-30), through: 30, by: 0.01).map { $0 }
        let extremes: [Float] = [0, -0, 1e-30, -1e-30, 1e-8, -1e-8, 100, -100, 1e4, -1e4]
        return grid + extremes + (0..<1001).map { _ in next() }
    }()

    static func reference(_ v: Float, derivative: Bool) -> Double {
        let x = Double(v)
        let u = 0.7978845608028654 * (x + 0.044715 * x * x * x)
        let s = 1 / (1 + exp(-2 * u))
        return derivative ? s + 2 * x * s * (1 - s) * 0.7978845608028654 * (1 + 3 * 0.044715 * x * x) : x * s
    }

    @Test(arguments: [0, 2], [false, true])
    func matchesTheFormula(level: Int32, derivative: Bool) {
        let x = Self.inputs
        var y = [Float](repeating: .nan, count: x.count)
        seqlens_gelu_tanh_at_level(level, derivative ? 1 : 0, x, &y, x.count)
        var worst = 0.0
        for (v, out) in zip(x, y) {
            let expected = Self.reference(v, derivative: derivative)
            // Values within a few ulp; derivatives, which cross zero, within 3e-6 absolute.
            // u itself is rounded to Float (as in torch), which moves exp(−2u) by up to |2u| ulp.
            // Below about −10 the true value is under 1e-35 (torch's tanh form gives 0 there).
            let x = Double(v), u = abs(0.7978845608028654 * (x + 0.044715 * x * x * x))
            let tolerance = derivative ? 3e-6 : max(abs(expected) * (6e-7 + 4.8e-7 * u), 1e-30)
            if !expected.isFinite { continue }
            let error = abs(Double(out) - expected)
            worst = max(worst, error / tolerance)
            #expect(error <= tolerance, "gelu\(derivative ? "'" : "")(\(v)) = \(out), expected \(expected)")
        }
        #expect(worst > 0, "the comparison ran")
    }

    @Test func levelsAgreeAndTheTailIsHandled() {
        // Counts that are not multiples of the vector width go through the portable tail.
        for count in [0, 1, 15, 16, 17, 33] {
            let x = (0..<count).map { Float($0) * 0.37 - 5 }
            var fast = [Float](repeating: 0, count: count), portable = fast
            seqlens_gelu_tanh_at_level(2, 0, x, &fast, count)
            seqlens_gelu_tanh_at_level(0, 0, x, &portable, count)
            for (a, b) in zip(fast, portable) { #expect(abs(a - b) <= 2e-7 * max(abs(b), 1e-30)) }
        }
    }

    @Test func geluTanhUsesTheKernel() {
        let x = Variable(constant: Tensor(shape: [3], scalars: [-1, 0.5, 2]))
        let expected = [-1, 0.5, 2].map { Float(Self.reference($0, derivative: false)) }
        for (a, b) in zip(geluTanh(x).value.scalars, expected) { #expect(abs(a - b) <= 1e-6) }
    }
}
