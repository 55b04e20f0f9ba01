#ifndef MMPIPE_GEMM_H
#define MMPIPE_GEMM_H
/* Float32 matrix products whose every element is summed in one order, fixed by the
 * operation alone: c[i, j] = sum over p = 0, 1, ..., k - 1 of a[i, p] b[p, j], in that order,
 * from +0, one fused multiply-add each; then r = alpha s (skipped when alpha is 1) and
 * c = r (beta 0), c + r (beta 1) or beta c + r, each rounded on its own.
 *
 * So a row's result never depends on the other rows of the product (its batch), on the
 * columns computed beside it, on the operands' layouts (transposed or not, float32 or half),
 * or on how a caller splits the product into blocks or threads; and the AVX-512 and AVX2
 * kernels give the same bits. The portable kernel (no SIMD ISA) sums in the same order with
 * the multiply and the add rounded separately (no FMA instruction to rely on).
 *
 * a is [m, k] (or [k, m] with trans_a), rows lda apart; b is [k, n] (or [n, k] with trans_b),
 * rows ldb apart; c is [m, n], rows ldc apart. Single-threaded. Only TensorCore calls these. */
#include <stddef.h>
#include <stdint.h>

enum { MMPIPE_ISA_PORTABLE = 0, MMPIPE_ISA_AVX2 = 1, MMPIPE_ISA_AVX512 = 2 };

/* isa: the instruction set to use, at most what the CPU has (AVX2 means AVX2 + FMA + F16C,
 * AVX-512 means AVX-512F too). */
void mmpipe_gemm(int isa, int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc);

/* Half-precision b [k, n] stored in panels of 32 columns: panel q holds columns
 * [32 q, 32 q + 32) as k rows of 32 halves (zero past n), panels one after another. A
 * decoding step's few rows then read each weight once, in order. The same bits as the
 * float32 product. */
void mmpipe_gemm_f16_panels(int isa, int m, int n, int k, float alpha, const float *a, int lda,
                            const uint16_t *panels, float beta, float *c, int ldc);
/* Halves a panel layout of n columns and depth k takes. */
size_t mmpipe_gemm_panels_size(int n, int k);
/* Packs panels [q0, q1) of w [n, k] (rows ldw apart; a PyTorch Linear weight, so b = w^T),
 * rounding to half (nearest even); returns 1 when every value survived exactly. Needs F16C
 * (AVX2 level); elsewhere returns 0 (the weight stays float32). */
int mmpipe_gemm_pack_f16(const float *w, int n, int k, int ldw, int q0, int q1, uint16_t *panels);
/* Column j of a panel layout (row j of w), k values, widened. */
void mmpipe_gemm_unpack_f16(const uint16_t *panels, int k, int j, float *out);

#endif
