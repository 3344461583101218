/* The CPU attention kernels (the backend's attention and attention_backward entries): flash
 * attention for f32 and f64, written once in attention_impl.h (f16 and bf16 go to
 * attention_half.c). The f32 exponentials go through
 * the AVX2 vector exp when the CPU has it (NEON's at CPU_LEVEL_NEON), and f32 inputs without a
 * mask or dropout take the register-tiled forward and backward tiles of attention_fwd_avx2.c
 * (attention_fwd_neon.c on arm64). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/attention_half.h"
#include "backend/cpu/attention_kernels.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/scratch.h"
#include "core/cpu_features.h"
#include "core/philox.h"

/* With at least this many (batch, kv head) pairs, the backward gives each pair to one task;
 * with fewer it splits the work by key blocks and then by query blocks. */
enum { ATTN_HEAD_TASKS_MIN = 4 };

float attn_exp_shift_f32_ref(float *x, int64_t n, float shift) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - shift);
        s += x[i];
    }
    return s;
}

static float exp_shift_f32(float *x, int64_t n, float shift) {
#if defined(__x86_64__)
    if (cpu_get_level() >= CPU_LEVEL_AVX2) return attn_exp_shift_f32_avx2(x, n, shift);
#elif defined(__aarch64__)
    if (cpu_get_level() == CPU_LEVEL_NEON) return attn_exp_shift_f32_neon(x, n, shift);
#endif
    return attn_exp_shift_f32_ref(x, n, shift);
}

static double exp_shift_f64(double *x, int64_t n, double shift) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = exp(x[i] - shift);
        s += x[i];
    }
    return s;
}

/* The backward tasks run with denormals flushed to zero (MXCSR FTZ and DAZ, this thread only,
 * restored at the end of the task). Early in training dS = P (dP - Delta) is mostly below
 * FLT_MIN (9.3M of the 12 attention backwards of two KJV GPT steps), and on Intel cores every
 * instruction with a denormal operand or result takes a microcode assist: the backward of one
 * GPT layer took 1 s on one Xeon thread instead of 32 ms on a Zen 3 one. Values below FLT_MIN
 * change the gradients by less than that. */
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
static unsigned attn_ftz_begin(void) {
    unsigned old = _mm_getcsr();
    _mm_setcsr(old | 0x8040u); /* FTZ (bit 15) and DAZ (bit 6) */
    return old;
}
static void attn_ftz_end(unsigned old) { _mm_setcsr(old); }
#else
static unsigned attn_ftz_begin(void) { return 0; }
static void attn_ftz_end(unsigned old) { (void)old; }
#endif

/* The backward's register tiles (attention_impl.h's fast_bwd_tile_), AVX2 or NEON. */
#if defined(__x86_64__)
#define ATTN_FAST_TILES attn_bwd_tile_f32_avx2
#elif defined(__aarch64__)
#define ATTN_FAST_TILES attn_bwd_tile_f32_neon
#endif
#define REAL float
#define SFX _f32
#define GEMM cpu_gemm_f32
#define EXP_SHIFT exp_shift_f32
#define EXPR_EXP expf
#define EXPR_LOG logf
#include "backend/cpu/attention_impl.h"
#undef REAL
#undef SFX
#undef GEMM
#undef EXP_SHIFT
#undef EXPR_EXP
#undef EXPR_LOG
#undef ATTN_FAST_TILES

#define REAL double
#define SFX _f64
#define GEMM cpu_gemm_f64
#define EXP_SHIFT exp_shift_f64
#define EXPR_EXP exp
#define EXPR_LOG log
#include "backend/cpu/attention_impl.h"
#undef REAL
#undef SFX
#undef GEMM
#undef EXP_SHIFT
#undef EXPR_EXP
#undef EXPR_LOG

/* The tile sizes: the caller's, else 64 queries by 128 keys (64 x 64 for d > 128). */
static void tiles(const born_attention_args *a, int64_t *bq, int64_t *bkv) {
    *bq = a->block_q > 0 ? a->block_q : 64;
    *bkv = a->block_kv > 0 ? a->block_kv : (a->head_dim > 128 ? 64 : 128);
}

#define SETUP(T, c)                                                                               \
    c.a = args;                                                                                   \
    c.sq = *q;                                                                                    \
    c.sk = *k;                                                                                    \
    c.sv = *v;                                                                                    \
    c.smask = *mask;                                                                              \
    c.mask = args->mask_kind ? mask->data : NULL;                                                 \
    c.q = q->data;                                                                                \
    c.k = k->data;                                                                                \
    c.v = v->data;                                                                                \
    tiles(args, &c.bq, &c.bkv);                                                                   \
    c.group = args->q_heads / args->kv_heads;                                                     \
    c.nqb = (args->q_len + c.bq - 1) / c.bq;                                                      \
    c.nkb = (args->kv_len + c.bkv - 1) / c.bkv

