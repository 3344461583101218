/* RoPE (both layouts, partial rotation, every scaling), ALiBi and sinusoidal tables against the
 * Hugging Face / PyTorch formulas of tools/gen_attention_fixtures.py, and RoPE's gradient by
 * finite differences. */
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "test.h"

static const char *arg(const char *spec, const char *key, char *buf, size_t size) {
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

static double num(const char *spec, const char *key, double def) {
    char b[64];
    return arg(spec, key, b, sizeof b) ? atof(b) : def;
}

static born_rope_params params_of(const char *spec) {
    born_rope_params p = born_rope_default_params();
    char b[64];
    p.theta = num(spec, "theta", 10000);
    p.interleaved = num(spec, "interleaved", 0) != 0;
    p.rotary_dim = (int64_t)num(spec, "rdim", 0);
    p.factor = num(spec, "factor", 1);
    p.original_max_position = (int64_t)num(spec, "orig", 0);
    const char *k = arg(spec, "scaling", b, sizeof b);
    if (k && !strcmp(k, "linear")) p.scaling = BORN_ROPE_SCALING_LINEAR;
    if (k && !strcmp(k, "ntk")) p.scaling = BORN_ROPE_SCALING_NTK;
    if (k && !strcmp(k, "dynamic")) p.scaling = BORN_ROPE_SCALING_DYNAMIC_NTK;
    if (k && !strcmp(k, "yarn")) p.scaling = BORN_ROPE_SCALING_YARN;
    if (k && !strcmp(k, "llama3")) p.scaling = BORN_ROPE_SCALING_LLAMA3;
    return p;
}

static void check_fixture(born_tensor *t, const fixture_tensor *f, double rtol, double atol,
                          const char *name) {
    double *e = malloc(sizeof(double) * (size_t)f->numel);
    for (int64_t i = 0; i < f->numel; i++) e[i] = fixture_get_f64(f, i);
    CHECK_MSG(t != NULL, "%s: %s", name, born_last_error());
    if (t) check_tensor_near_impl(__FILE__, __LINE__, name, t, e, f->numel, rtol, atol);
    free(e);
}

TEST(rope_alibi_sinusoidal_match_reference) {
    fixture_file f;
    char err[256];
    CHECK_MSG(fixture_load("tests/fixtures/attention.bin", &f, err, sizeof err), "%s", err);
    int seen = 0;
    for (int i = 0; i < f.nrecords; i++) {
        const fixture_record *r = &f.records[i];
        born_scope_begin();
        if (!strncmp(r->name, "rope/", 5)) {
            born_tensor *x = born_requires_grad(fixture_to_tensor(fixture_find(r, "in0")), true);
            born_tensor *pos = fixture_to_tensor(fixture_find(r, "in1"));
            born_rope_params p = params_of(r->spec);
            born_tensor *y = born_rope(x, pos, &p);
            check_fixture(y, fixture_find(r, "out"), 1e-5, 1e-5, r->name);
            if (y) {
                born_tensor *g = fixture_to_tensor(fixture_find(r, "gout"));
                CHECK_OK(born_backward(born_sum(born_mul(y, g), 0, NULL, false)));
                check_fixture(born_grad(x), fixture_find(r, "grad0"), 1e-5, 1e-5, r->name);
            }
            seen++;
        } else if (!strncmp(r->name, "alibi/", 6)) {
            born_tensor *b = born_alibi_bias((int64_t)num(r->spec, "heads", 0),
                                             (int64_t)num(r->spec, "L", 0), (int64_t)num(r->spec, "S", 0),
                                             (int64_t)num(r->spec, "off", 0), BORN_F32);
            check_fixture(b, fixture_find(r, "out"), 1e-6, 1e-7, r->name);
            seen++;
        } else if (!strncmp(r->name, "sinusoidal/", 11)) {
            born_tensor *t = born_sinusoidal_positions((int64_t)num(r->spec, "n", 0),
                                                       (int64_t)num(r->spec, "dim", 0), 10000.0, BORN_F32);
            check_fixture(t, fixture_find(r, "out"), 1e-6, 1e-7, r->name);
            seen++;
        }
        born_scope_end();
    }
    CHECK_EQ_INT(seen, 12);
    fixture_free(&f);
}

static born_tensor *rope_fn(born_tensor *const *in, void *ctx) {
    return born_rope(in[0], NULL, (const born_rope_params *)ctx);
}

TEST(rope_gradcheck_and_errors) {
    born_scope_begin();
    born_tensor *x = born_requires_grad(born_randn(NULL, BORN_F64, BORN_DIMS(2, 5, 6)), true);
    born_rope_params p = born_rope_default_params();
    p.position_offset = 3;
    CHECK_OK(born_gradcheck(rope_fn, 1, &x, &p, NULL));
    p.interleaved = true;
    p.rotary_dim = 4;
    CHECK_OK(born_gradcheck(rope_fn, 1, &x, &p, NULL));
    /* position_offset shifts positions: rope(x, offset 3) row 0 == rope(x at positions 3..) */
    born_tensor *pos = born_arange(3, 8, 1, BORN_I64);
    born_tensor *a = born_rope(x, pos, &p), *b = born_rope(x, NULL, &p);
    CHECK_OK_TENSOR(a);
    if (a && b) CHECK(born_item(born_max(born_abs(born_sub(a, b)), 0, NULL, false)) == 0.0);
    p.rotary_dim = 5;
    CHECK(!born_rope(x, NULL, &p));
    CHECK_ERROR(BORN_ERR_ARGUMENT, "rotary_dim");
    p = born_rope_default_params();
    p.scaling = BORN_ROPE_SCALING_YARN;
    p.factor = 4;
    CHECK(!born_rope(x, NULL, &p));
    CHECK_ERROR(BORN_ERR_ARGUMENT, "original_max_position");
    p = born_rope_default_params();
    CHECK(!born_rope(x, born_arange(0, 4, 1, BORN_I64), &p));
    CHECK_ERROR(BORN_ERR_SHAPE, "positions");
    CHECK(!born_alibi_slopes(0));
    CHECK_ERROR(BORN_ERR_ARGUMENT, "heads");
    CHECK(!born_sinusoidal_positions(4, 3, 10000, BORN_F32));
    CHECK_ERROR(BORN_ERR_ARGUMENT, "even");
    born_scope_end();
}
