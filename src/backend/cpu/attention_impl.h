/* Internal: the flash-attention kernels for one floating type, included by attention.c once per
 * type with REAL (the element type), SFX (its suffix), GEMM (cpu_gemm_f32/f64) and EXP_SHIFT
 * (writes exp(x - shift) over a row in place and returns the row's sum) defined, and for f32
 * optionally ATTN_FAST_TILES (the backward's register tile, attn_bwd_tile_f32_avx2 or _neon).
 *
 * Forward (one task per batch, query head and block of block_q queries): for each block of
 * block_kv keys, S = scale Q K^T (one GEMM), the mask and causal limit are applied, the running
 * row maxima m and sums l are updated (online softmax: earlier partial outputs are rescaled by
 * exp(m_old - m_new)), and O += P V (one GEMM). At the end O /= l and lse = m + log l. Memory is
 * one block_q x block_kv tile and one block_q x Ev accumulator per task: O(T), never L x S.
 *
 * Backward (FlashAttention-2): with Delta_i = dO_i . O_i and P recomputed from the saved lse,
 * for each tile: dV_j += Pd^T dO_i, dP = dO_i V_j^T, dS = P (dP Z / (1 - p) - Delta_i),
 * dK_j += scale dS^T Q_i, dQ_i += scale dS K_j (Pd = P Z / (1 - p) is the dropped-out P and Z
 * its keep mask). With many (batch, kv head) pairs each task owns one pair and runs all five
 * products per tile; with few, the work is split by key blocks (dK, dV) and then by query blocks
 * (dQ), which recomputes S and dP once more but keeps every thread busy. The split depends only
 * on the shapes, so results do not depend on the thread count. */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SFX)

/* What every task reads. */
typedef struct FN(attn_ctx_) {
    const born_attention_args *a;
    const REAL *q, *k, *v, *o, *dout;
    REAL *out, *lse, *dq, *dk, *dv, *delta;
    born_strided sq, sk, sv, smask; /* strides of the inputs */
    const void *mask;
    int64_t bq, bkv, group;
    int64_t nqb, nkb;
    bool fast; /* f32 only: the backward's tiles go through ATTN_FAST_TILES (AVX2 or NEON) */
    bool failed;
} FN(attn_ctx_);

static inline const REAL *FN(q_row_)(const FN(attn_ctx_) *c, int64_t b, int64_t h, int64_t i) {
    return c->q + b * c->sq.strides[0] + h * c->sq.strides[1] + i * c->sq.strides[2];
}
static inline const REAL *FN(k_row_)(const FN(attn_ctx_) *c, int64_t b, int64_t h, int64_t j) {
    return c->k + b * c->sk.strides[0] + h * c->sk.strides[1] + j * c->sk.strides[2];
}
static inline const REAL *FN(v_row_)(const FN(attn_ctx_) *c, int64_t b, int64_t h, int64_t j) {
    return c->v + b * c->sv.strides[0] + h * c->sv.strides[1] + j * c->sv.strides[2];
}

/* S[r, c] = scale q_{i0+r} . k_{j0+c} for an m x n tile (row stride ld), then the mask and the
 * causal limit: masked scores become -inf, additive mask values are added. */
