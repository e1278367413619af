import Dispatch
import Foundation

/// Conversion of stored tensor bytes to Float32, one kernel per supported dtype.
///
/// The block kernels follow ggml's `dequantize_row_*` (ggml/src/ggml-quants.c) operation by
/// operation, so results are bit-identical to ggml and to gguf-py's `quants.py`: scales are
/// widened from f16 first, and products are formed in the same order (`d * q + m`, `(d * sc) * q`).
enum Dequantization {
    /// Below this many elements a tensor is converted on the calling thread.
    static let parallelThreshold = 1 << 17
    /// Target elements per parallel work item (big enough to amortise dispatch).
    static let chunkElements = 1 << 15

    /// Converts `elementCount` elements of `dtype` stored at `source` into `destination`.
    /// - Precondition: `dtype` is supported and `elementCount` is a multiple of its block size;
    ///   `source` holds `elementCount / blockSize * blockBytes` readable bytes.
    static func convert(
        _ dtype: TensorDType, source: UnsafeRawPointer, elementCount: Int,
        into destination: UnsafeMutablePointer<Float>
    ) {
        guard let blockSize = dtype.blockSize, let blockBytes = dtype.blockBytes else {
            preconditionFailure("convert called with unsupported dtype \(dtype)")
        }
        precondition(elementCount % blockSize == 0, "element count not a whole number of blocks")
        let blocks = elementCount / blockSize
        let threads = ProcessInfo.processInfo.activeProcessorCount
        guard elementCount >= parallelThreshold, threads > 1 else {
            runKernel(dtype, source, blocks, destination)
            return
        }
        let chunks = min(threads * 4, max(1, elementCount / chunkElements))
        let blocksPerChunk = (blocks + chunks - 1) / chunks
        let pointers = SendablePointers(source: source, destination: destination)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let first = chunk * blocksPerChunk
            let end = min(blocks, first + blocksPerChunk)
            guard first < end else { return }
            runKernel(
                dtype, pointers.source + first * blockBytes, end - first,
                pointers.destination + first * blockSize)
        }
    }

    @inline(__always)
    private static func runKernel(
        _ dtype: TensorDType, _ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>
    ) {
        switch dtype {
        case .f32: UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: blocks * 4)
        case .f16: f16(src, blocks, dst)
        case .bf16: bf16(src, blocks, dst)
        case .q4_0: q4_0(src, blocks, dst)
        case .q4_1: q4_1(src, blocks, dst)
        case .q5_0: q5_0(src, blocks, dst)
        case .q5_1: q5_1(src, blocks, dst)
        case .q8_0: q8_0(src, blocks, dst)
        case .q4_K: q4_K(src, blocks, dst)
        case .q5_K: q5_K(src, blocks, dst)
        case .q6_K: q6_K(src, blocks, dst)
        case .unsupported: preconditionFailure("runKernel called with unsupported dtype")
        }
    }

    /// Scale fields are little-endian f16 at unaligned offsets.
    @inline(__always)
    static func half(_ block: UnsafeRawPointer, _ offset: Int) -> Float {
        HalfFloat.toFloat(UInt16(littleEndian: block.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    static func f16(_ src: UnsafeRawPointer, _ count: Int, _ y: UnsafeMutablePointer<Float>) {
        for i in 0..<count {
            y[i] = HalfFloat.toFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        }
    }

    static func bf16(_ src: UnsafeRawPointer, _ count: Int, _ y: UnsafeMutablePointer<Float>) {
        for i in 0..<count {
            y[i] = HalfFloat.bfloat16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        }
    }

    // block_q4_0 (18 bytes): d: f16, qs[16]: low nibbles are elements 0..15, high 16..31.
    static func q4_0(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 18
            let d = half(block, 0)
            let qs = (block + 2).assumingMemoryBound(to: UInt8.self)
            let y = dst + b * 32
            for j in 0..<16 {
                y[j] = Float(Int32(qs[j] & 0x0F) - 8) * d
                y[j + 16] = Float(Int32(qs[j] >> 4) - 8) * d
            }
        }
    }

    // block_q4_1 (20 bytes): d: f16, m: f16, qs[16].
    static func q4_1(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 20
            let d = half(block, 0)
            let m = half(block, 2)
            let qs = (block + 4).assumingMemoryBound(to: UInt8.self)
            let y = dst + b * 32
            for j in 0..<16 {
                y[j] = Float(qs[j] & 0x0F) * d + m
                y[j + 16] = Float(qs[j] >> 4) * d + m
            }
        }
    }

    // block_q5_0 (22 bytes): d: f16, qh: u32 (fifth bit of each element), qs[16].
    static func q5_0(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 22
            let d = half(block, 0)
            let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            let qs = (block + 6).assumingMemoryBound(to: UInt8.self)
            let y = dst + b * 32
            for j in 0..<16 {
                let high0 = Int32(truncatingIfNeeded: ((qh >> UInt32(j)) << 4) & 0x10)
                let high1 = Int32(truncatingIfNeeded: (qh >> UInt32(j + 12)) & 0x10)
                y[j] = Float((Int32(qs[j] & 0x0F) | high0) - 16) * d
                y[j + 16] = Float((Int32(qs[j] >> 4) | high1) - 16) * d
            }
        }
    }

    // block_q5_1 (24 bytes): d: f16, m: f16, qh: u32, qs[16].
    static func q5_1(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 24
            let d = half(block, 0)
            let m = half(block, 2)
            let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            let qs = (block + 8).assumingMemoryBound(to: UInt8.self)
            let y = dst + b * 32
            for j in 0..<16 {
                let high0 = UInt32(((qh >> UInt32(j)) << 4) & 0x10)
                let high1 = UInt32((qh >> UInt32(j + 12)) & 0x10)
                y[j] = Float(UInt32(qs[j] & 0x0F) | high0) * d + m
                y[j + 16] = Float(UInt32(qs[j] >> 4) | high1) * d + m
            }
        }
    }

    // block_q8_0 (34 bytes): d: f16, qs[32]: int8.
    static func q8_0(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 34
            let d = half(block, 0)
            let qs = (block + 2).assumingMemoryBound(to: Int8.self)
            let y = dst + b * 32
            for j in 0..<32 {
                y[j] = Float(qs[j]) * d
            }
        }
    }
}

/// Raw pointers handed to concurrentPerform's worker closures. Each worker writes a disjoint
/// range of `destination`, and `source` is read-only, so sharing them is race-free.
private struct SendablePointers: @unchecked Sendable {
    let source: UnsafeRawPointer
    let destination: UnsafeMutablePointer<Float>
}
