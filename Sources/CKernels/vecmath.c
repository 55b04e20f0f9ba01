#include "ckernels.h"
#include <math.h>
#include <string.h>

/* exp, softmax and GELU eight floats at a time with AVX2 and FMA: the same Cephes
 * polynomial and Abramowitz & Stegun erfc as TensorCore's VectorMath (its SIMD8 code runs
 * as pairs of SSE operations in a portable build), with fused multiply-adds, so results
 * agree with it to an ulp or two, not bit for bit. */

#if defined(__x86_64__)
#include <immintrin.h>
#include "avx2_reduce.h"

#define TARGET __attribute__((target("avx2,fma")))

TARGET static inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.33654f)), _mm256_set1_ps(88.72283f));
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 shifted = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), magic);
    __m256 n = _mm256_sub_ps(shifted, magic);
    __m256i ni = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x4B400000));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    /* 2^n in two factors so n = 128 does not overflow the exponent field. */
    __m256i half = _mm256_srai_epi32(ni, 1);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, _mm256_set1_epi32(127)), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(
        _mm256_add_epi32(_mm256_sub_epi32(ni, half), _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

/* Lanes [0, count) of p (count < 8), the rest filled with `fill`. */
TARGET static inline __m256 load_partial(const float *p, int count, float fill) {
    float t[8];
    for (int i = 0; i < 8; i++) t[i] = i < count ? p[i] : fill;
    return _mm256_loadu_ps(t);
}

TARGET static inline void store_partial(float *p, __m256 v, int count) {
    float t[8];
    _mm256_storeu_ps(t, v);
    for (int i = 0; i < count; i++) p[i] = t[i];
}

TARGET int mmpipe_first_above_f32(const float *x, int n, float t) {
    const __m256 tv = _mm256_set1_ps(t);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const int m = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), tv, _CMP_GT_OQ));
        if (m) return i + __builtin_ctz((unsigned)m);
    }
    for (; i < n; i++)
        if (x[i] > t) return i;
    return n;
}

/* exp(x - m), exactly 0 where x is -inf (a masked key). */
TARGET static inline __m256 exp_shifted(__m256 x, __m256 mv) {
    __m256 hidden = _mm256_cmp_ps(x, _mm256_set1_ps(-INFINITY), _CMP_EQ_OQ);
    return _mm256_andnot_ps(hidden, exp8(_mm256_sub_ps(x, mv)));
}

/* The sum runs in 8 lanes by index, the last partial block zero-padded into the same lanes,
 * so trailing masked (-inf) entries change no bit of the others' results: a padded row of a
 * batch gives what the row alone gives. */
TARGET void mmpipe_softmax_f32(const float *src, float *dst, int n) {
    if (n <= 0) return;
    int i = 0;
    __m256 mx = _mm256_set1_ps(-INFINITY);
    for (; i + 8 <= n; i += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(src + i));
    float m = mmpipe_hmax8(mx);
    for (; i < n; i++) m = src[i] > m ? src[i] : m;
    const __m256 mv = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp_shifted(_mm256_loadu_ps(src + i), mv);
        _mm256_storeu_ps(dst + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    if (i < n) {
        __m256 e = exp_shifted(load_partial(src + i, n - i, -INFINITY), mv);
        store_partial(dst + i, e, n - i);
        acc = _mm256_add_ps(acc, e);
    }
    float total = mmpipe_hsum8(acc);
    const __m256 inv = _mm256_set1_ps(1.0f / total);
    i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_mul_ps(_mm256_loadu_ps(dst + i), inv));
    for (; i < n; i++) dst[i] *= 1.0f / total;
}

TARGET double mmpipe_sum_exp_f32(const float *p, int n, float shift) {
    const __m256 mv = _mm256_set1_ps(shift);
    double total = 0;
    int i = 0;
    while (i < n) {
        int end = n < i + 2048 ? n : i + 2048;
        __m256 acc = _mm256_setzero_ps();
        for (; i + 8 <= end; i += 8) acc = _mm256_add_ps(acc, exp8(_mm256_sub_ps(_mm256_loadu_ps(p + i), mv)));
        double t = mmpipe_hsum8(acc);
        if (i < end) {
            /* exp of -inf lanes (clamped) is 1e-38: nothing measurable, as in VectorMath.sumExp. */
            __m256 e = exp8(_mm256_sub_ps(load_partial(p + i, end - i, -INFINITY), mv));
            float s[8];
            _mm256_storeu_ps(s, e);
            for (int j = 0; j < end - i; j++) t += s[j];
            i = end;
        }
        total += t;
    }
    return total;
}