/* Whether f32 attention with these inputs may take the register tiles (the forward's and the
 * backward's): no mask or dropout, K and V rows contiguous, and at AVX2 (or above) v_dim a
 * multiple of 8, at NEON a multiple of 4. */
static bool fast_tiles(const born_strided *k, const born_strided *v,
                       const born_attention_args *args) {
    if (args->mask_kind || args->dropout_p > 0 || k->strides[3] != 1 || v->strides[3] != 1)
        return false;
#if defined(__x86_64__)
    return cpu_get_level() >= CPU_LEVEL_AVX2 && args->v_dim % 8 == 0;
#elif defined(__aarch64__)
    return cpu_get_level() == CPU_LEVEL_NEON && args->v_dim % 4 == 0;
#else
    return false;
#endif
}

/* The AVX2 forward (attention_fwd_avx2.c), or the NEON one (attention_fwd_neon.c), for the
 * inputs fast_tiles accepts; the default tiles are 64 queries x 120 keys (a multiple of the
 * register tiles' 6 keys at AVX2 and 5 at NEON). */
static bool fast_forward(const born_strided *out, const born_strided *lse, const born_strided *q,
                         const born_strided *k, const born_strided *v,
                         const born_attention_args *args, born_status *st) {
#if defined(__x86_64__) || defined(__aarch64__)
    if (q->dtype != BORN_F32 || !fast_tiles(k, v, args)) return false;
    attn_fwd_f32_job jb;
    memset(&jb, 0, sizeof jb);
    jb.a = args;
    jb.q = q->data;
    jb.k = k->data;
    jb.v = v->data;
    for (int i = 0; i < 4; i++) {
        jb.q_s[i] = q->strides[i];
        jb.k_s[i] = k->strides[i];
        jb.v_s[i] = v->strides[i];
    }
    jb.out = out->data;
    jb.lse = lse->data;
    jb.bq = args->block_q > 0 ? args->block_q : 64;
    jb.bkv = args->block_kv > 0 ? args->block_kv : 120;
#if defined(__x86_64__)
    attn_fwd_f32_avx2(&jb);
#else
    attn_fwd_f32_neon(&jb);
#endif
    *st = jb.failed ? born_error(BORN_ERR_MEMORY, "attention: out of memory for a tile") : BORN_OK;
    return true;
#else
    (void)out, (void)lse, (void)q, (void)k, (void)v, (void)args, (void)st;
    return false;
#endif
}

born_status cpu_attention(const born_strided *out, const born_strided *lse, const born_strided *q,
                          const born_strided *k, const born_strided *v, const born_strided *mask,
                          const born_attention_args *args) {
    born_status st;
    if (q->dtype == BORN_F16 || q->dtype == BORN_BF16)
        return cpu_attention_half(out, lse, q, k, v, mask, args);
    if (fast_forward(out, lse, q, k, v, args, &st)) return st;
    if (q->dtype == BORN_F32) {
        attn_ctx__f32 c;
        memset(&c, 0, sizeof c);
        SETUP(float, c);
        c.out = out->data;
        c.lse = lse->data;
        return attention_fwd__f32(&c);
    }
    if (q->dtype == BORN_F64) {
        attn_ctx__f64 c;
        memset(&c, 0, sizeof c);
        SETUP(double, c);
        c.out = out->data;
        c.lse = lse->data;
        return attention_fwd__f64(&c);
    }
    return born_error(BORN_ERR_DTYPE,
                      "attention: the CPU kernel takes f32, f64, f16 or bf16, not %s",
                      born_dtype_name(q->dtype));
}

born_status cpu_attention_backward(const born_strided *dq, const born_strided *dk,
                                   const born_strided *dv, const born_strided *grad_out,
                                   const born_strided *q, const born_strided *k,
                                   const born_strided *v, const born_strided *mask,
                                   const born_strided *out, const born_strided *lse,
                                   const born_attention_args *args) {
    if (q->dtype == BORN_F16 || q->dtype == BORN_BF16)
        return cpu_attention_half_backward(dq, dk, dv, grad_out, q, k, v, mask, out, lse, args);
    if (q->dtype == BORN_F32) {
        attn_ctx__f32 c;
        memset(&c, 0, sizeof c);
        SETUP(float, c);
        c.o = out->data;
        c.dout = grad_out->data;
        c.lse = lse->data;
        c.dq = dq->data;
        c.dk = dk->data;
        c.dv = dv->data;
        c.fast = fast_tiles(k, v, args);
        return attention_bwd__f32(&c);
    }
    if (q->dtype == BORN_F64) {
        attn_ctx__f64 c;
        memset(&c, 0, sizeof c);
        SETUP(double, c);
        c.o = out->data;
        c.dout = grad_out->data;
        c.lse = lse->data;
        c.dq = dq->data;
        c.dk = dk->data;
        c.dv = dv->data;
        return attention_bwd__f64(&c);
    }
    return born_error(BORN_ERR_DTYPE,
                      "attention backward: the CPU kernel takes f32, f64, f16 or bf16, not %s",
                      born_dtype_name(q->dtype));
}
