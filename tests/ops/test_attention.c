/* born_scaled_dot_product_attention: PyTorch's F.scaled_dot_product_attention on the fixtures
 * of tools/gen_attention_fixtures.py (outputs and the gradients of q, k, v) through the flash
 * kernel with several tile sizes and through the math path; flash against math in f64 on
 * random shapes; finite differences; dropout (the flash kernel draws the math path's mask);
 * fully masked rows; errors; and attention over 32,768 tokens without an L x S matrix. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "fixture.h"
#include "test.h"

#define ATTN_FIXTURES "tests/fixtures/attention.bin"

static const char *spec_value(const char *spec, const char *key, char *buf, size_t size) {
    size_t kl = strlen(key);
    for (const char *p = spec; (p = strstr(p, key)) != NULL; p++) {
        if ((p == spec || p[-1] == ' ') && p[kl] == '=') {
            size_t n = strcspn(p + kl + 1, " ");
            if (n >= size) n = size - 1;
            memcpy(buf, p + kl + 1, n);
            buf[n] = 0;
            return buf;
        }
    }
    return NULL;
}

static double spec_num(const char *spec, const char *key, double def) {
    char b[64];
    const char *v = spec_value(spec, key, b, sizeof b);
    return v ? atof(v) : def;
}

/* Runs one fixture record with the given kernel and tiles and compares output and gradients. */
static void replay(const fixture_record *r, born_sdpa_kernel kernel, int64_t bq, int64_t bkv) {
    born_scope_begin();
    born_tensor *in[4] = {NULL, NULL, NULL, NULL};
    int nin = fixture_find(r, "in3") ? 4 : 3;
    for (int i = 0; i < nin; i++) {
        char name[8];
        snprintf(name, sizeof name, "in%d", i);
        in[i] = fixture_to_tensor(fixture_find(r, name));
        if (i < 3) born_requires_grad(in[i], true);
    }
    born_sdpa_params p = born_sdpa_default_params();
    p.is_causal = spec_num(r->spec, "causal", 0) != 0;
    p.kv_offset = (int64_t)spec_num(r->spec, "off", 0);
    p.scale = spec_num(r->spec, "scale", 0);
    p.enable_gqa = spec_num(r->spec, "gqa", 0) != 0;
    p.kernel = kernel;
    p.block_q = bq;
    p.block_kv = bkv;
    born_tensor *out = born_scaled_dot_product_attention(in[0], in[1], in[2], in[3], &p);
    CHECK_MSG(out != NULL, "%s: %s", r->name, born_last_error());
    if (!out) {
        born_clear_error();
        born_scope_end();
        return;
    }
    const fixture_tensor *fo = fixture_find(r, "out");
    born_tensor *want = fixture_to_tensor(fo);
    born_tensor *gout = fixture_to_tensor(fixture_find(r, "gout"));
    double *e = malloc(sizeof(double) * (size_t)fo->numel);
    for (int64_t i = 0; i < fo->numel; i++) e[i] = fixture_get_f64(fo, i);
    CHECK_TENSOR_NEAR(out, e, fo->numel, 1e-4, 2e-5);
    free(e);
    (void)want;
    CHECK_OK(born_backward(born_sum(born_mul(out, gout), 0, NULL, false)));
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof name, "grad%d", i);
        const fixture_tensor *fg = fixture_find(r, name);
        double *ge = malloc(sizeof(double) * (size_t)fg->numel);
        for (int64_t j = 0; j < fg->numel; j++) ge[j] = fixture_get_f64(fg, j);
        born_tensor *g = born_grad(in[i]);
        CHECK_MSG(g != NULL, "%s: no gradient for input %d", r->name, i);
        if (g) check_tensor_near_impl(__FILE__, __LINE__, r->name, g, ge, fg->numel, 1e-3, 5e-5);
        free(ge);
    }
    born_scope_end();
}

