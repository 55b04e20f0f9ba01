#include "ckernels_int8.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The layout and the scheme are described in ckernels_int8.h. */

static inline int blocks16(int n) { return (n + 15) / 16; }
static inline int groups4(int k) { return (k + 3) / 4; }

size_t mmpipe_i8_packed_bytes(int n, int k) { return (size_t)blocks16(n) * (size_t)groups4(k) * 64; }

static inline size_t packed_index(int k4, int j, int i) {
    return ((size_t)(j / 16) * k4 + (size_t)(i / 4)) * 64 + (size_t)(j % 16) * 4 + (size_t)(i % 4);
}

void mmpipe_i8_quantize_pack(const float *w, int n, int k, int ldw, int8_t *packed, float *scale, int32_t *rowsum, int avx2) {
    const int k4 = groups4(k);
    memset(packed, 0, mmpipe_i8_packed_bytes(n, k));
    int8_t *row = malloc((size_t)k4 * 4);
    if (!row) abort();
    for (int j = 0; j < n; j++) {
        /* Quantised as activations are (offset 0: signed), then scattered 4 bytes a group. */
        mmpipe_i8_quantize_rows(w + (size_t)j * ldw, 1, k, ldw, (uint8_t *)row, scale + j, 0, avx2);
        int32_t sum = 0;
        for (int i = 0; i < k; i++) sum += row[i];
        rowsum[j] = sum;
        int8_t *dst = packed + (size_t)(j / 16) * k4 * 64 + (size_t)(j % 16) * 4;
        for (int g = 0; g < k4; g++) memcpy(dst + (size_t)g * 64, row + g * 4, 4);
    }
    free(row);
}

void mmpipe_i8_unpack_rows(const int8_t *packed, int n, int k, int j0, int j1, int8_t *out) {
    (void)n;
    const int k4 = groups4(k);
    for (int j = j0; j < j1; j++)
        for (int i = 0; i < k; i++) out[(size_t)(j - j0) * k + i] = packed[packed_index(k4, j, i)];
}

/* Portable quantisation (also the reference the vector kernels are tested against). */
static void quantize_rows_scalar(const float *x, int rows, int k, int ldx, uint8_t *q, float *scale, int offset) {
    const int kp = groups4(k) * 4;
    for (int r = 0; r < rows; r++) {
        const float *row = x + (size_t)r * ldx;
        float m = 0;
        for (int i = 0; i < k; i++) m = fmaxf(m, fabsf(row[i]));
        const float inv = m > 0 ? 127.0f / m : 0.0f;
        uint8_t *o = q + (size_t)r * kp;
        for (int i = 0; i < k; i++) {
            float v = nearbyintf(row[i] * inv);
            v = fminf(127.0f, fmaxf(-127.0f, v));
            o[i] = (uint8_t)((int)v + offset);
        }
        for (int i = k; i < kp; i++) o[i] = (uint8_t)offset;
        scale[r] = m > 0 ? m / 127.0f : 1.0f;
    }
}

