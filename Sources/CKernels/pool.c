// A small pool of worker threads for the decoding kernels. A decoding step of a small model runs ~200 matrix–vector
// products of well under a millisecond each; handing each to Grand Central Dispatch cost more than the second core
// gained (SmolLM2 Q4_1: 108 tokens/s on one thread, 94–98 on two). Here workers spin briefly between products and
// claim parts from one atomic word, so a product is handed over in well under a microsecond; idle, they sleep.
#include "CKernels.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TG_PAUSE() _mm_pause()
#else
#define TG_PAUSE() ((void)0)
#endif

#define TG_POOL_MAX_WORKERS 63
#define TG_POOL_SPINS 200000  // pause iterations (~1 ms) before a worker sleeps

typedef void (*pool_task)(void *context, size_t part, size_t parts);

// `claim` packs the task's generation (high 32 bits), its part count (16 bits) and the next unclaimed part (16 bits):
// a worker that wakes late for a finished task fails to claim a part of it, and never reads a newer task's context
// under an older generation.
static struct {
    pthread_mutex_t submit;  // one task at a time
    pthread_mutex_t lock;    // guards sleeping
    pthread_cond_t wake;
    _Atomic uint32_t generation;
    _Atomic uint64_t claim;
    _Atomic size_t remaining;
    pool_task task;
    void *context;
    int workers;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static void run_parts(uint32_t generation) {
    for (;;) {
        uint64_t word = atomic_load_explicit(&pool.claim, memory_order_acquire);
        if ((uint32_t)(word >> 32) != generation) return;
        const size_t parts = (word >> 16) & 0xFFFF, part = word & 0xFFFF;
        if (part >= parts) return;
        if (!atomic_compare_exchange_weak_explicit(&pool.claim, &word, word + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        pool.task(pool.context, part, parts);
        atomic_fetch_sub_explicit(&pool.remaining, 1, memory_order_release);
    }
}

static void *worker(void *unused) {
    (void)unused;
    uint32_t seen = atomic_load_explicit(&pool.generation, memory_order_acquire);
    for (;;) {
        uint32_t current;
        int spins = 0;
        while ((current = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen) {
            if (++spins < TG_POOL_SPINS) {
                TG_PAUSE();
                continue;
            }
            pthread_mutex_lock(&pool.lock);
            while ((current = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen)
                pthread_cond_wait(&pool.wake, &pool.lock);
            pthread_mutex_unlock(&pool.lock);
            break;
        }
        seen = current;
        run_parts(current);
    }
    return NULL;
}

void tg_parallel(void (*task)(void *context, size_t part, size_t parts), void *context, size_t parts) {
    if (parts <= 1 || parts > TG_POOL_MAX_WORKERS + 1) {
        for (size_t part = 0; part < (parts == 0 ? 0 : parts); part++) task(context, part, parts);
        return;
    }
    pthread_mutex_lock(&pool.submit);
    while (pool.workers < (int)parts - 1) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, worker, NULL) != 0) break;
        pthread_detach(thread);
        pool.workers++;
    }
    pool.task = task;
    pool.context = context;
    atomic_store_explicit(&pool.remaining, parts, memory_order_relaxed);
    const uint32_t generation = atomic_load_explicit(&pool.generation, memory_order_relaxed) + 1;
    atomic_store_explicit(&pool.claim, ((uint64_t)generation << 32) | ((uint64_t)parts << 16), memory_order_release);
    pthread_mutex_lock(&pool.lock);
    atomic_store_explicit(&pool.generation, generation, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    run_parts(generation);
    while (atomic_load_explicit(&pool.remaining, memory_order_acquire) > 0) TG_PAUSE();
    pthread_mutex_unlock(&pool.submit);
}

// A decoding product split over outputs, one part per thread: float32 weights and inputs (TG_F32), or quantized
// weights and 8-bit input blocks.

struct product {
    int type;
    const void *x;
    size_t rows;
    const void *w;
    size_t in, out;
    float *y;
};

static void product_part(void *context, size_t part, size_t parts) {
    const struct product *p = context;
    const size_t first = p->out * part / parts, last = p->out * (part + 1) / parts;
    if (p->type == TG_F32)
        tg_rows_times_weight(p->x, p->rows, p->w, p->in, first, last, p->y, p->out);
    else
        tg_rows_times_quantized(p->type, p->x, p->rows, p->w, p->in, first, last, p->y, p->out);
}

void tg_rows_times_matrix_parallel(int type, const void *x, size_t rows, const void *w, size_t in, size_t out, float *y,
                                   size_t parts) {
    struct product product = {type, x, rows, w, in, out, y};
    tg_parallel(product_part, &product, parts);
}