TEST(attention_matches_torch_sdpa) {
    fixture_file f;
    char err[256];
    CHECK_MSG(fixture_load(ATTN_FIXTURES, &f, err, sizeof err), "%s", err);
    static const int64_t tiles[][2] = {{0, 0}, {1, 1}, {7, 13}, {16, 5}, {64, 256}};
    int n = 0;
    for (int i = 0; i < f.nrecords; i++) {
        if (strncmp(f.records[i].name, "sdpa/", 5) != 0) continue;
        n++;
        for (size_t t = 0; t < sizeof tiles / sizeof tiles[0]; t++)
            replay(&f.records[i], BORN_SDPA_FLASH, tiles[t][0], tiles[t][1]);
        replay(&f.records[i], BORN_SDPA_MATH, 0, 0);
    }
    CHECK(n >= 14);
    fixture_free(&f);
}

/* ---- flash against math in f64 --------------------------------------------------------------- */

/* The largest |a - b| over two tensors of one shape. */
static double max_diff(born_tensor *a, born_tensor *b) {
    born_scope_begin();
    born_tensor *d = born_max(born_abs(born_sub(a, b)), 0, NULL, false);
    double v = d ? born_item(d) : INFINITY;
    born_scope_end();
    return v;
}

typedef struct sdpa_case {
    int64_t b, hq, hk, l, s, e, ev;
    bool causal;
    int64_t off;
    int mask; /* 0 none, 1 bool, 2 additive */
} sdpa_case;

static void flash_vs_math(const sdpa_case *c, int64_t bq, int64_t bkv) {
    born_scope_begin();
    born_generator *gen = born_generator_new(7);
    born_tensor *q = born_requires_grad(born_randn(gen, BORN_F64, BORN_DIMS(c->b, c->hq, c->l, c->e)), true);
    born_tensor *k = born_requires_grad(born_randn(gen, BORN_F64, BORN_DIMS(c->b, c->hk, c->s, c->e)), true);
    born_tensor *v = born_requires_grad(born_randn(gen, BORN_F64, BORN_DIMS(c->b, c->hk, c->s, c->ev)), true);
    born_tensor *mask = NULL;
    if (c->mask == 1) mask = born_gt_scalar(born_rand(gen, BORN_F64, BORN_DIMS(c->l, c->s)), 0.3);
    if (c->mask == 2) mask = born_mul_scalar(born_randn(gen, BORN_F64, BORN_DIMS(c->hq, 1, c->s)), 2.0);
    born_tensor *gout = born_randn(gen, BORN_F64, BORN_DIMS(c->b, c->hq, c->l, c->ev));
    born_tensor *out[2], *grads[2][3];
    for (int path = 0; path < 2; path++) {
        born_sdpa_params p = born_sdpa_default_params();
        p.is_causal = c->causal;
        p.kv_offset = c->off;
        p.enable_gqa = c->hq != c->hk;
        p.kernel = path ? BORN_SDPA_MATH : BORN_SDPA_FLASH;
        p.block_q = bq;
        p.block_kv = bkv;
        out[path] = born_scaled_dot_product_attention(q, k, v, mask, &p);
        CHECK_OK_TENSOR(out[path]);
        if (!out[path]) break;
        CHECK_OK(born_backward(born_sum(born_mul(out[path], gout), 0, NULL, false)));
        born_tensor *ins[3] = {q, k, v};
        for (int i = 0; i < 3; i++) {
            grads[path][i] = born_clone(born_grad(ins[i]));
            born_zero_grad(ins[i]);
        }
    }
    if (out[0] && out[1]) {
        CHECK_MSG(max_diff(out[0], out[1]) < 1e-12, "out differs by %g (L %lld S %lld)",
                  max_diff(out[0], out[1]), (long long)c->l, (long long)c->s);
        for (int i = 0; i < 3; i++)
            CHECK_MSG(max_diff(grads[0][i], grads[1][i]) < 1e-11, "grad %d differs by %g (L %lld)",
                      i, max_diff(grads[0][i], grads[1][i]), (long long)c->l);
    }
    born_generator_free(gen);
    born_scope_end();
}

