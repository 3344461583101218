/* The choice of tiled quantized product by dtype and CPU level (see quant_gemm.h): on x86-64 the
 * AVX-512 VNNI tiles where they exist and the CPU has them, else the AVX2 ones; on arm64 at the
 * NEON level the SDOT tiles where the CPU has the dot-product extension, else the widening ones
 * (the choice quant_vec_dot_of makes between the NEON vec_dots). */
#include "backend/cpu/quant/quant_gemm.h"
#include "core/cpu_features.h"
#if defined(__aarch64__)
#include "backend/cpu/quant/quant_neon.h" /* QUANT_NEON_DOTPROD */
#endif

quant_gemm_fn quant_gemm_of(born_dtype dtype) {
#if defined(__x86_64__)
    if (cpu_get_level() < CPU_LEVEL_AVX2) return NULL;
    if (cpu_get_level() >= CPU_LEVEL_AVX512 && cpu_features_get()->avx512_vnni) {
        switch (dtype) {
        case BORN_Q4_0: return quant_gemm_q4_0_vnni;
        case BORN_Q4_1: return quant_gemm_q4_1_vnni;
        case BORN_Q5_0: return quant_gemm_q5_0_vnni;
        case BORN_Q8_0: return quant_gemm_q8_0_vnni;
        case BORN_Q4_K: return quant_gemm_q4_K_vnni;
        default: break;
        }
    }
    switch (dtype) {
    case BORN_Q4_0: return quant_gemm_q4_0_avx2;
    case BORN_Q4_1: return quant_gemm_q4_1_avx2;
    case BORN_Q5_0: return quant_gemm_q5_0_avx2;
    case BORN_Q8_0: return quant_gemm_q8_0_avx2;
    case BORN_Q4_K: return quant_gemm_q4_K_avx2;
    case BORN_Q6_K: return quant_gemm_q6_K_avx2;
    default: return NULL;
    }
#elif defined(__aarch64__)
    if (cpu_get_level() != CPU_LEVEL_NEON) return NULL;
#if QUANT_NEON_DOTPROD
    if (cpu_features_get()->neon_dotprod) {
        switch (dtype) {
        case BORN_Q4_0: return quant_gemm_q4_0_neon_dotprod;
        case BORN_Q4_1: return quant_gemm_q4_1_neon_dotprod;
        case BORN_Q5_0: return quant_gemm_q5_0_neon_dotprod;
        case BORN_Q8_0: return quant_gemm_q8_0_neon_dotprod;
        case BORN_Q4_K: return quant_gemm_q4_K_neon_dotprod;
        case BORN_Q6_K: return quant_gemm_q6_K_neon_dotprod;
        default: return NULL;
        }
    }
#endif
    switch (dtype) {
    case BORN_Q4_0: return quant_gemm_q4_0_neon;
    case BORN_Q4_1: return quant_gemm_q4_1_neon;
    case BORN_Q5_0: return quant_gemm_q5_0_neon;
    case BORN_Q8_0: return quant_gemm_q8_0_neon;
    case BORN_Q4_K: return quant_gemm_q4_K_neon;
    case BORN_Q6_K: return quant_gemm_q6_K_neon;
    default: return NULL;
    }
#else
    (void)dtype;
    return NULL;
#endif
}
