/* The bf16 GEMM on Intel AMX tiles (gemm_bf16.h): cpu_gemm_bf16 where cpu_amx_enabled().
 * Compiled with AVX-512 and AMX enabled; called only where the CPU and the OS have AMX-BF16.
 *
 * A tile holds 16 rows of 64 bytes. TDPBF16PS adds to a 16 x 16 f32 tile the products of a
 * 16 x 32 bf16 tile (rows along k) and a 16 x 16 tile of bf16 pairs (row p: the 16 columns' values
 * at k = 2p and 2p + 1, the pair panel format of gemm_bf16.c), 8192 multiply-adds an
 * instruction: 3.4 TFLOP/s from registers on one core of the 2-core Xeon measured, 16 times its
 * AVX-512 FMAs. A block of C of 32 x 32 takes four accumulator tiles, two tiles of P's rows and
 * two of Q's pairs, so each k step of 32 values loads 4 KB for 4 products.
 *
 * The product is written out[r][q] = sum_k P[r, k] Q[k, q], with P the operand whose rows are
 * loaded as tiles of 32 k values and Q the one packed into pair panels. Normally P = A and Q = B
 * (C = out); where A's rows and B's columns both lie along k and A is the smaller (x W^T with
 * few rows), the roles swap: P = B^T and Q = A^T (C = out^T, stored through a buffer). P is packed
 * into blocks of 32 rows by 32 values (2 KB a chunk, one tile a 1 KB half; a transposed view by
 * 16 x 16 transposes) once per k block, except where its rows lie along k: there the tiles load
 * them where they lie, and only the last block's rows and the chunk that k ends in are packed
 * (zero past the rows and k). Rows a multiple of 4 KB apart are read in place only against at
 * most AMX_DIRECT_COLS columns of Q (a 4096-wide weight against a few rows of x, read once): with
 * more, the square products' A had run at 2/3 of the packed rate (the 16 rows of a tile in one
 * cache set). At other strides in place is the faster (one thread, 2026-12-03: 256^3 1.05 -> 1.48
 * TFLOP/s, 1024^3 1.13 -> 1.23, x[2048,384] W[1536,384]^T 1.29 -> 1.41, X[2048,1536] W 1.10 ->
 * 1.27: P's packing was a pass over A for every k block).
 *
 * Blocking: k blocks of AMX_KC values (AMX_KC_DIRECT in place); where C is rounded to bf16, all
 * of k in one block rounded as stored, or, where staged_takes, k blocks summed in f32 in a buffer
 * and rounded by the last (a weight gradient, 384 x 384 over 2048 tokens: one k block packs 3 MB
 * of P and Q, more than L2 holds, where blocks of 512 pack 768 KB next to 576 KB of sums; one
 * thread, 2-core Xeon, 2026-12-03: 690-700 -> 503-514 us, 1536 x 384 -10%, 384 x 1536 even,
 * 1024^2 over 1024 5% slower, so the sums stay under 3 MB); per k block Q's pair panels are packed
 * (all columns; a task is 16 panels by a part of k, a pair of rows at a time across them), P too
 * where it is packed (a block by a part of k), then tasks run (run of Q panels of up to
 * AMX_RUN_BYTES, block of 32 P rows), run-major so that a thread's consecutive tasks find the run's
 * panels in its L2; the next block of C is prefetched while one is computed. A later k block loads
 * C into the accumulators first, so each element's sum runs over k in order in one chain of tile
 * products whatever the split: the bits depend neither on the thread count nor on the k blocking.
 * TDPBF16PS flushes denormal inputs and outputs as VDPBF16PS does.
 *
 * Within a task, k goes in sub-blocks of AMX_SUB chunks (512 values) over the whole run of panels
 * (run_sub_blocked) where it is longer, and Q's tiles are loaded with TILELOADDT1: the task's 32 P
 * rows of a sub-block (32 KB) stay in L1 while the panels stream from L2, where before both
 * operands streamed (one thread, 2-core Xeon, 2026-12-03: 1024^3 1.16-1.28 -> 1.33-1.52 TFLOP/s,
 * 2048^3 1.31 -> 1.47-1.53, X[2048,1536] W[1536,384] 1.27-1.30 -> 1.46-1.55; sub-blocks of 8 or
 * 12 chunks measured slower, and sub-blocking k of 384 cost 18%). */
#include <immintrin.h>
#include <stdatomic.h>
#include <string.h>

#include "backend/cpu/allocator.h"
#include "backend/cpu/convert_avx512.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/gemm_bf16.h"
#include "backend/cpu/scratch.h"
#include "backend/cpu/transpose_avx512.h"

