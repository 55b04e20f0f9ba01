#ifndef MMPIPE_CKERNELS_H
#define MMPIPE_CKERNELS_H
/* Hand-vectorised kernels for the CPU features a portable build cannot assume (AVX2, FMA,
 * F16C, AVX-512). Each is compiled for those features only and must be called only when the
 * CPU and OS support them and MMPIPE_ISA allows them (TensorCore's CPUFeatures decides once;
 * otherwise a portable loop runs). The matrix products (mmpipe_gemm.h) take the level as an
 * argument. Only TensorCore calls these. */
#include <stddef.h>
#include <stdint.h>
#include "mmpipe_pool.h"
#include "ckernels_int8.h"
#include "mmpipe_gemm.h"

/* float32 -> half (round to nearest even) for n values; returns 1 if every value survived
 * the round trip exactly (the weights were half precision to begin with), 0 otherwise. */
int mmpipe_f32_to_f16(const float *src, uint16_t *dst, size_t n);

/* half -> float32 (exact) for n values. */
void mmpipe_f16_to_f32(const uint16_t *src, float *dst, size_t n);

/* The first i < n with x[i] > t (NaN never is), else n. AVX2. */
int mmpipe_first_above_f32(const float *x, int n, float t);

/* Softmax of n floats (src may equal dst): max, exp(x - max), sum, scale. */
void mmpipe_softmax_f32(const float *src, float *dst, int n);

/* sum(exp(p[i] - shift)): float lanes within blocks of 2048, double across blocks. */
double mmpipe_sum_exp_f32(const float *p, int n, float shift);

/* Exact (erf) GELU of n floats; src may equal dst. */
void mmpipe_gelu_f32(const float *src, float *dst, size_t n);


/* AVX-512F (call only where the CPU has it). Attention of `rows` single queries
 * q[r * ldq + i] (i < d) against one head's keys stored transposed, kt[i * ldk + j]
 * (j < lk), and its values v[j * ldv + c] (c < dv): softmax(scale q k^T) v into
 * out[r * ldo + c]. scores: scratch of min(rows, 6) * lk floats. Returns 0 (and does
 * nothing) unless dv is 16, 32, 48 or 64. */
int mmpipe_attend_few_avx512(const float *q, int ldq, int rows, int d, const float *kt, int ldk, int lk,
                             const float *v, int ldv, int dv, float scale, float *scores, float *out, int ldo);
/* The same with keys and values stored in float16 (half the bytes each step reads). */
int mmpipe_attend_few_f16_avx512(const float *q, int ldq, int rows, int d, const uint16_t *kt, int ldk, int lk,
                                 const uint16_t *v, int ldv, int dv, float scale, float *scores, float *out, int ldo);
/* AVX2 + FMA + F16C forms of the two (call only where the CPU has them): the same bits. */
int mmpipe_attend_few_avx2(const float *q, int ldq, int rows, int d, const float *kt, int ldk, int lk,
                           const float *v, int ldv, int dv, float scale, float *scores, float *out, int ldo);
int mmpipe_attend_few_f16_avx2(const float *q, int ldq, int rows, int d, const uint16_t *kt, int ldk, int lk,
                               const uint16_t *v, int ldv, int dv, float scale, float *scores, float *out, int ldo);

/* Values v [lk, dv] (rows ldv apart) rounded to bfloat16 (nearest even) in pairs of
 * positions: out[(jp * dv + c) * 2 + t] = v[2 jp + t][c], zero past lk; (lk + 1) / 2 * dv * 2
 * values. */
void mmpipe_pack_values_bf16(const float *v, int ldv, int lk, int dv, uint16_t *out);

/* AVX-512 BF16 (call only where the CPU has it). For each row r of scores [rows, lk] (rows
 * lds >= lk floats apart; overwritten): p = exp(s - max s) rounded to bfloat16, and
 * out[r * ldo + c] = sum_j p[j] v[j][c] / sum_j p[j] (the sum of the unrounded values), v
 * packed by mmpipe_pack_values_bf16. Returns 0 (and does nothing) unless dv is 16, 32, 48
 * or 64. */
int mmpipe_softmax_values_bf16(float *scores, int rows, int lk, int lds, const uint16_t *vp, int dv,
                               float *out, int ldo);

#endif
