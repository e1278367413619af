import CPackedKernels

/// A constant weight matrix `[rows, columns]` kept in its checkpoint's compact encoding, for
/// one-row products (token-by-token generation), which are bound by memory bandwidth: reading
/// 4.5 or 8.5 bits per weight instead of 32 makes them several times faster. The products
/// widen the stored codes to Float32 and never quantize activations, so they equal the
/// dequantized Float32 product up to rounding order.
public struct PackedMatrix: Sendable {
    public enum Format: Sendable, CaseIterable {
        case q4_0, q4_1, q8_0, q4_K, q6_K

        /// Elements per block and bytes per block (ggml's block_q4_0 and friends).
        public var blockSize: Int { self == .q4_K || self == .q6_K ? 256 : 32 }
        public var blockBytes: Int {
            switch self {
            case .q4_K: 144
            case .q6_K: 210
            case .q4_0: 18
            case .q4_1: 20
            case .q8_0: 34
            }
        }

        var kernel: seqlens_packed_format {
            switch self {
            case .q4_0: SEQLENS_PACKED_Q4_0
            case .q4_1: SEQLENS_PACKED_Q4_1
            case .q8_0: SEQLENS_PACKED_Q8_0
            case .q4_K: SEQLENS_PACKED_Q4_K
            case .q6_K: SEQLENS_PACKED_Q6_K
            }
        }
    }

    /// 2 with AVX-512, 1 with AVX2 + FMA + F16C, 0 for the portable kernels.
    public static var kernelLevelNumber: Int { Int(seqlens_packed_kernels_vectorised()) }

    public let format: Format
    public let rows: Int
    public let columns: Int
    public let bytes: [UInt8]

    public var rowBytes: Int { columns / format.blockSize * format.blockBytes }

    /// - Precondition: `columns` is a multiple of the block size and `bytes` holds every row.
    public init(format: Format, rows: Int, columns: Int, bytes: [UInt8]) {
        precondition(columns % format.blockSize == 0, "\(columns) columns are not whole \(format) blocks")
        self.format = format
        self.rows = rows
        self.columns = columns
        self.bytes = bytes
        precondition(bytes.count == rows * rowBytes, "\(format) matrix \(rows)x\(columns) needs \(rows * rowBytes) bytes, got \(bytes.count)")
    }

    /// The kernels this CPU runs: "avx512", "avx2" (with FMA and F16C) or "portable".
    public static var kernelLevel: String {
        switch kernelLevelNumber {
        case 2: "avx512"
        case 1: "avx2"
        default: "portable"
        }
    }

    /// y = W·x (or y += W·x when `accumulate`), for x of `columns` and y of `rows` floats.
    public func multiply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        let rows = rows, columns = columns, rowBytes = rowBytes, kernel = format.kernel
        bytes.withUnsafeBytes { w in
            // Below about 128K weights a second thread costs more than it saves.
            let threads = rows * columns >= 1 << 17 ? Parallel.threadCount : 1
            seqlens_packed_gemv_parallel(kernel, w.baseAddress!, rowBytes, rows, columns, x, y, accumulate ? 1 : 0,
                                         Int32(threads))
        }
    }

    /// y = W·x on the calling thread with the kernels of `level` (0 portable, 1 AVX2, 2 AVX-512),
    /// or the best below it that this CPU runs: for checking each kernel.
    public func multiply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, kernelLevel level: Int) {
        bytes.withUnsafeBytes { w in
            seqlens_packed_gemv_at_level(Int32(level), format.kernel, w.baseAddress!, rowBytes, 0, rows, columns, x, y, 0)
        }
    }

    /// The same matrix with its rows reordered: row i of the result is row `order[i]` of this one.
    public func reorderingRows(_ order: [Int]) -> PackedMatrix {
        precondition(order.count == rows, "row order of \(order.count) for \(rows) rows")
        let size = rowBytes
        var reordered = [UInt8](repeating: 0, count: bytes.count)
        for (to, from) in order.enumerated() {
            reordered[(to * size)..<((to + 1) * size)] = bytes[(from * size)..<((from + 1) * size)]
        }
        return PackedMatrix(format: format, rows: rows, columns: columns, bytes: reordered)
    }
}
