#ifndef MMPIPE_POOL_H
#define MMPIPE_POOL_H
/* TensorCore's one compute pool, and the core budget it shares with the stage workers.
 *
 * - Helper threads sleep on a futex between jobs: no thread spins while it waits (no
 *   sched_yield loops, as OpenBLAS's own workers do), so an idle core stays idle for
 *   whatever else runs.
 * - One job at a time: a caller that finds the pool busy (another thread's job, or its own:
 *   a part that calls back into the pool) runs its parts itself, in order.
 * - The core budget: a thread that does heavy work (a decode worker, a model stage) holds
 *   one core for it (mmpipe_core_acquire/release), and a job borrows helpers only from the
 *   cores nobody holds or waits for. So busy stage threads + compute threads never exceed
 *   the cores. Only TensorCore calls these. */

/* One part of a job: fn(ctx, part). */
typedef void (*mmpipe_part_fn)(void *ctx, long part);

/* Sets the compute threads (the caller counts as one: threads - 1 helpers). Threads are
 * started on first use. The core budget is the cores this process may run on. */
void mmpipe_pool_set_threads(int threads);
int mmpipe_pool_threads(void);
int mmpipe_pool_cores(void);

/* Runs fn(ctx, p) for every p in [0, parts), on the calling thread and up to
 * max_threads - 1 helpers (fewer when cores are held by others). Returns when every part is
 * done. Returns how many threads took part. */
int mmpipe_pool_run(long parts, int max_threads, mmpipe_part_fn fn, void *ctx);

/* The core budget for stage workers. acquire blocks until a core is free; calls nest
 * (a thread holds at most one core). */
void mmpipe_core_acquire(void);
/* The same without waiting for a free core (a short job beside a long one: it runs on a
 * thread of its own, time-sliced with the long job's, instead of waiting for its parallel
 * step to end). The busy count may then exceed the cores by one such thread. */
void mmpipe_core_acquire_now(void);
void mmpipe_core_release(void);

/* Highest number of threads seen busy at once (cores held + job threads), since the last
 * reset; and the number of jobs run with helpers / inline. */
int mmpipe_pool_peak_busy(void);
void mmpipe_pool_reset_peak(void);

#endif
