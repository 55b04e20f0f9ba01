/* mmpipe's own float32 matrix products, with a summation order fixed by the operation alone
 * (see mmpipe_gemm.h): no result depends on the other rows or columns of the product, on
 * how it is split into blocks or threads, or on which of the AVX-512 and AVX2 kernels runs.
 *
 * Compiled without floating-point contraction: every fused multiply-add below is written as
 * one, and every other product and sum is rounded on its own, in all three paths alike. */
#pragma STDC FP_CONTRACT OFF
#include "mmpipe_gemm.h"

#include <stdlib.h>
#include <string.h>

/* ---- shared: the epilogue and the portable (no SIMD ISA) reference paths ---------------- */

static inline float finish(float s, float alpha, float beta, const float *c) {
    float r = alpha == 1.0f ? s : alpha * s;
    if (beta == 0.0f) return r;
    if (beta == 1.0f) return *c + r;
    return beta * *c + r;
}

static inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Where b's values come from: float32 [k, n] rows ldb apart, or (trans) [n, k]; or half in
 * panels of 32 columns (mmpipe_gemm_pack_f16). */
typedef struct {
    const float *f;
    const uint16_t *h;
    int trans;
    int ld;
    int panels;   /* h in panels; k in ld */
} bsource;

static inline size_t b_index(bsource b, int p, int j) {
    if (b.panels) return ((size_t)(j / 32) * b.ld + p) * 32 + j % 32;
    return b.trans ? (size_t)j * b.ld + p : (size_t)p * b.ld + j;
}

static inline float b_at(bsource b, int p, int j) {
    size_t i = b_index(b, p, j);
    return b.f ? b.f[i] : half_to_float(b.h[i]);
}

/* Portable: one sequential sum per element, multiply and add rounded separately. */
static void gemm_portable(int trans_a, int m, int n, int k, float alpha, const float *a, int lda, bsource b,
                          float beta, float *c, int ldc) {
    float *bt = malloc(sizeof(float) * ((size_t)k * (n < 64 ? n : 64) + 1));
    float acc[64];
    for (int j0 = 0; j0 < n; j0 += 64) {
        int nr = n - j0 < 64 ? n - j0 : 64;
        for (int p = 0; p < k; p++)
            for (int s = 0; s < nr; s++) bt[(size_t)p * nr + s] = b_at(b, p, j0 + s);
        for (int i = 0; i < m; i++) {
            for (int s = 0; s < nr; s++) acc[s] = 0.0f;
            for (int p = 0; p < k; p++) {
                float x = trans_a ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                const float *br = bt + (size_t)p * nr;
                for (int s = 0; s < nr; s++) {
                    float t = x * br[s];
                    acc[s] = acc[s] + t;
                }
            }
            float *cr = c + (size_t)i * ldc + j0;
            for (int s = 0; s < nr; s++) cr[s] = finish(acc[s], alpha, beta, cr + s);
        }
    }
    free(bt);
}

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX512 __attribute__((target("avx2,fma,f16c,avx512f")))
#define INLINE static inline __attribute__((always_inline))

/* ---- packing: b's columns [j, j + nr) as k rows of W floats (zero past nr) ---------------- */

/* 8 x 8 transpose: rows r[0..7] in, columns out. */
AVX2 INLINE void transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20); r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20); r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31); r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31); r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