void mmpipe_i8_gemm_portable(const uint8_t *qx, int rows, int k, const int8_t *packed,
                             const float *sx, const float *sw, const float *bias, int n, int j0, int j1, float *c, int ldc,
                             int accumulate) {
    (void)n;
    const int k4 = groups4(k), kp = k4 * 4;
    for (int r = 0; r < rows; r++) {
        const int8_t *x = (const int8_t *)(qx + (size_t)r * kp);
        for (int j = j0; j < j1; j++) {
            const int8_t *blk = packed + (size_t)(j / 16) * k4 * 64 + (size_t)(j % 16) * 4;
            int32_t s = 0;
            for (int g = 0; g < k4; g++)
                for (int t = 0; t < 4; t++) s += (int32_t)x[g * 4 + t] * (int32_t)blk[(size_t)g * 64 + t];
            float v = (float)s * sx[r] * sw[j];
            if (bias) v += bias[j];
            float *o = c + (size_t)r * ldc + j;
            *o = accumulate ? *o + v : v;
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))
#define VNNI __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vnni")))

AVX2 static void quantize_rows_avx2(const float *x, int rows, int k, int ldx, uint8_t *q, float *scale, int offset) {
    const int kp = groups4(k) * 4;
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int r = 0; r < rows; r++) {
        const float *row = x + (size_t)r * ldx;
        __m256 mv = _mm256_setzero_ps();
        int i = 0;
        for (; i + 8 <= k; i += 8) mv = _mm256_max_ps(mv, _mm256_and_ps(_mm256_loadu_ps(row + i), absmask));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mv), _mm256_extractf128_ps(mv, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float m = _mm_cvtss_f32(m4);
        for (; i < k; i++) m = fmaxf(m, fabsf(row[i]));
        const float inv = m > 0 ? 127.0f / m : 0.0f;
        const __m256 vinv = _mm256_set1_ps(inv), hi = _mm256_set1_ps(127.0f), lo = _mm256_set1_ps(-127.0f);
        const __m256i off = _mm256_set1_epi32(offset);
        uint8_t *o = q + (size_t)r * kp;
        i = 0;
        for (; i + 8 <= k; i += 8) {
            __m256 v = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(row + i), vinv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            v = _mm256_min_ps(hi, _mm256_max_ps(lo, v));
            __m256i iv = _mm256_add_epi32(_mm256_cvtps_epi32(v), off);      /* -127..255 */
            __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(iv), _mm256_extracti128_si256(iv, 1));
            __m128i b8 = offset ? _mm_packus_epi16(w16, w16) : _mm_packs_epi16(w16, w16);
            _mm_storel_epi64((__m128i *)(o + i), b8);
        }
        for (; i < k; i++) {
            float v = nearbyintf(row[i] * inv);
            v = fminf(127.0f, fmaxf(-127.0f, v));
            o[i] = (uint8_t)((int)v + offset);
        }
        for (i = k; i < kp; i++) o[i] = (uint8_t)offset;
        scale[r] = m > 0 ? m / 127.0f : 1.0f;
    }
}

static inline int32_t load4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* What a tile's results become: c[r, j] (+)= (acc - 128 rowsum[j]) * sx[r] * sw[j] (+ bias[j]),
 * for the columns [ja, jz) of the tile (at most 32). */
struct vnni_out {
    const int32_t *rowsum;
    const float *sx, *sw, *bias;
    float *c;
    int ldc, accumulate;
};

/* Stores one row's two 16-column halves from their accumulators (masked at the block's end). */
VNNI static inline void vnni_store(const struct vnni_out *e, int r, __m512i acc, __m512i corr, __m512 sw, __m512 bias,
                                   int j, __mmask16 m) {
    __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc, corr)), _mm512_set1_ps(e->sx[r])), sw);
    if (e->bias) v = _mm512_add_ps(v, bias);
    float *o = e->c + (size_t)r * e->ldc + j;
    if (e->accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, o), v);
    _mm512_mask_storeu_ps(o, m, v);
}

/* AVX-512 VNNI: a tile of R rows x 32 output columns (two 16-column blocks), accumulated in
 * 2R registers over the k groups; one broadcast of 4 activation bytes feeds two vpdpbusd.
 * The results go straight from the registers to c (scaled, corrected, biased). */
