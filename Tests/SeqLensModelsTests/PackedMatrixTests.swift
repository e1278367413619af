import Foundation
import Testing
import SeqLensTensor
import SeqLensTestSupport
@testable import SeqLensCheckpoints
@testable import SeqLensModels

/// One-row products with weights in their stored encoding (generation's hot loop) against the
/// dequantize-then-multiply product they replace, for every encoding and every kernel.
@Suite("Packed one-row products equal dequantized products")
struct PackedMatrixTests {
    /// Random but valid blocks: scales are finite halves of moderate size, codes arbitrary.
    static func randomBytes(_ format: PackedMatrix.Format, rows: Int, columns: Int, seed: UInt64) -> [UInt8] {
        var generator = SplitMix64(seed: seed)
        func half(_ value: Float) -> [UInt8] {
            let bits = Float16(value).bitPattern
            return [UInt8(bits & 0xFF), UInt8(bits >> 8)]
        }
        func uniform() -> Float { Float(generator.next() >> 40) / Float(1 << 24) * 2 - 1 }
        var bytes: [UInt8] = []
        let blocks = rows * columns / format.blockSize
        for _ in 0..<blocks {
            switch format {
            case .q4_0, .q8_0:
                bytes += half(uniform() * 0.1)
                for _ in 0..<(format.blockBytes - 2) { bytes.append(UInt8(truncatingIfNeeded: generator.next())) }
            case .q4_1:
                bytes += half(uniform() * 0.1) + half(uniform() * 0.5)
                for _ in 0..<16 { bytes.append(UInt8(truncatingIfNeeded: generator.next())) }
            case .q4_K:  // d, dmin, 12 bytes of 6-bit scales and mins, 128 bytes of nibbles
                bytes += half(uniform() * 0.01) + half(uniform() * 0.01)
                for _ in 0..<140 { bytes.append(UInt8(truncatingIfNeeded: generator.next())) }
            case .q6_K:  // 128 + 64 bytes of codes, 16 int8 scales, d
                for _ in 0..<208 { bytes.append(UInt8(truncatingIfNeeded: generator.next())) }
                bytes += half(uniform() * 0.01)
            }
        }
        return bytes
    }

    static func dtype(_ format: PackedMatrix.Format) -> TensorDType {
        switch format {
        case .q4_0: .q4_0
        case .q4_1: .q4_1
        case .q8_0: .q8_0
        case .q4_K: .q4_K
        case .q6_K: .q6_K
        }
    }

    /// The largest |packed − reference| relative to Σ|w·x| of its row, over all rows.
    static func worstError(_ matrix: PackedMatrix, x: [Float], product: (UnsafeMutablePointer<Float>) -> Void) -> Double {
        var weights = [Float](repeating: 0, count: matrix.rows * matrix.columns)
        matrix.bytes.withUnsafeBytes { raw in
            weights.withUnsafeMutableBufferPointer { w in
                Dequantization.convert(dtype(matrix.format), source: raw.baseAddress!, elementCount: w.count, into: w.baseAddress!)
            }
        }
        var y = [Float](repeating: .nan, count: matrix.rows)
        y.withUnsafeMutableBufferPointer { product($0.baseAddress!) }
        var worst = 0.0
        for r in 0..<matrix.rows {
            var exact = 0.0, magnitude = 0.0
            for c in 0..<matrix.columns {
                let term = Double(weights[r * matrix.columns + c]) * Double(x[c])
                exact += term
                magnitude += abs(term)
            }
            worst = max(worst, abs(Double(y[r]) - exact) / max(magnitude, 1e-30))
        }
        return worst
    }

    @Test(arguments: PackedMatrix.Format.allCases)
    func everyKernelMatchesTheDequantizedProduct(format: PackedMatrix.Format) {
        // Three blocks per row (an odd count, for the two-block unrolled loops) and an odd row count.
        let columns = 3 * format.blockSize, rows = 37
        let matrix = PackedMatrix(format: format, rows: rows, columns: columns,
                                  bytes: Self.randomBytes(format, rows: rows, columns: columns, seed: 11))
        var generator = SplitMix64(seed: 5)
        let x = (0..<columns).map { _ in Float(generator.next() >> 40) / Float(1 << 24) * 4 - 2 }
        for level in 0...PackedMatrix.kernelLevelNumber {
            let error = Self.worstError(matrix, x: x) { y in
                x.withUnsafeBufferPointer { matrix.multiply($0.baseAddress!, into: y, kernelLevel: level) }
            }
            #expect(error < 1e-5, "\(format) at kernel level \(level): relative error \(error)")
        }
    }

