/* Generators and the random creation functions. A generator is a (seed, offset) pair: every call
 * draws numel numbers at counters offset .. offset+numel-1 and then advances offset, so results
 * are reproducible on any machine and thread count, and a checkpoint can store the pair. */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "core/error.h"
#include "core/philox.h"
#include "core/random_internal.h"
#include "core/tensor_impl.h"

struct born_generator {
    pthread_mutex_t lock;
    uint64_t seed;
    uint64_t offset;
};

static born_generator default_generator = {PTHREAD_MUTEX_INITIALIZER, 0x5eed, 0};

born_generator *born_generator_new(uint64_t seed) {
    born_generator *g = calloc(1, sizeof *g);
    if (!g) return born_error_null(BORN_ERR_MEMORY, "born_generator_new: out of memory");
    pthread_mutex_init(&g->lock, NULL);
    g->seed = seed;
    return g;
}

void born_generator_free(born_generator *gen) {
    if (!gen || gen == &default_generator) return;
    pthread_mutex_destroy(&gen->lock);
    free(gen);
}

void born_generator_set_state(born_generator *gen, uint64_t seed, uint64_t offset) {
    if (!gen) gen = &default_generator;
    pthread_mutex_lock(&gen->lock);
    gen->seed = seed;
    gen->offset = offset;
    pthread_mutex_unlock(&gen->lock);
}

void born_generator_seed(born_generator *gen, uint64_t seed) { born_generator_set_state(gen, seed, 0); }

void born_generator_get_state(const born_generator *gen, uint64_t *seed, uint64_t *offset) {
    born_generator *g = gen ? (born_generator *)gen : &default_generator;
    pthread_mutex_lock(&g->lock);
    if (seed) *seed = g->seed;
    if (offset) *offset = g->offset;
    pthread_mutex_unlock(&g->lock);
}

born_generator *born_default_generator(void) { return &default_generator; }

void born_manual_seed(uint64_t seed) { born_generator_seed(&default_generator, seed); }

/* Reserves n counters; returns the seed and the first counter. */
static void reserve(born_generator *gen, uint64_t n, uint64_t *seed, uint64_t *offset) {
    if (!gen) gen = &default_generator;
    pthread_mutex_lock(&gen->lock);
    *seed = gen->seed;
    *offset = gen->offset;
    gen->offset += n;
    pthread_mutex_unlock(&gen->lock);
}

static born_tensor *random_tensor_on(const char *op, born_generator *gen, born_random_kind kind,
                                     born_dtype dtype, int ndim, const int64_t *shape, double a,
                                     double b, born_device dev) {
    const born_backend *be = dev.type == BORN_DEVICE_CPU ? cpu_backend() : backend_for(dev);
    if (!be) return NULL;
    if (!be->random)
        return born_error_null(BORN_ERR_UNSUPPORTED, "%s: the %s backend draws no random numbers",
                               op, be->name);
    born_tensor *t = tensor_new(dtype, ndim, shape, dev);
    if (!t) return NULL;
    uint64_t seed, offset;
    reserve(gen, (uint64_t)born_tensor_numel(t), &seed, &offset);
    born_strided out = strided_of(t);
    if (be->random(&out, kind, seed, offset, a, b) != BORN_OK) {
        born_free(t);
        return born_error_null(BORN_ERR_INTERNAL, "%s: random fill failed", op);
    }
    return t;
}

static born_tensor *random_tensor(const char *op, born_generator *gen, born_random_kind kind,
                                  born_dtype dtype, int ndim, const int64_t *shape, double a,
                                  double b) {
    return random_tensor_on(op, gen, kind, dtype, ndim, shape, a, b, BORN_CPU);
}

born_tensor *core_rand_on(born_generator *gen, born_dtype dtype, int ndim, const int64_t *shape,
                          born_device device) {
    if (!born_dtype_is_floating(dtype))
        return born_error_null(BORN_ERR_DTYPE, "born_rand: dtype %s is not floating",
                               born_dtype_name(dtype));
    return random_tensor_on("born_rand", gen, BORN_RANDOM_UNIFORM, dtype, ndim, shape, 0.0, 1.0,
                            device);
}

born_tensor *born_rand(born_generator *gen, born_dtype dtype, int ndim, const int64_t *shape) {
    if (!born_dtype_is_floating(dtype))
        return born_error_null(BORN_ERR_DTYPE, "born_rand: dtype %s is not floating",
                               born_dtype_name(dtype));
    return random_tensor("born_rand", gen, BORN_RANDOM_UNIFORM, dtype, ndim, shape, 0.0, 1.0);
}

born_tensor *born_randn(born_generator *gen, born_dtype dtype, int ndim, const int64_t *shape) {
    if (!born_dtype_is_floating(dtype))
        return born_error_null(BORN_ERR_DTYPE, "born_randn: dtype %s is not floating",
                               born_dtype_name(dtype));
    return random_tensor("born_randn", gen, BORN_RANDOM_NORMAL, dtype, ndim, shape, 0.0, 1.0);
}

born_tensor *born_randint(born_generator *gen, int64_t low, int64_t high, born_dtype dtype,
                          int ndim, const int64_t *shape) {
    if (dtype == BORN_BOOL && (low < 0 || high > 2))
        return born_error_null(BORN_ERR_ARGUMENT, "born_randint: [%" PRId64 ", %" PRId64
                               ") does not fit in bool", low, high);
    if (high <= low)
        return born_error_null(BORN_ERR_ARGUMENT,
                               "born_randint: empty range [%" PRId64 ", %" PRId64 ")", low, high);
    return random_tensor("born_randint", gen, BORN_RANDOM_INTEGER, dtype, ndim, shape,
                         (double)low, (double)high);
}

born_tensor *born_randperm(born_generator *gen, int64_t n) {
    if (n < 0) return born_error_null(BORN_ERR_ARGUMENT, "born_randperm: n = %" PRId64 " < 0", n);
    born_tensor *t = tensor_new(BORN_I64, 1, &n, BORN_CPU);
    if (!t) return NULL;
    int64_t *p = tensor_data(t);
    for (int64_t i = 0; i < n; i++) p[i] = i;
    uint64_t seed, offset;
    reserve(gen, (uint64_t)n, &seed, &offset);
    /* Fisher-Yates: step k draws its swap partner from counter offset + k */
    for (int64_t i = n - 1; i > 0; i--) {
        uint64_t j = philox_below(philox4x32(offset + (uint64_t)(n - 1 - i), seed), (uint64_t)i + 1);
        int64_t tmp = p[i];
        p[i] = p[j];
        p[j] = tmp;
    }
    return t;
}