#define VNNI_TILE(R)                                                                               \
VNNI static void vnni_tile##R(const uint8_t *qx, int kp, int k4, const int8_t *p0, const int8_t *p1,\
                              const struct vnni_out *e, int r0, int ja, int jz) {                 \
    __m512i a0[R], a1[R];                                                                          \
    for (int r = 0; r < R; r++) { a0[r] = _mm512_setzero_si512(); a1[r] = _mm512_setzero_si512(); }\
    for (int g = 0; g < k4; g++) {                                                                 \
        const __m512i w0 = _mm512_loadu_si512((const void *)(p0 + (size_t)g * 64));               \
        const __m512i w1 = _mm512_loadu_si512((const void *)(p1 + (size_t)g * 64));               \
        for (int r = 0; r < R; r++) {                                                              \
            const __m512i b = _mm512_set1_epi32(load4(qx + (size_t)r * kp + (size_t)g * 4));      \
            a0[r] = _mm512_dpbusd_epi32(a0[r], b, w0);                                             \
            a1[r] = _mm512_dpbusd_epi32(a1[r], b, w1);                                             \
        }                                                                                          \
    }                                                                                              \
    const int n0 = jz - ja < 16 ? jz - ja : 16, n1 = jz - ja - n0;                                \
    const __mmask16 m0 = (__mmask16)((1u << n0) - 1), m1 = (__mmask16)((1u << n1) - 1);           \
    const __m512i c0 = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(m0, e->rowsum + ja), 7);         \
    const __m512i c1 = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(m1, e->rowsum + ja + 16), 7);    \
    const __m512 s0 = _mm512_maskz_loadu_ps(m0, e->sw + ja), s1 = _mm512_maskz_loadu_ps(m1, e->sw + ja + 16); \
    const __m512 b0 = e->bias ? _mm512_maskz_loadu_ps(m0, e->bias + ja) : _mm512_setzero_ps();    \
    const __m512 b1 = e->bias ? _mm512_maskz_loadu_ps(m1, e->bias + ja + 16) : _mm512_setzero_ps(); \
    for (int r = 0; r < R; r++) {                                                                  \
        vnni_store(e, r0 + r, a0[r], c0, s0, b0, ja, m0);                                          \
        if (n1 > 0) vnni_store(e, r0 + r, a1[r], c1, s1, b1, ja + 16, m1);                         \
    }                                                                                              \
}
VNNI_TILE(1) VNNI_TILE(2) VNNI_TILE(3) VNNI_TILE(4) VNNI_TILE(5) VNNI_TILE(6) VNNI_TILE(7) VNNI_TILE(8)

VNNI void mmpipe_i8_gemm_vnni512(const uint8_t *qx, int rows, int k, const int8_t *packed, const int32_t *rowsum,
                                 const float *sx, const float *sw, const float *bias, int n, int j0, int j1, float *c,
                                 int ldc, int accumulate) {
    (void)n;
    const int k4 = groups4(k), kp = k4 * 4;
    const struct vnni_out e = {rowsum, sx, sw, bias, c, ldc, accumulate};
    for (int jb = j0 / 16; jb * 16 < j1; jb += 2) {
        const int8_t *p0 = packed + (size_t)jb * k4 * 64;
        const int8_t *p1 = (jb + 1) * 16 < j1 ? p0 + (size_t)k4 * 64 : p0;
        const int ja = jb * 16, jz = ja + 32 < j1 ? ja + 32 : j1;
        for (int r0 = 0; r0 < rows; r0 += 8) {
            const int R = rows - r0 < 8 ? rows - r0 : 8;
            const uint8_t *x = qx + (size_t)r0 * kp;
            switch (R) {
            case 1: vnni_tile1(x, kp, k4, p0, p1, &e, r0, ja, jz); break;
            case 2: vnni_tile2(x, kp, k4, p0, p1, &e, r0, ja, jz); break;
            case 3: vnni_tile3(x, kp, k4, p0, p1, &e, r0, ja, jz); break;
            case 4: vnni_tile4(x, kp, k4, p0, p1, &e, r0, ja, jz); break;
            case 5: vnni_tile5(x, kp, k4, p0, p1, &e, r0, ja, jz); break;
            case 6: vnni_tile6(x, kp, k4, p0, p1, &e, r0, ja, jz); break;
            case 7: vnni_tile7(x, kp, k4, p0, p1, &e, r0, ja, jz); break;
            default: vnni_tile8(x, kp, k4, p0, p1, &e, r0, ja, jz); break;
            }
        }
    }
}

/* AVX2: u8 x s8 products cannot take activations offset to unsigned (vpmaddubsw's int16 pair
 * sums would saturate), so each activation's sign moves onto the weight (vpsignb) and its
 * magnitude (at most 127) is the unsigned operand: pair sums stay within 2 * 127 * 127. */
