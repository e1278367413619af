/// Exact conversions from 16-bit float encodings to Float32.
enum HalfFloat {
    /// IEEE binary16 bits to Float, exactly (every half value is representable as a float).
    /// NaN payloads are kept, shifted into the top of the float mantissa, as numpy and ggml's
    /// scalar `ggml_compute_fp16_to_fp32` do.
    @inline(__always)
    static func toFloat(_ bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = UInt32(bits >> 10) & 0x1F
        let mantissa = UInt32(bits & 0x03FF)
        if exponent == 0 {
            // Zero or subnormal: mantissa * 2^-24, exact in Float32.
            return Float(bitPattern: (Float(mantissa) * 0x1p-24).bitPattern | sign)
        }
        if exponent == 0x1F {
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        // Rebias the exponent from 15 to 127.
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }

    /// bfloat16 bits to Float: the top half of a Float32.
    @inline(__always)
    static func bfloat16ToFloat(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }
}