static void FN(scores_)(const FN(attn_ctx_) *c, int64_t b, int64_t h, int64_t i0, int64_t m,
                        int64_t j0, int64_t n, REAL *s, int64_t ld) {
    const born_attention_args *a = c->a;
    int64_t hk = h / c->group;
    GEMM(m, n, a->head_dim, (REAL)a->scale, FN(q_row_)(c, b, h, i0), c->sq.strides[2],
         c->sq.strides[3], FN(k_row_)(c, b, hk, j0), c->sk.strides[3], c->sk.strides[2], (REAL)0, s,
         ld, 1);
    if (a->mask_kind) {
        const int64_t *ms = c->smask.strides;
        for (int64_t r = 0; r < m; r++) {
            int64_t base = b * ms[0] + h * ms[1] + (i0 + r) * ms[2] + j0 * ms[3];
            REAL *row = s + r * ld;
            if (a->mask_kind == 1) {
                const uint8_t *mk = (const uint8_t *)c->mask + base;
                for (int64_t x = 0; x < n; x++)
                    if (!mk[x * ms[3]]) row[x] = -(REAL)INFINITY;
            } else {
                const REAL *mk = (const REAL *)c->mask + base;
                for (int64_t x = 0; x < n; x++) row[x] += mk[x * ms[3]];
            }
        }
    }
    if (a->causal && j0 + n - 1 > a->kv_offset + i0) {
        for (int64_t r = 0; r < m; r++) {
            int64_t first = a->kv_offset + i0 + r + 1 - j0; /* first masked column */
            if (first < 0) first = 0;
            for (int64_t x = first; x < n; x++) s[r * ld + x] = -(REAL)INFINITY;
        }
    }
}

/* The dropout keep factor of element (b, h, i, j): 0 or 1 / (1 - p). */
static inline REAL FN(keep_)(const born_attention_args *a, int64_t b, int64_t h, int64_t i,
                             int64_t j) {
    uint64_t idx = (((uint64_t)b * (uint64_t)a->q_heads + (uint64_t)h) * (uint64_t)a->q_len +
                    (uint64_t)i) * (uint64_t)a->kv_len + (uint64_t)j;
    float u = philox_uniform_f32(philox4x32(a->rng_offset + idx, a->seed).v[0]);
    return (double)u >= a->dropout_p ? (REAL)(1.0 / (1.0 - a->dropout_p)) : (REAL)0;
}

/* The exclusive end of the keys that queries [i0, i0 + m) may see under the causal limit. */
static inline int64_t FN(kv_end_)(const born_attention_args *a, int64_t i0, int64_t m) {
    if (!a->causal) return a->kv_len;
    int64_t e = a->kv_offset + i0 + m;
    return e < 0 ? 0 : (e > a->kv_len ? a->kv_len : e);
}

/* ---- forward ------------------------------------------------------------------------------ */

static void FN(fwd_task_)(int64_t begin, int64_t end, void *vctx) {
    FN(attn_ctx_) *c = vctx;
    const born_attention_args *a = c->a;
    int64_t bq = c->bq, bkv = c->bkv, ev = a->v_dim;
    size_t bytes = sizeof(REAL) * (size_t)(bq * bkv + bq * ev + 2 * bq);
    REAL *s = cpu_scratch(CPU_SCRATCH_ATTN_TASK, bytes);
    if (!s) {
        c->failed = true;
        return;
    }
    REAL *acc = s + bq * bkv, *mrow = acc + bq * ev, *lrow = mrow + bq;
    for (int64_t t = begin; t < end; t++) {
        int64_t qb = t % c->nqb, bh = t / c->nqb, h = bh % a->q_heads, b = bh / a->q_heads;
        int64_t i0 = qb * bq, m = a->q_len - i0 < bq ? a->q_len - i0 : bq;
        int64_t hk = h / c->group;
        for (int64_t r = 0; r < m; r++) {
            mrow[r] = -(REAL)INFINITY;
            lrow[r] = 0;
        }
        memset(acc, 0, sizeof(REAL) * (size_t)(m * ev));
        int64_t kend = FN(kv_end_)(a, i0, m);
        for (int64_t j0 = 0; j0 < kend; j0 += bkv) {
            int64_t n = kend - j0 < bkv ? kend - j0 : bkv;
            FN(scores_)(c, b, h, i0, m, j0, n, s, bkv);
            for (int64_t r = 0; r < m; r++) {
                REAL *row = s + r * bkv, mx = mrow[r];
                for (int64_t x = 0; x < n; x++) mx = row[x] > mx ? row[x] : mx;
                if (mx == -(REAL)INFINITY) { /* nothing visible yet: P = 0 */
                    memset(row, 0, sizeof(REAL) * (size_t)n);
                    continue;
                }
                REAL alpha = mrow[r] == -(REAL)INFINITY ? 0 : (REAL)EXPR_EXP(mrow[r] - mx);
                REAL sum = EXP_SHIFT(row, n, mx);
                lrow[r] = lrow[r] * alpha + sum;
                mrow[r] = mx;
                if (alpha != (REAL)1) {
                    REAL *o = acc + r * ev;
                    for (int64_t x = 0; x < ev; x++) o[x] *= alpha;
                }
                if (a->dropout_p > 0)
                    for (int64_t x = 0; x < n; x++) row[x] *= FN(keep_)(a, b, h, i0 + r, j0 + x);
            }
            GEMM(m, ev, n, (REAL)1, s, bkv, 1, FN(v_row_)(c, b, hk, j0), c->sv.strides[2],
                 c->sv.strides[3], (REAL)1, acc, ev, 1);
        }
        for (int64_t r = 0; r < m; r++) {
            REAL *o = c->out + ((b * a->q_heads + h) * a->q_len + i0 + r) * ev;
            REAL l = lrow[r], inv = l > 0 ? (REAL)1 / l : 0;
            for (int64_t x = 0; x < ev; x++) o[x] = acc[r * ev + x] * inv;
            c->lse[(b * a->q_heads + h) * a->q_len + i0 + r] =
                l > 0 ? mrow[r] + (REAL)EXPR_LOG(l) : -(REAL)INFINITY;
        }
    }
}

