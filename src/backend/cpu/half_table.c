/* Lookup tables for unary ops on f16 and bf16 (half_table.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/convert_simd.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/half_table.h"
#include "core/cpu_features.h"

enum { HALVES = 65536, BUILD_RUN = 4096, LEVELS = CPU_LEVEL_AVX512 + 1 };

/* Whether op has a forward table: the ops whose f32 loop costs far more than a lookup and that
 * take no parameters. */
static bool forward_takes(born_unary_op op) {
    switch (op) {
    case BORN_UNARY_EXP:
    case BORN_UNARY_EXP2:
    case BORN_UNARY_EXPM1:
    case BORN_UNARY_LOG:
    case BORN_UNARY_LOG2:
    case BORN_UNARY_LOG1P:
    case BORN_UNARY_RSQRT:
    case BORN_UNARY_SIN:
    case BORN_UNARY_COS:
    case BORN_UNARY_TAN:
    case BORN_UNARY_TANH:
    case BORN_UNARY_SIGMOID:
    case BORN_UNARY_GELU:
    case BORN_UNARY_GELU_TANH:
    case BORN_UNARY_SILU:
    case BORN_UNARY_ERF: return true;
    default: return false;
    }
}

/* Whether op's fused gradient is g d with d a function of x alone, or (*on_y) of y alone: the
 * form every level's backward loop has for these (unary.c, unary_avx2.c, unary_avx512.c,
 * unary_neon.c). */
static bool grad_takes(born_unary_op op, bool *on_y) {
    *on_y = op == BORN_UNARY_TANH || op == BORN_UNARY_SIGMOID;
    return *on_y || op == BORN_UNARY_GELU || op == BORN_UNARY_GELU_TANH || op == BORN_UNARY_SILU;
}

/* Whether this CPU's gathers are slowed: where the kernel reports the microcode mitigation of
 * Gather Data Sampling (Intel Skylake to Ice Lake and Tiger Lake), reported to make each gather
 * several times slower, which could let computing the op win (not measured: the machines here are
 * not affected), the vector levels compute. Scalar lookups (portable, NEON) are not affected. */
static bool gathers_slowed;
static pthread_once_t gathers_once = PTHREAD_ONCE_INIT;
static _Atomic int gathers_forced = -1; /* cpu_half_table_force_gathers_slowed */

bool cpu_gds_slows_gathers(const char *status) {
    return strstr(status, "Mitigation: Microcode") != NULL;
}

static void ask_gathers(void) {
    FILE *f = fopen("/sys/devices/system/cpu/vulnerabilities/gather_data_sampling", "r");
    if (!f) return;
    char line[128];
    if (fgets(line, sizeof line, f) && cpu_gds_slows_gathers(line)) gathers_slowed = true;
    fclose(f);
}

void cpu_half_table_force_gathers_slowed(int slowed) { gathers_forced = slowed; }

/* Whether tables serve at this CPU level (its lookups gather). */
static bool tables_pay(void) {
    if (cpu_get_level() < CPU_LEVEL_AVX2) return true;
    int forced = gathers_forced;
    if (forced >= 0) return !forced;
    pthread_once(&gathers_once, ask_gathers);
    return !gathers_slowed;
}

/* Built tables, by level, op and dtype (never freed). */
static _Atomic(void *) forward_tables[LEVELS][BORN_UNARY_OP_COUNT][2];
static _Atomic(void *) grad_tables[LEVELS][BORN_UNARY_OP_COUNT][2];

/* The 65,536 halves widened to f32, a run at a time: run [i0, i0 + BUILD_RUN) into f. */
static void widen_run(int64_t i0, bool bf16, float *f) {
    uint16_t bits[BUILD_RUN];
    for (int64_t i = 0; i < BUILD_RUN; i++)
        bits[i] = (uint16_t)(i0 + i);
    cpu_halves_to_f32((const char *)bits, 2, bf16, f, BUILD_RUN);
}

/* Publishes a freshly built table in *slot unless another thread got there first (then frees
 * it and returns that one). */
