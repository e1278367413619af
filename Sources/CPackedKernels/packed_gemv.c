// One-row products with weights kept in their checkpoint encoding (ggml's block layouts).
//
// For a block of 32 elements with scale d (and minimum m), Σ x·(d·q + m) = d·Σ x·q + m·Σ x: the
// integer codes are widened to floats and multiplied with x in Float32, so the result equals
// the dequantize-then-GEMV product up to rounding order. Activations are never quantized.
#include "seqlens_packed_kernels.h"
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SEQLENS_X86 1
#endif

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF, bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            exponent = 127 - 15 + 1;
            while ((mantissa & 0x400) == 0) { mantissa <<= 1; exponent--; }
            bits = sign | (exponent << 23) | ((mantissa & 0x3FF) << 13);
        }
    } else if (exponent == 31) {
        bits = sign | 0x7F800000 | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static uint16_t load_u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

// MARK: portable kernels

// block_q4_0 (18 bytes): d, qs[16]; element j is low nibble of qs[j], element j+16 the high one.
static float dot_q4_0_portable(const uint8_t *row, const float *x, size_t blocks) {
    float sum = 0;
    for (size_t b = 0; b < blocks; b++, row += 18, x += 32) {
        const uint8_t *qs = row + 2;
        float s = 0;
        for (int j = 0; j < 16; j++) s += (float)((qs[j] & 0x0F) - 8) * x[j] + (float)((qs[j] >> 4) - 8) * x[j + 16];
        sum += half_to_float(load_u16(row)) * s;
    }
    return sum;
}

// block_q4_1 (20 bytes): d, m, qs[16].
static float dot_q4_1_portable(const uint8_t *row, const float *x, size_t blocks) {
    float sum = 0;
    for (size_t b = 0; b < blocks; b++, row += 20, x += 32) {
        const uint8_t *qs = row + 4;
        float s = 0, xs = 0;
        for (int j = 0; j < 16; j++) {
            s += (float)(qs[j] & 0x0F) * x[j] + (float)(qs[j] >> 4) * x[j + 16];
            xs += x[j] + x[j + 16];
        }
        sum += half_to_float(load_u16(row)) * s + half_to_float(load_u16(row + 2)) * xs;
    }
    return sum;
}

// block_q8_0 (34 bytes): d, qs[32] (int8).
static float dot_q8_0_portable(const uint8_t *row, const float *x, size_t blocks) {
    float sum = 0;
    for (size_t b = 0; b < blocks; b++, row += 34, x += 32) {
        const int8_t *qs = (const int8_t *)(row + 2);
        float s = 0;
        for (int j = 0; j < 32; j++) s += (float)qs[j] * x[j];
        sum += half_to_float(load_u16(row)) * s;
    }
    return sum;
}

/// Scale and min of sub-block j (0..<8) of a Q4_K/Q5_K super-block, 6 bits each in 12 bytes
/// (ggml's get_scale_min_k4).
static void scale_min_k4(int j, const uint8_t *q, uint8_t *scale, uint8_t *minimum) {
    if (j < 4) {
        *scale = q[j] & 63;
        *minimum = q[j + 4] & 63;
    } else {
        *scale = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
        *minimum = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// block_q4_K (144 bytes, 256 elements): d, dmin, scales[12], qs[128]. Each 64-element group has
// two 32-element sub-blocks: the low nibbles of its 32 bytes, then the high nibbles.
// Σ x·(d·sc·q − dmin·m) = d·sc·Σ x·q − dmin·m·Σ x per sub-block.
static float dot_q4_K_portable(const uint8_t *row, const float *x, const float *xsum, size_t superblocks) {
    float sum = 0;
    for (size_t b = 0; b < superblocks; b++, row += 144, x += 256, xsum += 8) {
        float d = half_to_float(load_u16(row)), dmin = half_to_float(load_u16(row + 2));
        const uint8_t *q = row + 16;
        for (int group = 0; group < 4; group++, q += 32) {
            for (int half = 0; half < 2; half++) {
                int j = 2 * group + half;
                uint8_t scale, minimum;
                scale_min_k4(j, row + 4, &scale, &minimum);
                const float *xs = x + 32 * j;
                float s = 0;
                for (int l = 0; l < 32; l++) s += (float)(half ? q[l] >> 4 : q[l] & 0x0F) * xs[l];
                sum += d * scale * s - dmin * minimum * xsum[j];
            }
        }
    }
    return sum;
}

// block_q6_K (210 bytes, 256 elements): ql[128] low 4 bits, qh[64] high 2 bits, scales[16]
// (int8, one per 16 elements), d at byte 208.
static float dot_q6_K_portable(const uint8_t *row, const float *x, const float *xsum, size_t superblocks) {
    (void)xsum;
    float sum = 0;
    for (size_t b = 0; b < superblocks; b++, row += 210, x += 256) {
        float d = half_to_float(load_u16(row + 208));
        const uint8_t *ql = row, *qh = row + 128;
        const int8_t *sc = (const int8_t *)(row + 192);
        const float *y = x;
        for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, y += 128) {
            float part[8] = {0};
            for (int l = 0; l < 32; l++) {
                int s = l / 16;
                int q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                part[s] += (float)q1 * y[l];
                part[s + 2] += (float)q2 * y[l + 32];
                part[s + 4] += (float)q3 * y[l + 64];
                part[s + 6] += (float)q4 * y[l + 96];
            }
            for (int i = 0; i < 8; i++) sum += d * sc[i] * part[i];
        }
    }
    return sum;
}

#ifdef SEQLENS_X86
// MARK: AVX2 kernels

#define SEQLENS_AVX2 __attribute__((target("avx2,fma,f16c")))

SEQLENS_AVX2 static float horizontal_sum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

SEQLENS_AVX2 static float half_scale(const uint8_t *p) { return _cvtsh_ss(load_u16(p)); }

/// Σ q·x over one block of 32 unsigned nibbles (low nibbles: elements 0-15, high: 16-31).
SEQLENS_AVX2 static __m256 nibbles_dot(const uint8_t *qs, const float *x) {
    __m128i packed = _mm_loadu_si128((const __m128i *)qs);
    __m128i mask = _mm_set1_epi8(0x0F);
    __m128i low = _mm_and_si128(packed, mask), high = _mm_and_si128(_mm_srli_epi16(packed, 4), mask);
    __m256 q0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(low));
    __m256 q1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(low, 8)));
    __m256 q2 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(high));
    __m256 q3 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(high, 8)));
    __m256 s = _mm256_mul_ps(q0, _mm256_loadu_ps(x));
    s = _mm256_fmadd_ps(q1, _mm256_loadu_ps(x + 8), s);
    s = _mm256_fmadd_ps(q2, _mm256_loadu_ps(x + 16), s);
    return _mm256_fmadd_ps(q3, _mm256_loadu_ps(x + 24), s);
}

