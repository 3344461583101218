/* Unary ops and their gradients on f16/bf16 by lookup table (half_table.h) against the same ops
 * computed (runs under CPU_HALF_TABLE_MIN take the f32 loops): the same bits for all 65,536
 * inputs of each dtype, contiguous and strided, at every CPU level this machine has. */
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/half_table.h"
#include "core/cpu_features.h"
#include "test.h"

enum { HALVES = 65536, SMALL = 4096 };

static born_strided run(void *data, born_dtype t, int64_t n, int64_t stride) {
    born_strided s;
    memset(&s, 0, sizeof s);
    s.data = data;
    s.dtype = t;
    s.ndim = 1;
    s.shape[0] = n;
    s.strides[0] = stride;
    return s;
}

/* out[i * step] = op(in[i * step]) for i < n, as runs of `chunk` (n one run: the table; SMALL:
 * computed). */
static bool forward(born_unary_op op, born_dtype t, const uint16_t *in, uint16_t *out, int64_t n,
                    int64_t step, int64_t chunk) {
    for (int64_t i0 = 0; i0 < n; i0 += chunk) {
        born_strided o = run(out + i0 * step, t, chunk, step),
                     x = run((void *)(in + i0 * step), t, chunk, step);
        if (cpu_backend()->unary(op, &o, &x, NULL) != BORN_OK) return false;
    }
    return true;
}

static bool backward(born_unary_op op, born_dtype t, const uint16_t *g, const uint16_t *x,
                     const uint16_t *y, uint16_t *out, int64_t n, int64_t chunk) {
    for (int64_t i0 = 0; i0 < n; i0 += chunk) {
        born_strided o = run(out + i0, t, chunk, 1), sg = run((void *)(g + i0), t, chunk, 1);
        born_strided sx = run((void *)(x + i0), t, chunk, 1),
                     sy = run((void *)(y + i0), t, chunk, 1);
        if (cpu_backend()->unary_backward(op, &o, &sg, &sx, &sy, NULL) != BORN_OK) return false;
    }
    return true;
}

TEST(half_table_matches_computed_ops) {
    cpu_level saved = cpu_get_level();
    cpu_level levels[] = {CPU_LEVEL_AVX512, CPU_LEVEL_AVX2, CPU_LEVEL_NEON, CPU_LEVEL_SCALAR};
    uint16_t *in = malloc(2 * HALVES * sizeof *in), *a = malloc(2 * HALVES * sizeof *a);
    uint16_t *b = malloc(2 * HALVES * sizeof *b), *g = malloc(HALVES * sizeof *g);
    uint16_t *y = malloc(HALVES * sizeof *y);
    CHECK(in && a && b && g && y);
    if (!in || !a || !b || !g || !y) goto done;
    int tables = 0, grad_tables = 0;
    for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
        cpu_set_level(levels[l]);
        if (cpu_get_level() != levels[l]) continue; /* not on this machine */
        for (int bf = 0; bf < 2; bf++) {
            born_dtype t = bf ? BORN_BF16 : BORN_F16;
            for (int op = 0; op < BORN_UNARY_OP_COUNT; op++) {
                if (!cpu_half_table((born_unary_op)op, bf)) continue;
                tables++;
                for (int64_t i = 0; i < HALVES; i++)
                    in[i] = (uint16_t)i;
                bool ok = forward(op, t, in, a, HALVES, 1, HALVES) &&
                          forward(op, t, in, b, HALVES, 1, SMALL);
                CHECK_MSG(ok && memcmp(a, b, HALVES * sizeof *a) == 0, "%s %s at %s: table differs",
                          born_unary_op_name(op), bf ? "bf16" : "f16", cpu_level_name(levels[l]));
                /* every other half of a 2 x 65,536 run: a strided table lookup */
                for (int64_t i = 0; i < 2 * HALVES; i++)
                    in[i] = (uint16_t)(i / 2);
                memset(a, 0, 2 * HALVES * sizeof *a);
                memset(b, 0, 2 * HALVES * sizeof *b);
                ok = forward(op, t, in, a, HALVES, 2, HALVES) &&
                     forward(op, t, in, b, HALVES, 2, SMALL);
                CHECK_MSG(ok && memcmp(a, b, 2 * HALVES * sizeof *a) == 0,
                          "%s %s at %s: strided table differs", born_unary_op_name(op),
                          bf ? "bf16" : "f16", cpu_level_name(levels[l]));
                bool on_y;
                if (!cpu_half_grad_table((born_unary_op)op, bf, &on_y)) continue;
                grad_tables++;
                /* g: halves of moderate size, x every input, y the forward's output */
                for (int64_t i = 0; i < HALVES; i++) {
                    in[i] = (uint16_t)i;
                    g[i] = (uint16_t)((bf ? 0x3c00u : 0x3000u) + (uint16_t)((i * 7919) & 0x7ff)) ^
                           (uint16_t)(i & 1 ? 0x8000u : 0);
                }
                ok = forward(op, t, in, y, HALVES, 1, HALVES) &&
                     backward(op, t, g, in, y, a, HALVES, HALVES) &&
                     backward(op, t, g, in, y, b, HALVES, SMALL);
                CHECK_MSG(ok && memcmp(a, b, HALVES * sizeof *a) == 0,
                          "%s %s at %s: gradient table differs", born_unary_op_name(op),
                          bf ? "bf16" : "f16", cpu_level_name(levels[l]));
            }
        }
    }
    CHECK(tables >= 16 * 2); /* at least the portable level's tables, for both dtypes */
    CHECK(grad_tables >= 5 * 2);
done:
    cpu_set_level(saved);
    free(in);
    free(a);
    free(b);
    free(g);
    free(y);
}

/* The Gather Data Sampling guard: the kernel's report parsed, and a CPU whose gathers are slowed
 * computes at the vector levels (no table) while the portable level still looks up; the results
 * are cpu_unary's either way. */
TEST(half_table_off_where_gathers_are_slowed) {
    CHECK(cpu_gds_slows_gathers("Mitigation: Microcode\n"));
    CHECK(!cpu_gds_slows_gathers("Not affected\n"));
    CHECK(!cpu_gds_slows_gathers("Vulnerable\n"));
    CHECK(!cpu_gds_slows_gathers("Vulnerable: No microcode\n"));
    CHECK(!cpu_gds_slows_gathers("Mitigation: AVX disabled, no microcode\n"));
    cpu_level saved = cpu_get_level();
    cpu_half_table_force_gathers_slowed(1);
    for (int level = saved; level >= CPU_LEVEL_SCALAR; level--) {
        cpu_set_level((cpu_level)level);
        if ((int)cpu_get_level() != level) continue;
        bool vector = level >= CPU_LEVEL_AVX2 && level <= CPU_LEVEL_AVX512;
        bool on_y;
        CHECK((cpu_half_table(BORN_UNARY_TANH, true) == NULL) == vector);
        CHECK((cpu_half_grad_table(BORN_UNARY_GELU, false, &on_y) == NULL) == vector);
    }
    cpu_half_table_force_gathers_slowed(0);
    cpu_set_level(saved);
    CHECK(cpu_half_table(BORN_UNARY_TANH, true) != NULL);
    cpu_half_table_force_gathers_slowed(-1);
}
