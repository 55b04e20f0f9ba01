#include "ckernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "avx2_reduce.h"

#define TARGET __attribute__((target("avx2,fma,f16c")))

/* One output column j for R rows: each 8-wide load of the weight row feeds R FMAs.
 * Two accumulators per row over alternating halves of k hide the FMA latency. */
#define ROWS_KERNEL(NAME, WTYPE, LOADW, WSCALAR)                                               \
TARGET static inline __attribute__((always_inline)) void NAME(                                 \
    const float *x, const int R, int k, const WTYPE *w, int j0, int j1, float *c, int ldc,    \
    int acc) {                                                                                 \
    const int k16 = k & ~15, k8 = k & ~7;                                                      \
    for (int j = j0; j < j1; j++) {                                                            \
        const WTYPE *wr = w + (size_t)j * k;                                                   \
        __m256 a[8], b[8];                                                                     \
        for (int r = 0; r < R; r++) { a[r] = _mm256_setzero_ps(); b[r] = _mm256_setzero_ps(); }\
        int i = 0;                                                                             \
        for (; i < k16; i += 16) {                                                             \
            __m256 w0 = LOADW(wr + i), w1 = LOADW(wr + i + 8);                                 \
            for (int r = 0; r < R; r++) {                                                      \
                a[r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + (size_t)r * k + i), a[r]);       \
                b[r] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + (size_t)r * k + i + 8), b[r]);   \
            }                                                                                  \
        }                                                                                      \
        for (; i < k8; i += 8) {                                                               \
            __m256 w0 = LOADW(wr + i);                                                         \
            for (int r = 0; r < R; r++)                                                        \
                a[r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + (size_t)r * k + i), a[r]);       \
        }                                                                                      \
        for (int r = 0; r < R; r++) {                                                          \
            float s = mmpipe_hsum8(_mm256_add_ps(a[r], b[r]));                                       \
            for (int t = i; t < k; t++) s += WSCALAR(wr[t]) * x[(size_t)r * k + t];            \
            float *o = c + (size_t)r * ldc + j;                                                \
            *o = acc ? *o + s : s;                                                             \
        }                                                                                      \
    }                                                                                          \
}

#define LOAD_F32(p) _mm256_loadu_ps(p)
#define SCALAR_F32(v) (v)
#define LOAD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define SCALAR_F16(v) _cvtsh_ss(v)

ROWS_KERNEL(rows_f32, float, LOAD_F32, SCALAR_F32)
ROWS_KERNEL(rows_f16, uint16_t, LOAD_F16, SCALAR_F16)

/* A switch on the row count so each case is compiled with R constant (loops unrolled,
 * accumulators in registers). */
#define DISPATCH(FN)                                                                    \
    switch (rows) {                                                                     \
    case 1: FN(x, 1, k, w, j0, j1, c, ldc, accumulate); break;                          \
    case 2: FN(x, 2, k, w, j0, j1, c, ldc, accumulate); break;                          \
    case 3: FN(x, 3, k, w, j0, j1, c, ldc, accumulate); break;                          \
    case 4: FN(x, 4, k, w, j0, j1, c, ldc, accumulate); break;                          \
    case 5: FN(x, 5, k, w, j0, j1, c, ldc, accumulate); break;                          \
    case 6: FN(x, 6, k, w, j0, j1, c, ldc, accumulate); break;                          \
    case 7: FN(x, 7, k, w, j0, j1, c, ldc, accumulate); break;                          \
    default: FN(x, 8, k, w, j0, j1, c, ldc, accumulate); break;                         \
    }

TARGET void mmpipe_rows_wt_f32(const float *x, int rows, int k, const float *w, int j0, int j1,
                               float *c, int ldc, int accumulate) {
    DISPATCH(rows_f32)
}

TARGET void mmpipe_rows_wt_f16(const float *x, int rows, int k, const uint16_t *w, int j0, int j1,
                               float *c, int ldc, int accumulate) {
    DISPATCH(rows_f16)
}

TARGET int mmpipe_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
    int exact = 1;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(src + i);
        __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(dst + i), h);
        __m256 back = _mm256_cvtph_ps(h);
        /* NaN != NaN, so a NaN weight counts as inexact: harmless (fp32 path is used). */
        if (_mm256_movemask_ps(_mm256_cmp_ps(back, v, _CMP_EQ_OQ)) != 0xff) exact = 0;
    }
    for (; i < n; i++) {
        dst[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
        if (_cvtsh_ss(dst[i]) != src[i]) exact = 0;
    }
    return exact;
}

TARGET void mmpipe_f16_to_f32(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, LOAD_F16(src + i));
    for (; i < n; i++) dst[i] = _cvtsh_ss(src[i]);
}

#else
/* Other architectures: never selected (the check says no), TensorCore's Swift loops run. */
void mmpipe_rows_wt_f32(const float *x, int rows, int k, const float *w, int j0, int j1, float *c, int ldc, int accumulate) {}
void mmpipe_rows_wt_f16(const float *x, int rows, int k, const uint16_t *w, int j0, int j1, float *c, int ldc, int accumulate) {}
int mmpipe_f32_to_f16(const float *src, uint16_t *dst, size_t n) { return 0; }
void mmpipe_f16_to_f32(const uint16_t *src, float *dst, size_t n) {}
#endif
