/* One decoded token of a LLaMA-family model as one parallel region.
 *
 * Per token the model runs ~10 short steps per layer (a 135M model: products of 0.1-1 MB, norms,
 * attention over a few heads), each a few microseconds to ~100 us. Handing each step to the pool
 * as its own job costs a wake-up and a wait per step, which at two threads was a third of the
 * token's time. Here the pool's threads enter one team region (core/thread_pool.h) for the whole
 * token and meet at barriers between the steps:
 *
 *   thread 0: rms_norm, quantize the input          | barrier
 *   all:      q/k/v rows, an equal share of bytes   | barrier
 *   thread 0: RoPE, KV cache write                  | barrier
 *   all:      attention, a share of the heads       | barrier
 *   thread 0: quantize (or per head in attention)   | barrier
 *   all:      Wo rows                               | barrier
 *   thread 0: residual, rms_norm, quantize          | barrier
 *   all:      gate/up rows, SwiGLU, quantize        | barrier  (a chunk: whole input blocks of down)
 *   all:      down rows                             | barrier  (thread 0: residual)
 *
 * Each step is cut into chunks (~8 KiB of weights; a head of attention; one for the small steps).
 * Thread t owns a contiguous t-th of a step's chunks and takes them from the front, so each thread
 * streams its own part of each weight and claims them from a counter no other thread touches (one
 * cache line per thread and step); a thread done with its part takes chunks from the back of the
 * others' parts, which balances the ends and lets the others go on when one thread is descheduled
 * on a busy machine (a late thread finds the steps it missed done). Every output is computed by the function the batch
 * forward uses for it (llm_group_rows, the attention tasks, the same norms), so the logits are
 * the batch forward's bit for bit, whatever the thread count. */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/thread_pool.h"
#include "llm/session/matvec.h"

/* One cache line: a thread's chunk range [front, back) of a step (front in the low 32 bits), or the
 * step's count of finished chunks. */
typedef struct dec_line {
    _Alignas(64) atomic_uint_fast64_t v;
} dec_line;

typedef struct dec_ctx {
    born_session *s;
    int32_t pos, nsteps;
    int nowners;         /* threads the ranges were cut for */
    const int32_t *nch;  /* chunks per step */
    dec_line *lines;     /* per step: done, then nowners ranges */
    float *logits;
    atomic_int failed; /* attention could not allocate its buffers */
} dec_ctx;

static bool group_qkv(llm_group *g, born_session *s, const llm_layer *L) {
    float *outs[3] = {s->q, s->k, s->v};
    const llm_weight *ws[3] = {&L->wq, &L->wk, &L->wv}, *bs[3] = {&L->bq, &L->bk, &L->bv};
    return llm_group_init(g, outs, s->xn, ws, bs, 3, s->xq, s->xq_bytes);
}

static bool group_wo(llm_group *g, born_session *s, const llm_layer *L) {
    float *outs[1] = {s->xn};
    const llm_weight *ws[1] = {&L->wo}, *bs[1] = {&L->bo};
    return llm_group_init(g, outs, s->att, ws, bs, 1, s->xq, s->xq_bytes);
}

static bool group_gate_up(llm_group *g, born_session *s, const llm_layer *L) {
    float *outs[2] = {s->gate, s->up};
    const llm_weight *ws[2] = {&L->w_gate, &L->w_up};
    return llm_group_init(g, outs, s->xn, ws, NULL, 2, s->xq, s->xq_bytes);
}

static bool group_down(llm_group *g, born_session *s, const llm_layer *L) {
    float *outs[1] = {s->xn};
    const llm_weight *ws[1] = {&L->w_down};
    return llm_group_init(g, outs, s->gate, ws, NULL, 1, s->xq, s->xq_bytes);
}

/* The down product when SwiGLU is fused into the gate/up chunks (see count_chunks): its input is
 * quantized into the attention output's buffer, free by then, because the gate/up chunks still
 * read the FFN input from xq while others write the quantized SwiGLU. */
static bool group_down_fused(llm_group *g, born_session *s, const llm_layer *L) {
    float *outs[1] = {s->xn};
    const llm_weight *ws[1] = {&L->w_down};
    const llm_hparams *hp = &s->model->hp;
    const size_t att_bytes = (size_t)s->n_batch * (size_t)hp->n_head * (size_t)hp->head_dim * sizeof(float);
    return llm_group_init(g, outs, s->gate, ws, NULL, 1, s->att, att_bytes);
}

static bool group_output(llm_group *g, born_session *s, float *logits) {
    const born_model *m = s->model;
    const llm_weight *ws[1] = {m->output.t ? &m->output : &m->tok_embd};
    float *outs[1] = {logits};
    return llm_group_init(g, outs, s->xn, ws, NULL, 1, s->xq, s->xq_bytes);
}

