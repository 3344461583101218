/* arm64 NEON dot products of the 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1) with
 * their Q8_0 / Q8_1 activations: the kernels of q4_q5_q8_neon_impl.h built twice, with widening
 * multiplies (the *_neon functions, any AArch64 CPU) and with SDOT (*_neon_dotprod, for CPUs with
 * the dot-product extension). Both give the portable functions' bits. */
#include "backend/cpu/quant/quant_neon.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#define QN_DOT16 qn_dot16_mull
#define QN_DOT16_WIDE qn_dot16_wide
#define QN_SFX _neon
#define QN_TARGET
#include "backend/cpu/quant/q4_q5_q8_neon_impl.h"
#undef QN_DOT16
#undef QN_DOT16_WIDE
#undef QN_SFX
#undef QN_TARGET

#if QUANT_NEON_DOTPROD
#define QN_DOT16 qn_dot16_sdot
#define QN_DOT16_WIDE qn_dot16_sdot
#define QN_SFX _neon_dotprod
#define QN_TARGET QN_TARGET_DOTPROD
#include "backend/cpu/quant/q4_q5_q8_neon_impl.h"
#undef QN_DOT16
#undef QN_DOT16_WIDE
#undef QN_SFX
#undef QN_TARGET
#endif
