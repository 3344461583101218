/* CPU reductions of f16 and bf16 inputs read in place (reduce.c converts each run or group of
 * rows into a task's f32 buffer): the bits of the same reduction of the input converted to f32
 * with the same layout, for sum, prod, max and min (a NaN planted), over column, inner-run,
 * whole-tensor, strided and mixed reductions, at every CPU level and on 1 and 2 threads. */
#include <math.h>
#include <string.h>

#include "backend/backend.h"
#include "core/cpu_features.h"
#include "test.h"

static uint64_t rng = 0x452821E638D01377ull;

static double uniform(void) { /* [-1, 1) */
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* One case: an input of `ndim` dims laid out with `strides` (elements) in a buffer of `span`
 * elements, reduced over the dims in `mask`. */
typedef struct reduce_case {
    int ndim;
    int64_t shape[3], strides[3], span;
    uint32_t mask;
} reduce_case;

static born_strided strided(void *data, born_dtype dtype, int ndim, const int64_t *shape,
                            const int64_t *strides) {
    born_strided s;
    memset(&s, 0, sizeof s);
    s.data = data;
    s.dtype = dtype;
    s.ndim = ndim;
    for (int d = 0; d < ndim; d++) {
        s.shape[d] = shape[d];
        s.strides[d] = strides[d];
    }
    return s;
}

/* Reduces c's input given as halves and as their f32 values; fails on the first differing bit
 * pattern. */
static void check_case(const reduce_case *c, born_reduce_op op, born_dtype half, int threads) {
    const born_backend *be = cpu_backend();
    born_tensor *h = born_empty(half, BORN_DIMS(c->span));
    born_tensor *f = born_empty(BORN_F32, BORN_DIMS(c->span));
    uint16_t *hp = born_data_ptr(h);
    float *fp = born_data_f32(f);
    for (int64_t i = 0; i < c->span; i++) {
        double v = op == BORN_REDUCE_PROD ? 1.0 + uniform() / 64.0 : uniform() * 8.0;
        hp[i] = half == BORN_BF16 ? born_f32_to_bf16((float)v) : born_f32_to_f16((float)v);
    }
    if (op == BORN_REDUCE_MAX || op == BORN_REDUCE_MIN) hp[c->span / 3] = 0x7e00; /* a NaN */
    for (int64_t i = 0; i < c->span; i++)
        fp[i] = half == BORN_BF16 ? born_bf16_to_f32(hp[i]) : born_f16_to_f32(hp[i]);
    int64_t oshape[3], ostrides[3], outs = 1;
    for (int d = c->ndim - 1; d >= 0; d--) {
        oshape[d] = (c->mask & (1u << d)) ? 1 : c->shape[d];
        ostrides[d] = outs;
        outs *= oshape[d];
    }
    born_tensor *o1 = born_empty(BORN_F32, BORN_DIMS(outs));
    born_tensor *o2 = born_empty(BORN_F32, BORN_DIMS(outs));
    born_strided in_h = strided(hp, half, c->ndim, c->shape, c->strides);
    born_strided in_f = strided(fp, BORN_F32, c->ndim, c->shape, c->strides);
    born_strided out1 = strided(born_data_f32(o1), BORN_F32, c->ndim, oshape, ostrides);
    born_strided out2 = strided(born_data_f32(o2), BORN_F32, c->ndim, oshape, ostrides);
    int saved = born_get_num_threads();
    born_set_num_threads(threads);
    born_status s1 = be->reduce(op, &out1, &in_h, c->mask);
    born_status s2 = be->reduce(op, &out2, &in_f, c->mask);
    born_set_num_threads(saved);
    CHECK_OK(s1);
    CHECK_OK(s2);
    const uint32_t *g = (const uint32_t *)born_data_f32(o1),
                   *w = (const uint32_t *)born_data_f32(o2);
    int64_t bad = -1;
    for (int64_t i = 0; i < outs && bad < 0; i++)
        if (g[i] != w[i]) bad = i;
    CHECK_MSG(bad < 0,
              "%s op %d shape [%lld %lld %lld] mask %u level %s threads %d: output %lld "
              "%08x, want %08x",
              born_dtype_name(half), (int)op, (long long)c->shape[0],
              (long long)(c->ndim > 1 ? c->shape[1] : 0),
              (long long)(c->ndim > 2 ? c->shape[2] : 0), c->mask, cpu_level_name(cpu_get_level()),
              threads, (long long)bad, bad >= 0 ? g[bad] : 0, bad >= 0 ? w[bad] : 0);
    born_free(h);
    born_free(f);
    born_free(o1);
    born_free(o2);
}

TEST(cpu_reduce_of_halves_gives_the_bits_of_their_f32_values) {
    static const reduce_case cases[] = {
        {2, {300, 40}, {40, 1}, 12000, 1u},        /* columns: three chunks of rows */
        {2, {37, 301}, {301, 1}, 11137, 2u},       /* contiguous runs */
        {1, {70001}, {1}, 70001, 1u},              /* whole tensor: blocks combined in order */
        {2, {40, 300}, {1, 40}, 12000, 2u},        /* strided runs (a transposed view) */
        {3, {6, 50, 33}, {1650, 33, 1}, 9900, 5u}, /* outer and inner dims reduced */
        {2, {3, 37000}, {37000, 1}, 111000, 2u},   /* runs longer than a block */
        {3, {4, 20, 16}, {640, 32, 2}, 2560, 2u},  /* every other element: columns strided */
        {2, {3, 2000}, {1, 3}, 6000, 2u},          /* long strided runs */
    };
    cpu_level saved = cpu_get_level();
    for (int lv = CPU_LEVEL_AVX512; lv >= CPU_LEVEL_SCALAR; lv--) {
        cpu_set_level((cpu_level)lv);
        if ((int)cpu_get_level() != lv && lv != CPU_LEVEL_SCALAR) continue; /* not on this CPU */
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            for (int op = BORN_REDUCE_SUM; op <= BORN_REDUCE_MIN; op++)
                for (int t = 1; t <= 2; t++) {
                    check_case(&cases[i], (born_reduce_op)op, BORN_BF16, t);
                    check_case(&cases[i], (born_reduce_op)op, BORN_F16, t);
                }
    }
    cpu_set_level(saved);
}

/* Through the ops layer: a bf16 tensor's sum over its rows is its f32 copy's sum rounded once,
 * and a half input asked for a bool result (any) is refused by the backend with a message. */
TEST(bf16_sum_over_rows_is_the_f32_sum_rounded) {
    born_tensor *x = born_empty(BORN_F32, BORN_DIMS(257, 96));
    float *p = born_data_f32(x);
    for (int64_t i = 0; i < 257 * 96; i++)
        p[i] = (float)uniform();
    born_tensor *h = born_to_dtype(x, BORN_BF16);
    born_tensor *hf = born_to_dtype(h, BORN_F32);
    born_tensor *got = born_sum(h, 1, (int64_t[]){0}, false);
    born_tensor *ref = born_sum(hf, 1, (int64_t[]){0}, false);
    born_tensor *want = ref ? born_to_dtype(ref, BORN_BF16) : NULL;
    CHECK_OK_TENSOR(got);
    CHECK_OK_TENSOR(want);
    if (got && want) {
        CHECK_EQ_INT(got->dtype, BORN_BF16);
        CHECK(memcmp(born_data_ptr(got), born_data_ptr(want), 96 * 2) == 0);
    }
    const born_backend *be = cpu_backend();
    born_strided in =
        strided(born_data_ptr(h), BORN_BF16, 2, (int64_t[]){257, 96}, (int64_t[]){96, 1});
    uint8_t flags[96];
    born_strided out = strided(flags, BORN_BOOL, 2, (int64_t[]){1, 96}, (int64_t[]){96, 1});
    CHECK_EQ_INT(be->reduce(BORN_REDUCE_ANY, &out, &in, 1u), BORN_ERR_DTYPE);
    CHECK_ERROR(BORN_ERR_DTYPE, "bf16 input needs an f32 output");
    born_free(x);
    born_free(h);
    born_free(hf);
    born_free(got);
    born_free(ref);
    born_free(want);
}