    @Test(arguments: PackedMatrix.Format.allCases)
    func threadedProductCoversEveryRowAndAccumulates(format: PackedMatrix.Format) {
        // Large enough (>= 128K weights) to be split over the resident workers.
        let rows = 2051, columns = max(128, format.blockSize)
        let matrix = PackedMatrix(format: format, rows: rows, columns: columns,
                                  bytes: Self.randomBytes(format, rows: rows, columns: columns, seed: 3))
        let x = (0..<columns).map { Float(($0 % 7) - 3) * 0.25 }
        let error = Self.worstError(matrix, x: x) { y in
            x.withUnsafeBufferPointer { matrix.multiply($0.baseAddress!, into: y) }
        }
        #expect(error < 1e-5, "\(format) threaded: relative error \(error)")
        // accumulate: y = 1 + W·x
        var plain = [Float](repeating: 0, count: rows), accumulated = [Float](repeating: 1, count: rows)
        x.withUnsafeBufferPointer { xs in
            plain.withUnsafeMutableBufferPointer { matrix.multiply(xs.baseAddress!, into: $0.baseAddress!) }
            accumulated.withUnsafeMutableBufferPointer { matrix.multiply(xs.baseAddress!, into: $0.baseAddress!, accumulate: true) }
        }
        #expect(zip(plain, accumulated).allSatisfy { abs($0 + 1 - $1) <= 1e-5 * max(1, abs($0)) })
    }

    @Test func rowReorderingMovesWholeRows() {
        let matrix = PackedMatrix(format: .q4_1, rows: 4, columns: 64, bytes: Self.randomBytes(.q4_1, rows: 4, columns: 64, seed: 9))
        let reordered = matrix.reorderingRows([2, 0, 3, 1])
        let size = matrix.rowBytes
        #expect(Array(reordered.bytes[0..<size]) == Array(matrix.bytes[(2 * size)..<(3 * size)]))
        #expect(Array(reordered.bytes[(3 * size)..<(4 * size)]) == Array(matrix.bytes[size..<(2 * size)]))
    }

    /// The real model's packed matrices (Q4_1 attention and MLP, with llama.cpp's Q/K row order
    /// undone, and the Q8_0 tied head) give the Float32 weights' products.
    @Test(.enabled(if: Fixtures.smolLM2IsCached, Comment(rawValue: Fixtures.smolLM2Missing)))
    func smolLM2PackedLinearsEqualTheirFloatWeights() throws {
        let model = try SmolLM2Tests.model.get()
        let llama = try #require(model.transformer as? Llama)
        let block = llama.blocks[3]
        for (name, linear) in [("q", block.query), ("k", block.key), ("v", block.value), ("o", block.output),
                               ("gate", block.gate), ("up", block.up), ("down", block.down), ("head", llama.head)] {
            let packed = try #require(linear.packed, "\(name) has no packed weights")
            var generator = SplitMix64(seed: 1)
            let x = (0..<linear.inputSize).map { _ in Float(generator.next() >> 40) / Float(1 << 24) * 2 - 1 }
            let fromPacked = linear(Variable(constant: Tensor(shape: [1, linear.inputSize], scalars: x))).value.scalars
            let plain = Linear(weight: linear.weight, bias: linear.bias, transposed: true)
            let fromFloats = plain(Variable(constant: Tensor(shape: [1, linear.inputSize], scalars: x))).value.scalars
            let scale = fromFloats.map(abs).max()!
            let difference = zip(fromPacked, fromFloats).map { abs($0 - $1) }.max()!
            #expect(difference <= 1e-5 * scale, "\(name) (\(packed.format)): max |difference| \(difference) of \(scale)")
        }
    }
}