static born_status FN(attention_fwd_)(FN(attn_ctx_) *c) {
    const born_attention_args *a = c->a;
    born_parallel_for(a->batch * a->q_heads * c->nqb, 1, FN(fwd_task_), c);
    if (c->failed) return born_error(BORN_ERR_MEMORY, "attention: out of memory for a tile");
    return BORN_OK;
}

/* ---- backward ----------------------------------------------------------------------------- */

/* Scratch for one backward task: the S/P tile, its dropped-out copy, and dP/dS. */
typedef struct FN(bwd_scratch_) {
    REAL *p, *pd, *ds;
    REAL *qp, *dop; /* panels for the f32 register tiles (ATTN_FAST_TILES) */
    int64_t ldp;    /* their row stride for P^T and dS^T */
} FN(bwd_scratch_);

/* P (and Pd) for the tile of queries [i0, i0+m) and keys [j0, j0+n) of head h, from the lse. */
static void FN(probs_)(const FN(attn_ctx_) *c, int64_t b, int64_t h, int64_t i0, int64_t m,
                       int64_t j0, int64_t n, FN(bwd_scratch_) *w) {
    const born_attention_args *a = c->a;
    int64_t ld = c->bkv;
    FN(scores_)(c, b, h, i0, m, j0, n, w->p, ld);
    for (int64_t r = 0; r < m; r++) {
        REAL l = c->lse[(b * a->q_heads + h) * a->q_len + i0 + r];
        REAL *row = w->p + r * ld;
        if (l == -(REAL)INFINITY) memset(row, 0, sizeof(REAL) * (size_t)n);
        else (void)EXP_SHIFT(row, n, l);
        if (a->dropout_p > 0) {
            REAL *pd = w->pd + r * ld;
            for (int64_t x = 0; x < n; x++) pd[x] = row[x] * FN(keep_)(a, b, h, i0 + r, j0 + x);
        }
    }
}

/* dS = P (dP Z / (1 - p) - Delta) for a tile whose dP = dO V^T is in w->ds. */
static void FN(dscores_)(const FN(attn_ctx_) *c, int64_t b, int64_t h, int64_t i0, int64_t m,
                         int64_t j0, int64_t n, FN(bwd_scratch_) *w) {
    const born_attention_args *a = c->a;
    int64_t ld = c->bkv;
    for (int64_t r = 0; r < m; r++) {
        REAL d = c->delta[(b * a->q_heads + h) * a->q_len + i0 + r];
        REAL *ds = w->ds + r * ld;
        const REAL *p = w->p + r * ld;
        if (a->dropout_p > 0)
            for (int64_t x = 0; x < n; x++)
                ds[x] = p[x] * (ds[x] * FN(keep_)(a, b, h, i0 + r, j0 + x) - d);
        else
            for (int64_t x = 0; x < n; x++) ds[x] = p[x] * (ds[x] - d);
    }
}