bool llm_decode_usable(born_session *s) {
    if (s->decode_team == 0) {
        const born_model *m = s->model;
        bool ok = true;
        llm_group g;
        float dummy = 0.0f;
        for (int32_t l = 0; l < m->hp.n_layer && ok; l++) {
            const llm_layer *L = &m->layers[l];
            ok = group_qkv(&g, s, L) && group_wo(&g, s, L) && group_gate_up(&g, s, L) &&
                 group_down(&g, s, L);
        }
        ok = ok && group_output(&g, s, &dummy);
        s->decode_team = ok ? 1 : -1;
    }
    return s->decode_team > 0;
}

enum { STEPS_PER_LAYER = 10, CHUNK_BYTES = 8192, MAX_CHUNKS = 1024, YIELD_SPINS = 2000 };

/* FFN indices per fused gate/up chunk (gu: the gate/up group, gd: the fused down group): about
 * CHUNK_BYTES of gate and up rows, a whole number of gd's input blocks (runs of 8 for f16 down
 * weights, which read the SwiGLU output as it is) so that each chunk quantizes its own blocks. */
static int64_t ffn_per_chunk(const llm_group *gu, const llm_group *gd) {
    const int64_t blk = gd->f16 ? 8 : quant_traits_of(gd->vdt)->block;
    const int64_t bytes = (int64_t)(gu->ws[0]->row_bytes + gu->ws[1]->row_bytes);
    const int64_t n = CHUNK_BYTES / bytes / blk;
    return (n < 1 ? 1 : n) * blk;
}

/* The token's steps in order: per layer (kind = step % STEPS_PER_LAYER)
 *   0 S  residual of the layer before, rms_norm, quantize      1 P  q/k/v rows
 *   2 S  RoPE, KV cache write                                  3 P  attention, one head a chunk
 *   4 S  quantize the attention output (none: done by step 3)   5 P  Wo rows
 *   6 S  residual, rms_norm, quantize                          7 P  gate/up rows
 *   8 S  SwiGLU, quantize (none: done by step 7)              9 P  down rows
 * then S (residual, output norm, quantize) and P (output rows) when logits are wanted.
 * S steps are one chunk, P steps several. */
static int chunks_of(const llm_group *g) {
    double bytes = 0;
    for (int i = 0; i < g->count; i++) bytes += (double)g->ws[i]->rows * (double)g->ws[i]->row_bytes;
    int64_t c = (int64_t)(bytes / CHUNK_BYTES);
    int64_t rows4 = g->starts[g->count] / 4;
    if (c > rows4) c = rows4;
    return c < 1 ? 1 : c > MAX_CHUNKS ? MAX_CHUNKS : (int)c;
}

