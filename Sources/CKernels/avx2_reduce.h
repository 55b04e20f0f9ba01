/* Horizontal reductions of eight floats for the AVX2 kernels of vecmath.c.
 * Private to CKernels: include only from code compiled for AVX2 callers. */
#ifndef MMPIPE_AVX2_REDUCE_H
#define MMPIPE_AVX2_REDUCE_H
#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2"))) static inline float mmpipe_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2"))) static inline float mmpipe_hmax8(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#endif
#endif