#ifdef ATTN_FAST_TILES
/* The f32 register tile: P^T and dS^T from ATTN_FAST_TILES (attention.c names
 * attn_bwd_tile_f32_avx2 or attn_bwd_tile_f32_neon; no packing of K or V), then the three
 * products into dV, dK and dQ. */
static void FN(fast_bwd_tile_)(const FN(attn_ctx_) *c, int64_t b, int64_t h, int64_t i0, int64_t m,
                               int64_t j0, int64_t n, FN(bwd_scratch_) *w, int want) {
    const born_attention_args *a = c->a;
    int64_t ld = w->ldp, e = a->head_dim, ev = a->v_dim, hk = h / c->group;
    int64_t row = (b * a->q_heads + h) * a->q_len + i0;
    const REAL *dout = c->dout + row * ev, *q = FN(q_row_)(c, b, h, i0), *k = FN(k_row_)(c, b, hk, j0);
    attn_bwd_tile_f32 t = {a, q, dout, k, FN(v_row_)(c, b, hk, j0), c->lse + row, c->delta + row,
                           c->sq.strides[2], c->sq.strides[3], c->sk.strides[2], c->sv.strides[2],
                           i0, m, j0, n, ld, w->p, w->ds, w->qp, w->dop};
    ATTN_FAST_TILES(&t);
    if (want & 1) {
        REAL *dk = c->dk + ((b * a->kv_heads + hk) * a->kv_len + j0) * e;
        REAL *dv = c->dv + ((b * a->kv_heads + hk) * a->kv_len + j0) * ev;
        GEMM(n, ev, m, (REAL)1, w->p, ld, 1, dout, ev, 1, (REAL)1, dv, ev, 1);
        GEMM(n, e, m, (REAL)a->scale, w->ds, ld, 1, q, c->sq.strides[2], c->sq.strides[3], (REAL)1, dk, e, 1);
    }
    if (want & 2)
        GEMM(m, e, n, (REAL)a->scale, w->ds, 1, ld, k, c->sk.strides[2], c->sk.strides[3], (REAL)1,
             c->dq + row * e, e, 1);
}
#endif

/* One tile's contributions. want: bit 1 dV and dK, bit 2 dQ. */
static void FN(bwd_tile_)(const FN(attn_ctx_) *c, int64_t b, int64_t h, int64_t i0, int64_t m,
                          int64_t j0, int64_t n, FN(bwd_scratch_) *w, int want) {
    const born_attention_args *a = c->a;
#ifdef ATTN_FAST_TILES
    if (c->fast) {
        FN(fast_bwd_tile_)(c, b, h, i0, m, j0, n, w, want);
        return;
    }
#endif
    int64_t ld = c->bkv, e = a->head_dim, ev = a->v_dim, hk = h / c->group;
    const REAL *dout = c->dout + ((b * a->q_heads + h) * a->q_len + i0) * ev;
    FN(probs_)(c, b, h, i0, m, j0, n, w);
    REAL *dk = c->dk + ((b * a->kv_heads + hk) * a->kv_len + j0) * e;
    REAL *dv = c->dv + ((b * a->kv_heads + hk) * a->kv_len + j0) * ev;
    if (want & 1) /* dV_j += Pd^T dO_i */
        GEMM(n, ev, m, (REAL)1, a->dropout_p > 0 ? w->pd : w->p, 1, ld, dout, ev, 1, (REAL)1, dv,
             ev, 1);
    /* dP = dO_i V_j^T */
    GEMM(m, n, ev, (REAL)1, dout, ev, 1, FN(v_row_)(c, b, hk, j0), c->sv.strides[3],
         c->sv.strides[2], (REAL)0, w->ds, ld, 1);
    FN(dscores_)(c, b, h, i0, m, j0, n, w);
    if (want & 1) /* dK_j += scale dS^T Q_i */
        GEMM(n, e, m, (REAL)a->scale, w->ds, 1, ld, FN(q_row_)(c, b, h, i0), c->sq.strides[2],
             c->sq.strides[3], (REAL)1, dk, e, 1);
    if (want & 2) /* dQ_i += scale dS K_j */
        GEMM(m, e, n, (REAL)a->scale, w->ds, ld, 1, FN(k_row_)(c, b, hk, j0), c->sk.strides[2],
             c->sk.strides[3], (REAL)1, c->dq + ((b * a->q_heads + h) * a->q_len + i0) * e, e, 1);
}