enum {
    AMX_BLOCK = 32,             /* rows and columns of a block of C (2 x 2 tiles) */
    AMX_CHUNK = 32,             /* k values a tile step */
    AMX_KC = 512,               /* k values a k block, P packed */
    AMX_KC_DIRECT = 8192,       /* k values a k block, P read in place */
    AMX_DIRECT_COLS = 64,       /* P's rows 4 KB apart are read in place only against this many
                                   Q columns or fewer */
    AMX_RUN_BYTES = 1 << 20,    /* a run's Q panels (per k block) */
    AMX_SUB = 16,               /* chunks of a k sub-block (run_sub_blocked) */
    AMX_ROUND_K = 4096,         /* staged_takes: k beyond this, or */
    AMX_STAGE_PACKED = 1 << 20, /* a thread's share of a k block's packed P and Q beyond this */
    AMX_STAGE_SUMS = 3 << 20,   /* with the f32 sums, times the threads, within this */
};

/* The tile configuration (palette 1): the layout LDTILECFG reads. */
typedef struct tile_config {
    uint8_t palette, start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* Configures tiles 0..7 as 16 rows of 64 bytes on this thread. LDTILECFG in asm with the whole
 * configuration as its memory operand: through _tile_loadconfig, GCC 12 dropped the stores of
 * the rows and widths as dead once this function was no longer inlined (the tiles then stayed
 * unconfigured and the first TILEZERO past tile 1 raised SIGILL). */
void cpu_amx_tiles_begin(void) {
    _Alignas(64) tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.rows[t] = 16;
        cfg.colsb[t] = 64;
    }
    __asm__ volatile("ldtilecfg %0" : : "m"(cfg));
}

/* One 32 x 32 block: tiles 0..3 the accumulators (rows 0-15 / 16-31 by columns 0-15 / 16-31),
 * loaded from c or zeroed; `chunks` steps of P's two 16-row tiles (rows p_row bytes apart, chunk i
 * at p + i p_chunk bytes) and Q's two 16-column halves (16 pairs of 128 bytes a chunk); then the
 * accumulators stored to c (rows c_rs floats apart). With stream_q, Q's tiles are loaded with the
 * hint that they will not be read again soon (TILELOADDT1), for the GEMM, whose tasks run one
 * block of P rows against a run of Q panels: P then stays in L1 instead of both streaming from
 * L2 (one thread, 2-core Xeon, 2026-12-03: x[2048, 384] W[1536, 384]^T 1377-1446 -> 1561-1567
 * GFLOP/s, 512^3 1399-1539 -> 1627-1701, 1024^3 1157 -> 1295-1369). */
