import Testing
@testable import SeqLensTensor

/// Large products are split into row or column blocks over threads; every block layout must
/// give the plain triple loop's numbers.
@Suite("Split GEMM and GEMV equal the naive products")
struct SplitProductTests {
    static func values(_ count: Int, seed: Int) -> [Float] {
        (0..<count).map { Float((($0 * 7919 + seed * 104729) % 2001) - 1000) / 1000 }
    }

    // (m, n, k): row blocks (m large), column blocks (m small, n wide), odd sizes, and one below
    // the threshold that stays on one thread.
    @Test(arguments: [(301, 257, 97), (5, 4099, 131), (3, 7, 5), (64, 1030, 33)])
    func gemmEveryTransposition(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        #expect(m * n * k >= BLAS.parallelWork || m * n < 100)
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                let a = Self.values(m * k, seed: 1), b = Self.values(k * n, seed: 2)
                let lda = transposeA ? m : k, ldb = transposeB ? k : n
                var c = Self.values(m * n, seed: 3)
                let original = c
                a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                    BLAS.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 0.5,
                              a: ap.baseAddress!, lda: lda, b: bp.baseAddress!, ldb: ldb, beta: 2, c: cp.baseAddress!, ldc: n)
                }}}
                var worst: Float = 0
                for i in 0..<m {
                    for j in 0..<n {
                        var sum: Double = 0
                        for p in 0..<k {
                            let x = transposeA ? a[p * lda + i] : a[i * lda + p]
                            let y = transposeB ? b[j * ldb + p] : b[p * ldb + j]
                            sum += Double(x) * Double(y)
                        }
                        worst = max(worst, abs(c[i * n + j] - Float(0.5 * sum + 2 * Double(original[i * n + j]))))
                    }
                }
                #expect(worst < 1e-4, "\(shape) transposeA \(transposeA) transposeB \(transposeB): \(worst)")
            }
        }
    }

    @Test(arguments: [false, true])
    func gemvSplitsOutputs(transpose: Bool) {
        let rows = 1537, columns = 1029
        #expect(rows * columns >= BLAS.parallelWork)
        let a = Self.values(rows * columns, seed: 4)
        let x = Self.values(transpose ? rows : columns, seed: 5)
        var y = Self.values(transpose ? columns : rows, seed: 6)
        let original = y
        a.withUnsafeBufferPointer { ap in x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in
            BLAS.gemv(transpose: transpose, rows: rows, columns: columns, alpha: 1, a: ap.baseAddress!, lda: columns,
                      x: xp.baseAddress!, beta: 1, y: yp.baseAddress!)
        }}}
        var worst: Float = 0
        for out in 0..<y.count {
            var sum: Double = Double(original[out])
            for inner in 0..<x.count {
                sum += Double(transpose ? a[inner * columns + out] : a[out * columns + inner]) * Double(x[inner])
            }
            worst = max(worst, abs(y[out] - Float(sum)))
        }
        #expect(worst < 1e-3, "transpose \(transpose): \(worst)")
    }
}
