/* The CPU attention entries for f16 and bf16 operands (the backend's attention_half): bf16 with
 * neither mask nor dropout on a CPU with AMX goes to attention_bf16_fwd_avx512.c and
 * attention_bf16_bwd_avx512.c (the products on the tiles); everything else converts q, k, v (and grad_out and out) to f32, runs the f32
 * kernels of attention.c and rounds the results to the operands' dtype, which are the
 * conversions the ops layer made before the backend took halves. */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/allocator.h"
#include "backend/cpu/attention_half.h"
#include "backend/cpu/cpu_kernels.h"
#include "core/cpu_features.h"

static bool is_half(born_dtype t) { return t == BORN_F16 || t == BORN_BF16; }

/* An uninitialised contiguous f32 buffer shaped like s, described in *f; NULL (an error
 * recorded) if memory is short. Free with cpu_mem_free. */
static float *f32_like(const born_strided *s, born_strided *f) {
    memset(f, 0, sizeof *f);
    f->dtype = BORN_F32;
    f->ndim = s->ndim;
    int64_t n = 1;
    for (int d = s->ndim - 1; d >= 0; d--) {
        f->shape[d] = s->shape[d];
        f->strides[d] = n;
        n *= s->shape[d];
    }
    f->data = cpu_mem_alloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!f->data)
        born_error(BORN_ERR_MEMORY, "attention: out of memory for %lld f32 values", (long long)n);
    return f->data;
}

/* f32_like with s's values converted into it. */
static float *f32_copy(const born_strided *s, born_strided *f) {
    float *buf = f32_like(s, f);
    if (buf && cpu_copy(f, s) != BORN_OK) {
        cpu_mem_free(buf);
        return NULL;
    }
    return buf;
}

#if defined(__x86_64__)
/* The AMX kernels keep a copy of a kv head's keys and values per thread (forward: 17 MB at this
 * many keys and heads of 128), and the backward a head's query operands and its keys' f32 sums
 * besides (~120 MB a thread at 32,768 queries and keys). Longer contexts take the f32 kernels,
 * whose memory does not grow with the keys. */
enum { AMX_MAX_KEYS = 32768 };

/* Whether the AMX kernels take these operands: bf16, no mask or dropout, at most AMX_MAX_KEYS
 * keys, the written (and grad_out) rows with unit stride. */
static bool amx_takes(const born_strided *q, const born_attention_args *args,
                      const born_strided *const *rows, int nrows) {
    if (q->dtype != BORN_BF16 || !cpu_amx_enabled() || args->mask_kind || args->dropout_p > 0 ||
        args->kv_len > AMX_MAX_KEYS)
        return false;
    for (int i = 0; i < nrows; i++)
        if (rows[i]->ndim != 4 || rows[i]->strides[3] != 1) return false;
    return true;
}
#endif

born_status cpu_attention_half(const born_strided *out, const born_strided *lse,
                               const born_strided *q, const born_strided *k, const born_strided *v,
                               const born_strided *mask, const born_attention_args *args) {
    if (!is_half(q->dtype) || k->dtype != q->dtype || v->dtype != q->dtype ||
        out->dtype != q->dtype)
        return born_error(BORN_ERR_DTYPE, "attention: q, k, v and out must share one half dtype");
#if defined(__x86_64__)
    if (amx_takes(q, args, (const born_strided *const[]){out}, 1))
        return attn_bf16_forward_amx(out, lse, q, k, v, args);
#endif
    born_strided fq, fk, fv, fo;
    float *bq = f32_copy(q, &fq), *bk = bq ? f32_copy(k, &fk) : NULL;
    float *bv = bk ? f32_copy(v, &fv) : NULL, *bo = bv ? f32_like(out, &fo) : NULL;
    born_status st = bo ? cpu_attention(&fo, lse, &fq, &fk, &fv, mask, args) : born_last_status();
    if (st == BORN_OK) st = cpu_copy(out, &fo);
    cpu_mem_free(bq);
    cpu_mem_free(bk);
    cpu_mem_free(bv);
    cpu_mem_free(bo);
    return st;
}

born_status cpu_attention_half_backward(const born_strided *dq, const born_strided *dk,
                                        const born_strided *dv, const born_strided *grad_out,
                                        const born_strided *q, const born_strided *k,
                                        const born_strided *v, const born_strided *mask,
                                        const born_strided *out, const born_strided *lse,
                                        const born_attention_args *args) {
    const born_strided *same[] = {dq, dk, dv, grad_out, k, v, out};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        if (!is_half(q->dtype) || same[i]->dtype != q->dtype)
            return born_error(BORN_ERR_DTYPE,
                              "attention backward: the operands and gradients must share q's "
                              "half dtype");
#if defined(__x86_64__)
    if (amx_takes(q, args, (const born_strided *const[]){dq, dk, dv, grad_out, out}, 5))
        return attn_bf16_backward_amx(dq, dk, dv, grad_out, q, k, v, out, lse, args);
#endif
    born_strided f[8];
    float *b[8] = {0};
    const born_strided *in[5] = {grad_out, q, k, v, out};
    bool ok = true;
    for (int i = 0; i < 5 && ok; i++)
        ok = (b[i] = f32_copy(in[i], &f[i])) != NULL;
    const born_strided *grads[3] = {dq, dk, dv};
    for (int i = 0; i < 3 && ok; i++)
        ok = (b[5 + i] = f32_like(grads[i], &f[5 + i])) != NULL;
    born_status st = ok ? cpu_attention_backward(&f[5], &f[6], &f[7], &f[0], &f[1], &f[2], &f[3],
                                                 mask, &f[4], lse, args)
                        : born_last_status();
    for (int i = 0; i < 3 && st == BORN_OK; i++)
        st = cpu_copy(grads[i], &f[5 + i]);
    for (int i = 0; i < 8; i++)
        cpu_mem_free(b[i]);
    return st;
}
