#ifndef SEQLENS_ACTIVATION_KERNELS_H
#define SEQLENS_ACTIVATION_KERNELS_H

#include <stddef.h>

/// GELU, tanh approximation, written as x·σ(2u) with u = √(2/π)(x + 0.044715x³):
/// y[i] = gelu(x[i]). Vectorised (AVX-512 where the CPU has it); the exponential is Cephes'
/// single-precision polynomial, within 2 ulp of expf.
void seqlens_gelu_tanh(const float *x, float *y, size_t count);

/// Its derivative: y[i] = gelu'(x[i]) = σ + 2x·σ(1 − σ)·u′ with σ = σ(2u).
void seqlens_gelu_tanh_derivative(const float *x, float *y, size_t count);

/// The same at `level` (0 portable, 2 AVX-512) or the best below it that this CPU runs, for tests.
void seqlens_gelu_tanh_at_level(int level, int derivative, const float *x, float *y, size_t count);

#endif
