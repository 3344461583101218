/* Internal: what the AVX-512 VNNI tile files of the quantized products share (*_vnni.c files
 * only). */
#ifndef BORN_CPU_QUANT_VNNI_H
#define BORN_CPU_QUANT_VNNI_H

#include <immintrin.h>

#include "backend/cpu/quant/quant_avx2.h"

/* Two tokens' 32 activation bytes in the halves of one register (token a low, b high). */
static inline __m512i qv_load_pair(const int8_t *a, const int8_t *b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(qa_load(a)), qa_load(b), 1);
}

#endif