static void *publish(_Atomic(void *) *slot, void *built) {
    void *expected = NULL;
    if (atomic_compare_exchange_strong(slot, &expected, built)) return built;
    free(built);
    return expected;
}

const uint16_t *cpu_half_table(born_unary_op op, bool bf16) {
    if ((unsigned)op >= BORN_UNARY_OP_COUNT || !forward_takes(op) || !tables_pay()) return NULL;
    _Atomic(void *) *slot = &forward_tables[cpu_get_level()][op][bf16];
    uint16_t *t = atomic_load_explicit(slot, memory_order_acquire);
    if (t) return t;
    cpu_loop_fn loop = cpu_unary_f32_loop(op);
    if (!loop) return NULL;
    /* two bytes past the end: the gathers read 32 bits at each 16-bit entry */
    t = malloc((HALVES + 2) * sizeof *t);
    float *f = malloc(BUILD_RUN * sizeof *f);
    if (!t || !f) {
        free(t);
        free(f);
        return NULL;
    }
    for (int64_t i0 = 0; i0 < HALVES; i0 += BUILD_RUN) {
        widen_run(i0, bf16, f);
        cpu_unary_f32_run(loop, f, f, BUILD_RUN);
        cpu_f32_to_halves(f, (char *)(t + i0), 2, bf16, BUILD_RUN);
    }
    t[HALVES] = t[HALVES + 1] = 0;
    free(f);
    return publish(slot, t);
}

const float *cpu_half_grad_table(born_unary_op op, bool bf16, bool *on_y) {
    if ((unsigned)op >= BORN_UNARY_OP_COUNT || !grad_takes(op, on_y) || !tables_pay()) return NULL;
    _Atomic(void *) *slot = &grad_tables[cpu_get_level()][op][bf16];
    float *d = atomic_load_explicit(slot, memory_order_acquire);
    if (d) return d;
    cpu_loop_fn loop = cpu_unary_backward_f32_loop(op);
    if (!loop) return NULL;
    d = malloc(HALVES * sizeof *d);
    float *ones = malloc(BUILD_RUN * sizeof *ones);
    if (!d || !ones) {
        free(d);
        free(ones);
        return NULL;
    }
    for (int64_t i = 0; i < BUILD_RUN; i++)
        ones[i] = 1.0f;
    for (int64_t i0 = 0; i0 < HALVES; i0 += BUILD_RUN) {
        widen_run(i0, bf16, d + i0);
        /* 1 d(v) = d(v): the loop with g = 1 and v as x and y, in place */
        cpu_unary_backward_f32_run(loop, d + i0, ones, d + i0, d + i0, BUILD_RUN);
    }
    free(ones);
    return publish(slot, d);
}

void cpu_half_lookup(const uint16_t *table, const char *in, int64_t in_step, char *out,
                     int64_t out_step, int64_t n) {
    int64_t i = 0;
#if defined(__x86_64__)
    if (in_step == 2 && out_step == 2) {
        cpu_level level = cpu_get_level();
        if (level >= CPU_LEVEL_AVX512)
            i = cpu_half_lookup_avx512(table, (const uint16_t *)in, (uint16_t *)out, n);
        else if (level >= CPU_LEVEL_AVX2)
            i = cpu_half_lookup_avx2(table, (const uint16_t *)in, (uint16_t *)out, n);
    }
#endif
    for (; i < n; i++) {
        uint16_t v;
        memcpy(&v, in + i * in_step, 2);
        memcpy(out + i * out_step, &table[v], 2);
    }
}

void cpu_half_grad_mul(const float *d, const uint16_t *keys, float *g, int64_t n) {
    int64_t i = 0;
#if defined(__x86_64__)
    cpu_level level = cpu_get_level();
    if (level >= CPU_LEVEL_AVX512)
        i = cpu_half_grad_mul_avx512(d, keys, g, n);
    else if (level >= CPU_LEVEL_AVX2)
        i = cpu_half_grad_mul_avx2(d, keys, g, n);
#endif
    for (; i < n; i++)
        g[i] *= d[keys[i]];
}