SEQLENS_AVX2 static __m256 block_sum(const float *x) {
    return _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8)),
                         _mm256_add_ps(_mm256_loadu_ps(x + 16), _mm256_loadu_ps(x + 24)));
}

SEQLENS_AVX2 static float dot_q4_0_avx2(const uint8_t *row, const float *x, size_t blocks) {
    __m256 acc = _mm256_setzero_ps();
    const __m256 eight = _mm256_set1_ps(8);
    for (size_t b = 0; b < blocks; b++, row += 18, x += 32) {
        // d·Σ(q - 8)·x = d·(Σ q·x - 8·Σ x)
        __m256 s = _mm256_fnmadd_ps(eight, block_sum(x), nibbles_dot(row + 2, x));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_scale(row)), s, acc);
    }
    return horizontal_sum(acc);
}

SEQLENS_AVX2 static float dot_q4_1_avx2(const uint8_t *row, const float *x, size_t blocks) {
    __m256 acc = _mm256_setzero_ps();
    for (size_t b = 0; b < blocks; b++, row += 20, x += 32) {
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_scale(row)), nibbles_dot(row + 4, x), acc);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_scale(row + 2)), block_sum(x), acc);
    }
    return horizontal_sum(acc);
}

SEQLENS_AVX2 static float dot_q8_0_avx2(const uint8_t *row, const float *x, size_t blocks) {
    __m256 acc = _mm256_setzero_ps();
    for (size_t b = 0; b < blocks; b++, row += 34, x += 32) {
        const __m128i *qs = (const __m128i *)(row + 2);
        __m128i first = _mm_loadu_si128(qs), second = _mm_loadu_si128(qs + 1);
        __m256 s = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(first)), _mm256_loadu_ps(x));
        s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(first, 8))), _mm256_loadu_ps(x + 8), s);
        s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(second)), _mm256_loadu_ps(x + 16), s);
        s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(second, 8))), _mm256_loadu_ps(x + 24), s);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_scale(row)), s, acc);
    }
    return horizontal_sum(acc);
}

