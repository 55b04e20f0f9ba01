#ifndef MMPIPE_CKERNELS_INT8_H
#define MMPIPE_CKERNELS_INT8_H
/* int8 weights with a float scale per output row, times float activations quantised per row
 * on the fly (CTranslate2's int8 scheme): c[r, j] = sx[r] * sw[j] * sum_i qx[r, i] * qw[j, i].
 *
 * Weights are packed once for the dot-product instructions: blocks of 16 output rows, and in
 * each block groups of 4 inputs, 64 bytes per group: byte [col * 4 + t] of group g of block b
 * is qw[16 b + col][4 g + t] (zero past the ends). Activations are quantised into rows of
 * k4 * 4 bytes (zero-padded): signed for the AVX2 and portable kernels, signed + 128
 * (unsigned) for the AVX-512 VNNI kernel, which subtracts 128 * (sum of the weight row).
 * Callers pick the kernel by the CPU's features (TensorCore's CPUFeatures). */
#include <stddef.h>
#include <stdint.h>

/* Bytes of a packed [n, k] matrix. */
size_t mmpipe_i8_packed_bytes(int n, int k);

/* Quantises w [n, k] (rows ldw apart) per row: scale[j] = max |w[j]| / 127 (1 for an
 * all-zero row), q = round(w / scale), exactly as mmpipe_i8_quantize_rows quantises
 * activations; writes the packed bytes and rowsum[j] = sum_i q[j, i]. avx2: as there. */
void mmpipe_i8_quantize_pack(const float *w, int n, int k, int ldw, int8_t *packed, float *scale, int32_t *rowsum, int avx2);

/* Unpacks rows j0..<j1 of a packed matrix to int8 [j1 - j0, k] row-major. */
void mmpipe_i8_unpack_rows(const int8_t *packed, int n, int k, int j0, int j1, int8_t *out);

/* Quantises x [rows, k] (leading dimension ldx) per row into q [rows, k4 * 4] with scale[r];
 * offset 128 stores q + 128 as unsigned bytes (for the VNNI kernel), 0 stores q. avx2: the
 * CPU has AVX2 (else a portable loop). */
void mmpipe_i8_quantize_rows(const float *x, int rows, int k, int ldx, uint8_t *q, float *scale, int offset, int avx2);

/* c[r * ldc + j] (+)= sx[r] * sw[j] * dot(qx[r], qw[j]) (+ bias[j], when bias is not NULL)
 * for r < rows, j in [j0, j1); j0 a multiple of 16. qx as quantised above (offset 128 for
 * vnni512, 0 for the others). */
void mmpipe_i8_gemm_vnni512(const uint8_t *qx, int rows, int k, const int8_t *packed, const int32_t *rowsum,
                            const float *sx, const float *sw, const float *bias, int n, int j0, int j1, float *c, int ldc,
                            int accumulate);
void mmpipe_i8_gemm_avx2(const uint8_t *qx, int rows, int k, const int8_t *packed,
                         const float *sx, const float *sw, const float *bias, int n, int j0, int j1, float *c, int ldc,
                         int accumulate);
void mmpipe_i8_gemm_portable(const uint8_t *qx, int rows, int k, const int8_t *packed,
                             const float *sx, const float *sw, const float *bias, int n, int j0, int j1, float *c, int ldc,
                             int accumulate);

#endif
