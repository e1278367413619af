/// The "K" quantizations: super-blocks of 256 elements with 6- or 8-bit sub-block scales.
/// Follows ggml-quants.c `dequantize_row_q4_K`, `_q5_K`, `_q6_K` (QK_K = 256).
extension Dequantization {
    /// Scale and min of sub-block `j` (0..<8), packed in 12 bytes as 6-bit values
    /// (ggml's `get_scale_min_k4`).
    @inline(__always)
    static func scaleMin(_ j: Int, _ q: UnsafePointer<UInt8>) -> (scale: UInt8, min: UInt8) {
        if j < 4 {
            return (q[j] & 63, q[j + 4] & 63)
        }
        return ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }

    // block_q4_K (144 bytes): d: f16, dmin: f16, scales[12], qs[128].
    static func q4_K(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 144
            let d = half(block, 0)
            let dmin = half(block, 2)
            let scales = (block + 4).assumingMemoryBound(to: UInt8.self)
            var q = (block + 16).assumingMemoryBound(to: UInt8.self)
            var y = dst + b * 256
            // Each 64-element group uses two sub-blocks: low nibbles, then high nibbles.
            for group in 0..<4 {
                let (sc1, m1) = scaleMin(2 * group, scales)
                let (sc2, m2) = scaleMin(2 * group + 1, scales)
                let d1 = d * Float(sc1), min1 = dmin * Float(m1)
                let d2 = d * Float(sc2), min2 = dmin * Float(m2)
                for l in 0..<32 { y[l] = d1 * Float(q[l] & 0x0F) - min1 }
                for l in 0..<32 { y[32 + l] = d2 * Float(q[l] >> 4) - min2 }
                q += 32
                y += 64
            }
        }
    }

    // block_q5_K (176 bytes): d: f16, dmin: f16, scales[12], qh[32], qs[128].
    static func q5_K(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 176
            let d = half(block, 0)
            let dmin = half(block, 2)
            let scales = (block + 4).assumingMemoryBound(to: UInt8.self)
            let qh = (block + 16).assumingMemoryBound(to: UInt8.self)
            var ql = (block + 48).assumingMemoryBound(to: UInt8.self)
            var y = dst + b * 256
            // Group g takes its fifth bits from bit 2g (low nibbles) and 2g+1 (high nibbles) of qh.
            var bit1: UInt8 = 1
            var bit2: UInt8 = 2
            for group in 0..<4 {
                let (sc1, m1) = scaleMin(2 * group, scales)
                let (sc2, m2) = scaleMin(2 * group + 1, scales)
                let d1 = d * Float(sc1), min1 = dmin * Float(m1)
                let d2 = d * Float(sc2), min2 = dmin * Float(m2)
                for l in 0..<32 {
                    let value = (ql[l] & 0x0F) + (qh[l] & bit1 != 0 ? 16 : 0)
                    y[l] = d1 * Float(value) - min1
                }
                for l in 0..<32 {
                    let value = (ql[l] >> 4) + (qh[l] & bit2 != 0 ? 16 : 0)
                    y[32 + l] = d2 * Float(value) - min2
                }
                ql += 32
                y += 64
                bit1 &<<= 2
                bit2 &<<= 2
            }
        }
    }

    // block_q6_K (210 bytes): ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16]: int8, d: f16.
    static func q6_K(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 210
            let d = half(block, 208)
            var ql = block.assumingMemoryBound(to: UInt8.self)
            var qh = (block + 128).assumingMemoryBound(to: UInt8.self)
            var sc = (block + 192).assumingMemoryBound(to: Int8.self)
            var y = dst + b * 256
            for _ in 0..<2 {
                for l in 0..<32 {
                    let s = l / 16
                    let q1 = Int32((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32
                    let q2 = Int32((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32
                    let q3 = Int32((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32
                    let q4 = Int32((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32
                    y[l] = d * Float(sc[s]) * Float(q1)
                    y[l + 32] = d * Float(sc[s + 2]) * Float(q2)
                    y[l + 64] = d * Float(sc[s + 4]) * Float(q3)
                    y[l + 96] = d * Float(sc[s + 6]) * Float(q4)
                }
                y += 128
                ql += 64
                qh += 32
                sc += 8
            }
        }
    }
}
