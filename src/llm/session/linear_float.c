/* Batched products with f16, bf16 and f32 weights (prompt processing): out = x w^T (+ bias).
 *
 * One dot product per output reads and converts every weight row once per token; here the batch
 * goes through the f32 GEMM's packed micro-kernel (gemm.h: 6 tokens x 16 weight rows in
 * registers), with x packed once per call into the session's buffer and the weights converted to
 * f32 panel by panel as the kernel needs them (a 16-row panel of one k block, F16C under AVX2;
 * bf16 by a plain loop, widening being a shift),
 * so a weight element is converted once per group of up to LF_MG tokens rather than once per
 * token, and the model is never converted wholesale.
 *
 * Tasks are (group of LF_MG tokens) x (LF_NR weight rows); each output is accumulated in k order
 * within the GEMM's k blocks (which depend on k alone) wherever its task lands, so results do not
 * depend on the thread count. They differ from the one-token dot products (llm_linear) by
 * rounding only, as llama.cpp's batched and one-token products do. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/gemm.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "llm/model/model_internal.h"
#include "llm/session/kernels_simd.h"

/* tokens per group (a multiple of the kernel's 6 rows, a session's 256-token micro-batch in one
 * group, so each weight is read and converted once a batch; its packed k block of 256, 264 KiB,
 * stays in L2) and weight rows per task (their converted k block, 32 KiB, too; 32 rows keep
 * enough tasks for two threads on the 192-row K/V products). SmolLM2 F16 pp512 two threads
 * +5% against 132 x 64 (interleaved, load ~2). */
enum { LF_MG = 258, LF_NR = 32, LF_PANEL = 16 };

typedef struct lf_ctx {
    const llm_weight *w[LLM_GROUP_MAX];
    const float *bias[LLM_GROUP_MAX];
    float *out[LLM_GROUP_MAX];
    int64_t out_rs[LLM_GROUP_MAX], chunks[LLM_GROUP_MAX];
    int64_t first[LLM_GROUP_MAX + 1]; /* weight i's tasks are [first[i], first[i + 1]) */
    int count;
    const float *x;
    float *apack;
    int64_t n, k, groups;
    size_t group_floats;
    atomic_int failed;
} lf_ctx;

typedef struct lf_panel_ctx {
    const llm_weight *w;
    int64_t r0; /* the task's first weight row */
} lf_panel_ctx;

static bool lf_avx2(void) {
#if defined(__x86_64__)
    return cpu_get_level() >= CPU_LEVEL_AVX2;
#else
    return false;
#endif
}

/* B[p][j] = w[r0 + j0 + j][p0 + p] as 16-column panels dst[panel][p][lane], zeros past nc */
static void lf_pack_w(void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float *dst) {
    const lf_panel_ctx *c = ctx;
    const llm_weight *w = c->w;
    const char *base = (const char *)w->data + (size_t)(c->r0 + j0) * w->row_bytes;
    if (w->dtype == BORN_F32) {
        cpu_gemm_f32_pack_b(kc, nc, (const float *)base + p0, 1, w->cols, dst);
        return;
    }
    const bool simd = lf_avx2() && w->dtype == BORN_F16, bf16 = w->dtype == BORN_BF16;
    for (int64_t q = 0; q * LF_PANEL < nc; q++) {
        const uint16_t *src = (const uint16_t *)(base + (size_t)(q * LF_PANEL) * w->row_bytes) + p0;
        float *d = dst + q * LF_PANEL * kc;
        int64_t rows = nc - q * LF_PANEL < LF_PANEL ? nc - q * LF_PANEL : LF_PANEL;
#if defined(__x86_64__)
        if (simd && rows == LF_PANEL) {
            llm_pack_f16_t16_avx2(kc, src, w->cols, d);
            continue;
        }
#endif
        (void)simd;
        for (int64_t p = 0; p < kc; p++)
            for (int64_t i = 0; i < LF_PANEL; i++)
                d[p * LF_PANEL + i] = i >= rows ? 0.0f
                                      : bf16       ? born_bf16_to_f32(src[i * w->cols + p])
                                                   : born_f16_to_f32(src[i * w->cols + p]);
    }
}