AVX2 static void pack_panel(bsource b, int k, int j, int nr, int W, float *panel) {
    if (b.panels) {   /* W divides 32: the stored panel's rows, widened */
        const uint16_t *src = b.h + (size_t)(j / 32) * b.ld * 32 + j % 32;
        for (int p = 0; p < k; p++, src += 32) {
            float *dst = panel + (size_t)p * W;
            for (int s = 0; s < W; s += 8) _mm256_storeu_ps(dst + s, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + s))));
        }
        return;
    }
    if (!b.trans) {
        for (int p = 0; p < k; p++) {
            const float *src = b.f + (size_t)p * b.ld + j;
            float *dst = panel + (size_t)p * W;
            int s = 0;
            for (; s < nr; s++) dst[s] = src[s];
            for (; s < W; s++) dst[s] = 0.0f;
        }
        return;
    }
    int s0 = 0;
    for (; s0 + 8 <= nr; s0 += 8) {
        int p = 0;
        for (; p + 8 <= k; p += 8) {
            __m256 r[8];
            for (int t = 0; t < 8; t++) {
                size_t at = (size_t)(j + s0 + t) * b.ld + p;
                r[t] = _mm256_loadu_ps(b.f + at);
            }
            transpose8(r);
            for (int t = 0; t < 8; t++) _mm256_storeu_ps(panel + (size_t)(p + t) * W + s0, r[t]);
        }
        for (; p < k; p++)
            for (int t = 0; t < 8; t++) {
                size_t at = (size_t)(j + s0 + t) * b.ld + p;
                panel[(size_t)p * W + s0 + t] = b.f[at];
            }
    }
    for (int p = 0; p < k; p++) {
        float *dst = panel + (size_t)p * W;
        for (int s = s0; s < nr; s++) {
            size_t at = (size_t)(j + s) * b.ld + p;
            dst[s] = b.f[at];
        }
        for (int s = nr; s < W; s++) dst[s] = 0.0f;
    }
}

/* ---- tiles of 6 rows x W columns, one register lane per element summing k in order ------ */

/* One tile: rows ar[0..5] of a (k values ks apart) times a panel of k rows of W values
 * (pstride apart; float32, or half widened by LOADP), into c's [mr, nr] corner. */
#define GEMM_TILE(NAME, MR, ATTR, VEC, W, LANES, SETZERO, PT, LOADP, LOADU, STOREU, FMA, SET1, MUL, ADD) \
ATTR INLINE void NAME(const float *const *ar, size_t ks, int k, const PT *panel, size_t pstride,   \
                      int mr, int nr, float alpha, float beta, float *c, int ldc) {                \
    VEC acc[MR][W / LANES];                                                                        \
    for (int r = 0; r < MR; r++)                                                                   \
        for (int v = 0; v < W / LANES; v++) acc[r][v] = SETZERO();                                 \
    const PT *pp = panel;                                                                          \
    const float *ap[MR];                                                                           \
    for (int r = 0; r < MR; r++) ap[r] = ar[r];                                                    \
    for (int p = 0; p < k; p++, pp += pstride) {                                                   \
        VEC y[W / LANES];                                                                          \
        for (int v = 0; v < W / LANES; v++) y[v] = LOADP(pp + v * LANES);                          \
        for (int r = 0; r < MR; r++) {                                                             \
            VEC x = SET1(*ap[r]);                                                                  \
            ap[r] += ks;                                                                           \
            for (int v = 0; v < W / LANES; v++) acc[r][v] = FMA(x, y[v], acc[r][v]);               \
        }                                                                                          \
    }                                                                                              \
    /* The sums leave the registers only here (a variable index into acc would keep it in     \
     * memory through the loop). */                                                               \
    float sums[MR][W] __attribute__((aligned(64)));                                                \
    for (int r = 0; r < MR; r++)                                                                   \
        for (int v = 0; v < W / LANES; v++) STOREU(sums[r] + v * LANES, acc[r][v]);                \
    const VEC va = SET1(alpha), vb = SET1(beta);                                                   \
    for (int r = 0; r < mr; r++) {                                                                 \
        float *o = c + (size_t)r * ldc;                                                            \
        if (nr == W) {                                                                             \
            for (int v = 0; v < W / LANES; v++) {                                                  \
                VEC s = LOADU(sums[r] + v * LANES);                                                \
                VEC t = alpha == 1.0f ? s : MUL(s, va);                                            \
                if (beta == 1.0f) t = ADD(LOADU(o + v * LANES), t);                                \
                else if (beta != 0.0f) t = ADD(MUL(LOADU(o + v * LANES), vb), t);                  \
                STOREU(o + v * LANES, t);                                                          \
            }                                                                                      \
        } else {                                                                                   \
            for (int s = 0; s < nr; s++) o[s] = finish(sums[r][s], alpha, beta, o + s);            \
        }                                                                                          \
    }                                                                                              \
}

/* The product: row blocks whose a stays in cache while b's panels pass. Panels are packed
 * (all at once when there is more than one row block, else each just before its use), except
 * that few rows (a decoding step's) read the full panels of an untransposed b in place, rows
 * ldb apart, float32 or half: no copy of a weight at every step. */
