/* CPU copy with dtype conversion, and fill. Conversions go through a small buffer of double (or
 * int64 between integer types, which keeps 64-bit integers exact), with one tight loop per dtype
 * on each side, so every pair of dtypes is covered by 2 x 10 loops instead of 100. */
#include <string.h>

#include "backend/cpu/convert_simd.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/iter.h"
#include "backend/cpu/quant/quant_traits.h"
#include "core/cpu_features.h"
#include "core/scalar.h"

enum { CHUNK = 256 };

/* ---- same-dtype copies ----------------------------------------------------------------- */

/* dst[i] = src[i * step] for a contiguous destination of n elements of type T. */
#define GATHER_RUN(T, o, in, step, n)                                                            \
    do {                                                                                          \
        T *dst_ = (T *)(o);                                                                       \
        if ((step) == 0) {                                                                        \
            T v_ = *(const T *)(in);                                                              \
            for (int64_t i = 0; i < (n); i++) dst_[i] = v_;                                       \
        } else {                                                                                  \
            for (int64_t i = 0; i < (n); i++) dst_[i] = *(const T *)((in) + i * (step));          \
        }                                                                                         \
    } while (0)

static void copy_loop(char **d, const int64_t *s, int64_t n, void *ctx) {
    size_t size = *(const size_t *)ctx;
    char *o = d[0];
    const char *in = d[1];
    if (s[0] == (int64_t)size && s[1] == (int64_t)size) {
        memmove(o, in, (size_t)n * size);
        return;
    }
    if (s[0] == (int64_t)size) { /* contiguous destination: broadcasts and gathers */
        switch (size) {
        case 1: GATHER_RUN(uint8_t, o, in, s[1], n); break;
        case 2: GATHER_RUN(uint16_t, o, in, s[1], n); break;
        case 4: GATHER_RUN(uint32_t, o, in, s[1], n); break;
        default: GATHER_RUN(uint64_t, o, in, s[1], n); break;
        }
        return;
    }
    switch (size) {
    case 1: for (int64_t i = 0; i < n; i++) *(uint8_t *)(o + i * s[0]) = *(const uint8_t *)(in + i * s[1]); break;
    case 2: for (int64_t i = 0; i < n; i++) *(uint16_t *)(o + i * s[0]) = *(const uint16_t *)(in + i * s[1]); break;
    case 4: for (int64_t i = 0; i < n; i++) *(uint32_t *)(o + i * s[0]) = *(const uint32_t *)(in + i * s[1]); break;
    default: for (int64_t i = 0; i < n; i++) *(uint64_t *)(o + i * s[0]) = *(const uint64_t *)(in + i * s[1]); break;
    }
}

#if defined(__x86_64__)
/* A tile of a copy or conversion between two operands laid out across each other (iter.c): out
 * d[0] of ds-byte elements, in d[1] of ss-byte ones, one contiguous along the last dimension and
 * the other along the tiled one, by register transposes at AVX2 and up; false (the rows, through
 * the loop) otherwise. */
static bool transpose_tile(char **d, const int64_t *sl, const int64_t *sf, int64_t nl, int64_t nf,
                           int64_t ds, int64_t ss, cpu_transpose_kind kind) {
    if (cpu_get_level() < CPU_LEVEL_AVX2) return false;
    if (sl[0] == ds && sf[1] == ss) { /* out along the last dimension, in along the other */
        cpu_transpose_avx2(d[1], sl[1], d[0], sf[0], nl, nf, kind);
        return true;
    }
    if (sf[0] == ds && sl[1] == ss) {
        cpu_transpose_avx2(d[1], sf[1], d[0], sl[0], nf, nl, kind);
        return true;
    }
    return false;
}
#endif

/* copy_loop's tiles: 32-bit and 16-bit elements. */
static bool copy_tile(char **d, const int64_t *sl, const int64_t *sf, int64_t nl, int64_t nf,
                      void *ctx) {
    size_t size = *(const size_t *)ctx;
#if defined(__x86_64__)
    if (size == 4 || size == 2)
        return transpose_tile(d, sl, sf, nl, nf, (int64_t)size, (int64_t)size,
                              size == 4 ? CPU_TRANSPOSE_COPY32 : CPU_TRANSPOSE_COPY16);
#else
    (void)d, (void)sl, (void)sf, (void)nl, (void)nf, (void)size;
#endif
    return false;
}