/* 0.5 x (1 + erf(x / sqrt 2)), erfc by Abramowitz & Stegun 7.1.26. */
TARGET static inline __m256 gelu8(__m256 x) {
    __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(0.7071067811865476f));
    __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z);
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), a, _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmsub_ps(p, t, _mm256_set1_ps(1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmsub_ps(p, t, _mm256_set1_ps(0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    __m256 q = _mm256_mul_ps(_mm256_mul_ps(p, t), exp8(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(a, a))));
    __m256 onePlusErf = _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(2.0f), q), q,
                                         _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), onePlusErf);
}

TARGET void mmpipe_gelu_f32(const float *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, gelu8(_mm256_loadu_ps(src + i)));
    if (i < n) store_partial(dst + i, gelu8(load_partial(src + i, (int)(n - i), 0)), (int)(n - i));
}


/* Attention of a few single queries against one head's memory (a decoding step's
 * cross-attention: the beams of one window against its 1500 audio positions), AVX-512F
 * (AVX2 forms below).
 * Keys come transposed, kt[i * ldk + j], so 32 keys' i-th components are two vector loads
 * that feed R x 2 FMAs. Values come as rows, v[j * ldv + c], read once in order with up to
 * 64 columns in registers. Keys and values are float32 or (HALF) float16, widened as loaded:
 * every step streams the whole memory, so half the bytes is nearly half the time. */
#define AVX512 __attribute__((target("avx2,fma,f16c,avx512f")))

/* 16 values from element `at` of a float32 or float16 array. */
AVX512 static inline __attribute__((always_inline)) __m512 load16(const void *base, size_t at, const int half) {
    return half ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)base + at)))
                : _mm512_loadu_ps((const float *)base + at);
}

AVX512 static inline __attribute__((always_inline)) float load1(const void *base, size_t at, const int half) {
    return half ? _cvtsh_ss(((const uint16_t *)base)[at]) : ((const float *)base)[at];
}

AVX512 static inline __attribute__((always_inline)) void few_scores16(
    const float *q, int ldq, const int R, int d, const void *kt, int ldk, int lk, float scale, float *scores, const int half) {
    const __m512 sv = _mm512_set1_ps(scale);
    /* 16 components at a time across all keys: 16 rows of kt stream in order together (the
     * prefetchers follow 16 streams, not 64), partial sums kept in scores. */
    for (int i0 = 0; i0 < d; i0 += 16) {
        const int i1 = i0 + 16 < d ? i0 + 16 : d, first = i0 == 0, last = i1 == d;
        int j = 0;
        for (; j + 32 <= lk; j += 32) {
            __m512 a[6], b[6];
            for (int r = 0; r < R; r++) {
                a[r] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(scores + (size_t)r * lk + j);
                b[r] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(scores + (size_t)r * lk + j + 16);
            }
            for (int i = i0; i < i1; i++) {
                const size_t row = (size_t)i * ldk + j;
                __m512 k0 = load16(kt, row, half), k1 = load16(kt, row + 16, half);
                for (int r = 0; r < R; r++) {
                    __m512 qv = _mm512_set1_ps(q[(size_t)r * ldq + i]);
                    a[r] = _mm512_fmadd_ps(qv, k0, a[r]);
                    b[r] = _mm512_fmadd_ps(qv, k1, b[r]);
                }
            }
            for (int r = 0; r < R; r++) {
                _mm512_storeu_ps(scores + (size_t)r * lk + j, last ? _mm512_mul_ps(a[r], sv) : a[r]);
                _mm512_storeu_ps(scores + (size_t)r * lk + j + 16, last ? _mm512_mul_ps(b[r], sv) : b[r]);
            }
        }
        for (; j < lk; j++)
            for (int r = 0; r < R; r++) {
                float t = first ? 0 : scores[(size_t)r * lk + j];
                for (int i = i0; i < i1; i++) t += q[(size_t)r * ldq + i] * load1(kt, (size_t)i * ldk + j, half);
                scores[(size_t)r * lk + j] = last ? t * scale : t;
            }
    }
}

