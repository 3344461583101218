/* arm64 NEON dot products of IQ4_NL and IQ4_XS: the kernels of iq4_neon_impl.h built twice, with
 * widening multiplies (the *_neon functions, any AArch64 CPU) and with SDOT (*_neon_dotprod, for
 * CPUs with the dot-product extension). Both give the portable functions' bits. */
#include "backend/cpu/quant/quant_neon.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#endif

/* The eight signed sub-block scales of an IQ4_XS block (6 bits, less 32). */
static inline void qn_iq4xs_scales(const block_iq4_xs *b, int8_t sc[8]) {
    for (int ib = 0; ib < 8; ib++) {
        const int lo = (b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
        sc[ib] = (int8_t)((lo | (((b->scales_h >> (2 * ib)) & 3) << 4)) - 32);
    }
}

#define QN_DOT16 qn_dot16_mull
#define QN_SFX _neon
#define QN_TARGET
#include "backend/cpu/quant/iq4_neon_impl.h"
#undef QN_DOT16
#undef QN_SFX
#undef QN_TARGET

#if QUANT_NEON_DOTPROD
#define QN_DOT16 qn_dot16_sdot
#define QN_SFX _neon_dotprod
#define QN_TARGET QN_TARGET_DOTPROD
#include "backend/cpu/quant/iq4_neon_impl.h"
#undef QN_DOT16
#undef QN_SFX
#undef QN_TARGET
#endif
