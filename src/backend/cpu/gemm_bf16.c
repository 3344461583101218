/* The bf16 GEMM (gemm_bf16.h): blocking, packing and threading around the AVX-512 BF16 tile, and
 * the choice between it and the AMX tiles (gemm_bf16_amx.c), which take every product where the
 * CPU has them except the dot form's of up to BF_AMX_DOT_ROWS rows.
 *
 * k is taken in blocks of BF_KP pairs (512 values). Each block's B is packed first, all of n, in
 * pair panels of 32 columns (the tile's width), split over the pool; then the pool takes tasks of
 * BF_MC rows by a run of columns, each packing its rows' A panels (12 rows a panel, a pair a
 * word) and running the tiles over its columns, every B pair panel once for its BF_MC rows. The
 * first k block stores C, the later ones add to it, so each element's sum runs over k in order
 * whatever the split. Tiles that stick out of C (the last rows or columns) go through a 12 x 32
 * buffer. Up to BF_DOT_ROWS rows of A against a B that is a weight's transpose (W [n, k] with rows
 * contiguous along k, as x W^T) take the dot-product form instead, W read in place: packing W
 * would cost more than the product.
 *
 * Which products it takes (cpu_gemm_bf16_takes): the dot form wherever the CPU has AVX512_BF16
 * (it reads half the bytes of the f32 GEMV: 2-3.6x it at M = 1 on both machines measured), the
 * tiles only on AMD: on Zen 5 they run at 1.8-2.0x the f32 GEMM, on the Intel Xeon of the device
 * host (AVX512_BF16, 2026-12-02) at 0.55-0.63x, so there the operands are converted and the f32
 * GEMM runs; where that Xeon has AMX the tiles there take them instead (4-6x the f32 GEMM). */
#include <stdatomic.h>
#include <string.h>

#include "backend/cpu/allocator.h"
#include "backend/cpu/convert_simd.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/gemm_bf16.h"
#include "backend/cpu/scratch.h"
#include "core/cpu_features.h"

/* BF_AMX_DOT_ROWS: with AMX, the dot form keeps up to 3 rows (at 4 the tiles caught up with it,
 * at 8 they ran at 1.7x it on the Xeon measured) */
enum { BF_MR = 12, BF_NR = 32, BF_KP = 256, BF_MC = 24, BF_DOT_ROWS = 32, BF_AMX_DOT_ROWS = 3 };

bool cpu_gemm_bf16_native(void) {
#if defined(__x86_64__)
    return cpu_get_level() >= CPU_LEVEL_AVX512 &&
           (cpu_features_get()->avx512_bf16 || cpu_amx_enabled());
#else
    return false;
#endif
}

bool cpu_gemm_bf16_takes(int64_t m, int64_t a_cs, int64_t b_rs) {
    if (!cpu_gemm_bf16_native()) return false;
    if (cpu_amx_enabled()) return true;
    return (m <= BF_DOT_ROWS && a_cs == 1 && b_rs == 1) || cpu_features_get()->amd;
}

#if defined(__x86_64__)

typedef struct bf16_job {
    int64_t m, n, k;
    const uint16_t *a, *b;
    int64_t a_rs, a_cs, b_rs, b_cs;
    float *c;
    int64_t c_rs;
    int64_t p0, pairs; /* this k block: first pair, pairs */
    bool add;          /* a later k block: add to C */
    uint32_t *pb;      /* the packed B block: n / 32 pair panels of `pairs` steps */
    int64_t col_tiles; /* B pair panels a task runs */
    atomic_int failed; /* a task found no memory for its A panels */
} bf16_job;

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* The pair of A[i, k0], A[i, k0 + 1] as one word (0 past k). */
static uint32_t a_pair(const bf16_job *j, int64_t i, int64_t k0) {
    const uint16_t *r = j->a + i * j->a_rs;
    uint32_t lo = r[k0 * j->a_cs], hi = k0 + 1 < j->k ? r[(k0 + 1) * j->a_cs] : 0;
    return lo | hi << 16;
}

/* Packs rows [i0, i0 + rows) (rows <= 12) of A's k block into a tile panel (12 words a pair,
 * zero past the rows). */
