// Resident workers for SeqLens's parallel loops (packed one-row products, split GEMMs). A
// generated token runs a few hundred small products back to back; waking a thread for each
// through a dispatch queue costs about as much as the product. Workers here spin for a short
// while after each job, then sleep; parts are claimed by whichever thread is free, so a job
// never waits for a worker that is still waking up.
#include "seqlens_packed_kernels.h"
#include <pthread.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

enum { MAX_WORKERS = 15, SPIN_NANOSECONDS = 200000 };

typedef struct {
    seqlens_part_function function;
    void *context;
} job_t;

// Parts are claimed, not assigned: the caller and every awake worker take the next unclaimed
// part until none is left. A worker still asleep (or descheduled by the hypervisor) then costs
// nothing: the caller runs its parts. The ticket packs the job's generation (32 bits), its part
// count and the next unclaimed part (16 bits each), so a claim is one compare-and-swap that
// fails once the job is over or replaced.
#define TICKET(generation, parts, next) (((uint64_t)(generation) << 32) | ((uint64_t)(parts) << 16) | (uint64_t)(next))
#define TICKET_PARTS(ticket) ((int)(((ticket) >> 16) & 0xFFFF))
#define TICKET_NEXT(ticket) ((int)((ticket) & 0xFFFF))

static struct {
    pthread_once_t once;
    pthread_mutex_t caller;  // one job at a time; a second concurrent caller runs alone
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int workers;
    job_t job;  // written only while no part of the previous job can still be claimed or running
    _Atomic uint64_t ticket;
    atomic_uint generation;  // what sleeping workers wait on
    atomic_int done;  // parts of the current job finished
} pool = {PTHREAD_ONCE_INIT, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

/// Claims and runs parts of the current job until none is left.
static void run_claimed_parts(void) {
    uint64_t ticket = atomic_load_explicit(&pool.ticket, memory_order_acquire);
    while (TICKET_NEXT(ticket) < TICKET_PARTS(ticket)) {
        if (atomic_compare_exchange_weak_explicit(&pool.ticket, &ticket, ticket + 1, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            // The claim succeeded, so the job cannot change until this part is counted done.
            pool.job.function(pool.job.context, TICKET_NEXT(ticket));
            atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
            ticket = atomic_load_explicit(&pool.ticket, memory_order_acquire);
        }
    }
}

static long long nanoseconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void *worker(void *argument) {
    (void)argument;
    unsigned seen = 0;  // workers start before the first job
    for (;;) {
        long long deadline = nanoseconds() + SPIN_NANOSECONDS;
        unsigned current;
        int spins = 0;
        while ((current = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen) {
            CPU_RELAX();
            if (++spins % 256 == 0 && nanoseconds() > deadline) {
                pthread_mutex_lock(&pool.lock);
                while ((current = atomic_load(&pool.generation)) == seen) pthread_cond_wait(&pool.wake, &pool.lock);
                pthread_mutex_unlock(&pool.lock);
                break;
            }
        }
        seen = current;
        run_claimed_parts();
    }
    return NULL;
}

static void start_workers(void) {
    int wanted = seqlens_parallel_thread_count() - 1;
    for (int i = 1; i <= wanted; i++) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&thread, &attributes, worker, (void *)(size_t)i) == 0) pool.workers = i;
        pthread_attr_destroy(&attributes);
        if (pool.workers != i) break;
    }
}

static int thread_count = 1;
static pthread_once_t thread_count_once = PTHREAD_ONCE_INIT;

// One thread per online CPU, or SEQLENS_THREADS when set (e.g. to share a machine).
static void count_threads(void) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    const char *setting = getenv("SEQLENS_THREADS");
    if (setting != NULL && atol(setting) >= 1) online = atol(setting);
    thread_count = online < 1 ? 1 : online > MAX_WORKERS + 1 ? MAX_WORKERS + 1 : (int)online;
}

int seqlens_parallel_thread_count(void) {
    pthread_once(&thread_count_once, count_threads);
    return thread_count;
}

void seqlens_parallel_run(int parts, seqlens_part_function function, void *context) {
    int threads = seqlens_parallel_thread_count();
    if (threads > parts) threads = parts;
    if (threads > 1) {
        pthread_once(&pool.once, start_workers);
        if (threads > pool.workers + 1) threads = pool.workers + 1;
    }
    if (threads <= 1 || parts > 0xFFFF || pthread_mutex_trylock(&pool.caller) != 0) {
        for (int part = 0; part < parts; part++) function(context, part);
        return;
    }
    // No part of the previous job is claimable or running (the previous caller waited for all
    // of them), so the job can be rewritten; the release store of the ticket publishes it.
    pool.job = (job_t){function, context};
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    unsigned generation = atomic_load_explicit(&pool.generation, memory_order_relaxed) + 1;
    atomic_store_explicit(&pool.ticket, TICKET(generation, parts, 0), memory_order_release);
    pthread_mutex_lock(&pool.lock);
    atomic_store_explicit(&pool.generation, generation, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    run_claimed_parts();
    while (atomic_load_explicit(&pool.done, memory_order_acquire) < parts) CPU_RELAX();
    pthread_mutex_unlock(&pool.caller);
}

typedef struct {
    seqlens_packed_format format;
    const void *rows;
    size_t row_bytes, row_count, columns;
    const float *x;
    float *y;
    int accumulate, parts;
} gemv_job;

static void gemv_part(void *context, int part) {
    const gemv_job *job = context;
    size_t chunk = (job->row_count + job->parts - 1) / job->parts;
    size_t begin = (size_t)part * chunk, end = begin + chunk < job->row_count ? begin + chunk : job->row_count;
    if (begin < end) {
        seqlens_packed_gemv(job->format, job->rows, job->row_bytes, begin, end, job->columns, job->x, job->y,
                            job->accumulate);
    }
}

void seqlens_packed_gemv_parallel(seqlens_packed_format format, const void *rows, size_t row_bytes,
                                  size_t row_count, size_t columns, const float *x, float *y,
                                  int accumulate, int threads) {
    int parts = threads < seqlens_parallel_thread_count() ? threads : seqlens_parallel_thread_count();
    gemv_job job = {format, rows, row_bytes, row_count, columns, x, y, accumulate, parts < 1 ? 1 : parts};
    seqlens_parallel_run(job.parts, gemv_part, &job);
}
