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

/* Where b's values come from: [k, n] rows ldb apart, or (trans) [n, k]; float32 or half. */
typedef struct {
    const float *f;
    const uint16_t *h;
    int trans;
    int ld;
} bsource;

static inline float b_at(bsource b, int p, int j) {
    size_t i = b.trans ? (size_t)j * b.ld + p : (size_t)p * b.ld + j;
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
                r[t] = b.f ? _mm256_loadu_ps(b.f + at) : _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b.h + at)));
            }
            transpose8(r);
            for (int t = 0; t < 8; t++) _mm256_storeu_ps(panel + (size_t)(p + t) * W + s0, r[t]);
        }
        for (; p < k; p++)
            for (int t = 0; t < 8; t++) {
                size_t at = (size_t)(j + s0 + t) * b.ld + p;
                panel[(size_t)p * W + s0 + t] = b.f ? b.f[at] : _cvtsh_ss(b.h[at]);
            }
    }
    for (int p = 0; p < k; p++) {
        float *dst = panel + (size_t)p * W;
        for (int s = s0; s < nr; s++) {
            size_t at = (size_t)(j + s) * b.ld + p;
            dst[s] = b.f ? b.f[at] : _cvtsh_ss(b.h[at]);
        }
        for (int s = nr; s < W; s++) dst[s] = 0.0f;
    }
}

/* ---- tiles of 6 rows x W columns, one register lane per element summing k in order ------ */

#define GEMM_KERNEL(NAME, ATTR, VEC, W, LANES, SETZERO, LOAD, LOADU, STOREU, FMA, SET1, MUL, ADD)  \
ATTR INLINE void NAME##_tile(const float *const *ar, size_t ks, int k, const float *panel,         \
                             size_t pstride, int mr, int nr, float alpha, float beta, float *c,   \
                             int ldc) {                                                            \
    VEC acc[6][W / LANES];                                                                         \
    for (int r = 0; r < 6; r++)                                                                    \
        for (int v = 0; v < W / LANES; v++) acc[r][v] = SETZERO();                                 \
    const float *pp = panel;                                                                       \
    const float *a0 = ar[0], *a1 = ar[1], *a2 = ar[2], *a3 = ar[3], *a4 = ar[4], *a5 = ar[5];      \
    for (int p = 0; p < k; p++, pp += pstride) {                                                   \
        VEC y[W / LANES];                                                                          \
        for (int v = 0; v < W / LANES; v++) y[v] = LOADU(pp + v * LANES);                          \
        size_t o = (size_t)p * ks;                                                                 \
        VEC x0 = SET1(a0[o]), x1 = SET1(a1[o]), x2 = SET1(a2[o]);                                  \
        VEC x3 = SET1(a3[o]), x4 = SET1(a4[o]), x5 = SET1(a5[o]);                                  \
        for (int v = 0; v < W / LANES; v++) {                                                      \
            acc[0][v] = FMA(x0, y[v], acc[0][v]); acc[1][v] = FMA(x1, y[v], acc[1][v]);            \
            acc[2][v] = FMA(x2, y[v], acc[2][v]); acc[3][v] = FMA(x3, y[v], acc[3][v]);            \
            acc[4][v] = FMA(x4, y[v], acc[4][v]); acc[5][v] = FMA(x5, y[v], acc[5][v]);            \
        }                                                                                          \
    }                                                                                              \
    const VEC va = SET1(alpha), vb = SET1(beta);                                                   \
    for (int r = 0; r < mr; r++) {                                                                 \
        float *o = c + (size_t)r * ldc;                                                            \
        if (nr == W) {                                                                             \
            for (int v = 0; v < W / LANES; v++) {                                                  \
                VEC t = alpha == 1.0f ? acc[r][v] : MUL(acc[r][v], va);                            \
                if (beta == 1.0f) t = ADD(LOADU(o + v * LANES), t);                                \
                else if (beta != 0.0f) t = ADD(MUL(LOADU(o + v * LANES), vb), t);                  \
                STOREU(o + v * LANES, t);                                                          \
            }                                                                                      \
        } else {                                                                                   \
            float t[W] __attribute__((aligned(64)));                                               \
            for (int v = 0; v < W / LANES; v++) STOREU(t + v * LANES, acc[r][v]);                  \
            for (int s = 0; s < nr; s++) o[s] = finish(t[s], alpha, beta, o + s);                  \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
ATTR static void NAME(int trans_a, int m, int n, int k, float alpha, const float *a, int lda,      \
                      bsource b, float beta, float *c, int ldc) {                                  \
    const size_t rs = trans_a ? 1 : (size_t)lda, ks = trans_a ? (size_t)lda : 1;                   \
    const int panels = (n + W - 1) / W;                                                            \
    const size_t panelFloats = (size_t)k * W;                                                      \
    /* Row blocks whose a stays in cache while the panels pass; all panels packed once when     \
     * there is more than one block, else each panel packed just before its use. Full panels   \
     * of an untransposed float32 b are read in place (rows ldb apart), not packed. */          \
    int mb = (int)((192 * 1024) / ((size_t)k * sizeof(float) + 1));                                \
    mb = mb < 6 ? 6 : mb / 6 * 6;                                                                  \
    const int inPlace = !b.trans && b.f && m <= 12;                                                \
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
            size_t pstride = W;                                                                    \
            if (inPlace && nr == W) {                                                              \
                panel = b.f + j;                                                                   \
                pstride = (size_t)b.ld;                                                            \
            } else if (!packAll) {                                                                 \
                pack_panel(b, k, j, nr, W, packed);                                                \
            }                                                                                      \
            for (int i = i0; i < i1; i += 6) {                                                     \
                int mr = i1 - i < 6 ? i1 - i : 6;                                                  \
                const float *ar[6];                                                                \
                for (int r = 0; r < 6; r++) ar[r] = a + (size_t)(i + (r < mr ? r : mr - 1)) * rs;  \
                NAME##_tile(ar, ks, k, panel, pstride, mr, nr, alpha, beta, c + (size_t)i * ldc + j, ldc); \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    free(packed);                                                                                  \
}

GEMM_KERNEL(gemm_avx512, AVX512, __m512, 32, 16, _mm512_setzero_ps, _mm512_load_ps, _mm512_loadu_ps,
            _mm512_storeu_ps, _mm512_fmadd_ps, _mm512_set1_ps, _mm512_mul_ps, _mm512_add_ps)
GEMM_KERNEL(gemm_avx2, AVX2, __m256, 16, 8, _mm256_setzero_ps, _mm256_load_ps, _mm256_loadu_ps,
            _mm256_storeu_ps, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_mul_ps, _mm256_add_ps)

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
    bsource src = {b, NULL, trans_b, ldb};
    gemm(isa, trans_a, m, n, k, alpha, a, lda, src, beta, c, ldc);
}

void mmpipe_gemm_f16(int isa, int trans_a, int m, int n, int k, float alpha, const float *a, int lda,
                     const uint16_t *b, int ldb, float beta, float *c, int ldc) {
    bsource src = {NULL, b, 1, ldb};
    /* The half kernels widen with F16C, which every AVX2 path here has. */
    gemm(isa, trans_a, m, n, k, alpha, a, lda, src, beta, c, ldc);
}
