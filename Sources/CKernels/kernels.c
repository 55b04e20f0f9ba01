#include "ckernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma,f16c")))

#define LOAD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))

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
int mmpipe_f32_to_f16(const float *src, uint16_t *dst, size_t n) { return 0; }
void mmpipe_f16_to_f32(const uint16_t *src, float *dst, size_t n) {}
#endif