static void pack_a_panel(const bf16_job *j, int64_t i0, int64_t rows, uint32_t *out) {
    int64_t k0 = 2 * j->p0;
    if (j->a_cs == 1 && rows == BF_MR && j->pairs % 16 == 0 && k0 + 2 * j->pairs <= j->k) {
        cpu_gemm_bf16_pack_a_rows_avx512(j->pairs, j->a + i0 * j->a_rs + k0, j->a_rs, out);
        return;
    }
    if (j->a_cs == 1 && j->k % 2 == 0) {
        /* rows contiguous along k, k even: a pair is an aligned word of the row */
        for (int64_t r = 0; r < BF_MR; r++) {
            if (r >= rows) {
                for (int64_t p = 0; p < j->pairs; p++) out[p * BF_MR + r] = 0;
                continue;
            }
            const uint16_t *row = j->a + (i0 + r) * j->a_rs + k0;
            for (int64_t p = 0; p < j->pairs; p++) {
                uint32_t w;
                memcpy(&w, row + 2 * p, sizeof w);
                out[p * BF_MR + r] = w;
            }
        }
        return;
    }
    for (int64_t p = 0; p < j->pairs; p++)
        for (int64_t r = 0; r < BF_MR; r++)
            out[p * BF_MR + r] = r < rows ? a_pair(j, i0 + r, k0 + 2 * p) : 0;
}

/* One panel of cpu_gemm_bf16_pack_panels where B is not row-major: a weight's transpose (B's
 * columns contiguous along k) by 16 x 16 transposes of words, the rest by a gather. */
static void pack_panel_gather(const uint16_t *b, int64_t b_rs, int64_t b_cs, int64_t k, int64_t n,
                              int64_t k0, int64_t real, int64_t j0, uint32_t *out) {
    int64_t cols = n - j0 < BF_NR ? n - j0 : BF_NR;
    int64_t from = 0; /* pairs packed by the vector transpose */
    if (b_rs == 1 && cols == BF_NR) {
        from = (k - k0) / 32 * 16; /* whole 16-pair blocks inside the rows */
        if (from > real) from = real / 16 * 16;
        cpu_gemm_bf16_pack_b_wrows_avx512(from, b + j0 * b_cs + k0, b_cs, out);
    }
    for (int64_t c = 0; c < BF_NR; c++) {
        if (c >= cols) {
            for (int64_t p = 0; p < real; p++) out[p * BF_NR + c] = 0;
            continue;
        }
        const uint16_t *col = b + (j0 + c) * b_cs;
        for (int64_t p = from; p < real; p++) {
            int64_t kk = k0 + 2 * p;
            uint32_t lo = col[kk * b_rs], hi = kk + 1 < k ? col[(kk + 1) * b_rs] : 0;
            out[p * BF_NR + c] = lo | hi << 16;
        }
    }
}

void cpu_gemm_bf16_pack_panels(const uint16_t *b, int64_t b_rs, int64_t b_cs, int64_t k,
                               int64_t n, int64_t k0, int64_t pairs, int64_t j0, int64_t panels,
                               uint32_t *out, int64_t out_stride) {
    int64_t inside = k > k0 ? ceil_div(k - k0, 2) : 0;
    int64_t real = inside < pairs ? inside : pairs; /* pairs inside k */
    int64_t cols = n - j0 < panels * BF_NR ? n - j0 : panels * BF_NR;
    for (int64_t t = 0; t < panels && real < pairs; t++)
        memset(out + t * out_stride + real * BF_NR, 0,
               (size_t)(pairs - real) * BF_NR * sizeof *out);
    if (real == 0) return; /* a range wholly past k (a part of the last chunk's padding) */
    if (b_cs == 1) {
        cpu_gemm_bf16_pack_b_rows_avx512(real, k - k0, cols, b + k0 * b_rs + j0, b_rs, out,
                                         out_stride);
        for (int64_t t = ceil_div(cols, BF_NR); t < panels; t++) /* panels wholly past n */
            memset(out + t * out_stride, 0, (size_t)real * BF_NR * sizeof *out);
        return;
    }
    for (int64_t t = 0; t < panels; t++)
        pack_panel_gather(b, b_rs, b_cs, k, n, k0, real, j0 + t * BF_NR, out + t * out_stride);
}

/* Packs B pair panels [begin, end) of the k block into their places in j->pb. */
static void pack_b_range(int64_t begin, int64_t end, void *ctx) {
    const bf16_job *j = ctx;
    cpu_gemm_bf16_pack_panels(j->b, j->b_rs, j->b_cs, j->k, j->n, 2 * j->p0, j->pairs,
                              begin * BF_NR, end - begin, j->pb + begin * j->pairs * BF_NR,
                              j->pairs * BF_NR);
}

/* One tile: rows [i0, i0 + 12) x columns [32 t, 32 t + 32) of C from the packed panels, through
 * a buffer where it sticks out of C. */
