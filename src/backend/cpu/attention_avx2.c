/* AVX2 row helper of the attention kernels: exp(x - shift) in place with the row's sum, eight
 * lanes at a time through vmath_avx2.h's exp (1 ulp). */
#include "backend/cpu/attention_kernels.h"
#include "backend/cpu/vmath_avx2.h"

float attn_exp_shift_f32_avx2(float *x, int64_t n, float shift) {
    __m256 sh = _mm256_set1_ps(shift), acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = vm_exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), sh));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    if (i < n) {
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)),
                                       _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 e = vm_exp(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), sh));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
        _mm256_maskstore_ps(x + i, m, e);
        acc = _mm256_add_ps(acc, e);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, acc);
    return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}
