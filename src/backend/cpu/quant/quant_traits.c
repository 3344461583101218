/* The traits table of the quantized dtypes and the choice of dot product by CPU level. */
#include "backend/cpu/quant/quant_traits.h"
#include "core/cpu_features.h"

#if defined(__x86_64__)
#define AVX2(fn) fn##_avx2
#else
#define AVX2(fn) NULL
#endif

#if defined(__aarch64__)
#include "backend/cpu/quant/quant_neon.h"
#define NEON(fn) fn##_neon
#if QUANT_NEON_DOTPROD
#define NEON_DOTPROD(fn) fn##_neon_dotprod
#else
#define NEON_DOTPROD(fn) NULL
#endif
#else
#define NEON(fn) NULL
#define NEON_DOTPROD(fn) NULL
#endif

#define ENTRY(dt, name, block, vdt, dot)                                                          \
    [dt] = {block, sizeof(block_##name), quant_to_float_##name, quant_from_float_##name, vdt,     \
            quant_vec_dot_##dot, AVX2(quant_vec_dot_##dot), NEON(quant_vec_dot_##dot),           \
            NEON_DOTPROD(quant_vec_dot_##dot)}

static const quant_traits traits[BORN_DTYPE_COUNT] = {
    ENTRY(BORN_Q4_0, q4_0, QK_32, BORN_Q8_0, q4_0_q8_0),
    ENTRY(BORN_Q4_1, q4_1, QK_32, BORN_Q8_1, q4_1_q8_1),
    ENTRY(BORN_Q5_0, q5_0, QK_32, BORN_Q8_0, q5_0_q8_0),
    ENTRY(BORN_Q5_1, q5_1, QK_32, BORN_Q8_1, q5_1_q8_1),
    ENTRY(BORN_Q8_0, q8_0, QK_32, BORN_Q8_0, q8_0_q8_0),
    ENTRY(BORN_Q8_1, q8_1, QK_32, BORN_Q8_1, q8_1_q8_1),
    ENTRY(BORN_Q2_K, q2_K, QK_K, BORN_Q8_K, q2_K_q8_K),
    ENTRY(BORN_Q3_K, q3_K, QK_K, BORN_Q8_K, q3_K_q8_K),
    ENTRY(BORN_Q4_K, q4_K, QK_K, BORN_Q8_K, q4_K_q8_K),
    ENTRY(BORN_Q5_K, q5_K, QK_K, BORN_Q8_K, q5_K_q8_K),
    ENTRY(BORN_Q6_K, q6_K, QK_K, BORN_Q8_K, q6_K_q8_K),
    ENTRY(BORN_Q8_K, q8_K, QK_K, BORN_Q8_K, q8_K_q8_K),
    ENTRY(BORN_IQ4_NL, iq4_nl, QK_32, BORN_Q8_0, iq4_nl_q8_0),
    ENTRY(BORN_IQ4_XS, iq4_xs, QK_K, BORN_Q8_K, iq4_xs_q8_K),
};

const quant_traits *quant_traits_of(born_dtype dtype) {
    if (!born_dtype_is_quantized(dtype)) return NULL;
    return &traits[dtype];
}

quant_vec_dot_fn quant_vec_dot_of(born_dtype dtype) {
    const quant_traits *t = quant_traits_of(dtype);
    if (!t) return NULL;
    if (t->vec_dot_avx2 && cpu_get_level() >= CPU_LEVEL_AVX2) return t->vec_dot_avx2;
#if defined(__aarch64__)
    if (t->vec_dot_neon && cpu_get_level() == CPU_LEVEL_NEON) {
        if (t->vec_dot_neon_dotprod && cpu_features_get()->neon_dotprod)
            return t->vec_dot_neon_dotprod;
        return t->vec_dot_neon;
    }
#endif
    return t->vec_dot;
}

quant_from_float_fn quant_act_from_float(born_dtype vdt, quant_from_float_fn ref) {
#if defined(__x86_64__)
    if (cpu_get_level() >= CPU_LEVEL_AVX2 && (vdt == BORN_Q8_0 || vdt == BORN_Q8_1))
        return vdt == BORN_Q8_0 ? quant_act_q8_0_avx2 : quant_act_q8_1_avx2;
    if (cpu_get_level() >= CPU_LEVEL_AVX2 && vdt == BORN_Q8_K) return quant_act_q8_K_avx2;
#endif
#if defined(__aarch64__)
    if (cpu_get_level() == CPU_LEVEL_NEON) {
        if (vdt == BORN_Q8_0) return quant_act_q8_0_neon;
        if (vdt == BORN_Q8_1) return quant_act_q8_1_neon;
        if (vdt == BORN_Q8_K) return quant_act_q8_K_neon;
    }
#endif
    return vdt == BORN_Q8_0 ? quant_act_q8_0 : vdt == BORN_Q8_1 ? quant_act_q8_1 : ref;
}