/* out[r * ldo + c] = sum_j p[r * lk + j] v[j * ldv + c], c < dv (a multiple of 16, <= 64). */
AVX512 static inline __attribute__((always_inline)) void few_values16(
    const float *p, const int R, int lk, const void *v, int ldv, const int C, float *out, int ldo, const int half) {
    __m512 a[6][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) a[r][c] = _mm512_setzero_ps();
    for (int j = 0; j < lk; j++) {
        __m512 vv[4];
        for (int c = 0; c < C; c++) vv[c] = load16(v, (size_t)j * ldv + 16 * c, half);
        for (int r = 0; r < R; r++) {
            __m512 pv = _mm512_set1_ps(p[(size_t)r * lk + j]);
            for (int c = 0; c < C; c++) a[r][c] = _mm512_fmadd_ps(pv, vv[c], a[r][c]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) _mm512_storeu_ps(out + (size_t)r * ldo + 16 * c, a[r][c]);
}

#define FEW_ROWS(FN, ...)                                              \
    switch (R) {                                                       \
    case 1: FN(__VA_ARGS__, 1); break;                                 \
    case 2: FN(__VA_ARGS__, 2); break;                                 \
    case 3: FN(__VA_ARGS__, 3); break;                                 \
    case 4: FN(__VA_ARGS__, 4); break;                                 \
    case 5: FN(__VA_ARGS__, 5); break;                                 \
    default: FN(__VA_ARGS__, 6); break;                                \
    }
#define SCORES(q, ldq, d, kt, ldk, lk, scale, sc, half, R) few_scores16(q, ldq, R, d, kt, ldk, lk, scale, sc, half)
#define VALUES(sc, lk, v, ldv, o, ldo, half, C, R) few_values16(sc, R, lk, v, ldv, C, o, ldo, half)

AVX512 static inline __attribute__((always_inline)) int attend_few(
    const float *q, int ldq, int rows, int d, const void *kt, int ldk, int lk,
    const void *v, int ldv, int dv, float scale, float *scores, float *out, int ldo, const int half) {
    if (dv % 16 != 0 || dv > 64 || dv == 0) return 0;
    for (int r0 = 0; r0 < rows; r0 += 6) {
        const int R = rows - r0 < 6 ? rows - r0 : 6;
        const float *qr = q + (size_t)r0 * ldq;
        FEW_ROWS(SCORES, qr, ldq, d, kt, ldk, lk, scale, scores, half)
        for (int r = 0; r < R; r++) mmpipe_softmax_f32(scores + (size_t)r * lk, scores + (size_t)r * lk, lk);
        float *o = out + (size_t)r0 * ldo;
        switch (dv / 16) {
        case 1: FEW_ROWS(VALUES, scores, lk, v, ldv, o, ldo, half, 1) break;
        case 2: FEW_ROWS(VALUES, scores, lk, v, ldv, o, ldo, half, 2) break;
        case 3: FEW_ROWS(VALUES, scores, lk, v, ldv, o, ldo, half, 3) break;
        default: FEW_ROWS(VALUES, scores, lk, v, ldv, o, ldo, half, 4) break;
        }
    }
    return 1;
}

AVX512 int mmpipe_attend_few_avx512(const float *q, int ldq, int rows, int d, const float *kt, int ldk, int lk,
                                    const float *v, int ldv, int dv, float scale, float *scores, float *out, int ldo) {
    return attend_few(q, ldq, rows, d, kt, ldk, lk, v, ldv, dv, scale, scores, out, ldo, 0);
}

AVX512 int mmpipe_attend_few_f16_avx512(const float *q, int ldq, int rows, int d, const uint16_t *kt, int ldk, int lk,
                                        const uint16_t *v, int ldv, int dv, float scale, float *scores, float *out, int ldo) {
    return attend_few(q, ldq, rows, d, kt, ldk, lk, v, ldv, dv, scale, scores, out, ldo, 1);
}

/* The same kernels in AVX2 (8 lanes): every element is the same chain of FMAs in the same
 * order as the AVX-512 kernels' (the scores' components in blocks of 16 with partial sums
 * in memory, then the scale; the values' positions in order from zero), and the softmax is
 * the one kernel, so both give the same bits, and the same as mmpipe_gemm's products. */
#define FEW_AVX2 __attribute__((target("avx2,fma,f16c")))

FEW_AVX2 static inline __attribute__((always_inline)) __m256 load8(const void *base, size_t at, const int half) {
    return half ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + at)))
                : _mm256_loadu_ps((const float *)base + at);
}