// MARK: AVX-512 kernels (the Q formats are bound by widening codes to floats, not by memory)

#define SEQLENS_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,f16c,fma")))

/// Σ q·x over one block of 32 unsigned nibbles, as 16 lanes.
SEQLENS_AVX512 static __m512 nibbles_dot512(const uint8_t *qs, const float *x) {
    __m128i packed = _mm_loadu_si128((const __m128i *)qs);
    __m128i mask = _mm_set1_epi8(0x0F);
    __m512 low = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(packed, mask)));
    __m512 high = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(packed, 4), mask)));
    return _mm512_fmadd_ps(high, _mm512_loadu_ps(x + 16), _mm512_mul_ps(low, _mm512_loadu_ps(x)));
}

SEQLENS_AVX512 static float dot_q4_0_avx512(const uint8_t *row, const float *x, const float *xsum, size_t blocks) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    float offset = 0;  // Σ d·8·Σx, subtracted at the end: d·Σ(q - 8)·x = d·Σq·x - 8·d·Σx
    size_t b = 0;
    for (; b + 2 <= blocks; b += 2, row += 36, x += 64) {
        float d0 = _cvtsh_ss(load_u16(row)), d1 = _cvtsh_ss(load_u16(row + 18));
        acc0 = _mm512_fmadd_ps(_mm512_set1_ps(d0), nibbles_dot512(row + 2, x), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_set1_ps(d1), nibbles_dot512(row + 20, x + 32), acc1);
        offset += d0 * xsum[b] + d1 * xsum[b + 1];
    }
    for (; b < blocks; b++, row += 18, x += 32) {
        float d = _cvtsh_ss(load_u16(row));
        acc0 = _mm512_fmadd_ps(_mm512_set1_ps(d), nibbles_dot512(row + 2, x), acc0);
        offset += d * xsum[b];
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) - 8 * offset;
}

SEQLENS_AVX512 static float dot_q4_1_avx512(const uint8_t *row, const float *x, const float *xsum, size_t blocks) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    float minimum0 = 0, minimum1 = 0;  // Σ m·Σx
    size_t b = 0;
    for (; b + 2 <= blocks; b += 2, row += 40, x += 64) {
        acc0 = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(load_u16(row))), nibbles_dot512(row + 4, x), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(load_u16(row + 20))), nibbles_dot512(row + 24, x + 32), acc1);
        minimum0 += _cvtsh_ss(load_u16(row + 2)) * xsum[b];
        minimum1 += _cvtsh_ss(load_u16(row + 22)) * xsum[b + 1];
    }
    for (; b < blocks; b++, row += 20, x += 32) {
        acc0 = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(load_u16(row))), nibbles_dot512(row + 4, x), acc0);
        minimum0 += _cvtsh_ss(load_u16(row + 2)) * xsum[b];
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) + (minimum0 + minimum1);
}

SEQLENS_AVX512 static __m512 bytes_dot512(const int8_t *qs, const float *x) {
    __m512 low = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)qs)));
    __m512 high = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(qs + 16))));
    return _mm512_fmadd_ps(high, _mm512_loadu_ps(x + 16), _mm512_mul_ps(low, _mm512_loadu_ps(x)));
}

SEQLENS_AVX512 static float dot_q8_0_avx512(const uint8_t *row, const float *x, const float *xsum, size_t blocks) {
    (void)xsum;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    size_t b = 0;
    for (; b + 2 <= blocks; b += 2, row += 68, x += 64) {
        acc0 = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(load_u16(row))), bytes_dot512((const int8_t *)(row + 2), x), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(load_u16(row + 34))), bytes_dot512((const int8_t *)(row + 36), x + 32), acc1);
    }
    for (; b < blocks; b++, row += 34, x += 32) {
        acc0 = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(load_u16(row))), bytes_dot512((const int8_t *)(row + 2), x), acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}