static void block(int64_t chunks, const uint16_t *p, int64_t p_row, int64_t p_chunk,
                  const uint32_t *q, float *c, int64_t c_rs, bool add, const char *next_c,
                  int64_t next_rs, bool stream_q) {
    const char *pb = (const char *)p, *p16 = pb + 16 * p_row;
    int64_t cs = c_rs * (int64_t)sizeof(float);
    int64_t per = (AMX_BLOCK + chunks - 1) / chunks; /* rows of next_c prefetched a step */
    if (add) {
        _tile_loadd(0, c, cs);
        _tile_loadd(1, c + 16, cs);
        _tile_loadd(2, c + 16 * c_rs, cs);
        _tile_loadd(3, c + 16 * c_rs + 16, cs);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    for (int64_t i = 0; i < chunks; i++) {
        const uint32_t *qi = q + i * 16 * AMX_BLOCK;
        _tile_loadd(4, pb + i * p_chunk, p_row);
        if (stream_q) {
            _tile_stream_loadd(6, qi, 128);
            _tile_loadd(5, p16 + i * p_chunk, p_row);
            _tile_stream_loadd(7, qi + 16, 128);
        } else {
            _tile_loadd(6, qi, 128);
            _tile_loadd(5, p16 + i * p_chunk, p_row);
            _tile_loadd(7, qi + 16, 128);
        }
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
        for (int64_t r = i * per; next_c && r < (i + 1) * per && r < AMX_BLOCK; r++) {
            _mm_prefetch(next_c + r * next_rs, _MM_HINT_T0);
            _mm_prefetch(next_c + r * next_rs + 64, _MM_HINT_T0);
        }
    }
    _tile_stored(0, c, cs);
    _tile_stored(1, c + 16, cs);
    _tile_stored(2, c + 16 * c_rs, cs);
    _tile_stored(3, c + 16 * c_rs + 16, cs);
}

void cpu_amx_tiles_end(void) { _tile_release(); }

void cpu_amx_block32(int64_t chunks, const uint16_t *p, int64_t p_row, int64_t p_chunk,
                     const uint32_t *q, float *c, int64_t c_rs, bool add) {
    block(chunks, p, p_row, p_chunk, q, c, c_rs, add, NULL, 0, false);
}

typedef struct amx_job {
    int64_t rows, cols, k; /* out is rows x cols over k */
    const uint16_t *p;     /* P[r, kk] = p[r p_rs + kk p_ks] */
    int64_t p_rs, p_ks;
    const uint16_t *q; /* Q[kk, j] = q[kk q_ks + j q_cs] */
    int64_t q_ks, q_cs;
    float *c; /* f32 sums: out[r][j] is c[r c_r + j c_j] (the output, or where c16 is set the
                 sums between k blocks; NULL with one k block) */
    int64_t c_r, c_j;
    uint16_t *c16; /* the output rounded to bf16 (or NULL): out[r][j] is c16[r h_r + j h_j] */
    int64_t h_r, h_j;
    const float *bias;      /* with c16: added to C's column j before rounding (or NULL) */
    bool round;             /* this k block (the last) rounds its sums into c16 */
    int64_t k0, kc, chunks; /* this k block: first value, values, 32-value chunks (rounded up) */
    bool add;               /* a later k block */
    bool direct;            /* P's full blocks read in place */
    uint32_t *pq;           /* Q's pair panels: panel t at pq + t chunks 512 */
    uint16_t *pp;           /* packed P blocks (not direct): block b at pp + b chunks 1024 */
    int64_t pblocks, panels, run;
    int64_t k_parts, part_chunks; /* packing tasks: parts of k, chunks a part */
    int64_t p_group;              /* P's blocks a packing task */
    atomic_int failed;
} amx_job;

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Packs P's block of rows [r0, r0 + 32) over this k block's chunks [c0, c1) into 32 x 32 chunk
 * blocks at out (zero past the rows and k). */
static void pack_p(const amx_job *j, int64_t r0, int64_t c0, int64_t c1, uint16_t *out) {
    int64_t rows = min64(AMX_BLOCK, j->rows - r0);
    for (int64_t ch = c0; ch < c1; ch++, out += AMX_BLOCK * AMX_CHUNK) {
        int64_t kk0 = j->k0 + ch * AMX_CHUNK;
        int64_t vals = min64(AMX_CHUNK, j->k0 + j->kc - kk0);
        if (vals < 0) vals = 0;
        if (rows < AMX_BLOCK || vals < AMX_CHUNK)
            memset(out, 0, AMX_BLOCK * AMX_CHUNK * sizeof *out);
        if (j->p_ks == 1 && vals == AMX_CHUNK) {
            for (int64_t r = 0; r < rows; r++) /* one 64-byte copy a row */
                memcpy(out + r * AMX_CHUNK, j->p + (r0 + r) * j->p_rs + kk0,
                       AMX_CHUNK * sizeof *out);
        } else if (j->p_ks == 1) {
            for (int64_t r = 0; r < rows; r++)
                memcpy(out + r * AMX_CHUNK, j->p + (r0 + r) * j->p_rs + kk0,
                       (size_t)vals * sizeof *out);
        } else if (j->p_rs == 1 && rows == AMX_BLOCK && vals == AMX_CHUNK) {
            cpu_gemm_bf16_pack_kmajor_avx512(j->p + kk0 * j->p_ks + r0, j->p_ks, out);
        } else {
            /* k-major loop: P with unit row stride (a transposed view) is read along its rows */
            for (int64_t v = 0; v < vals; v++) {
                const uint16_t *src = j->p + (kk0 + v) * j->p_ks + r0 * j->p_rs;
                for (int64_t r = 0; r < rows; r++) out[r * AMX_CHUNK + v] = src[r * j->p_rs];
            }
        }
    }
}

/* Packing tasks: Q's panels in groups of 16 (1 KB of a row of B) by parts of k, P's blocks by
 * parts of k, so that a product with few panels or blocks and a long k (a weight gradient: k the
 * tokens) still gives every thread a share (one group of 12 panels over k = 2048 had been one
 * task of 1.5 MB while the other threads waited). */
enum { PACK_GROUP = 16, PACK_MIN_CHUNKS = 4 };

/* The parts of k (in whole chunks) for `units` packing units over `nthreads` threads. */
static int64_t pack_parts(int64_t units, int64_t chunks, int nthreads) {
    int64_t want = ceil_div(2 * (int64_t)nthreads, units);
    int64_t most = ceil_div(chunks, PACK_MIN_CHUNKS);
    return want < 1 ? 1 : want < most ? want : most;
}

static void pack_q_range(int64_t begin, int64_t end, void *ctx) {
    const amx_job *j = ctx;
    int64_t panel = j->chunks * 16 * AMX_BLOCK; /* words */
    for (int64_t task = begin; task < end; task++) {
        int64_t g = task / j->k_parts, h = task % j->k_parts;
        int64_t t0 = g * PACK_GROUP, panels = min64(PACK_GROUP, j->panels - t0);
        int64_t c0 = h * j->part_chunks, c1 = min64(c0 + j->part_chunks, j->chunks);
        cpu_gemm_bf16_pack_panels(j->q, j->q_ks, j->q_cs, j->k, j->cols,
                                  j->k0 + c0 * AMX_CHUNK, (c1 - c0) * 16, t0 * AMX_BLOCK, panels,
                                  j->pq + t0 * panel + c0 * 16 * AMX_BLOCK, panel);
    }
}

/* P's packing tasks: (group of p_group blocks, part of k), chunk by chunk across the group's
 * blocks, so that P along k (a weight gradient's transposed operand, whose block is 64 bytes of
 * each of 32 source rows) reads whole stretches of each source row in turn. */
static void pack_p_range(int64_t begin, int64_t end, void *ctx) {
    const amx_job *j = ctx;
    for (int64_t task = begin; task < end; task++) {
        int64_t g = task / j->k_parts, h = task % j->k_parts;
        int64_t c0 = h * j->part_chunks, c1 = min64(c0 + j->part_chunks, j->chunks);
        int64_t b0 = g * j->p_group, b1 = min64(b0 + j->p_group, j->pblocks);
        for (int64_t ch = c0; ch < c1; ch++)
            for (int64_t b = b0; b < b1; b++)
                pack_p(j, b * AMX_BLOCK, ch, ch + 1,
                       j->pp + (b * j->chunks + ch) * AMX_BLOCK * AMX_CHUNK);
    }
}

/* Q's packing tasks, then P's (where it is packed), in one parallel region. */
static void pack_range(int64_t begin, int64_t end, void *ctx) {
    const amx_job *j = ctx;
    int64_t q_tasks = ceil_div(j->panels, PACK_GROUP) * j->k_parts;
    if (begin < q_tasks) pack_q_range(begin, end < q_tasks ? end : q_tasks, ctx);
    if (end > q_tasks)
        pack_p_range((begin > q_tasks ? begin : q_tasks) - q_tasks, end - q_tasks, ctx);
}

/* dst[r][q] = src[r][q] for r < rows, q < cols (element strides given), along whichever of the two
 * is contiguous in C (C^T's blocks are written along its rows). */
static __mmask16 lanes(int64_t n) { return (__mmask16)(n >= 16 ? 0xffffu : (1u << n) - 1u); }

/* dst[q d_ld + r] = src[r s_ld + q] for r < rows, q < cols (at most 32 each), by 16 x 16
 * register transposes. */
static void transpose_copy(float *dst, int64_t d_ld, const float *src, int64_t s_ld,
                           int64_t rows, int64_t cols) {
    for (int64_t r0 = 0; r0 < rows; r0 += 16)
        for (int64_t q0 = 0; q0 < cols; q0 += 16) {
            int64_t nr = min64(16, rows - r0), nq = min64(16, cols - q0);
            __m512i v[16];
            for (int i = 0; i < 16; i++)
                v[i] = i < nr ? _mm512_castps_si512(
                                    _mm512_maskz_loadu_ps(lanes(nq), src + (r0 + i) * s_ld + q0))
                              : _mm512_setzero_si512();
            avx512_transpose16_epi32(v);
            for (int64_t i = 0; i < nq; i++)
                _mm512_mask_storeu_ps(dst + (q0 + i) * d_ld + r0, lanes(nr),
                                      _mm512_castsi512_ps(v[i]));
        }
}

static void copy_block(float *dst, int64_t d_r, int64_t d_q, const float *src, int64_t s_r,
                       int64_t s_q, int64_t rows, int64_t cols) {
    if (d_r == 1 && s_q == 1) { /* dst[q d_q + r] = src[r s_r + q] */
        transpose_copy(dst, d_q, src, s_r, rows, cols);
        return;
    }
    if (s_r == 1 && d_q == 1) { /* dst[r d_r + q] = src[q s_q + r] */
        transpose_copy(dst, d_r, src, s_q, cols, rows);
        return;
    }
    if (d_r == 1 || s_r == 1) {
        for (int64_t q = 0; q < cols; q++)
            for (int64_t r = 0; r < rows; r++) dst[r * d_r + q * d_q] = src[r * s_r + q * s_q];
        return;
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t q = 0; q < cols; q++) dst[r * d_r + q * d_q] = src[r * s_r + q * s_q];
}

/* The first n (<= 32) of a block row's 32 floats, plus (b0, b1), rounded to bf16 into out (AMX
 * CPUs have AVX512_BF16: one vcvtne2ps2bf16 for the row). */
__attribute__((target("avx512bf16"))) static inline void round_row(const float *row, __m512 b0,
                                                                   __m512 b1, uint16_t *out,
                                                                   int64_t n) {
    __m512i r = cpu_round32_bf16_avx512bf16(_mm512_add_ps(_mm512_load_ps(row), b0),
                                            _mm512_add_ps(_mm512_load_ps(row + 16), b1));
    if (n == AMX_BLOCK) {
        _mm512_storeu_si512(out, r);
        return;
    }
    _mm512_mask_storeu_epi16(out, (__mmask32)((1ull << n) - 1u), r);
}

/* buf's rows x cols (32 floats a row), plus the bias, rounded into c16 at out's [r0, j0]: row by
 * row where out's rows are C's, else transposed first (out = C^T). The bias runs along C's rows:
 * out's columns j0.., or its rows r0.. where out = C^T, the rows of the transposed block. */
__attribute__((target("avx512bf16"))) static void store_rounded(const amx_job *j, float *buf,
                                                                int64_t r0, int64_t j0,
                                                                int64_t rows, int64_t cols) {
    uint16_t *c = j->c16 + r0 * j->h_r + j0 * j->h_j;
    bool straight = j->h_j == 1;
    int64_t n = straight ? cols : rows; /* the values of a row to store */
    __m512 b0 = _mm512_setzero_ps(), b1 = b0;
    if (j->bias) {
        const float *b = j->bias + (straight ? j0 : r0);
        b0 = _mm512_maskz_loadu_ps(lanes(n), b);
        b1 = _mm512_maskz_loadu_ps(lanes(n > 16 ? n - 16 : 0), b + 16);
    }
    if (straight) {
        for (int64_t r = 0; r < rows; r++)
            round_row(buf + r * AMX_BLOCK, b0, b1, c + r * j->h_r, cols);
        return;
    }
    _Alignas(64) float t[AMX_BLOCK * AMX_BLOCK];
    transpose_copy(t, AMX_BLOCK, buf, AMX_BLOCK, rows, cols);
    for (int64_t q = 0; q < cols; q++)
        round_row(t + q * AMX_BLOCK, b0, b1, c + q * j->h_j, rows);
}

/* out's block (P rows r0.., Q panel t) from P's chunks: whole ones in place (p, rows p_row bytes
 * apart, 64 bytes a chunk) and packed ones (tail, 2 KB a chunk), straight into C where the block
 * lies in it with unit column stride, else through a buffer. */
static void run_block(const amx_job *j, int64_t r0, int64_t t, const uint16_t *p, int64_t p_row,
                      int64_t whole, const uint16_t *tail, int64_t tails, const char *next_c) {
    const uint32_t *q = j->pq + t * j->chunks * 16 * AMX_BLOCK;
    int64_t j0 = t * AMX_BLOCK;
    int64_t rows = min64(AMX_BLOCK, j->rows - r0), cols = min64(AMX_BLOCK, j->cols - j0);
    float *c = j->c ? j->c + r0 * j->c_r + j0 * j->c_j : NULL;
    _Alignas(64) float buf[AMX_BLOCK * AMX_BLOCK];
    int64_t next_rs = j->c_r * (int64_t)sizeof(float);
    bool in_place = !j->round && j->c_j == 1 && rows == AMX_BLOCK && cols == AMX_BLOCK;
    float *out = in_place ? c : buf;
    int64_t out_rs = in_place ? j->c_r : AMX_BLOCK;
    if (!in_place && j->add) copy_block(buf, AMX_BLOCK, 1, c, j->c_r, j->c_j, rows, cols);
    bool add = j->add;
    if (whole > 0) {
        block(whole, p, p_row, AMX_CHUNK * 2, q, out, out_rs, add, tails ? NULL : next_c, next_rs,
              true);
        add = true;
    }
    if (tails > 0)
        block(tails, tail, AMX_CHUNK * 2, AMX_BLOCK * AMX_CHUNK * 2, q + whole * 16 * AMX_BLOCK,
              out, out_rs, add, next_c, next_rs, true);
    if (j->round)
        store_rounded(j, buf, r0, j0, rows, cols);
    else if (!in_place)
        copy_block(c, j->c_r, j->c_j, buf, AMX_BLOCK, 1, rows, cols);
}

/* The run's blocks of C (P rows r0.., Q panels [t0, t1)) with k in sub-blocks of AMX_SUB chunks,
 * each sub-block against every panel of the run before the next: the sub-block of P's rows (32 KB)
 * stays in L1 across the run where all of k (48-96 KB at k = 1536-3072) could not. Each block
 * accumulates in C where it lies in place, else in its slot (slots: 32 x 32 floats a panel), then
 * is rounded or copied out. Every sum still runs over k in order in one chain of tile products
 * (a later sub-block loads the accumulators), so the bits are run_block's. */
static void run_sub_blocked(const amx_job *j, int64_t r0, int64_t t0, int64_t t1,
                            const uint16_t *p, int64_t p_row, int64_t whole, const uint16_t *tail,
                            float *slots) {
    int64_t rows = min64(AMX_BLOCK, j->rows - r0);
    for (int64_t t = t0; t < t1; t++) { /* the slots of blocks that continue a k block */
        int64_t j0 = t * AMX_BLOCK, cols = min64(AMX_BLOCK, j->cols - j0);
        bool in_place = !j->round && j->c_j == 1 && rows == AMX_BLOCK && cols == AMX_BLOCK;
        if (!in_place && j->add)
            copy_block(slots + (t - t0) * AMX_BLOCK * AMX_BLOCK, AMX_BLOCK, 1,
                       j->c + r0 * j->c_r + j0 * j->c_j, j->c_r, j->c_j, rows, cols);
    }
    for (int64_t s0 = 0; s0 < j->chunks; s0 += AMX_SUB) {
        int64_t s1 = min64(s0 + AMX_SUB, j->chunks);
        for (int64_t t = t0; t < t1; t++) {
            int64_t j0 = t * AMX_BLOCK, cols = min64(AMX_BLOCK, j->cols - j0);
            bool in_place = !j->round && j->c_j == 1 && rows == AMX_BLOCK && cols == AMX_BLOCK;
            float *slot = slots + (t - t0) * AMX_BLOCK * AMX_BLOCK;
            float *out = in_place ? j->c + r0 * j->c_r + j0 : slot;
            int64_t out_rs = in_place ? j->c_r : AMX_BLOCK;
            const uint32_t *q = j->pq + t * j->chunks * 16 * AMX_BLOCK;
            bool add = j->add || s0 > 0;
            int64_t w1 = min64(s1, whole), a0 = s0 > whole ? s0 : whole;
            if (w1 > s0) {
                block(w1 - s0, p + s0 * AMX_CHUNK, p_row, AMX_CHUNK * 2, q + s0 * 16 * AMX_BLOCK,
                      out, out_rs, add, NULL, 0, true);
                add = true;
            }
            if (s1 > a0)
                block(s1 - a0, tail + (a0 - whole) * AMX_BLOCK * AMX_CHUNK, AMX_CHUNK * 2,
                      AMX_BLOCK * AMX_CHUNK * 2, q + a0 * 16 * AMX_BLOCK, out, out_rs, add, NULL, 0,
                      true);
        }
    }
    for (int64_t t = t0; t < t1; t++) {
        int64_t j0 = t * AMX_BLOCK, cols = min64(AMX_BLOCK, j->cols - j0);
        bool in_place = !j->round && j->c_j == 1 && rows == AMX_BLOCK && cols == AMX_BLOCK;
        float *slot = slots + (t - t0) * AMX_BLOCK * AMX_BLOCK;
        if (j->round)
            store_rounded(j, slot, r0, j0, rows, cols);
        else if (!in_place)
            copy_block(j->c + r0 * j->c_r + j0 * j->c_j, j->c_r, j->c_j, slot, AMX_BLOCK, 1, rows,
                       cols);
    }
}

/* Tasks: run of Q panels (major) by block of 32 P rows. */
static void task_range(int64_t begin, int64_t end, void *ctx) {
    amx_job *j = ctx;
    uint16_t *tail = NULL;
    if (j->direct) {
        /* the last block's rows, or the chunk that k ends in, packed here */
        tail = cpu_scratch(CPU_SCRATCH_GEMM_A,
                           (size_t)j->chunks * AMX_BLOCK * AMX_CHUNK * sizeof *tail);
        if (!tail) {
            atomic_store(&j->failed, 1);
            return;
        }
    }
    /* k in sub-blocks (run_sub_blocked) where it spans more than one */
    float *slots = NULL;
    if (j->chunks > AMX_SUB) {
        size_t bytes = (size_t)j->run * AMX_BLOCK * AMX_BLOCK * sizeof *slots;
        slots = cpu_scratch(CPU_SCRATCH_GEMM_Y, bytes);
        if (!slots) {
            atomic_store(&j->failed, 1);
            return;
        }
    }
    cpu_amx_tiles_begin();
    for (int64_t task = begin; task < end; task++) {
        int64_t run = task / j->pblocks, b = task % j->pblocks, r0 = b * AMX_BLOCK;
        int64_t t0 = run * j->run, t1 = min64(t0 + j->run, j->panels);
        const uint16_t *p;
        int64_t p_row, whole, tails;
        const uint16_t *tp = NULL;
        if (!j->direct) {
            p = j->pp + b * j->chunks * AMX_BLOCK * AMX_CHUNK;
            p_row = AMX_CHUNK * 2;
            whole = 0;
            tails = j->chunks;
            tp = p;
        } else if (r0 + AMX_BLOCK > j->rows) {
            pack_p(j, r0, 0, j->chunks, tail);
            p = tp = tail;
            p_row = AMX_CHUNK * 2;
            whole = 0;
            tails = j->chunks;
        } else {
            whole = j->kc / AMX_CHUNK;
            tails = j->chunks - whole;
            if (tails) pack_p(j, r0, whole, j->chunks, tail);
            p = j->p + r0 * j->p_rs + j->k0;
            p_row = j->p_rs * 2;
            tp = tail;
        }
        if (slots) {
            run_sub_blocked(j, r0, t0, t1, p, p_row, whole, tp, slots);
            continue;
        }
        for (int64_t t = t0; t < t1; t++) {
            /* the next block of C, whose lines its tile stores will want, prefetched a row or
             * two a k step while this block runs */
            bool next = t + 1 < t1 && !j->round && j->c_j == 1 && (t + 2) * AMX_BLOCK <= j->cols &&
                        r0 + AMX_BLOCK <= j->rows;
            const char *next_c =
                next ? (const char *)(j->c + r0 * j->c_r + (t + 1) * AMX_BLOCK) : NULL;
            run_block(j, r0, t, p, p_row, whole, tp, tails, next_c);
        }
    }
    _tile_release();
}

/* Whether a product rounded to bf16 sums in f32 between k blocks (staged) rather than in one k
 * block rounded as stored: beyond AMX_ROUND_K (one k block's packed rows would be over 8 KB
 * each), and where P is packed and a thread's share of one k block's packed P and Q would not
 * stay in its L2 while the f32 sums would (a weight gradient on few threads: few rows and
 * columns, k the tokens). With many threads each packs and reads a small share anyway, and the
 * k blocks' extra parallel regions cost more than they save (16-core Xeon, 384 x 384 over 2048
 * tokens: 295 -> 364 us staged); the sums are bounded times the thread count (1536 x 384 over
 * 2048 tokens, 2.4 MB of sums: +10% staged at one thread, -4% at two). */
static bool staged_takes(const amx_job *j) {
    int nthreads = born_get_num_threads();
    double sums = (double)j->rows * (double)j->cols * sizeof(float) * nthreads;
    double share = (double)(j->rows + j->cols) * (double)j->k * 2 / nthreads;
    return j->k > AMX_ROUND_K ||
           (!j->direct && j->k > AMX_KC && share > AMX_STAGE_PACKED && sums <= AMX_STAGE_SUMS);
}

/* The product over k blocks of kc_block values (chunks_max chunks at most): per block Q's and
 * P's packing, then the tasks; the last block rounds into c16 where it is set. */
static born_status run_k_blocks(amx_job *j, int64_t kc_block, int64_t chunks_max) {
    j->pq = cpu_scratch(CPU_SCRATCH_GEMM_B,
                        (size_t)j->panels * (size_t)chunks_max * 16 * AMX_BLOCK * sizeof *j->pq);
    if (!j->pq)
        return born_error(BORN_ERR_MEMORY, "cpu bf16 gemm (AMX): no memory for the packed panels");
    if (!j->direct) {
        j->pp = cpu_scratch(CPU_SCRATCH_GEMM_B2, (size_t)j->pblocks * (size_t)chunks_max *
                                                     AMX_BLOCK * AMX_CHUNK * sizeof *j->pp);
        if (!j->pp)
            return born_error(BORN_ERR_MEMORY, "cpu bf16 gemm (AMX): no memory for packed rows");
    }
    atomic_init(&j->failed, 0);
    int64_t tasks = ceil_div(j->panels, j->run) * j->pblocks;
    for (int64_t k0 = 0; k0 < j->k; k0 += kc_block) {
        j->k0 = k0;
        j->kc = min64(kc_block, j->k - k0);
        j->chunks = ceil_div(j->kc, AMX_CHUNK);
        j->add = k0 > 0;
        j->round = j->c16 && k0 + j->kc >= j->k;
        int nthreads = born_get_num_threads();
        int64_t groups = ceil_div(j->panels, PACK_GROUP);
        /* one split of k for Q and P, as fine as the fewer units of the two want */
        int64_t parts = pack_parts(groups, j->chunks, nthreads);
        /* P along k: all its blocks a task (by parts of k); else a block a task */
        j->p_group = j->p_rs == 1 ? j->pblocks : 1;
        int64_t p_groups = ceil_div(j->pblocks, j->p_group);
        if (!j->direct && pack_parts(p_groups, j->chunks, nthreads) > parts)
            parts = pack_parts(p_groups, j->chunks, nthreads);
        j->part_chunks = ceil_div(j->chunks, parts);
        j->k_parts = ceil_div(j->chunks, j->part_chunks);
        born_parallel_for((groups + (j->direct ? 0 : p_groups)) * j->k_parts, 1, pack_range, j);
        born_parallel_for(tasks, 1, task_range, j);
        if (atomic_load(&j->failed))
            return born_error(BORN_ERR_MEMORY, "cpu bf16 gemm (AMX): no memory for a task's rows");
    }
    return BORN_OK;
}

born_status cpu_gemm_bf16_amx(int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t a_rs,
                              int64_t a_cs, const uint16_t *b, int64_t b_rs, int64_t b_cs,
                              float *c, uint16_t *c16, const float *bias, int64_t c_rs) {
    if (m <= 0 || n <= 0) return BORN_OK;
    if (k <= 0) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t q = 0; q < n; q++) {
                if (c16) c16[i * c_rs + q] = born_f32_to_bf16(bias ? 0.0f + bias[q] : 0.0f);
                else c[i * c_rs + q] = 0;
            }
        return BORN_OK;
    }
    amx_job j = {.k = k};
    /* swap where both operands lie along k and A is the smaller (C^T is stored through a buffer) */
    bool swap = b_rs == 1 && a_cs == 1 && m < n;
    if (!swap) {
        j.rows = m, j.cols = n, j.p = a, j.p_rs = a_rs, j.p_ks = a_cs;
        j.q = b, j.q_ks = b_rs, j.q_cs = b_cs, j.c_r = c_rs, j.c_j = 1;
    } else {
        j.rows = n, j.cols = m, j.p = b, j.p_rs = b_cs, j.p_ks = b_rs;
        j.q = a, j.q_ks = a_cs, j.q_cs = a_rs, j.c_r = 1, j.c_j = c_rs;
    }
    j.c = c;
    j.c16 = c16;
    j.h_r = j.c_r, j.h_j = j.c_j;
    j.bias = c16 ? bias : NULL;
    j.direct = j.p_ks == 1 && (j.cols <= AMX_DIRECT_COLS || (j.p_rs * 2) % 4096 != 0);
    int64_t kc_block = j.direct ? AMX_KC_DIRECT : AMX_KC;
    float *staged = NULL;
    if (c16) {
        j.c = NULL;
        if (staged_takes(&j)) {
            staged = cpu_mem_alloc((size_t)j.rows * (size_t)j.cols * sizeof *staged);
            if (!staged)
                return born_error(BORN_ERR_MEMORY,
                                  "cpu bf16 gemm (AMX): no memory for the f32 sums");
            j.c = staged, j.c_r = j.cols, j.c_j = 1;
        } else {
            kc_block = k; /* one k block, rounded as stored */
        }
    }
    j.pblocks = ceil_div(j.rows, AMX_BLOCK);
    j.panels = ceil_div(j.cols, AMX_BLOCK);
    int64_t kc_max = min64(k, kc_block), chunks_max = ceil_div(kc_max, AMX_CHUNK);
    j.run = AMX_RUN_BYTES / (chunks_max * AMX_CHUNK * AMX_BLOCK * 2);
    if (j.run < 1) j.run = 1;
    /* enough tasks for the threads */
    int64_t want = 4 * (int64_t)born_get_num_threads();
    while (j.run > 1 && ceil_div(j.panels, j.run) * j.pblocks < want) j.run = (j.run + 1) / 2;
    born_status st = run_k_blocks(&j, kc_block, chunks_max);
    cpu_mem_free(staged);
    return st;
}