/* Three tiles of bkv rows of ldp (>= bq) elements, then the panels; 64-byte aligned. */
static bool FN(scratch_new_)(const FN(attn_ctx_) *c, FN(bwd_scratch_) *w) {
    int64_t bqp = (c->bq + 15) / 16 * 16;
    w->ldp = bqp + 8;
    size_t tile = (size_t)(w->ldp * c->bkv);
    size_t bytes = sizeof(REAL) * (tile * 3 + (size_t)(bqp * (c->a->head_dim + c->a->v_dim) + 16));
    w->p = cpu_scratch(CPU_SCRATCH_ATTN_TASK, bytes);
    if (!w->p) return false;
    w->pd = w->p + tile;
    w->ds = w->pd + tile;
    w->qp = w->ds + tile;
    w->dop = w->qp + bqp * c->a->head_dim;
    return true;
}

/* The first query block that sees key j0 under the causal limit. */
static inline int64_t FN(first_qblock_)(const FN(attn_ctx_) *c, int64_t j0) {
    const born_attention_args *a = c->a;
    if (!a->causal) return 0;
    int64_t i = j0 - a->kv_offset;
    return i <= 0 ? 0 : i / c->bq;
}

/* One task per (batch, kv head): all five products per tile, dQ accumulated in place. */
static void FN(bwd_head_task_)(int64_t begin, int64_t end, void *vctx) {
    FN(attn_ctx_) *c = vctx;
    const born_attention_args *a = c->a;
    FN(bwd_scratch_) w;
    if (!FN(scratch_new_)(c, &w)) {
        c->failed = true;
        return;
    }
    unsigned mxcsr = attn_ftz_begin();
    for (int64_t t = begin; t < end; t++) {
        int64_t hk = t % a->kv_heads, b = t / a->kv_heads;
        for (int64_t j0 = 0; j0 < a->kv_len; j0 += c->bkv) {
            int64_t n = a->kv_len - j0 < c->bkv ? a->kv_len - j0 : c->bkv;
            for (int64_t h = hk * c->group; h < (hk + 1) * c->group; h++)
                for (int64_t qb = FN(first_qblock_)(c, j0); qb < c->nqb; qb++) {
                    int64_t i0 = qb * c->bq, m = a->q_len - i0 < c->bq ? a->q_len - i0 : c->bq;
                    FN(bwd_tile_)(c, b, h, i0, m, j0, n, &w, 3);
                }
        }
    }
    attn_ftz_end(mxcsr);
}

