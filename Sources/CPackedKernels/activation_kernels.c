// GELU (tanh approximation) and its derivative over a buffer. One exponential per element
// dominates; libm's expf is a scalar call, so the loop never vectorises. Here the exponential
// is Cephes' expf polynomial (range reduction by ln 2 split in two constants, degree-5
// polynomial, exact scaling by 2^n), the same operations at every level.
#include "seqlens_activation_kernels.h"
#include "seqlens_packed_kernels.h"
#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define EXP_LOW (-87.33654f)
#define EXP_HIGH 88.72283f
#define LOG2E 1.44269504088896341f
#define LN2_HIGH 0.693359375f
#define LN2_LOW (-2.12194440e-4f)
#define P0 1.9875691500e-4f
#define P1 1.3981999507e-3f
#define P2 8.3334519073e-3f
#define P3 4.1665795894e-2f
#define P4 1.6666665459e-1f
#define P5 5.0000001201e-1f
#define SQRT_TWO_OVER_PI 0.7978845608028654f
#define CUBIC 0.044715f

static inline float exp_portable(float x) {
    x = fminf(fmaxf(x, EXP_LOW), EXP_HIGH);
    float n = nearbyintf(x * LOG2E);
    float r = fmaf(-n, LN2_HIGH, x);
    r = fmaf(-n, LN2_LOW, r);
    float p = P0;
    p = fmaf(p, r, P1);
    p = fmaf(p, r, P2);
    p = fmaf(p, r, P3);
    p = fmaf(p, r, P4);
    p = fmaf(p, r, P5);
    p = fmaf(p, r * r, r + 1.0f);
    return ldexpf(p, (int)n);
}

static void gelu_portable(const float *x, float *y, size_t count, int derivative) {
    for (size_t i = 0; i < count; i++) {
        float v = x[i];
        float u = SQRT_TWO_OVER_PI * (v + CUBIC * v * v * v);
        float s = 1.0f / (1.0f + exp_portable(-2.0f * u));
        y[i] = derivative ? s + 2.0f * v * s * (1.0f - s) * SQRT_TWO_OVER_PI * (1.0f + 3.0f * CUBIC * v * v) : v * s;
    }
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static inline __m512 exp_avx512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(EXP_LOW)), _mm512_set1_ps(EXP_HIGH));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HIGH), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LOW), r);
    __m512 p = _mm512_set1_ps(P0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P5));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

__attribute__((target("avx512f"))) static void gelu_avx512(const float *x, float *y, size_t count, int derivative) {
    const __m512 one = _mm512_set1_ps(1.0f), k = _mm512_set1_ps(SQRT_TWO_OVER_PI), c = _mm512_set1_ps(CUBIC);
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __m512 v2 = _mm512_mul_ps(v, v);
        // u = k·(v + c·v³), computed as in the portable loop: k * (v + (c * v * v) * v).
        __m512 u = _mm512_mul_ps(k, _mm512_add_ps(v, _mm512_mul_ps(_mm512_mul_ps(c, v2), v)));
        __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, exp_avx512(_mm512_mul_ps(_mm512_set1_ps(-2.0f), u))));
        __m512 out;
        if (derivative) {
            // s + 2·v·s·(1 − s)·k·(1 + 3c·v²)
            __m512 slope = _mm512_mul_ps(k, _mm512_add_ps(one, _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(3.0f * CUBIC), v), v)));
            __m512 t = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(2.0f), v), s), _mm512_sub_ps(one, s)), slope);
            out = _mm512_add_ps(s, t);
        } else {
            out = _mm512_mul_ps(v, s);
        }
        _mm512_storeu_ps(y + i, out);
    }
    if (i < count) gelu_portable(x + i, y + i, count - i, derivative);
}
#endif

void seqlens_gelu_tanh_at_level(int level, int derivative, const float *x, float *y, size_t count) {
#if defined(__x86_64__)
    if (level >= 2 && seqlens_packed_kernels_vectorised() >= 2) {
        gelu_avx512(x, y, count, derivative);
        return;
    }
#endif
    (void)level;
    gelu_portable(x, y, count, derivative);
}

void seqlens_gelu_tanh(const float *x, float *y, size_t count) { seqlens_gelu_tanh_at_level(2, 0, x, y, count); }

void seqlens_gelu_tanh_derivative(const float *x, float *y, size_t count) {
    seqlens_gelu_tanh_at_level(2, 1, x, y, count);
}