static void add(float *x, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

/* The product group of step k (a P step of a product), built into *g. */
static void step_group(llm_group *g, dec_ctx *c, int32_t k) {
    born_session *s = c->s;
    const born_model *m = s->model;
    int32_t l = k / STEPS_PER_LAYER;
    if (l >= m->hp.n_layer) {
        group_output(g, s, c->logits);
        return;
    }
    const llm_layer *L = &m->layers[l];
    switch (k % STEPS_PER_LAYER) {
    case 0: case 1: group_qkv(g, s, L); break;
    case 3: case 4: case 5: group_wo(g, s, L); break;
    case 6: case 7: group_gate_up(g, s, L); break;
    default: /* 8, 9: the down product, fused when step 8 has no chunks */
        if (c->nch && c->nch[l * STEPS_PER_LAYER + 8] == 0) group_down_fused(g, s, L);
        else group_down(g, s, L);
        break;
    }
}

/* Runs chunk ch of step k (g: the step's group where it has one; gd: the fused down group of a
 * fused gate/up step). */
static void run_chunk(dec_ctx *c, int32_t k, int ch, int nch, const llm_group *g, const llm_group *gd) {
    born_session *s = c->s;
    const born_model *m = s->model;
    const llm_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, Dq = (int64_t)hp->n_head * hp->head_dim,
                  Dkv = (int64_t)hp->n_head_kv * hp->head_dim;
    const int32_t l = k / STEPS_PER_LAYER, kind = l < hp->n_layer ? k % STEPS_PER_LAYER : 10 + k % 2;
    const llm_layer *L = l < hp->n_layer ? &m->layers[l] : NULL;
    int64_t b, e;
    switch (kind) {
    case 0:
        if (l > 0) add(s->x, s->xn, E);
        llm_rms_norm(s->xn, s->x, L->attn_norm.data, 1, E, hp->rms_eps);
        llm_group_quantize(g, s->xn);
        return;
    case 2:
        llm_rope_apply(s->q, 1, Dq, hp->n_head, hp, s->rope_cs);
        llm_rope_apply(s->k, 1, Dkv, hp->n_head_kv, hp, s->rope_cs);
        llm_kv_store(s, l, s->k, s->v, 1, c->pos);
        return;
    case 3:
        if (!llm_attention_heads(s, l, s->q, s->att, c->pos, ch, ch + 1)) atomic_store(&c->failed, 1);
        if (c->nch[k + 1] == 0 && !g->f16) /* Wo's input quantized head by head (see count_chunks) */
            g->act(s->att + (int64_t)ch * hp->head_dim,
                   (char *)g->xq + quant_row_bytes(g->vdt, (int64_t)ch * hp->head_dim), hp->head_dim);
        return;
    case 4:
        llm_group_quantize(g, s->att);
        return;
    case 6:
        add(s->x, s->xn, E);
        llm_rms_norm(s->xn, s->x, L->ffn_norm.data, 1, E, hp->rms_eps);
        llm_group_quantize(g, s->xn);
        return;
    case 8:
        llm_swiglu(s->gate, s->up, hp->n_ff);
        llm_group_quantize(g, s->gate);
        return;
    case 7:
        if (c->nch[k + 1] == 0) { /* gate and up rows of a range of FFN indices, SwiGLU, quantize */
            const int64_t F = hp->n_ff, per = ffn_per_chunk(g, gd), a = (int64_t)ch * per;
            const int64_t z = a + per < F ? a + per : F;
            llm_group_rows(g, a, z);
            llm_group_rows(g, F + a, F + z);
            llm_swiglu(s->gate + a, s->up + a, z - a);
            if (!gd->f16) gd->act(s->gate + a, (char *)gd->xq + quant_row_bytes(gd->vdt, a), z - a);
            return;
        }
        llm_group_share(g, ch, nch, &b, &e);
        if (e > b) llm_group_rows(g, b, e);
        return;
    case 10:
        add(s->x, s->xn, E);
        llm_rms_norm(s->xn, s->x, m->out_norm.data, 1, E, hp->rms_eps);
        llm_group_quantize(g, s->xn);
        return;
    default: /* 1, 5, 7, 9, 11: rows */
        llm_group_share(g, ch, nch, &b, &e);
        if (e > b) llm_group_rows(g, b, e);
        return;
    }
}

/* The chunk at the front (owner) or back (another thread) of a range, if any is left. */
static bool claim(atomic_uint_fast64_t *r, bool front, int *ch) {
    uint64_t v = atomic_load_explicit(r, memory_order_relaxed);
    for (;;) {
        uint32_t f = (uint32_t)v, b = (uint32_t)(v >> 32);
        if (f >= b) return false;
        uint64_t nv = front ? v + 1 : ((uint64_t)(b - 1) << 32) | f;
        if (atomic_compare_exchange_weak_explicit(r, &v, nv, memory_order_acquire, memory_order_relaxed)) {
            *ch = (int)(front ? f : b - 1);
            return true;
        }
    }
}

/* Every thread walks the steps in order: its own chunks of the step, then any left in the others'
 * ranges, then it waits until the step's chunks are all done. */
static void decode_team(int tid, int n, void *arg) {
    dec_ctx *c = arg;
    const int N = c->nowners;
    const llm_hparams *hp = &c->s->model->hp;
    llm_group g, gd;
    memset(&g, 0, sizeof g);
    memset(&gd, 0, sizeof gd);
    for (int32_t k = 0; k < c->nsteps; k++) {
        dec_line *lines = c->lines + (size_t)k * (N + 1);
        const int nch = c->nch[k];
        const int32_t kind = k / STEPS_PER_LAYER < hp->n_layer ? k % STEPS_PER_LAYER : 10 + k % 2;
        bool built = false;
        int done = 0, ch;
        for (int o = 0; o < N; o++) {
            int owner = (tid + o) % N;
            if (o == 0 && tid >= N) continue;
            while (claim(&lines[1 + owner].v, owner == tid, &ch)) {
                if (!built && kind != 2) {
                    step_group(&g, c, k);
                    if (kind == 7 && c->nch[k + 1] == 0) step_group(&gd, c, k + 1);
                }
                built = true;
                run_chunk(c, k, ch, nch, &g, &gd);
                done++;
            }
        }
        if (n == 1) continue;
        if (done) atomic_fetch_add_explicit(&lines[0].v, (uint64_t)done, memory_order_acq_rel);
        int spins = 0;
        while (atomic_load_explicit(&lines[0].v, memory_order_acquire) < (uint64_t)nch) {
            if (++spins < YIELD_SPINS) {
#if defined(__x86_64__) || defined(__i386__)
                __builtin_ia32_pause();
#endif
            } else {
                spins = 0;
                sched_yield();
            }
        }
    }
}

/* The chunks of every step (they depend on the model only). */
static int32_t *count_chunks(born_session *s) {
    const born_model *m = s->model;
    const int32_t nsteps = m->hp.n_layer * STEPS_PER_LAYER + 2;
    int32_t *nch = malloc((size_t)nsteps * sizeof *nch);
    if (!nch) return NULL;
    dec_ctx c;
    memset(&c, 0, sizeof c);
    c.s = s;
    c.logits = s->xn; /* any pointer: only the group's shape is looked at */
    c.nch = nch;
    llm_group g, gd;
    for (int32_t k = 0; k < nsteps; k++) {
        const int32_t kind = k / STEPS_PER_LAYER < m->hp.n_layer ? k % STEPS_PER_LAYER : 10 + k % 2;
        nch[k] = 1;
        if (kind == 7) {
            /* SwiGLU and the down product's input quantization fused into the gate/up chunks
             * (step 8 then has none), each chunk covering whole input blocks of the down weights:
             * one barrier and one serial step less per layer. The SwiGLU of a range starting at a
             * multiple of 8 and the block-by-block quantizers give the whole row's bits. */
            step_group(&g, &c, k);
            const llm_layer *L = &m->layers[k / STEPS_PER_LAYER];
            if (g.count == 2 && g.ws[0]->rows == m->hp.n_ff && g.ws[1]->rows == m->hp.n_ff &&
                group_down_fused(&gd, s, L)) {
                const int64_t per = ffn_per_chunk(&g, &gd);
                nch[k] = (int32_t)((m->hp.n_ff + per - 1) / per);
                nch[k + 1] = 0;
                k++;
                continue;
            }
            nch[k] = chunks_of(&g);
        } else if (kind == 4) {
            /* Wo's input is quantized by the attention chunks, one head each, where the blocks of
             * its vec_dot type divide a head (the quantizers work block by block, so the bits are
             * the whole row's); f16 weights read it as it is: no step */
            step_group(&g, &c, k);
            if (g.f16 || m->hp.head_dim % quant_traits_of(g.vdt)->block == 0) nch[k] = 0;
        } else if (kind == 3) {
            nch[k] = m->hp.n_head;
        } else if (kind % 2) {
            step_group(&g, &c, k);
            nch[k] = chunks_of(&g);
        }
    }
    return nch;
}

born_status llm_decode_llama(born_session *s, int32_t token, int32_t pos, float *logits) {
    const born_model *m = s->model;
    born_status st = llm_get_row(s->x, &m->tok_embd, token);
    if (st != BORN_OK) return st;
    llm_rope_table(s->rope_cs, &m->hp, m->rope_freqs.t ? (const float *)m->rope_freqs.data : NULL,
                   pos, 1);
    dec_ctx c;
    memset(&c, 0, sizeof c);
    c.s = s;
    c.pos = pos;
    c.logits = logits;
    c.nsteps = m->hp.n_layer * STEPS_PER_LAYER + (logits ? 2 : 0);
    const int N = born_get_num_threads();
    const size_t nlines = ((size_t)m->hp.n_layer * STEPS_PER_LAYER + 2) * (size_t)(N + 1);
    if (!s->decode_nch && !(s->decode_nch = count_chunks(s)))
        return born_error(BORN_ERR_MEMORY, "born_session_eval: out of memory");
    if (s->decode_owners != N) {
        free(s->decode_steps);
        s->decode_steps = NULL;
        s->decode_owners = 0;
        if (posix_memalign(&s->decode_steps, 64, nlines * sizeof(dec_line)) != 0) {
            s->decode_steps = NULL;
            return born_error(BORN_ERR_MEMORY, "born_session_eval: out of memory");
        }
        s->decode_owners = N;
    }
    c.nowners = N;
    c.nch = s->decode_nch;
    c.lines = s->decode_steps;
    for (int32_t k = 0; k < c.nsteps; k++) {
        dec_line *l = c.lines + (size_t)k * (N + 1);
        const uint64_t nch = (uint64_t)c.nch[k];
        atomic_init(&l[0].v, 0);
        for (int t = 0; t < N; t++)
            atomic_init(&l[1 + t].v, (nch * (uint64_t)(t + 1) / (uint64_t)N) << 32 | (nch * (uint64_t)t / (uint64_t)N));
    }
    /* the final residual: without logits the last down product's output is added here */
    born_parallel_team(decode_team, &c);
    if (!logits) {
        const int64_t E = m->hp.n_embd;
        for (int64_t i = 0; i < E; i++) s->x[i] += s->xn[i];
    }
    if (atomic_load(&c.failed))
        return born_error(BORN_ERR_MEMORY, "born_session_eval: out of memory for attention over "
                          "%d positions", (int)(pos + 1));
    return BORN_OK;
}
