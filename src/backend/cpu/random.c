/* CPU random fill: element i of the output takes Philox counter offset + i. */
#include "backend/cpu/cpu_kernels.h"
#include "core/philox.h"
#include "core/scalar.h"

typedef struct random_ctx {
    char *data;
    born_dtype dtype;
    born_random_kind kind;
    uint64_t seed, offset;
    double a, b;
} random_ctx;

static void random_range(int64_t begin, int64_t end, void *arg) {
    const random_ctx *c = arg;
    size_t size = born_dtype_size(c->dtype);
    for (int64_t i = begin; i < end; i++) {
        philox_block blk = philox4x32(c->offset + (uint64_t)i, c->seed);
        char *p = c->data + (size_t)i * size;
        switch (c->kind) {
        case BORN_RANDOM_UNIFORM:
            if (c->dtype == BORN_F64) {
                *(double *)p = c->a + (c->b - c->a) * philox_uniform_f64(blk.v[0], blk.v[1]);
            } else {
                float u = philox_uniform_f32(blk.v[0]);
                float v = (float)c->a + (float)(c->b - c->a) * u;
                /* rounding can reach b in narrow types: draw stays in [a, b) */
                scalar_store_f64(p, c->dtype, v);
                if (scalar_load_f64(p, c->dtype) >= c->b) scalar_store_f64(p, c->dtype, c->a);
            }
            break;
        case BORN_RANDOM_NORMAL:
            scalar_store_f64(p, c->dtype, c->a + c->b * philox_normal(blk));
            break;
        case BORN_RANDOM_INTEGER: {
            uint64_t range = (uint64_t)((int64_t)c->b - (int64_t)c->a);
            int64_t v = (int64_t)c->a + (int64_t)philox_below(blk, range);
            scalar_store_i64(p, c->dtype, v);
            break;
        }
        }
    }
}

born_status cpu_random(const born_strided *out, born_random_kind kind, uint64_t seed,
                       uint64_t offset, double a, double b) {
    int64_t n = 1;
    for (int d = 0; d < out->ndim; d++) n *= out->shape[d];
    random_ctx c = {out->data, out->dtype, kind, seed, offset, a, b};
    born_parallel_for(n, 16384, random_range, &c);
    return BORN_OK;
}