FEW_AVX2 static inline __attribute__((always_inline)) float load1_avx2(const void *base, size_t at, const int half) {
    return half ? _cvtsh_ss(((const uint16_t *)base)[at]) : ((const float *)base)[at];
}

FEW_AVX2 static inline __attribute__((always_inline)) void few_scores8(
    const float *q, int ldq, const int R, int d, const void *kt, int ldk, int lk, float scale, float *scores, const int half) {
    const __m256 sv = _mm256_set1_ps(scale);
    for (int i0 = 0; i0 < d; i0 += 16) {
        const int i1 = i0 + 16 < d ? i0 + 16 : d, first = i0 == 0, last = i1 == d;
        int j = 0;
        for (; j + 16 <= lk; j += 16) {
            __m256 a[6], b[6];
            for (int r = 0; r < R; r++) {
                a[r] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(scores + (size_t)r * lk + j);
                b[r] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(scores + (size_t)r * lk + j + 8);
            }
            for (int i = i0; i < i1; i++) {
                const size_t row = (size_t)i * ldk + j;
                __m256 k0 = load8(kt, row, half), k1 = load8(kt, row + 8, half);
                for (int r = 0; r < R; r++) {
                    __m256 qv = _mm256_set1_ps(q[(size_t)r * ldq + i]);
                    a[r] = _mm256_fmadd_ps(qv, k0, a[r]);
                    b[r] = _mm256_fmadd_ps(qv, k1, b[r]);
                }
            }
            for (int r = 0; r < R; r++) {
                _mm256_storeu_ps(scores + (size_t)r * lk + j, last ? _mm256_mul_ps(a[r], sv) : a[r]);
                _mm256_storeu_ps(scores + (size_t)r * lk + j + 8, last ? _mm256_mul_ps(b[r], sv) : b[r]);
            }
        }
        for (; j < lk; j++)
            for (int r = 0; r < R; r++) {
                float t = first ? 0 : scores[(size_t)r * lk + j];
                for (int i = i0; i < i1; i++) t = fmaf(q[(size_t)r * ldq + i], load1_avx2(kt, (size_t)i * ldk + j, half), t);
                scores[(size_t)r * lk + j] = last ? t * scale : t;
            }
    }
}

/* out[r * ldo + c] = sum_j p[r * lk + j] v[j * ldv + c], 16 columns at a time. */
FEW_AVX2 static inline __attribute__((always_inline)) void few_values8(
    const float *p, const int R, int lk, const void *v, int ldv, int dv, float *out, int ldo, const int half) {
    for (int c0 = 0; c0 < dv; c0 += 16) {
        __m256 a[6], b[6];
        for (int r = 0; r < R; r++) { a[r] = _mm256_setzero_ps(); b[r] = _mm256_setzero_ps(); }
        for (int j = 0; j < lk; j++) {
            const __m256 v0 = load8(v, (size_t)j * ldv + c0, half), v1 = load8(v, (size_t)j * ldv + c0 + 8, half);
            for (int r = 0; r < R; r++) {
                const __m256 pv = _mm256_set1_ps(p[(size_t)r * lk + j]);
                a[r] = _mm256_fmadd_ps(pv, v0, a[r]);
                b[r] = _mm256_fmadd_ps(pv, v1, b[r]);
            }
        }
        for (int r = 0; r < R; r++) {
            _mm256_storeu_ps(out + (size_t)r * ldo + c0, a[r]);
            _mm256_storeu_ps(out + (size_t)r * ldo + c0 + 8, b[r]);
        }
    }
}

#define SCORES8(q, ldq, d, kt, ldk, lk, scale, sc, half, R) few_scores8(q, ldq, R, d, kt, ldk, lk, scale, sc, half)
#define VALUES8(sc, lk, v, ldv, dv, o, ldo, half, R) few_values8(sc, R, lk, v, ldv, dv, o, ldo, half)

