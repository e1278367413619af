import CBLAS
import CPackedKernels

/// Single-precision matrix products through OpenBLAS; every product in SeqLens goes here.
///
/// OpenBLAS runs single-threaded, and large products are split into row (or column) blocks over
/// SeqLens's own resident workers. OpenBLAS's pthread workers spin between calls, competing for
/// the cores with everything SeqLens does between products; small products, which OpenBLAS would
/// still hand to two threads, stay on the calling thread.
public enum BLAS {
    /// C = alpha * op(A) * op(B) + beta * C, row-major, with explicit leading dimensions so that
    /// strided views (one attention head inside a [T, H, D] tensor) need no copies.
    @inline(__always)
    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        var product = Product(
            transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
            b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, parts: 1, splitsRows: true)
        let threads = configuredThreads
        guard threads > 1, m * n * k >= parallelWork else {
            product.run(part: 0)
            return
        }
        // Column blocks unless there are at least as many rows as columns: each part then packs
        // only its share of B (usually the weights, the larger operand) instead of all of it.
        // Measured with 2 threads, 128 × 576 × 1536: 196 GFLOP/s, against 163 with row blocks.
        product.splitsRows = m >= n
        product.parts = threads
        withUnsafeMutablePointer(to: &product) { pointer in
            seqlens_parallel_run(Int32(threads), { context, part in
                context!.assumingMemoryBound(to: Product.self).pointee.run(part: Int(part))
            }, pointer)
        }
    }

    /// y = alpha · op(A) · x + beta · y for a row-major (rows × columns) A. A one-row product goes
    /// here rather than through GEMM, which packs the whole matrix first.
    @inline(__always)
    public static func gemv(
        transpose: Bool, rows: Int, columns: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        if rows == 0 || columns == 0 { return }
        var product = VectorProduct(transpose: transpose, rows: rows, columns: columns, alpha: alpha, a: a, lda: lda,
                                    x: x, beta: beta, y: y, parts: 1)
        let threads = configuredThreads
        guard threads > 1, rows * columns >= parallelWork else {
            product.run(part: 0)
            return
        }
        product.parts = threads
        withUnsafeMutablePointer(to: &product) { pointer in
            seqlens_parallel_run(Int32(threads), { context, part in
                context!.assumingMemoryBound(to: VectorProduct.self).pointee.run(part: Int(part))
            }, pointer)
        }
    }

    /// Products of at least this many multiply-adds are split over threads.
    static let parallelWork = 1 << 20

    /// The threads products are split over. On first use OpenBLAS is set to one thread and its
    /// own workers, started when the library loaded, are stopped.
    static let configuredThreads: Int = {
        openblas_set_num_threads(1)
        _ = blas_thread_shutdown_()
        let threads = Int(seqlens_parallel_thread_count())
        // Start the workers and hand out small products, so that OpenBLAS sets up the threads'
        // buffers now rather than in the first request (milliseconds; most of a small model's
        // first call). Best effort: a worker still starting may leave both parts to the caller.
        seqlens_parallel_run(Int32(threads), { _, _ in
            let size = 64
            let a = [Float](repeating: 1, count: size * size)
            var c = [Float](repeating: 0, count: size * size)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(size), Int32(size), Int32(size), 1,
                        a, Int32(size), a, Int32(size), 0, &c, Int32(size))
        }, nil)
        return threads
    }()

    /// Applies the threading above now (at model load) rather than at the first product.
    public static func configureThreads() { _ = configuredThreads }

    /// Part `part` of `parts` blocks of 0..<total, in whole 16-wide panels so that every part runs
    /// full-width kernels; nil when the part is empty.
    static func block(_ part: Int, of parts: Int, in total: Int) -> Range<Int>? {
        let chunk = ((total + parts - 1) / parts + 15) / 16 * 16
        let begin = part * chunk, end = min(total, begin + chunk)
        return begin < end ? begin..<end : nil
    }

    /// One block of outputs of a split matrix-vector product.
    struct VectorProduct {
        let transpose: Bool
        let rows: Int, columns: Int
        let alpha: Float
        let a: UnsafePointer<Float>, lda: Int
        let x: UnsafePointer<Float>
        let beta: Float
        let y: UnsafeMutablePointer<Float>
        var parts: Int

        func run(part: Int) {
            var a = self.a, y = self.y, rows = self.rows, columns = self.columns
            if parts > 1 {
                // Outputs are rows of A (y = A·x) or its columns (y = Aᵀ·x).
                guard let block = BLAS.block(part, of: parts, in: transpose ? columns : rows) else { return }
                if transpose {
                    a += block.lowerBound
                    columns = block.count
                } else {
                    a += block.lowerBound * lda
                    rows = block.count
                }
                y += block.lowerBound
            }
            cblas_sgemv(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, Int32(rows), Int32(columns), alpha,
                        a, Int32(lda), x, 1, beta, y, 1)
        }
    }

    /// One block of a split product.
    struct Product {
        let transposeA: Bool, transposeB: Bool
        let m: Int, n: Int, k: Int
        let alpha: Float
        let a: UnsafePointer<Float>, lda: Int
        let b: UnsafePointer<Float>, ldb: Int
        let beta: Float
        let c: UnsafeMutablePointer<Float>, ldc: Int
        var parts: Int
        var splitsRows: Bool

        func run(part: Int) {
            var a = self.a, b = self.b, c = self.c, m = self.m, n = self.n
            if parts > 1 {
                guard let block = BLAS.block(part, of: parts, in: splitsRows ? m : n) else { return }
                if splitsRows {
                    a += transposeA ? block.lowerBound : block.lowerBound * lda
                    c += block.lowerBound * ldc
                    m = block.count
                } else {
                    b += transposeB ? block.lowerBound * ldb : block.lowerBound
                    c += block.lowerBound
                    n = block.count
                }
            }
            cblas_sgemm(
                CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
    }
}