TEST(attention_flash_matches_math_f64) {
    static const sdpa_case cases[] = {
        {2, 2, 2, 37, 53, 16, 8, false, 0, 0}, {1, 4, 2, 70, 70, 8, 8, true, 0, 0},
        {1, 3, 1, 9, 40, 8, 12, true, 31, 1},  {2, 2, 2, 33, 29, 8, 8, false, 0, 2},
        {1, 2, 2, 20, 12, 8, 8, true, -5, 0},  {1, 8, 2, 17, 45, 4, 4, true, 28, 2},
        {1, 1, 1, 1, 1, 4, 4, true, 0, 0},     {5, 1, 1, 3, 65, 8, 8, false, 0, 1},
    };
    static const int64_t tiles[][2] = {{0, 0}, {3, 5}, {64, 8}, {1, 64}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (size_t t = 0; t < sizeof tiles / sizeof tiles[0]; t++)
            flash_vs_math(&cases[i], tiles[t][0], tiles[t][1]);
}

/* ---- finite differences ---------------------------------------------------------------------- */

typedef struct gc_ctx {
    born_sdpa_params p;
    born_tensor *mask;
} gc_ctx;

static born_tensor *sdpa_fn(born_tensor *const *in, void *ctx) {
    gc_ctx *c = ctx;
    return born_scaled_dot_product_attention(in[0], in[1], in[2], c->mask, &c->p);
}

TEST(attention_gradcheck_flash_and_math) {
    born_generator *gen = born_generator_new(3);
    for (int kernel = BORN_SDPA_FLASH; kernel <= BORN_SDPA_MATH; kernel++) {
        born_scope_begin();
        born_tensor *in[3] = {
            born_requires_grad(born_randn(gen, BORN_F64, BORN_DIMS(1, 4, 5, 3)), true),
            born_requires_grad(born_randn(gen, BORN_F64, BORN_DIMS(1, 2, 7, 3)), true),
            born_requires_grad(born_randn(gen, BORN_F64, BORN_DIMS(1, 2, 7, 2)), true)};
        gc_ctx c = {born_sdpa_default_params(), NULL};
        c.p.kernel = (born_sdpa_kernel)kernel;
        c.p.enable_gqa = true;
        c.p.is_causal = true;
        c.p.kv_offset = 2;
        c.p.block_q = 2;
        c.p.block_kv = 3;
        c.mask = born_randn(gen, BORN_F64, BORN_DIMS(5, 7));
        CHECK_OK(born_gradcheck(sdpa_fn, 3, in, &c, NULL));
        for (int i = 0; i < 3; i++) born_free(in[i]);
        born_scope_end();
    }
    born_generator_free(gen);
}

/* Dropout with a generator rewound before every call: gradcheck sees one function. */
typedef struct drop_ctx {
    born_sdpa_params p;
    uint64_t seed;
} drop_ctx;

static born_tensor *sdpa_drop_fn(born_tensor *const *in, void *ctx) {
    drop_ctx *c = ctx;
    born_generator_set_state(c->p.gen, c->seed, 0);
    return born_scaled_dot_product_attention(in[0], in[1], in[2], NULL, &c->p);
}

TEST(attention_dropout_flash_equals_math_and_gradchecks) {
    born_generator *gen = born_generator_new(5);
    born_scope_begin();
    born_tensor *in[3] = {born_requires_grad(born_randn(gen, BORN_F64, BORN_DIMS(2, 2, 6, 4)), true),
                          born_requires_grad(born_randn(gen, BORN_F64, BORN_DIMS(2, 2, 9, 4)), true),
                          born_requires_grad(born_randn(gen, BORN_F64, BORN_DIMS(2, 2, 9, 4)), true)};
    drop_ctx c = {born_sdpa_default_params(), 99};
    c.p.dropout_p = 0.4;
    c.p.gen = born_generator_new(99);
    c.p.block_q = 4;
    c.p.block_kv = 4;
    c.p.kernel = BORN_SDPA_FLASH;
    born_tensor *a = sdpa_drop_fn(in, &c);
    c.p.kernel = BORN_SDPA_MATH;
    born_tensor *b = sdpa_drop_fn(in, &c);
    CHECK_OK_TENSOR(a);
    CHECK_OK_TENSOR(b);
    if (a && b) CHECK_MSG(max_diff(a, b) < 1e-12, "dropout flash vs math: %g", max_diff(a, b));
    /* some probabilities were dropped: without dropout the result differs */
    born_sdpa_params plain = born_sdpa_default_params();
    born_tensor *n = born_scaled_dot_product_attention(in[0], in[1], in[2], NULL, &plain);
    if (a && n) CHECK(max_diff(a, n) > 1e-3);
    c.p.kernel = BORN_SDPA_FLASH;
    CHECK_OK(born_gradcheck(sdpa_drop_fn, 3, in, &c, NULL));
    /* the generator advanced by B * H * L * S numbers */
    uint64_t seed, off;
    born_generator_get_state(c.p.gen, &seed, &off);
    CHECK_EQ_INT(off, 2 * 2 * 6 * 9);
    born_generator_free(c.p.gen);
    born_scope_end();
    born_generator_free(gen);
}

/* ---- edge cases ------------------------------------------------------------------------------ */

TEST(attention_fully_masked_rows_give_zero) {
    born_scope_begin();
    born_tensor *q = born_requires_grad(born_randn(NULL, BORN_F32, BORN_DIMS(1, 1, 3, 4)), true);
    born_tensor *k = born_requires_grad(born_randn(NULL, BORN_F32, BORN_DIMS(1, 1, 5, 4)), true);
    born_tensor *v = born_requires_grad(born_randn(NULL, BORN_F32, BORN_DIMS(1, 1, 5, 4)), true);
    for (int kernel = BORN_SDPA_FLASH; kernel <= BORN_SDPA_MATH; kernel++) {
        born_sdpa_params p = born_sdpa_default_params();
        p.is_causal = true;
        p.kv_offset = -1; /* query 0 sees nothing */
        p.kernel = (born_sdpa_kernel)kernel;
        born_tensor *o = born_scaled_dot_product_attention(q, k, v, NULL, &p);
        CHECK_OK_TENSOR(o);
        if (!o) continue;
        const float *d = born_data_f32(born_contiguous(o));
        for (int j = 0; j < 4; j++) CHECK(d[j] == 0.0f);
        /* query 1 sees key 0 only: its output is v[0] */
        const float *vd = born_data_f32(v);
        for (int j = 0; j < 4; j++) CHECK_NEAR(d[4 + j], vd[j], 1e-6);
        CHECK_OK(born_backward(born_sum(o, 0, NULL, false)));
        const float *gq = born_data_f32(born_grad(q));
        for (int j = 0; j < 12; j++) CHECK(isfinite(gq[j]));
        for (int j = 0; j < 4; j++) CHECK(gq[j] == 0.0f);
        born_zero_grad(q);
        born_zero_grad(k);
        born_zero_grad(v);
    }
    born_scope_end();
}

TEST(attention_transposed_inputs_and_f16) {
    /* q, k, v as [B, T, H, D] permuted to [B, H, T, D] views: the kernel reads the strides */
    born_scope_begin();
    born_tensor *x = born_randn(NULL, BORN_F32, BORN_DIMS(2, 11, 3, 8));
    born_tensor *qt = born_transpose(x, 1, 2), *qc = born_contiguous(qt);
    born_sdpa_params p = born_sdpa_default_params();
    p.is_causal = true;
    born_tensor *a = born_scaled_dot_product_attention(qt, qt, qt, NULL, &p);
    born_tensor *b = born_scaled_dot_product_attention(qc, qc, qc, NULL, &p);
    CHECK_OK_TENSOR(a);
    if (a && b) CHECK(max_diff(a, b) == 0.0);
    born_tensor *h = born_to_dtype(qc, BORN_F16);
    born_tensor *c = born_scaled_dot_product_attention(h, h, h, NULL, &p);
    CHECK_OK_TENSOR(c);
    if (c) {
        CHECK(born_tensor_dtype(c) == BORN_F16);
        CHECK(max_diff(born_to_dtype(c, BORN_F32), b) < 5e-3);
    }
    born_scope_end();
}

TEST(attention_errors) {
    born_scope_begin();
    born_tensor *q = born_randn(NULL, BORN_F32, BORN_DIMS(1, 4, 3, 8));
    born_tensor *k = born_randn(NULL, BORN_F32, BORN_DIMS(1, 3, 5, 8));
    born_tensor *v = born_randn(NULL, BORN_F32, BORN_DIMS(1, 3, 5, 8));
    CHECK(!born_scaled_dot_product_attention(q, k, v, NULL, NULL));
    CHECK_ERROR(BORN_ERR_SHAPE, "heads");
    born_sdpa_params p = born_sdpa_default_params();
    p.enable_gqa = true;
    CHECK(!born_scaled_dot_product_attention(q, k, v, NULL, &p));
    CHECK_ERROR(BORN_ERR_SHAPE, "divide");
    born_tensor *k2 = born_randn(NULL, BORN_F32, BORN_DIMS(1, 4, 5, 7));
    CHECK(!born_scaled_dot_product_attention(q, k2, k2, NULL, NULL));
    CHECK_ERROR(BORN_ERR_SHAPE, "features");
    born_tensor *k4 = born_randn(NULL, BORN_F32, BORN_DIMS(1, 4, 5, 8));
    born_tensor *m = born_ones(BORN_BOOL, BORN_DIMS(3, 4));
    CHECK(!born_scaled_dot_product_attention(q, k4, k4, m, NULL));
    CHECK_ERROR(BORN_ERR_SHAPE, "broadcast");
    born_tensor *mi = born_ones(BORN_I32, BORN_DIMS(3, 5));
    CHECK(!born_scaled_dot_product_attention(q, k4, k4, mi, NULL));
    CHECK_ERROR(BORN_ERR_DTYPE, "mask");
    p = born_sdpa_default_params();
    p.dropout_p = 1.0;
    CHECK(!born_scaled_dot_product_attention(q, k4, k4, NULL, &p));
    CHECK_ERROR(BORN_ERR_ARGUMENT, "dropout_p");
    born_tensor *kd = born_randn(NULL, BORN_F64, BORN_DIMS(1, 4, 5, 8));
    CHECK(!born_scaled_dot_product_attention(q, kd, kd, NULL, NULL));
    CHECK_ERROR(BORN_ERR_DTYPE, "dtype");
    born_tensor *mg = born_requires_grad(born_zeros(BORN_F32, BORN_DIMS(3, 5)), true);
    CHECK(!born_scaled_dot_product_attention(q, k4, k4, mg, NULL));
    CHECK_ERROR(BORN_ERR_ARGUMENT, "gradient");
    born_free(mg);
    CHECK(!born_scaled_dot_product_attention(NULL, k4, k4, NULL, NULL));
    CHECK_ERROR(BORN_ERR_ARGUMENT, "NULL");
    born_scope_end();
}

/* ---- O(T) memory ----------------------------------------------------------------------------- */

static long max_rss_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

TEST(attention_32k_tokens_without_a_t_by_t_matrix) {
    /* T = 32768, one head, d = 64, causal: a T x T f32 matrix would be 4 GiB. The process's
     * peak resident memory may grow by the inputs and outputs (8 MiB each) and tiles only. */
    const int64_t t = 32768;
    born_scope_begin();
    born_tensor *q = born_mul_scalar(born_randn(NULL, BORN_F32, BORN_DIMS(1, 1, t, 64)), 0.3);
    born_tensor *k = born_randn(NULL, BORN_F32, BORN_DIMS(1, 1, t, 64));
    born_tensor *v = born_randn(NULL, BORN_F32, BORN_DIMS(1, 1, t, 64));
    long before = max_rss_kib();
    born_sdpa_params p = born_sdpa_default_params();
    p.is_causal = true;
    born_tensor *o = born_scaled_dot_product_attention(q, k, v, NULL, &p);
    long after = max_rss_kib();
    CHECK_OK_TENSOR(o);
    CHECK_MSG(after - before < 256 * 1024, "peak RSS grew by %ld KiB", after - before);
    if (o) {
        /* spot-check the last query (it sees every key) against a direct computation */
        const float *qd = born_data_f32(q), *kd = born_data_f32(k);
        const float *vd = born_data_f32(v), *od = born_data_f32(o);
        const float *qi = qd + (t - 1) * 64;
        double mx = -INFINITY, sum = 0, acc[64] = {0};
        double *s = malloc(sizeof(double) * (size_t)t);
        for (int64_t j = 0; j < t; j++) {
            double d = 0;
            for (int x = 0; x < 64; x++) d += (double)qi[x] * kd[j * 64 + x];
            s[j] = d / 8.0;
            mx = s[j] > mx ? s[j] : mx;
        }
        for (int64_t j = 0; j < t; j++) {
            double w = exp(s[j] - mx);
            sum += w;
            for (int x = 0; x < 64; x++) acc[x] += w * vd[j * 64 + x];
        }
        free(s);
        for (int x = 0; x < 64; x++) CHECK_NEAR(od[(t - 1) * 64 + x], acc[x] / sum, 1e-4);
    }
    born_scope_end();
}
