/* Training steps allocate nothing beyond their tensors once the shapes repeat (issue 4: "no
 * allocation in steady-state training steps beyond what the tensors themselves need"). After two
 * warm-up steps of the MNIST MLP and CNN (batch 64, Adam) and of the small GPT-2 and LLaMA-style
 * models (batch 8 x 64 tokens, AdamW; GPT-2 also under bf16 autocast, with and without AMX), at 1
 * and 2 threads, three more steps must: grow no kernel
 * scratch buffer (src/backend/cpu/scratch.h: packing, im2col strips, attention tiles, partial
 * sums, offset tables) at one thread, and at two threads none but a thread's first use of a slot
 * (see below); take every tensor block of 64 KiB or more from the CPU allocator's cache
 * (no miss); and, where glibc's malloc can be counted (not under the address sanitizer, which
 * owns malloc), call malloc, calloc or realloc for no block of 4 KiB or more (records of tensors
 * and graph nodes are smaller) and posix_memalign, aligned_alloc or memalign only for the CPU
 * allocator's tensor blocks (cpu_mem_stats.system_allocations). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "backend/cpu/allocator.h"
#include "backend/cpu/scratch.h"
#include "core/cpu_features.h"
#include "test.h"
#include "tools/born/models.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BORN_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define BORN_TEST_ASAN 1
#endif

#if defined(__GLIBC__) && !defined(BORN_TEST_ASAN)
#include <malloc.h> /* memalign */
#define COUNT_MALLOC 1
enum { BIG_ALLOCATION = 4096 };
static atomic_int counting;
static atomic_long big_allocations, aligned_allocations;

/* glibc's own entry points, which replacements of malloc may call */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t count, size_t n);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t alignment, size_t n);

