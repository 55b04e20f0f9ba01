#ifndef MMPIPE_CKERNELS_H
#define MMPIPE_CKERNELS_H
/* Hand-vectorised kernels for the CPU features a portable build cannot assume (AVX2, FMA,
 * F16C). Each is compiled for those features only and must be called only when the CPU
 * and OS support them (TensorCore's CPUFeatures, decoded from cpuid by module CBLAS, checks
 * once; otherwise its portable Swift loops run). Only TensorCore calls these. */
#include <stddef.h>
#include <stdint.h>
#include "mmpipe_pool.h"
#include "ckernels_int8.h"

/* c[r * ldc + j] (+)= sum_i x[r * k + i] * w[j * k + i] for r < rows (1...8), j in [j0, j1).
 * w is float32 [n, k] row-major (PyTorch Linear layout). */
void mmpipe_rows_wt_f32(const float *x, int rows, int k, const float *w, int j0, int j1,
                        float *c, int ldc, int accumulate);

/* The same with w stored as IEEE half floats (uint16 bit patterns). */
void mmpipe_rows_wt_f16(const float *x, int rows, int k, const uint16_t *w, int j0, int j1,
                        float *c, int ldc, int accumulate);

/* float32 -> half (round to nearest even) for n values; returns 1 if every value survived
 * the round trip exactly (the weights were half precision to begin with), 0 otherwise. */
int mmpipe_f32_to_f16(const float *src, uint16_t *dst, size_t n);

/* half -> float32 (exact) for n values. */
void mmpipe_f16_to_f32(const uint16_t *src, float *dst, size_t n);

#endif