static void run_tile(const bf16_job *j, const uint32_t *pa, int64_t i0, int64_t rows,
                     int64_t t) {
    const uint32_t *pb = j->pb + t * j->pairs * BF_NR;
    int64_t j0 = t * BF_NR, cols = j->n - j0 < BF_NR ? j->n - j0 : BF_NR;
    float *c = j->c + i0 * j->c_rs + j0;
    if (rows == BF_MR && cols == BF_NR) {
        cpu_gemm_bf16_tile_avx512(j->pairs, pa, pb, c, j->c_rs, j->add);
        return;
    }
    _Alignas(64) float buf[BF_MR * BF_NR];
    cpu_gemm_bf16_tile_avx512(j->pairs, pa, pb, buf, BF_NR, false);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t q = 0; q < cols; q++)
            c[r * j->c_rs + q] = j->add ? c[r * j->c_rs + q] + buf[r * BF_NR + q] : buf[r * BF_NR + q];
}

/* Tasks: row block (BF_MC rows) by run of j->col_tiles B panels, row block major. */
static void tile_range(int64_t begin, int64_t end, void *ctx) {
    bf16_job *j = ctx;
    int64_t runs = ceil_div(ceil_div(j->n, BF_NR), j->col_tiles);
    uint32_t *pa = cpu_scratch(CPU_SCRATCH_GEMM_A, (size_t)(BF_MC / BF_MR) * (size_t)j->pairs *
                                                       BF_MR * sizeof *pa);
    if (!pa) {
        atomic_store(&j->failed, 1);
        return;
    }
    int64_t packed = -1;
    for (int64_t task = begin; task < end; task++) {
        int64_t ib = task / runs, run = task % runs;
        int64_t i0 = ib * BF_MC, mrows = j->m - i0 < BF_MC ? j->m - i0 : BF_MC;
        int64_t panels = ceil_div(mrows, BF_MR);
        if (ib != packed) {
            for (int64_t q = 0; q < panels; q++) {
                int64_t rows = mrows - q * BF_MR < BF_MR ? mrows - q * BF_MR : BF_MR;
                pack_a_panel(j, i0 + q * BF_MR, rows, pa + q * j->pairs * BF_MR);
            }
            packed = ib;
        }
        int64_t t0 = run * j->col_tiles, t1 = t0 + j->col_tiles;
        int64_t tiles = ceil_div(j->n, BF_NR);
        if (t1 > tiles) t1 = tiles;
        for (int64_t t = t0; t < t1; t++)
            for (int64_t q = 0; q < panels; q++) {
                int64_t rows = mrows - q * BF_MR < BF_MR ? mrows - q * BF_MR : BF_MR;
                run_tile(j, pa + q * j->pairs * BF_MR, i0 + q * BF_MR, rows, t);
            }
    }
}

/* The dot-product form's tasks: runs of columns of C. */
typedef struct bf16_dot_job {
    int64_t m, k, cols;
    const uint16_t *a, *w;
    int64_t a_rs, w_rs;
    float *c;
    int64_t c_rs;
} bf16_dot_job;

static void dot_range(int64_t begin, int64_t end, void *ctx) {
    const bf16_dot_job *d = ctx;
    cpu_gemm_bf16_dot_avx512(d->m, end - begin, d->k, d->a, d->a_rs, d->w + begin * d->w_rs,
                             d->w_rs, d->c + begin, d->c_rs);
}