/* ---- conversions through double -------------------------------------------------------- */

static void load_f64(double *dst, const char *src, int64_t step, int64_t n, born_dtype t) {
    switch (t) {
    case BORN_F32: for (int64_t i = 0; i < n; i++) dst[i] = *(const float *)(src + i * step); break;
    case BORN_F64: for (int64_t i = 0; i < n; i++) dst[i] = *(const double *)(src + i * step); break;
    case BORN_F16: for (int64_t i = 0; i < n; i++) dst[i] = born_f16_to_f32(*(const uint16_t *)(src + i * step)); break;
    case BORN_BF16: for (int64_t i = 0; i < n; i++) dst[i] = born_bf16_to_f32(*(const uint16_t *)(src + i * step)); break;
    case BORN_I8: for (int64_t i = 0; i < n; i++) dst[i] = *(const int8_t *)(src + i * step); break;
    case BORN_I16: for (int64_t i = 0; i < n; i++) dst[i] = *(const int16_t *)(src + i * step); break;
    case BORN_I32: for (int64_t i = 0; i < n; i++) dst[i] = *(const int32_t *)(src + i * step); break;
    case BORN_I64: for (int64_t i = 0; i < n; i++) dst[i] = (double)*(const int64_t *)(src + i * step); break;
    case BORN_U8: for (int64_t i = 0; i < n; i++) dst[i] = *(const uint8_t *)(src + i * step); break;
    case BORN_BOOL: for (int64_t i = 0; i < n; i++) dst[i] = *(const uint8_t *)(src + i * step) != 0; break;
    default: break;
    }
}

static void store_f64(char *dst, int64_t step, const double *src, int64_t n, born_dtype t) {
    switch (t) {
    case BORN_F32: for (int64_t i = 0; i < n; i++) *(float *)(dst + i * step) = (float)src[i]; break;
    case BORN_F64: for (int64_t i = 0; i < n; i++) *(double *)(dst + i * step) = src[i]; break;
    default: for (int64_t i = 0; i < n; i++) scalar_store_f64(dst + i * step, t, src[i]); break;
    }
}

static void load_i64(int64_t *dst, const char *src, int64_t step, int64_t n, born_dtype t) {
    switch (t) {
    case BORN_I8: for (int64_t i = 0; i < n; i++) dst[i] = *(const int8_t *)(src + i * step); break;
    case BORN_I16: for (int64_t i = 0; i < n; i++) dst[i] = *(const int16_t *)(src + i * step); break;
    case BORN_I32: for (int64_t i = 0; i < n; i++) dst[i] = *(const int32_t *)(src + i * step); break;
    case BORN_I64: for (int64_t i = 0; i < n; i++) dst[i] = *(const int64_t *)(src + i * step); break;
    case BORN_U8: for (int64_t i = 0; i < n; i++) dst[i] = *(const uint8_t *)(src + i * step); break;
    default: for (int64_t i = 0; i < n; i++) dst[i] = *(const uint8_t *)(src + i * step) != 0; break;
    }
}

static void store_i64(char *dst, int64_t step, const int64_t *src, int64_t n, born_dtype t) {
    switch (t) {
    case BORN_I8: for (int64_t i = 0; i < n; i++) *(int8_t *)(dst + i * step) = (int8_t)(uint8_t)(uint64_t)src[i]; break;
    case BORN_I16: for (int64_t i = 0; i < n; i++) *(int16_t *)(dst + i * step) = (int16_t)(uint16_t)(uint64_t)src[i]; break;
    case BORN_I32: for (int64_t i = 0; i < n; i++) *(int32_t *)(dst + i * step) = (int32_t)(uint32_t)(uint64_t)src[i]; break;
    case BORN_I64: for (int64_t i = 0; i < n; i++) *(int64_t *)(dst + i * step) = src[i]; break;
    case BORN_U8: for (int64_t i = 0; i < n; i++) *(uint8_t *)(dst + i * step) = (uint8_t)(uint64_t)src[i]; break;
    default: for (int64_t i = 0; i < n; i++) *(uint8_t *)(dst + i * step) = src[i] != 0; break;
    }
}