SEQLENS_AVX512 static float dot_q4_K_avx512(const uint8_t *row, const float *x, const float *xsum, size_t superblocks) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    const __m128i mask = _mm_set1_epi8(0x0F);
    float offset = 0;
    for (size_t b = 0; b < superblocks; b++, row += 144, x += 256, xsum += 8) {
        float d = _cvtsh_ss(load_u16(row)), dmin = _cvtsh_ss(load_u16(row + 2));
        const uint8_t *q = row + 16;
        for (int group = 0; group < 4; group++, q += 32) {
            uint8_t scale0, min0, scale1, min1;
            scale_min_k4(2 * group, row + 4, &scale0, &min0);
            scale_min_k4(2 * group + 1, row + 4, &scale1, &min1);
            __m128i first = _mm_loadu_si128((const __m128i *)q), second = _mm_loadu_si128((const __m128i *)(q + 16));
            const float *xs = x + 64 * group;
            __m512 low = _mm512_fmadd_ps(
                _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(second, mask))), _mm512_loadu_ps(xs + 16),
                _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(first, mask))), _mm512_loadu_ps(xs)));
            __m512 high = _mm512_fmadd_ps(
                _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(second, 4), mask))), _mm512_loadu_ps(xs + 48),
                _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(first, 4), mask))),
                              _mm512_loadu_ps(xs + 32)));
            acc0 = _mm512_fmadd_ps(_mm512_set1_ps(d * scale0), low, acc0);
            acc1 = _mm512_fmadd_ps(_mm512_set1_ps(d * scale1), high, acc1);
            offset += dmin * (min0 * xsum[2 * group] + min1 * xsum[2 * group + 1]);
        }
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) - offset;
}

/// 16 six-bit codes (low 4 bits from `low`, shifted right by `low_shift`; 2 high bits from
/// `high` at bit `high_shift`) minus 32, as floats.
SEQLENS_AVX512 static __m512 q6_codes(__m128i low, int low_shift, __m128i high, int high_shift) {
    const __m128i nibble = _mm_set1_epi8(0x0F), pair = _mm_set1_epi8(0x03);
    __m128i l = _mm_and_si128(_mm_srl_epi16(low, _mm_cvtsi32_si128(low_shift)), nibble);
    __m128i h = _mm_and_si128(_mm_srl_epi16(high, _mm_cvtsi32_si128(high_shift)), pair);
    __m128i code = _mm_or_si128(l, _mm_slli_epi16(h, 4));
    return _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(code), _mm512_set1_epi32(32)));
}

SEQLENS_AVX512 static float dot_q6_K_avx512(const uint8_t *row, const float *x, const float *xsum, size_t superblocks) {
    (void)xsum;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (size_t b = 0; b < superblocks; b++, row += 210, x += 256) {
        float d = _cvtsh_ss(load_u16(row + 208));
        const uint8_t *ql = row, *qh = row + 128;
        const int8_t *sc = (const int8_t *)(row + 192);
        const float *y = x;
        for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, y += 128) {
            for (int s = 0; s < 2; s++) {  // elements l = 16s ..< 16s + 16 of each quarter
                __m128i a = _mm_loadu_si128((const __m128i *)(ql + 16 * s));
                __m128i c = _mm_loadu_si128((const __m128i *)(ql + 32 + 16 * s));
                __m128i h = _mm_loadu_si128((const __m128i *)(qh + 16 * s));
                const float *ys = y + 16 * s;
                acc0 = _mm512_fmadd_ps(_mm512_set1_ps(d * sc[s]), _mm512_mul_ps(q6_codes(a, 0, h, 0), _mm512_loadu_ps(ys)), acc0);
                acc1 = _mm512_fmadd_ps(_mm512_set1_ps(d * sc[s + 2]), _mm512_mul_ps(q6_codes(c, 0, h, 2), _mm512_loadu_ps(ys + 32)), acc1);
                acc0 = _mm512_fmadd_ps(_mm512_set1_ps(d * sc[s + 4]), _mm512_mul_ps(q6_codes(a, 4, h, 4), _mm512_loadu_ps(ys + 64)), acc0);
                acc1 = _mm512_fmadd_ps(_mm512_set1_ps(d * sc[s + 6]), _mm512_mul_ps(q6_codes(c, 4, h, 6), _mm512_loadu_ps(ys + 96)), acc1);
            }
        }
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}
#endif