#define AVX2_TILE(R)                                                                               \
AVX2 static void avx2_tile##R(const uint8_t *qx, int kp, int k4, const int8_t *p0, int32_t *out) {  \
    __m256i a0[R], a1[R];                                                                          \
    const __m256i ones = _mm256_set1_epi16(1);                                                     \
    for (int r = 0; r < R; r++) { a0[r] = _mm256_setzero_si256(); a1[r] = _mm256_setzero_si256(); }\
    for (int g = 0; g < k4; g++) {                                                                 \
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)(p0 + (size_t)g * 64));            \
        const __m256i w1 = _mm256_loadu_si256((const __m256i *)(p0 + (size_t)g * 64 + 32));       \
        for (int r = 0; r < R; r++) {                                                              \
            const __m256i b = _mm256_set1_epi32(load4(qx + (size_t)r * kp + (size_t)g * 4));      \
            const __m256i m = _mm256_abs_epi8(b);                                                  \
            a0[r] = _mm256_add_epi32(a0[r], _mm256_madd_epi16(_mm256_maddubs_epi16(m, _mm256_sign_epi8(w0, b)), ones)); \
            a1[r] = _mm256_add_epi32(a1[r], _mm256_madd_epi16(_mm256_maddubs_epi16(m, _mm256_sign_epi8(w1, b)), ones)); \
        }                                                                                          \
    }                                                                                              \
    for (int r = 0; r < R; r++) {                                                                  \
        _mm256_storeu_si256((__m256i *)(out + r * 16), a0[r]);                                     \
        _mm256_storeu_si256((__m256i *)(out + r * 16 + 8), a1[r]);                                 \
    }                                                                                              \
}
AVX2_TILE(1) AVX2_TILE(2) AVX2_TILE(3) AVX2_TILE(4)

AVX2 void mmpipe_i8_gemm_avx2(const uint8_t *qx, int rows, int k, const int8_t *packed,
                              const float *sx, const float *sw, const float *bias, int n, int j0, int j1, float *c, int ldc,
                              int accumulate) {
    (void)n;
    const int k4 = groups4(k), kp = k4 * 4;
    int32_t acc[4 * 16];
    for (int jb = j0 / 16; jb * 16 < j1; jb++) {
        const int8_t *p0 = packed + (size_t)jb * k4 * 64;
        const int ja = jb * 16, jz = ja + 16 < j1 ? ja + 16 : j1;
        for (int r0 = 0; r0 < rows; r0 += 4) {
            const int R = rows - r0 < 4 ? rows - r0 : 4;
            const uint8_t *x = qx + (size_t)r0 * kp;
            switch (R) {
            case 1: avx2_tile1(x, kp, k4, p0, acc); break;
            case 2: avx2_tile2(x, kp, k4, p0, acc); break;
            case 3: avx2_tile3(x, kp, k4, p0, acc); break;
            default: avx2_tile4(x, kp, k4, p0, acc); break;
            }
            for (int r = 0; r < R; r++) {
                float *o = c + (size_t)(r0 + r) * ldc;
                const float s = sx[r0 + r];
                for (int j = ja; j < jz; j++) {
                    /* Lanes: the first register holds columns 0..7 of the block, the second 8..15. */
                    float v = (float)acc[r * 16 + (j - ja)] * s * sw[j];
                    if (bias) v += bias[j];
                    o[j] = accumulate ? o[j] + v : v;
                }
            }
        }
    }
}

void mmpipe_i8_quantize_rows(const float *x, int rows, int k, int ldx, uint8_t *q, float *scale, int offset, int avx2) {
    if (avx2) quantize_rows_avx2(x, rows, k, ldx, q, scale, offset);
    else quantize_rows_scalar(x, rows, k, ldx, q, scale, offset);
}

#else
void mmpipe_i8_gemm_vnni512(const uint8_t *qx, int rows, int k, const int8_t *packed, const int32_t *rowsum,
                            const float *sx, const float *sw, const float *bias, int n, int j0, int j1, float *c, int ldc,
                            int accumulate) {}
void mmpipe_i8_gemm_avx2(const uint8_t *qx, int rows, int k, const int8_t *packed,
                         const float *sx, const float *sw, const float *bias, int n, int j0, int j1, float *c, int ldc,
                         int accumulate) {}
void mmpipe_i8_quantize_rows(const float *x, int rows, int k, int ldx, uint8_t *q, float *scale, int offset, int avx2) {
    (void)avx2;
    quantize_rows_scalar(x, rows, k, ldx, q, scale, offset);
}
#endif