typedef struct convert_ctx {
    born_dtype from, to;
} convert_ctx;

/* born_f32_to_bf16, here so that the loops below inline (and vectorize) it. */
static inline uint16_t f32_to_bf16(float value) {
    uint32_t x;
    memcpy(&x, &value, sizeof x);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

static inline float bf16_to_f32(uint16_t bits) {
    uint32_t x = (uint32_t)bits << 16;
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

/* f32 <-> bf16 in one step (the results of the pass through double, which is exact here, at a
 * fraction of its cost: the bf16 products' results and autocast convert this way); false for
 * other pairs. */
static bool convert_bf16_direct(const convert_ctx *c, char *dst, int64_t ds, const char *src,
                                int64_t ss, int64_t n) {
    if (c->from == BORN_F32 && c->to == BORN_BF16) {
#if defined(__x86_64__)
        if (ds == 2 && ss == 4 && cpu_get_level() >= CPU_LEVEL_AVX512) {
            cpu_f32_to_bf16_avx512((const float *)src, (uint16_t *)dst, n);
            return true;
        }
#endif
        if (ds == 2 && ss == 4) {
            uint16_t *restrict o = (uint16_t *)dst;
            const float *restrict in = (const float *)src;
            for (int64_t i = 0; i < n; i++) o[i] = f32_to_bf16(in[i]);
        } else {
            for (int64_t i = 0; i < n; i++)
                *(uint16_t *)(dst + i * ds) = f32_to_bf16(*(const float *)(src + i * ss));
        }
        return true;
    }
    if (c->from == BORN_BF16 && c->to == BORN_F32) {
#if defined(__x86_64__)
        if (ds == 4 && ss == 2 && cpu_get_level() >= CPU_LEVEL_AVX512) {
            cpu_bf16_to_f32_avx512((const uint16_t *)src, (float *)dst, n);
            return true;
        }
#endif
        if (ds == 4 && ss == 2) {
            float *restrict o = (float *)dst;
            const uint16_t *restrict in = (const uint16_t *)src;
            for (int64_t i = 0; i < n; i++) o[i] = bf16_to_f32(in[i]);
        } else {
            for (int64_t i = 0; i < n; i++)
                *(float *)(dst + i * ds) = bf16_to_f32(*(const uint16_t *)(src + i * ss));
        }
        return true;
    }
    return false;
}

/* How many leading elements of a contiguous f32 <-> f16 run F16C converted (0 elsewhere): the
 * portable path's bits, at a fraction of its cost (it goes through double). */
static int64_t convert_f16_prefix(const convert_ctx *c, char *dst, int64_t ds, const char *src,
                                  int64_t ss, int64_t n) {
#if defined(__x86_64__)
    if (cpu_get_level() < CPU_LEVEL_AVX2) return 0;
    if (c->from == BORN_F32 && c->to == BORN_F16 && ss == 4 && ds == 2)
        return cpu_f32_to_f16_avx2((const float *)src, (uint16_t *)dst, n);
    if (c->from == BORN_F16 && c->to == BORN_F32 && ss == 2 && ds == 4)
        return cpu_f16_to_f32_avx2((const uint16_t *)src, (float *)dst, n);
#else
    (void)c, (void)dst, (void)ds, (void)src, (void)ss, (void)n;
#endif
    return 0;
}

void cpu_halves_to_f32(const char *src, int64_t step, bool bf16, float *dst, int64_t n) {
    int64_t i = 0;
#if defined(__x86_64__)
    if (step == 2 && bf16 && cpu_get_level() >= CPU_LEVEL_AVX512) {
        cpu_bf16_to_f32_avx512((const uint16_t *)src, dst, n);
        return;
    }
#endif
    if (step == 2 && bf16) {
        const uint16_t *restrict in = (const uint16_t *)src;
        for (; i < n; i++) dst[i] = bf16_to_f32(in[i]);
        return;
    }
#if defined(__x86_64__)
    if (step == 2 && cpu_get_level() >= CPU_LEVEL_AVX2)
        i = cpu_f16_to_f32_avx2((const uint16_t *)src, dst, n);
#endif
    for (; i < n; i++) {
        uint16_t h = *(const uint16_t *)(src + i * step);
        dst[i] = bf16 ? bf16_to_f32(h) : born_f16_to_f32(h);
    }
}

void cpu_f32_to_halves(const float *src, char *dst, int64_t step, bool bf16, int64_t n) {
    int64_t i = 0;
#if defined(__x86_64__)
    if (step == 2 && bf16 && cpu_get_level() >= CPU_LEVEL_AVX512) {
        cpu_f32_to_bf16_avx512(src, (uint16_t *)dst, n);
        return;
    }
    if (step == 2 && !bf16 && cpu_get_level() >= CPU_LEVEL_AVX2)
        i = cpu_f32_to_f16_avx2(src, (uint16_t *)dst, n);
#endif
    if (step == 2 && bf16) {
        uint16_t *restrict out = (uint16_t *)dst;
        for (; i < n; i++) out[i] = f32_to_bf16(src[i]);
        return;
    }
    for (; i < n; i++)
        *(uint16_t *)(dst + i * step) = bf16 ? f32_to_bf16(src[i]) : born_f32_to_f16(src[i]);
}

/* convert_loop's tiles: f16 <-> f32 (F16C's conversions: the bits of the loop) and bf16 -> f32
 * (widened). */
static bool convert_tile(char **d, const int64_t *sl, const int64_t *sf, int64_t nl, int64_t nf,
                         void *ctx) {
    const convert_ctx *c = ctx;
#if defined(__x86_64__)
    if (c->from == BORN_F16 && c->to == BORN_F32)
        return transpose_tile(d, sl, sf, nl, nf, 4, 2, CPU_TRANSPOSE_F16_TO_F32);
    if (c->from == BORN_F32 && c->to == BORN_F16)
        return transpose_tile(d, sl, sf, nl, nf, 2, 4, CPU_TRANSPOSE_F32_TO_F16);
    if (c->from == BORN_BF16 && c->to == BORN_F32)
        return transpose_tile(d, sl, sf, nl, nf, 4, 2, CPU_TRANSPOSE_BF16_TO_F32);
#else
    (void)d, (void)sl, (void)sf, (void)nl, (void)nf, (void)c;
#endif
    return false;
}

static bool is_exact_int(born_dtype t) { return born_dtype_is_integer(t) || t == BORN_BOOL; }

static void convert_loop(char **data, const int64_t *s, int64_t n, void *arg) {
    const convert_ctx *c = arg;
    if (convert_bf16_direct(c, data[0], s[0], data[1], s[1], n)) return;
    int64_t first = convert_f16_prefix(c, data[0], s[0], data[1], s[1], n);
    char *d[2] = {data[0] + first * s[0], data[1] + first * s[1]};
    n -= first;
    if (c->from == BORN_F32 && c->to == BORN_F16) { /* the rest (strided runs, tails) one by one:
                                                       the pass through double's bits */
        for (int64_t i = 0; i < n; i++)
            *(uint16_t *)(d[0] + i * s[0]) = born_f32_to_f16(*(const float *)(d[1] + i * s[1]));
        return;
    }
    if (c->from == BORN_F16 && c->to == BORN_F32) { /* NaNs quieted, as through double (and
                                                       F16C) */
        for (int64_t i = 0; i < n; i++) {
            uint32_t x;
            float v = born_f16_to_f32(*(const uint16_t *)(d[1] + i * s[1]));
            memcpy(&x, &v, sizeof x);
            if ((x & 0x7fffffffu) > 0x7f800000u) x |= 0x00400000u;
            memcpy(d[0] + i * s[0], &x, sizeof x);
        }
        return;
    }
    bool via_int = is_exact_int(c->from) && is_exact_int(c->to);
    bool i64_to_narrow_float =
        c->from == BORN_I64 && (c->to == BORN_F32 || c->to == BORN_F16 || c->to == BORN_BF16);
    for (int64_t done = 0; done < n; done += CHUNK) {
        int64_t m = n - done < CHUNK ? n - done : CHUNK;
        const char *src = d[1] + done * s[1];
        char *dst = d[0] + done * s[0];
        if (via_int) {
            int64_t buf[CHUNK];
            load_i64(buf, src, s[1], m, c->from);
            store_i64(dst, s[0], buf, m, c->to);
        } else if (i64_to_narrow_float) {
            /* int64 -> float in one rounding, as C's cast (and torch) does: through double it
             * would round twice (2^60 + 2^36 + 1 became 2^60, not 2^60 + 2^37) */
            for (int64_t i = 0; i < m; i++) {
                float f = (float)*(const int64_t *)(src + i * s[1]);
                char *o = dst + i * s[0];
                if (c->to == BORN_F32)
                    *(float *)o = f;
                else
                    *(uint16_t *)o = c->to == BORN_F16 ? born_f32_to_f16(f) : born_f32_to_bf16(f);
            }
        } else {
            double buf[CHUNK];
            load_f64(buf, src, s[1], m, c->from);
            store_f64(dst, s[0], buf, m, c->to);
        }
    }
}

born_status cpu_copy(const born_strided *dst, const born_strided *src) {
    const born_strided *ops[2] = {dst, src};
    if (born_dtype_is_quantized(dst->dtype) || born_dtype_is_quantized(src->dtype))
        return cpu_quant_convert(dst, src); /* rows of blocks (de)quantized */
    if (dst->dtype == src->dtype) {
        size_t size = born_dtype_size(dst->dtype);
        cpu_iter_run_tiled(2, ops, copy_loop, copy_tile, &size, 0);
    } else {
        convert_ctx c = {src->dtype, dst->dtype};
        cpu_iter_run_tiled(2, ops, convert_loop, convert_tile, &c, 0);
    }
    return BORN_OK;
}

/* ---- fill ------------------------------------------------------------------------------ */

typedef struct fill_ctx {
    size_t size;
    uint64_t pattern; /* the value's bytes in the destination dtype */
} fill_ctx;

static void fill_loop(char **d, const int64_t *s, int64_t n, void *arg) {
    const fill_ctx *c = arg;
    char *o = d[0];
    bool contiguous = s[0] == (int64_t)c->size;
    if (contiguous && c->pattern == 0) {
        memset(o, 0, (size_t)n * c->size);
        return;
    }
    switch (c->size) {
    case 1: {
        uint8_t v = (uint8_t)c->pattern;
        if (contiguous) memset(o, v, (size_t)n);
        else for (int64_t i = 0; i < n; i++) *(uint8_t *)(o + i * s[0]) = v;
        break;
    }
    case 2: {
        uint16_t v = (uint16_t)c->pattern;
        if (contiguous) for (int64_t i = 0; i < n; i++) ((uint16_t *)o)[i] = v;
        else for (int64_t i = 0; i < n; i++) *(uint16_t *)(o + i * s[0]) = v;
        break;
    }
    case 4: {
        uint32_t v = (uint32_t)c->pattern;
        if (contiguous) for (int64_t i = 0; i < n; i++) ((uint32_t *)o)[i] = v;
        else for (int64_t i = 0; i < n; i++) *(uint32_t *)(o + i * s[0]) = v;
        break;
    }
    default: {
        uint64_t v = c->pattern;
        if (contiguous) for (int64_t i = 0; i < n; i++) ((uint64_t *)o)[i] = v;
        else for (int64_t i = 0; i < n; i++) *(uint64_t *)(o + i * s[0]) = v;
        break;
    }
    }
}

born_status cpu_fill(const born_strided *dst, double value) {
    fill_ctx c = {born_dtype_size(dst->dtype), 0};
    unsigned char bytes[8] = {0};
    scalar_store_f64(bytes, dst->dtype, value);
    switch (c.size) {
    case 1: c.pattern = bytes[0]; break;
    case 2: { uint16_t v; memcpy(&v, bytes, 2); c.pattern = v; break; }
    case 4: { uint32_t v; memcpy(&v, bytes, 4); c.pattern = v; break; }
    default: memcpy(&c.pattern, bytes, 8); break;
    }
    const born_strided *ops[1] = {dst};
    cpu_iter_run(1, ops, fill_loop, &c, 0);
    return BORN_OK;
}