#define GEMM_KERNEL(NAME, ATTR, W, TILE_F, TILE_H)                                                 \
ATTR static void NAME(int trans_a, int m, int n, int k, float alpha, const float *a, int lda,      \
                      bsource b, float beta, float *c, int ldc) {                                  \
    const size_t rs = trans_a ? 1 : (size_t)lda, ks = trans_a ? (size_t)lda : 1;                   \
    const int panels = (n + W - 1) / W;                                                            \
    const size_t panelFloats = (size_t)k * W;                                                      \
    int mb = (int)((192 * 1024) / ((size_t)k * sizeof(float) + 1));                                \
    mb = mb < 6 ? 6 : mb / 6 * 6;                                                                  \
    const int inPlace = b.panels || (!b.trans && m <= 12);                                         \
    const int packAll = m > mb && !inPlace;                                                        \
    float *packed = aligned_alloc(64, ((packAll ? panels : 1) * panelFloats * sizeof(float) + 63) / 64 * 64 + 64); \
    if (packAll)                                                                                   \
        for (int q = 0; q < panels; q++)                                                           \
            pack_panel(b, k, q * W, n - q * W < W ? n - q * W : W, W, packed + q * panelFloats);   \
    for (int i0 = 0; i0 < m; i0 += mb) {                                                           \
        int i1 = i0 + mb < m ? i0 + mb : m;                                                        \
        for (int q = 0; q < panels; q++) {                                                         \
            int j = q * W, nr = n - j < W ? n - j : W;                                             \
            const float *panel = packed + (packAll ? q * panelFloats : 0);                         \
            const uint16_t *hpanel = NULL;                                                         \
            size_t pstride = W;                                                                    \
            if (inPlace && b.panels) {   /* zero past n: whole panels are safe to read */          \
                pstride = 32;                                                                      \
                hpanel = b.h + (size_t)(j / 32) * b.ld * 32 + j % 32;                              \
            } else if (inPlace && nr == W) {                                                       \
                pstride = (size_t)b.ld;                                                            \
                panel = b.f + j;                                                                   \
            } else if (!packAll) {                                                                 \
                pack_panel(b, k, j, nr, W, packed);                                                \
            }                                                                                      \
            for (int i = i0; i < i1; i += 6) {                                                     \
                int mr = i1 - i < 6 ? i1 - i : 6;                                                  \
                const float *ar[6];                                                                \
                for (int r = 0; r < 6; r++) ar[r] = a + (size_t)(i + (r < mr ? r : mr - 1)) * rs;  \
                float *cij = c + (size_t)i * ldc + j;                                              \
                if (mr == 1 && hpanel) TILE_H##1(ar, ks, k, hpanel, pstride, mr, nr, alpha, beta, cij, ldc); \
                else if (mr == 1) TILE_F##1(ar, ks, k, panel, pstride, mr, nr, alpha, beta, cij, ldc); \
                else if (hpanel) TILE_H(ar, ks, k, hpanel, pstride, mr, nr, alpha, beta, cij, ldc); \
                else TILE_F(ar, ks, k, panel, pstride, mr, nr, alpha, beta, cij, ldc);             \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    free(packed);                                                                                  \
}

#define LOADH512(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define LOADH256(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))

#define TILES(SUF, MR)                                                                             \
GEMM_TILE(tile_avx512_f##SUF, MR, AVX512, __m512, 32, 16, _mm512_setzero_ps, float, _mm512_loadu_ps,  \
          _mm512_loadu_ps, _mm512_storeu_ps, _mm512_fmadd_ps, _mm512_set1_ps, _mm512_mul_ps, _mm512_add_ps) \
GEMM_TILE(tile_avx512_h##SUF, MR, AVX512, __m512, 32, 16, _mm512_setzero_ps, uint16_t, LOADH512,      \
          _mm512_loadu_ps, _mm512_storeu_ps, _mm512_fmadd_ps, _mm512_set1_ps, _mm512_mul_ps, _mm512_add_ps) \
GEMM_TILE(tile_avx2_f##SUF, MR, AVX2, __m256, 16, 8, _mm256_setzero_ps, float, _mm256_loadu_ps,       \
          _mm256_loadu_ps, _mm256_storeu_ps, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_mul_ps, _mm256_add_ps) \
GEMM_TILE(tile_avx2_h##SUF, MR, AVX2, __m256, 16, 8, _mm256_setzero_ps, uint16_t, LOADH256,           \
          _mm256_loadu_ps, _mm256_storeu_ps, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_mul_ps, _mm256_add_ps)
TILES(, 6)
TILES(1, 1)
GEMM_KERNEL(gemm_avx512, AVX512, 32, tile_avx512_f, tile_avx512_h)
GEMM_KERNEL(gemm_avx2, AVX2, 16, tile_avx2_f, tile_avx2_h)

#endif

/* ---- entry points -------------------------------------------------------------------------- */

static void gemm(int isa, int trans_a, int m, int n, int k, float alpha, const float *a, int lda, bsource b,
                 float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
#if defined(__x86_64__)
    if (isa >= MMPIPE_ISA_AVX512) { gemm_avx512(trans_a, m, n, k, alpha, a, lda, b, beta, c, ldc); return; }
    if (isa >= MMPIPE_ISA_AVX2) { gemm_avx2(trans_a, m, n, k, alpha, a, lda, b, beta, c, ldc); return; }
#endif
    gemm_portable(trans_a, m, n, k, alpha, a, lda, b, beta, c, ldc);
}

void mmpipe_gemm(int isa, int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc) {
    bsource src = {b, NULL, trans_b, ldb, 0};
    gemm(isa, trans_a, m, n, k, alpha, a, lda, src, beta, c, ldc);
}

void mmpipe_gemm_f16_panels(int isa, int m, int n, int k, float alpha, const float *a, int lda,
                            const uint16_t *panels, float beta, float *c, int ldc) {
    bsource src = {NULL, panels, 0, k, 1};
    gemm(isa, 0, m, n, k, alpha, a, lda, src, beta, c, ldc);
}

size_t mmpipe_gemm_panels_size(int n, int k) { return (size_t)((n + 31) / 32) * (size_t)k * 32; }

#if defined(__x86_64__)
/* Panels [q0, q1) of w [n, k] (rows ldw apart) in half, with F16C (8 x 8 transposes where
 * whole blocks fit, one value at a time elsewhere); 1 when every value was exact (NaN never
 * is: the float32 path is kept for it). */
AVX2 int mmpipe_gemm_pack_f16(const float *w, int n, int k, int ldw, int q0, int q1, uint16_t *panels) {
    int exact = 1;
    for (int q = q0; q < q1; q++) {
        if (q * 32 + 32 > n || k % 8) {
            for (int p = 0; p < k; p++)
                for (int s = 0; s < 32; s++) {
                    int j = q * 32 + s;
                    float v = j < n ? w[(size_t)j * ldw + p] : 0.0f;
                    uint16_t h = _cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT);
                    if (_cvtsh_ss(h) != v) exact = 0;
                    panels[((size_t)q * k + p) * 32 + s] = h;
                }
            continue;
        }
        for (int s0 = 0; s0 < 32; s0 += 8)
            for (int p = 0; p < k; p += 8) {
                __m256 r[8];
                for (int t = 0; t < 8; t++) r[t] = _mm256_loadu_ps(w + (size_t)(q * 32 + s0 + t) * ldw + p);
                transpose8(r);
                for (int t = 0; t < 8; t++) {
                    __m128i h = _mm256_cvtps_ph(r[t], _MM_FROUND_TO_NEAREST_INT);
                    if (_mm256_movemask_ps(_mm256_cmp_ps(_mm256_cvtph_ps(h), r[t], _CMP_EQ_OQ)) != 0xff) exact = 0;
                    _mm_storeu_si128((__m128i *)(panels + ((size_t)q * k + p + t) * 32 + s0), h);
                }
            }
    }
    return exact;
}
#else
int mmpipe_gemm_pack_f16(const float *w, int n, int k, int ldw, int q0, int q1, uint16_t *panels) { return 0; }
#endif

void mmpipe_gemm_unpack_f16(const uint16_t *panels, int k, int j, float *out) {
    const uint16_t *src = panels + (size_t)(j / 32) * k * 32 + j % 32;
    for (int p = 0; p < k; p++) out[p] = half_to_float(src[(size_t)p * 32]);
}