FEW_AVX2 static inline __attribute__((always_inline)) int attend_few_avx2(
    const float *q, int ldq, int rows, int d, const void *kt, int ldk, int lk,
    const void *v, int ldv, int dv, float scale, float *scores, float *out, int ldo, const int half) {
    if (dv % 16 != 0 || dv > 64 || dv == 0) return 0;
    for (int r0 = 0; r0 < rows; r0 += 6) {
        const int R = rows - r0 < 6 ? rows - r0 : 6;
        const float *qr = q + (size_t)r0 * ldq;
        FEW_ROWS(SCORES8, qr, ldq, d, kt, ldk, lk, scale, scores, half)
        for (int r = 0; r < R; r++) mmpipe_softmax_f32(scores + (size_t)r * lk, scores + (size_t)r * lk, lk);
        float *o = out + (size_t)r0 * ldo;
        FEW_ROWS(VALUES8, scores, lk, v, ldv, dv, o, ldo, half)
    }
    return 1;
}

FEW_AVX2 int mmpipe_attend_few_avx2(const float *q, int ldq, int rows, int d, const float *kt, int ldk, int lk,
                                    const float *v, int ldv, int dv, float scale, float *scores, float *out, int ldo) {
    return attend_few_avx2(q, ldq, rows, d, kt, ldk, lk, v, ldv, dv, scale, scores, out, ldo, 0);
}

FEW_AVX2 int mmpipe_attend_few_f16_avx2(const float *q, int ldq, int rows, int d, const uint16_t *kt, int ldk, int lk,
                                        const uint16_t *v, int ldv, int dv, float scale, float *scores, float *out, int ldo) {
    return attend_few_avx2(q, ldq, rows, d, kt, ldk, lk, v, ldv, dv, scale, scores, out, ldo, 1);
}

/* The int8 compute type's attention over long sequences (an encoder's), with AVX-512 BF16:
 * the attention weights p = exp(s - max s) and the values rounded to bfloat16 and
 * multiplied with vdpbf16ps (pairs of positions per instruction, float32 sums), the row
 * divided by sum p at the end. Twice float32's products per instruction, half the bytes. */
#define BF16 __attribute__((target("avx2,fma,avx512f,avx512vl,avx512bw,avx512bf16")))

static inline uint16_t bf16_round(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    return (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

void mmpipe_pack_values_bf16(const float *v, int ldv, int lk, int dv, uint16_t *out) {
    const int pairs = (lk + 1) / 2;
    for (int jp = 0; jp < pairs; jp++)
        for (int c = 0; c < dv; c++)
            for (int t = 0; t < 2; t++) {
                const int j = 2 * jp + t;
                out[((size_t)jp * dv + c) * 2 + t] = j < lk ? bf16_round(v[(size_t)j * ldv + c]) : 0;
            }
}

BF16 static inline __attribute__((always_inline)) void values_bf16(
    const uint16_t *p, size_t ldp, const int R, int pairs, const uint16_t *vp, const int C, const float *inv,
    float *out, int ldo) {
    __m512 a[4][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) a[r][c] = _mm512_setzero_ps();
    for (int jp = 0; jp < pairs; jp++) {
        __m512bh vv[4];
        for (int c = 0; c < C; c++)
            vv[c] = (__m512bh)_mm512_loadu_si512((const void *)(vp + ((size_t)jp * C * 16 + 16 * c) * 2));
        for (int r = 0; r < R; r++) {
            int32_t pair;
            memcpy(&pair, p + (size_t)r * ldp + 2 * jp, 4);
            const __m512bh pb = (__m512bh)_mm512_set1_epi32(pair);
            for (int c = 0; c < C; c++) a[r][c] = _mm512_dpbf16_ps(a[r][c], pb, vv[c]);
        }
    }
    for (int r = 0; r < R; r++) {
        const __m512 s = _mm512_set1_ps(inv[r]);
        for (int c = 0; c < C; c++) _mm512_storeu_ps(out + (size_t)r * ldo + 16 * c, _mm512_mul_ps(a[r][c], s));
    }
}

/* exp(row - max row) into bf16 over the row's own first half (each write lands on floats
 * already read); a zero after an odd count pads the last pair. Returns 1 / sum (float32
 * sum of the unrounded values). */
BF16 static float exp_row_bf16(float *row, int n) {
    int i = 0;
    __m256 mx = _mm256_set1_ps(-INFINITY);
    for (; i + 8 <= n; i += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(row + i));
    float m = mmpipe_hmax8(mx);
    for (; i < n; i++) m = row[i] > m ? row[i] : m;
    uint16_t *p = (uint16_t *)row;
    const __m256 mv = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(row + i), mv));
        acc = _mm256_add_ps(acc, e);
        _mm_storeu_si128((__m128i *)(p + i), (__m128i)_mm256_cvtneps_pbh(e));
    }
    float total = mmpipe_hsum8(acc);
    for (; i < n; i++) {
        const float e = _mm256_cvtss_f32(exp8(_mm256_set1_ps(row[i] - m)));
        total += e;
        p[i] = bf16_round(e);
    }
    if (n % 2) p[n] = 0;
    return total > 0 ? 1.0f / total : 0.0f;
}