static void note_aligned(void) {
    if (atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(&aligned_allocations, 1, memory_order_relaxed);
}

static void note(size_t n) {
    if (n >= BIG_ALLOCATION && atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(&big_allocations, 1, memory_order_relaxed);
}

void *malloc(size_t n) {
    note(n);
    return __libc_malloc(n);
}

void *calloc(size_t count, size_t n) {
    note(count * n);
    return __libc_calloc(count, n);
}

void *realloc(void *p, size_t n) {
    note(n);
    return __libc_realloc(p, n);
}

int posix_memalign(void **p, size_t alignment, size_t n) {
    note_aligned();
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *q = __libc_memalign(alignment, n);
    if (!q) return ENOMEM;
    *p = q;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t n) {
    note_aligned();
    return __libc_memalign(alignment, n);
}

void *memalign(size_t alignment, size_t n) {
    note_aligned();
    return __libc_memalign(alignment, n);
}
#endif

/* the last two: GPT-2 under bf16 autocast, on the AMX tiles where the CPU has them and then
 * without (the AVX-512 BF16 paths, or bf16 converted to f32) */
enum { MLP, CNN, GPT2, LLAMA, GPT2_BF16, GPT2_BF16_NO_AMX, MODELS };
static const char *const kind_names[MODELS] = {"MLP", "CNN", "GPT-2", "LLaMA", "GPT-2 bf16",
                                               "GPT-2 bf16 without AMX"};

/* The models of the CLI (tools/born/models.c: the MNIST MLP and CNN) and the small GPTs. */
static born_module *make_model(int kind, born_generator *gen) {
    if (kind != MLP && kind != CNN) {
        born_gpt_config cfg = born_gpt_default_config(kind == LLAMA);
        return born_gpt_new(&cfg, gen);
    }
    return model_new(kind == MLP ? "mlp" : "cnn", gen);
}

static void train_step(born_module *m, born_optimizer *opt, born_tensor *x, born_tensor *y,
                       bool bf16) {
    born_scope_begin();
    if (bf16) CHECK_OK(born_autocast_begin(BORN_BF16));
    born_tensor *logits = born_module_forward(m, x);
    if (bf16) born_autocast_end();
    if (logits && born_tensor_ndim(logits) == 3) /* a language model: one row per token */
        logits = born_reshape(logits,
                              BORN_DIMS(born_tensor_numel(y), born_tensor_shape(logits)[2]));
    born_tensor *loss = born_cross_entropy(logits, y, NULL);
    CHECK_OK(born_backward(loss));
    CHECK_OK(born_optimizer_step(opt));
    CHECK(isfinite(born_item(loss)));
    born_optimizer_zero_grad(opt);
    born_scope_end();
}

TEST(training_steps_allocate_nothing_once_warm) {
    int saved = born_get_num_threads();
    for (int kind = 0; kind < MODELS; kind++)
        for (int threads = 1; threads <= 2; threads++) {
            CHECK_OK(born_set_num_threads(threads));
            born_generator *gen = born_generator_new(7);
            born_module *m = make_model(kind, gen);
            bool lm = kind != MLP && kind != CNN, bf16 = kind >= GPT2_BF16;
            cpu_set_amx(kind != GPT2_BF16_NO_AMX);
            int64_t n = 0;
            born_tensor **params = born_module_parameters(m, &n);
            born_adam_params ap = born_adam_default_params();
            born_optimizer *opt = lm ? born_adamw(params, n, NULL) : born_adam(params, n, &ap);
            born_module_train(m, true);
            born_tensor *x = lm ? born_randint(gen, 0, 256, BORN_I64, BORN_DIMS(8, 64))
                                : born_randn(gen, BORN_F32, BORN_DIMS(64, 1, 28, 28));
            born_tensor *y = lm ? born_randint(gen, 0, 256, BORN_I64, BORN_DIMS(8 * 64))
                                : born_randint(gen, 0, 10, BORN_I64, BORN_DIMS(64));
            CHECK(m && opt && x && y);
            if (!m || !opt || !x || !y) return;
            for (int s = 0; s < 2; s++) train_step(m, opt, x, y, bf16);
            uint64_t growths = cpu_scratch_growths();
            cpu_mem_stats before, after;
            cpu_mem_get_stats(&before);
#ifdef COUNT_MALLOC
            atomic_store(&big_allocations, 0);
            atomic_store(&aligned_allocations, 0);
            atomic_store(&counting, 1);
#endif
            for (int s = 0; s < 3; s++) train_step(m, opt, x, y, bf16);
#ifdef COUNT_MALLOC
            atomic_store(&counting, 0);
            CHECK_MSG(atomic_load(&big_allocations) == 0,
                      "%s, %d threads: %ld allocations of 4 KiB or more in three warm steps",
                      kind_names[kind], threads, atomic_load(&big_allocations));
#endif
            cpu_mem_get_stats(&after);
            uint64_t grew = cpu_scratch_growths() - growths;
#ifdef COUNT_MALLOC
            long kernel_aligned = atomic_load(&aligned_allocations) - (long)grew -
                                  (long)(after.system_allocations - before.system_allocations);
            CHECK_MSG(kernel_aligned == 0,
                      "%s, %d threads: %ld aligned allocations besides tensor blocks and scratch "
                      "in three warm steps",
                      kind_names[kind], threads, kernel_aligned);
#endif
            /* One thread: nothing. Two: a scratch buffer grows the first time a thread runs a
             * kind of task, and which thread runs which changes from step to step, so a slot may
             * still grow on a thread that had not run its tasks before. The sizes repeat, so
             * that is a handful of growths per slot and thread in all, not one per step: the
             * bound is one per slot and thread, which a slot growing every step would exceed
             * (and any other allocation fails the counts above). */
            uint64_t allowed = threads == 1 ? 0 : (uint64_t)(threads * CPU_SCRATCH_SLOTS);
            CHECK_MSG(grew <= allowed, "%s, %d threads: scratch grew %llu times (at most %llu)",
                      kind_names[kind], threads, (unsigned long long)grew,
                      (unsigned long long)allowed);
            CHECK_MSG(after.misses == before.misses,
                      "%s, %d threads: %llu tensor blocks not served from the cache",
                      kind_names[kind], threads,
                      (unsigned long long)(after.misses - before.misses));
            born_optimizer_free(opt);
            free(params);
            born_module_free(m);
            born_free(x);
            born_free(y);
            born_generator_free(gen);
        }
    cpu_set_amx(true);
    CHECK_OK(born_set_num_threads(saved));
}
