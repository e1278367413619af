import CBLAS

/// Single-precision matrix products through OpenBLAS; every product in SeqLens goes here.
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
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans,
            transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y = alpha · op(A) · x + beta · y for a row-major (rows × columns) A. A one-row product goes
    /// here rather than through GEMM, which packs the whole matrix first.
    @inline(__always)
    public static func gemv(
        transpose: Bool, rows: Int, columns: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        if rows == 0 || columns == 0 { return }
        cblas_sgemv(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, Int32(rows), Int32(columns), alpha,
                    a, Int32(lda), x, 1, beta, y, 1)
    }

    /// Sets the OpenBLAS thread pool size.
    public static func setThreadCount(_ count: Int) {
        openblas_set_num_threads(Int32(count))
    }

    public static var threadCount: Int { Int(openblas_get_num_threads()) }
}