static void lf_pack_x(int64_t begin, int64_t end, void *arg) {
    const lf_ctx *c = arg;
    for (int64_t g = begin; g < end; g++) {
        int64_t m0 = g * LF_MG, m = c->n - m0 < LF_MG ? c->n - m0 : LF_MG;
        cpu_gemm_f32_pack_a(m, c->k, c->x + m0 * c->k, c->k, 1, c->apack + (size_t)g * c->group_floats);
    }
}

static void lf_tasks(int64_t begin, int64_t end, void *arg) {
    lf_ctx *c = arg;
    for (int64_t t = begin; t < end; t++) {
        int i = 0;
        while (t >= c->first[i + 1]) i++;
        const llm_weight *w = c->w[i];
        const int64_t u = t - c->first[i];
        int64_t g = u / c->chunks[i], r0 = u % c->chunks[i] * LF_NR;
        int64_t m0 = g * LF_MG, m = c->n - m0 < LF_MG ? c->n - m0 : LF_MG;
        int64_t nr = w->rows - r0 < LF_NR ? w->rows - r0 : LF_NR;
        float *o = c->out[i] + m0 * c->out_rs[i] + r0;
        lf_panel_ctx pc = {w, r0};
        if (!cpu_gemm_f32_packed(m, nr, c->k, c->apack + (size_t)g * c->group_floats, lf_pack_w, &pc,
                                 0.0f, o, c->out_rs[i], 1)) {
            atomic_store(&c->failed, 1);
            continue;
        }
        if (c->bias[i])
            for (int64_t a = 0; a < m; a++)
                for (int64_t j = 0; j < nr; j++) o[a * c->out_rs[i] + j] += c->bias[i][r0 + j];
    }
}

born_status llm_linear_float_group(born_session *s, float *const *outs, const int64_t *out_rs, const float *x,
                                   int64_t n, const llm_weight *const *ws, const llm_weight *const *bs, int count) {
    lf_ctx c;
    memset(&c, 0, sizeof c);
    c.count = count;
    c.x = x;
    c.n = n;
    c.k = ws[0]->cols;
    c.groups = (n + LF_MG - 1) / LF_MG;
    for (int i = 0; i < count; i++) {
        c.w[i] = ws[i];
        c.bias[i] = bs && bs[i] && bs[i]->t ? (const float *)bs[i]->data : NULL;
        c.out[i] = outs[i];
        c.out_rs[i] = out_rs[i];
        c.chunks[i] = (ws[i]->rows + LF_NR - 1) / LF_NR;
        c.first[i + 1] = c.first[i] + c.groups * c.chunks[i];
    }
    /* each group's packed rows start 64-byte aligned */
    c.group_floats = (cpu_gemm_f32_packed_a_size(LF_MG, c.k) + 15) / 16 * 16;
    size_t need = c.group_floats * (size_t)c.groups;
    if (s->fpack_floats < need) {
        free(s->fpack);
        s->fpack_floats = 0;
        void *p = NULL;
        if (posix_memalign(&p, 64, need * sizeof(float)) != 0)
            return born_error(BORN_ERR_MEMORY, "born_session_eval: out of memory for a batch of %lld "
                              "rows of %lld", (long long)n, (long long)c.k);
        s->fpack = p;
        s->fpack_floats = need;
    }
    c.apack = s->fpack;
    born_parallel_for(c.groups, 1, lf_pack_x, &c);
    born_parallel_for(c.first[count], 1, lf_tasks, &c);
    if (atomic_load(&c.failed))
        return born_error(BORN_ERR_MEMORY, "born_session_eval: out of memory for the GEMM's panels");
    return BORN_OK;
}

born_status llm_linear_float_batch(born_session *s, float *out, int64_t out_rs, const float *x,
                                   int64_t n, const llm_weight *w, const llm_weight *bias) {
    return llm_linear_float_group(s, &out, &out_rs, x, n, &w, &bias, 1);
}