// MARK: dispatch

typedef float (*row_dot)(const uint8_t *row, const float *x, size_t blocks);
typedef float (*block_row_dot)(const uint8_t *row, const float *x, const float *xsum, size_t blocks);

static int detected_level = 0;
static pthread_once_t detection = PTHREAD_ONCE_INIT;

static void detect_level(void) {
#ifdef SEQLENS_X86
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl");
    detected_level = avx512 ? 2 : avx2 ? 1 : 0;
#endif
}

/// 2 with AVX-512, 1 with AVX2 + FMA + F16C, 0 otherwise (or on other architectures).
static int vector_level(void) {
    pthread_once(&detection, detect_level);
    return detected_level;
}

int seqlens_packed_kernels_vectorised(void) { return vector_level(); }

void seqlens_packed_gemv(seqlens_packed_format format, const void *rows, size_t row_bytes,
                         size_t row_begin, size_t row_end, size_t columns,
                         const float *x, float *y, int accumulate) {
    seqlens_packed_gemv_at_level(vector_level(), format, rows, row_bytes, row_begin, row_end, columns, x, y, accumulate);
}

void seqlens_packed_gemv_at_level(int level, seqlens_packed_format format, const void *rows, size_t row_bytes,
                                  size_t row_begin, size_t row_end, size_t columns,
                                  const float *x, float *y, int accumulate) {
    const uint8_t *base = (const uint8_t *)rows;
    if (level > vector_level()) level = vector_level();
    // Kernels that read per-32-element sums of x (shared by all rows): every AVX-512 kernel,
    // and the K formats' kernels at any level.
    block_row_dot block_dot = NULL;
    int super = format == SEQLENS_PACKED_Q4_K || format == SEQLENS_PACKED_Q6_K;
    if (format == SEQLENS_PACKED_Q4_K) block_dot = dot_q4_K_portable;
    if (format == SEQLENS_PACKED_Q6_K) block_dot = dot_q6_K_portable;
#ifdef SEQLENS_X86
    if (level == 2) {
        switch (format) {
        case SEQLENS_PACKED_Q4_0: block_dot = dot_q4_0_avx512; break;
        case SEQLENS_PACKED_Q4_1: block_dot = dot_q4_1_avx512; break;
        case SEQLENS_PACKED_Q8_0: block_dot = dot_q8_0_avx512; break;
        case SEQLENS_PACKED_Q4_K: block_dot = dot_q4_K_avx512; break;
        case SEQLENS_PACKED_Q6_K: block_dot = dot_q6_K_avx512; break;
        }
    }
#endif
    if (block_dot) {
        size_t blocks = columns / 32;
        float stack[512];
        float *xsum = blocks <= 512 ? stack : (float *)malloc(blocks * sizeof(float));
        if (!xsum) return;
        for (size_t b = 0; b < blocks; b++) {
            float s = 0;
            for (int j = 0; j < 32; j++) s += x[b * 32 + j];
            xsum[b] = s;
        }
        size_t length = super ? columns / 256 : blocks;  // the K formats count super-blocks of 256
        for (size_t r = row_begin; r < row_end; r++) {
            float value = block_dot(base + r * row_bytes, x, xsum, length);
            y[r] = accumulate ? y[r] + value : value;
        }
        if (xsum != stack) free(xsum);
        return;
    }
    row_dot dot;
    size_t blocks = columns / 32;
    switch (format) {
    case SEQLENS_PACKED_Q4_0: dot = dot_q4_0_portable; break;
    case SEQLENS_PACKED_Q4_1: dot = dot_q4_1_portable; break;
    case SEQLENS_PACKED_Q8_0: dot = dot_q8_0_portable; break;
    default: return;
    }
#ifdef SEQLENS_X86
    if (level >= 1) {
        switch (format) {
        case SEQLENS_PACKED_Q4_0: dot = dot_q4_0_avx2; break;
        case SEQLENS_PACKED_Q4_1: dot = dot_q4_1_avx2; break;
        case SEQLENS_PACKED_Q8_0: dot = dot_q8_0_avx2; break;
        default: break;
        }
    }
#endif
    for (size_t r = row_begin; r < row_end; r++) {
        float value = dot(base + r * row_bytes, x, blocks);
        y[r] = accumulate ? y[r] + value : value;
    }
}