/* cpu_gemm_bf16 where the CPU has been found to have AVX512_BF16. */
static born_status gemm_bf16_native(int64_t m, int64_t n, int64_t k, const uint16_t *a,
                                    int64_t a_rs, int64_t a_cs, const uint16_t *b, int64_t b_rs,
                                    int64_t b_cs, float *c, int64_t c_rs) {
    if (m <= 0 || n <= 0) return BORN_OK;
    if (k <= 0) {
        for (int64_t i = 0; i < m; i++)
            memset(c + i * c_rs, 0, (size_t)n * sizeof *c);
        return BORN_OK;
    }
    if (m <= BF_DOT_ROWS && a_cs == 1 && b_rs == 1) {
        /* few rows against a weight read in place (B = W^T): runs of columns whose W rows fit in
         * L2 (half a MiB) while every row block of A passes over them */
        bf16_dot_job d = {m, k, n, a, b, a_rs, b_cs, c, c_rs};
        int64_t run = 262144 / (k > 0 ? k : 1) / 3 * 3;
        born_parallel_for(n, run < 3 ? 3 : run, dot_range, &d);
        return BORN_OK;
    }
    bf16_job j = {.m = m, .n = n, .k = k, .a = a, .b = b, .a_rs = a_rs, .a_cs = a_cs,
                  .b_rs = b_rs, .b_cs = b_cs, .c = c, .c_rs = c_rs};
    int64_t total_pairs = ceil_div(k, 2), tiles = ceil_div(n, BF_NR);
    int64_t kp = total_pairs < BF_KP ? total_pairs : BF_KP;
    /* columns per task: all of them, unless the row blocks are too few to share out */
    int threads = born_get_num_threads();
    int64_t row_blocks = ceil_div(m, BF_MC), want = 4 * (int64_t)threads;
    j.col_tiles = row_blocks >= want ? tiles : ceil_div(tiles, ceil_div(want, row_blocks));
    if (j.col_tiles < 4 && tiles >= 4) j.col_tiles = 4;
    j.pb = cpu_scratch(CPU_SCRATCH_GEMM_B, (size_t)tiles * (size_t)kp * BF_NR * sizeof *j.pb);
    uint32_t *pa = cpu_scratch(CPU_SCRATCH_GEMM_A,
                               (size_t)(BF_MC / BF_MR) * (size_t)kp * BF_MR * sizeof *pa);
    if (!j.pb || !pa) return born_error(BORN_ERR_MEMORY, "cpu bf16 gemm: no memory for the packed panels");
    atomic_init(&j.failed, 0);
    int64_t tasks = row_blocks * ceil_div(tiles, j.col_tiles);
    for (int64_t p0 = 0; p0 < total_pairs; p0 += BF_KP) {
        j.p0 = p0;
        j.pairs = total_pairs - p0 < BF_KP ? total_pairs - p0 : BF_KP;
        j.add = p0 > 0;
        born_parallel_for(tiles, 8, pack_b_range, &j);
        born_parallel_for(tasks, 1, tile_range, &j);
        if (atomic_load(&j.failed))
            return born_error(BORN_ERR_MEMORY, "cpu bf16 gemm: no memory for a task's A panels");
    }
    return BORN_OK;
}

/* Whether the AMX tiles take the product: wherever the CPU has them, except the dot form's few
 * rows against a weight's transpose. */
static bool amx_takes(int64_t m, int64_t a_cs, int64_t b_rs) {
    bool dot = m <= BF_AMX_DOT_ROWS && a_cs == 1 && b_rs == 1 && cpu_features_get()->avx512_bf16;
    return cpu_amx_enabled() && !dot;
}
#endif

born_status cpu_gemm_bf16(int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t a_rs,
                          int64_t a_cs, const uint16_t *b, int64_t b_rs, int64_t b_cs, float *c,
                          int64_t c_rs) {
    if (!cpu_gemm_bf16_native())
        return born_error(BORN_ERR_UNSUPPORTED, "cpu bf16 gemm: this CPU has no AVX512_BF16");
#if defined(__x86_64__)
    if (amx_takes(m, a_cs, b_rs))
        return cpu_gemm_bf16_amx(m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, c, NULL, NULL, c_rs);
    return gemm_bf16_native(m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, c, c_rs);
#else
    (void)m, (void)n, (void)k, (void)a, (void)a_rs, (void)a_cs, (void)b, (void)b_rs, (void)b_cs;
    (void)c, (void)c_rs;
    return BORN_ERR_UNSUPPORTED;
#endif
}

born_status cpu_gemm_bf16_rounded(int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t a_rs,
                                  int64_t a_cs, const uint16_t *b, int64_t b_rs, int64_t b_cs,
                                  const float *bias, uint16_t *c, int64_t c_rs) {
    if (!cpu_gemm_bf16_native())
        return born_error(BORN_ERR_UNSUPPORTED, "cpu bf16 gemm: this CPU has no AVX512_BF16");
#if defined(__x86_64__)
    if (amx_takes(m, a_cs, b_rs))
        return cpu_gemm_bf16_amx(m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, NULL, c, bias, c_rs);
    if (m <= 0 || n <= 0) return BORN_OK;
    float *f = cpu_mem_alloc((size_t)m * (size_t)n * sizeof *f); /* cached: no allocation when warm */
    if (!f) return born_error(BORN_ERR_MEMORY, "cpu bf16 gemm: no memory for the f32 sums");
    born_status st = cpu_gemm_bf16(m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, f, n);
    for (int64_t i = 0; st == BORN_OK && i < m; i++) {
        for (int64_t j = 0; bias && j < n; j++) f[i * n + j] += bias[j];
        cpu_f32_to_bf16_avx512(f + i * n, c + i * c_rs, n);
    }
    cpu_mem_free(f);
    return st;
#else
    (void)m, (void)n, (void)k, (void)a, (void)a_rs, (void)a_cs, (void)b, (void)b_rs, (void)b_cs;
    (void)bias, (void)c, (void)c_rs;
    return BORN_ERR_UNSUPPORTED;
#endif
}