#define BF16_ROWS(C)                                                                   \
    switch (R) {                                                                       \
    case 1: values_bf16(p, ldp, 1, pairs, vp, C, inv, o, ldo); break;                  \
    case 2: values_bf16(p, ldp, 2, pairs, vp, C, inv, o, ldo); break;                  \
    case 3: values_bf16(p, ldp, 3, pairs, vp, C, inv, o, ldo); break;                  \
    default: values_bf16(p, ldp, 4, pairs, vp, C, inv, o, ldo); break;                 \
    }

BF16 int mmpipe_softmax_values_bf16(float *scores, int rows, int lk, int lds, const uint16_t *vp, int dv,
                                    float *out, int ldo) {
    if (dv % 16 != 0 || dv > 64 || dv == 0 || lk <= 0 || lds < lk) return 0;
    const int pairs = (lk + 1) / 2;
    const size_t ldp = (size_t)lds * 2;
    /* Four rows at a time: 16 accumulators with 64 columns, none spilled to the stack (six
     * rows' 24 were). */
    for (int r0 = 0; r0 < rows; r0 += 4) {
        const int R = rows - r0 < 4 ? rows - r0 : 4;
        float inv[4];
        for (int r = 0; r < R; r++) inv[r] = exp_row_bf16(scores + (size_t)(r0 + r) * lds, lk);
        const uint16_t *p = (const uint16_t *)(scores + (size_t)r0 * lds);
        float *o = out + (size_t)r0 * ldo;
        switch (dv / 16) {
        case 1: BF16_ROWS(1) break;
        case 2: BF16_ROWS(2) break;
        case 3: BF16_ROWS(3) break;
        default: BF16_ROWS(4) break;
        }
    }
    return 1;
}

#else
int mmpipe_first_above_f32(const float *x, int n, float t) { return n; }
void mmpipe_softmax_f32(const float *src, float *dst, int n) {}
double mmpipe_sum_exp_f32(const float *p, int n, float shift) { return 0; }
void mmpipe_gelu_f32(const float *src, float *dst, size_t n) {}
int mmpipe_attend_few_avx512(const float *q, int ldq, int rows, int d, const float *kt, int ldk, int lk,
                             const float *v, int ldv, int dv, float scale, float *scores, float *out, int ldo) { return 0; }
int mmpipe_attend_few_f16_avx512(const float *q, int ldq, int rows, int d, const uint16_t *kt, int ldk, int lk,
                                 const uint16_t *v, int ldv, int dv, float scale, float *scores, float *out, int ldo) { return 0; }
int mmpipe_attend_few_avx2(const float *q, int ldq, int rows, int d, const float *kt, int ldk, int lk,
                           const float *v, int ldv, int dv, float scale, float *scores, float *out, int ldo) { return 0; }
int mmpipe_attend_few_f16_avx2(const float *q, int ldq, int rows, int d, const uint16_t *kt, int ldk, int lk,
                               const uint16_t *v, int ldv, int dv, float scale, float *scores, float *out, int ldo) { return 0; }
void mmpipe_pack_values_bf16(const float *v, int ldv, int lk, int dv, uint16_t *out) {}
int mmpipe_softmax_values_bf16(float *scores, int rows, int lk, int lds, const uint16_t *vp, int dv,
                               float *out, int ldo) { return 0; }
#endif
