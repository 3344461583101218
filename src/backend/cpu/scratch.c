/* Per-thread scratch buffers (scratch.h): one small table of buffers per thread, made on the
 * thread's first request and freed by a pthread key's destructor when the thread exits. */
#include "backend/cpu/scratch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>

typedef struct scratch_table {
    void *ptr[CPU_SCRATCH_SLOTS];
    size_t cap[CPU_SCRATCH_SLOTS];
} scratch_table;

static pthread_key_t table_key;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static int table_key_ok;
static _Thread_local scratch_table *thread_table;
static atomic_uint_fast64_t growths;

static void table_free(void *p) {
    scratch_table *t = p;
    for (int i = 0; i < CPU_SCRATCH_SLOTS; i++) free(t->ptr[i]);
    free(t);
}

static void table_key_init(void) { table_key_ok = pthread_key_create(&table_key, table_free) == 0; }

static scratch_table *this_thread_table(void) {
    if (thread_table) return thread_table;
    pthread_once(&table_once, table_key_init);
    if (!table_key_ok) return NULL;
    scratch_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    if (pthread_setspecific(table_key, t) != 0) {
        free(t);
        return NULL;
    }
    return thread_table = t;
}

void *cpu_scratch(cpu_scratch_slot slot, size_t bytes) {
    scratch_table *t = this_thread_table();
    if (!t || slot < 0 || slot >= CPU_SCRATCH_SLOTS) return NULL;
    if (t->cap[slot] < bytes || !t->ptr[slot]) {
        free(t->ptr[slot]);
        t->ptr[slot] = NULL;
        t->cap[slot] = 0;
        /* buffers of 2 MiB and more (a packed B block) in whole 2 MiB pages where the kernel
         * gives them: a kc x nc block then takes one TLB entry instead of 512 */
        size_t page = bytes >= ((size_t)2 << 20) ? (size_t)2 << 20 : 4096;
        size_t want = (bytes + page - 1) & ~(page - 1);
        if (want == 0) want = page;
        void *p = NULL;
        if (want < bytes || posix_memalign(&p, page, want) != 0) return NULL;
#ifdef MADV_HUGEPAGE
        if (page > 4096) madvise(p, want, MADV_HUGEPAGE); /* advice only: failure is harmless */
#endif
        t->ptr[slot] = p;
        t->cap[slot] = want;
        atomic_fetch_add_explicit(&growths, 1, memory_order_relaxed);
    }
    return t->ptr[slot];
}

uint64_t cpu_scratch_growths(void) { return atomic_load_explicit(&growths, memory_order_relaxed); }
