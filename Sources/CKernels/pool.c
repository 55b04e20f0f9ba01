/* TensorCore's compute pool (see mmpipe_pool.h). Linux futexes; helpers sleep between jobs. */
#define _GNU_SOURCE
#include "mmpipe_pool.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_HELPERS 255

static void futex_wait(_Atomic unsigned *addr, unsigned expected) {
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake(_Atomic unsigned *addr, int n) {
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static struct {
    pthread_mutex_t config_lock;        /* thread start and resize */
    pthread_mutex_t run_lock;           /* one job at a time */
    int threads;                        /* compute threads incl. the caller */
    int cores;                          /* the budget: cores this process may run on */
    int started;                        /* helpers started (they never exit) */

    /* The current job. */
    mmpipe_part_fn fn;
    void *ctx;
    long parts;
    _Atomic long next;                  /* next part to take */
    _Atomic int wanted;                 /* helpers this job may take */
    _Atomic int joined;                 /* helpers that took a slot (closed: >= INT_MAX / 2) */
    _Atomic unsigned active;            /* helpers still inside the job (futex word) */
    _Atomic unsigned generation;        /* bumped per job (futex word for helpers) */
    _Atomic int sleepers;               /* helpers asleep on `generation` */
    _Atomic int caller_sleeping;

    /* The core budget. */
    pthread_mutex_t budget_lock;
    pthread_cond_t budget_cond;
    int busy;                           /* cores held + job threads not holding one */
    int waiting;                        /* acquirers waiting for a core */
    int peak;
} pool = {
    .config_lock = PTHREAD_MUTEX_INITIALIZER,
    .run_lock = PTHREAD_MUTEX_INITIALIZER,
    .budget_lock = PTHREAD_MUTEX_INITIALIZER,
    .budget_cond = PTHREAD_COND_INITIALIZER,
    .threads = 0,
};

static _Thread_local int core_depth;      /* > 0: this thread holds a core */

static void run_parts(void) {
    long p;
    while ((p = atomic_fetch_add(&pool.next, 1)) < pool.parts) pool.fn(pool.ctx, p);
}

static void *helper_main(void *arg) {
    (void)arg;
    unsigned seen = atomic_load(&pool.generation);
    for (;;) {
        unsigned g = atomic_load(&pool.generation);
        if (g == seen) {
            atomic_fetch_add(&pool.sleepers, 1);
            futex_wait(&pool.generation, seen);
            atomic_fetch_sub(&pool.sleepers, 1);
            continue;
        }
        seen = g;
        int slot = atomic_fetch_add(&pool.joined, 1);
        if (slot >= atomic_load(&pool.wanted)) continue;   /* not needed (or too late) */
        run_parts();
        if (atomic_fetch_sub(&pool.active, 1) == 1 && atomic_load(&pool.caller_sleeping))
            futex_wake(&pool.active, 1);
    }
    return NULL;
}

static int online_cores(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void mmpipe_pool_set_threads(int threads) {
    if (threads < 1) threads = 1;
    if (threads > MAX_HELPERS + 1) threads = MAX_HELPERS + 1;
    pthread_mutex_lock(&pool.config_lock);
    if (pool.cores == 0) pool.cores = online_cores();
    pool.threads = threads;
    pthread_mutex_unlock(&pool.config_lock);
}

int mmpipe_pool_threads(void) {
    if (pool.threads == 0) mmpipe_pool_set_threads(online_cores());
    return pool.threads;
}

int mmpipe_pool_cores(void) {
    mmpipe_pool_threads();
    return pool.cores;
}

/* Starts helpers up to `helpers` (under config_lock). Threads are never stopped: a smaller
 * budget just wants fewer of them, and the others sleep. */
static void ensure_helpers(int helpers) {
    if (pool.started >= helpers) return;
    pthread_mutex_lock(&pool.config_lock);
    while (pool.started < helpers) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 8 << 20);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&thread, &attr, helper_main, NULL);
        pthread_attr_destroy(&attr);
        if (rc != 0) break;   /* run with the helpers we have */
        pool.started++;
    }
    pthread_mutex_unlock(&pool.config_lock);
}