/* Split by key blocks: dK and dV of one (batch, kv head, key block). */
static void FN(bwd_kv_task_)(int64_t begin, int64_t end, void *vctx) {
    FN(attn_ctx_) *c = vctx;
    const born_attention_args *a = c->a;
    FN(bwd_scratch_) w;
    if (!FN(scratch_new_)(c, &w)) {
        c->failed = true;
        return;
    }
    unsigned mxcsr = attn_ftz_begin();
    for (int64_t t = begin; t < end; t++) {
        int64_t kb = t % c->nkb, bh = t / c->nkb, hk = bh % a->kv_heads, b = bh / a->kv_heads;
        int64_t j0 = kb * c->bkv, n = a->kv_len - j0 < c->bkv ? a->kv_len - j0 : c->bkv;
        for (int64_t h = hk * c->group; h < (hk + 1) * c->group; h++)
            for (int64_t qb = FN(first_qblock_)(c, j0); qb < c->nqb; qb++) {
                int64_t i0 = qb * c->bq, m = a->q_len - i0 < c->bq ? a->q_len - i0 : c->bq;
                FN(bwd_tile_)(c, b, h, i0, m, j0, n, &w, 1);
            }
    }
    attn_ftz_end(mxcsr);
}

/* Split by query blocks: dQ of one (batch, query head, query block). */
static void FN(bwd_q_task_)(int64_t begin, int64_t end, void *vctx) {
    FN(attn_ctx_) *c = vctx;
    const born_attention_args *a = c->a;
    FN(bwd_scratch_) w;
    if (!FN(scratch_new_)(c, &w)) {
        c->failed = true;
        return;
    }
    unsigned mxcsr = attn_ftz_begin();
    for (int64_t t = begin; t < end; t++) {
        int64_t qb = t % c->nqb, bh = t / c->nqb, h = bh % a->q_heads, b = bh / a->q_heads;
        int64_t i0 = qb * c->bq, m = a->q_len - i0 < c->bq ? a->q_len - i0 : c->bq;
        int64_t kend = FN(kv_end_)(a, i0, m);
        for (int64_t j0 = 0; j0 < kend; j0 += c->bkv) {
            int64_t n = kend - j0 < c->bkv ? kend - j0 : c->bkv;
            FN(bwd_tile_)(c, b, h, i0, m, j0, n, &w, 2);
        }
    }
    attn_ftz_end(mxcsr);
}

/* Delta_i = dO_i . O_i for every query row. */
static void FN(delta_task_)(int64_t begin, int64_t end, void *vctx) {
    FN(attn_ctx_) *c = vctx;
    int64_t ev = c->a->v_dim;
    for (int64_t r = begin; r < end; r++) {
        const REAL *o = c->o + r * ev, *g = c->dout + r * ev;
        REAL s = 0;
        for (int64_t x = 0; x < ev; x++) s += o[x] * g[x];
        c->delta[r] = s;
    }
}

static born_status FN(attention_bwd_)(FN(attn_ctx_) *c) {
    const born_attention_args *a = c->a;
    int64_t rows = a->batch * a->q_heads * a->q_len;
    c->delta = cpu_scratch(CPU_SCRATCH_ATTN_ROWS, sizeof(REAL) * (size_t)(rows > 0 ? rows : 1));
    if (!c->delta) return born_error(BORN_ERR_MEMORY, "attention backward: out of memory");
    born_parallel_for(rows, 256, FN(delta_task_), c);
    memset(c->dq, 0, sizeof(REAL) * (size_t)(rows * a->head_dim));
    memset(c->dk, 0, sizeof(REAL) * (size_t)(a->batch * a->kv_heads * a->kv_len * a->head_dim));
    memset(c->dv, 0, sizeof(REAL) * (size_t)(a->batch * a->kv_heads * a->kv_len * a->v_dim));
    int64_t pairs = a->batch * a->kv_heads;
    if (pairs >= ATTN_HEAD_TASKS_MIN) {
        born_parallel_for(pairs, 1, FN(bwd_head_task_), c);
    } else {
        born_parallel_for(pairs * c->nkb, 1, FN(bwd_kv_task_), c);
        born_parallel_for(a->batch * a->q_heads * c->nqb, 1, FN(bwd_q_task_), c);
    }
    c->delta = NULL;
    if (c->failed) return born_error(BORN_ERR_MEMORY, "attention backward: out of memory for a tile");
    return BORN_OK;
}

#undef FN
#undef CAT
#undef CAT_
