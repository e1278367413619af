#ifndef SEQLENS_PACKED_KERNELS_H
#define SEQLENS_PACKED_KERNELS_H

#include <stddef.h>

/// Block encodings a weight row can be stored in (ggml's layouts: blocks of 32 elements, or
/// super-blocks of 256 for the K formats).
typedef enum {
    SEQLENS_PACKED_Q4_0 = 2,
    SEQLENS_PACKED_Q4_1 = 3,
    SEQLENS_PACKED_Q8_0 = 4,
    SEQLENS_PACKED_Q4_K = 5,  // super-blocks of 256 elements
    SEQLENS_PACKED_Q6_K = 6,
} seqlens_packed_format;

/// y[r] (+)= Σ_c W[r, c] · x[c] for rows [row_begin, row_end) of a matrix whose rows are
/// `row_bytes` bytes of `format` blocks along the columns. The weights are read in their stored
/// encoding, never expanded: a one-row product is memory bound, and these encodings are 3.8-7x
/// smaller than Float32. `columns` is a multiple of the block size (32, or 256 for the K formats).
/// `accumulate` adds to y instead of overwriting it.
void seqlens_packed_gemv(seqlens_packed_format format, const void *rows, size_t row_bytes,
                         size_t row_begin, size_t row_end, size_t columns,
                         const float *x, float *y, int accumulate);

/// The same with the kernels of `level` (0 portable, 1 AVX2, 2 AVX-512) or the best below it
/// that this CPU runs; lets tests check every kernel on one machine.
void seqlens_packed_gemv_at_level(int level, seqlens_packed_format format, const void *rows, size_t row_bytes,
                                  size_t row_begin, size_t row_end, size_t columns,
                                  const float *x, float *y, int accumulate);

/// The same product for all rows, split over `threads` threads (the caller's and resident
/// workers that spin briefly between calls, so that back-to-back products of a generated
/// token do not pay a thread wake-up each).
void seqlens_packed_gemv_parallel(seqlens_packed_format format, const void *rows, size_t row_bytes,
                                  size_t row_count, size_t columns, const float *x, float *y,
                                  int accumulate, int threads);

/// One part of a parallel loop: `part` is 0 ..< parts.
typedef void (*seqlens_part_function)(void *context, int part);

/// Runs function(context, part) for every part in 0 ..< parts over the calling thread and the
/// resident workers, returning when all are done. A call made while another thread's call is
/// running runs its parts one after another on the calling thread.
void seqlens_parallel_run(int parts, seqlens_part_function function, void *context);

/// The threads a parallel loop may use: the online processors (at most 16).
int seqlens_parallel_thread_count(void);

/// 2 when the AVX-512 kernels run on this CPU, 1 for the AVX2 (+ FMA, F16C) ones, 0 for the portable ones.
int seqlens_packed_kernels_vectorised(void);

#endif