static void note_peak_locked(void) {
    if (pool.busy > pool.peak) pool.peak = pool.busy;
}

int mmpipe_pool_run(long parts, int max_threads, mmpipe_part_fn fn, void *ctx) {
    if (parts <= 0) return 0;
    int threads = mmpipe_pool_threads();
    if (max_threads > threads) max_threads = threads;
    if (parts < max_threads) max_threads = (int)parts;
    if (max_threads <= 1 || pthread_mutex_trylock(&pool.run_lock) != 0) {
        for (long p = 0; p < parts; p++) fn(ctx, p);
        return 1;
    }
    /* Borrow helpers from the cores nobody holds or waits for. */
    pthread_mutex_lock(&pool.budget_lock);
    int self = core_depth > 0 ? 0 : 1;
    int free_ = pool.cores - pool.busy - self - pool.waiting;
    int borrowed = max_threads - 1;
    if (borrowed > free_) borrowed = free_ > 0 ? free_ : 0;
    pool.busy += self + borrowed;
    note_peak_locked();
    pthread_mutex_unlock(&pool.budget_lock);

    if (borrowed > 0) ensure_helpers(borrowed);
    int helpers = borrowed < pool.started ? borrowed : pool.started;
    pool.fn = fn;
    pool.ctx = ctx;
    pool.parts = parts;
    atomic_store(&pool.next, 0);
    atomic_store(&pool.active, (unsigned)helpers);
    atomic_store(&pool.wanted, helpers);
    atomic_store(&pool.joined, 0);
    if (helpers > 0) {
        atomic_fetch_add(&pool.generation, 1);
        if (atomic_load(&pool.sleepers) > 0) futex_wake(&pool.generation, helpers);
    }
    run_parts();
    if (helpers > 0) {
        /* Close the slots no helper took yet: the caller has done their parts. */
        int joined = atomic_exchange(&pool.joined, INT_MAX / 2);
        int missing = helpers - (joined < helpers ? joined : helpers);
        if (missing > 0) atomic_fetch_sub(&pool.active, (unsigned)missing);
        unsigned a;
        while ((a = atomic_load(&pool.active)) != 0) {
            atomic_store(&pool.caller_sleeping, 1);
            if (atomic_load(&pool.active) == a) futex_wait(&pool.active, a);
            atomic_store(&pool.caller_sleeping, 0);
        }
    }
    pthread_mutex_unlock(&pool.run_lock);

    pthread_mutex_lock(&pool.budget_lock);
    pool.busy -= self + borrowed;
    if (pool.waiting > 0) pthread_cond_broadcast(&pool.budget_cond);
    pthread_mutex_unlock(&pool.budget_lock);
    return 1 + helpers;
}

void mmpipe_core_acquire(void) {
    if (core_depth++ > 0) return;
    int cores = mmpipe_pool_cores();
    pthread_mutex_lock(&pool.budget_lock);
    pool.waiting++;
    while (pool.busy + 1 > cores) pthread_cond_wait(&pool.budget_cond, &pool.budget_lock);
    pool.waiting--;
    pool.busy++;
    note_peak_locked();
    pthread_mutex_unlock(&pool.budget_lock);
}

void mmpipe_core_acquire_now(void) {
    if (core_depth++ > 0) return;
    pthread_mutex_lock(&pool.budget_lock);
    pool.busy++;
    note_peak_locked();
    pthread_mutex_unlock(&pool.budget_lock);
}

void mmpipe_core_release(void) {
    if (core_depth <= 0 || --core_depth > 0) return;
    pthread_mutex_lock(&pool.budget_lock);
    pool.busy--;
    if (pool.waiting > 0) pthread_cond_broadcast(&pool.budget_cond);
    pthread_mutex_unlock(&pool.budget_lock);
}

int mmpipe_pool_peak_busy(void) {
    pthread_mutex_lock(&pool.budget_lock);
    int p = pool.peak;
    pthread_mutex_unlock(&pool.budget_lock);
    return p;
}

void mmpipe_pool_reset_peak(void) {
    pthread_mutex_lock(&pool.budget_lock);
    pool.peak = pool.busy;
    pthread_mutex_unlock(&pool.budget_lock);
}
