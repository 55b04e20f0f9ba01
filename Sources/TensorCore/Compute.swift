import CKernels
import Foundation

/// The one place that decides how compute uses the cores: one pool of threads for every
/// parallel loop and every large matrix product, and the core budget it shares with the
/// stage workers (decoders, model stages) of a job.
///
/// - Helpers sleep between jobs (futex), never spin: an idle core stays free for whatever
///   else runs. OpenBLAS runs single-threaded inside the pool.
/// - A parallel loop body may call any op, BLAS included: nested work runs on the thread
///   that meets it.
/// - `occupyingCore` marks heavy work outside the pool (a decode worker); jobs borrow
///   helpers only from the cores nobody occupies, so busy workers + compute threads never
///   exceed the cores.
public enum Compute {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var current: Int = {
        let n = defaultThreads()
        mmpipe_pool_set_threads(Int32(n))
        return n
    }()

    /// `MMPIPE_THREADS` when set to a positive integer, else the number of online cores.
    public static func defaultThreads() -> Int {
        if let s = ProcessInfo.processInfo.environment["MMPIPE_THREADS"], let n = Int(s), n > 0 {
            return n
        }
        return max(1, Int(mmpipe_pool_cores()))
    }

    /// Threads of the compute pool (the calling thread included).
    public static var threads: Int {
        lock.lock(); defer { lock.unlock() }
        return current
    }

    /// Cores in the budget: the cores this process may run on.
    public static var cores: Int { Int(mmpipe_pool_cores()) }

    /// Sets the compute thread budget (the `--threads` option lands here).
    public static func setThreads(_ n: Int) {
        precondition(n > 0, "threads must be positive")
        lock.lock(); defer { lock.unlock() }
        current = n
        mmpipe_pool_set_threads(Int32(n))
    }

    /// Keeps large freed blocks in the heap for reuse instead of handing them back to the
    /// kernel (glibc returns blocks above a dynamic mmap threshold): every op allocates a
    /// fresh output, and a 19 MB output page-faulted anew on each call cost a GEMM 20% of
    /// its speed. Call once at program start (the CLI and the benchmark do).
    public static func configureAllocator() {
        FileSystem.keepLargeFreedBlocks(mmapThreshold: 256 << 20, trimThreshold: 512 << 20)
    }

    /// Name of the BLAS kernel set in use, and the library's build configuration.
    public static var blasDescription: String { "\(BLAS.coreName) (\(BLAS.config))" }

    /// Runs `body(i)` for `i` in `0..<n`, in contiguous chunks on up to `threads` threads.
    /// `grain` is the smallest number of iterations worth a thread.
    public static func parallelFor(_ n: Int, grain: Int = 1, _ body: (Int) -> Void) {
        let workers = min(threads, max(1, n / max(grain, 1)))
        if workers <= 1 || n <= 1 {
            for i in 0..<n { body(i) }
            return
        }
        parallelParts(workers) { w in
            let lo = n * w / workers, hi = n * (w + 1) / workers
            for i in lo..<hi { body(i) }
        }
    }

    /// Runs `body(p)` for every part `p` in `0..<parts` on the pool (the calling thread
    /// takes parts too); returns when all are done.
    public static func parallelParts(_ parts: Int, _ body: (Int) -> Void) {
        if parts <= 1 {
            if parts == 1 { body(0) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var box = PartsBody(body: body)
            withUnsafeMutablePointer(to: &box) { p in
                _ = mmpipe_pool_run(parts, Int32(min(parts, threads)), { ctx, part in
                    ctx!.assumingMemoryBound(to: PartsBody.self).pointee.body(part)
                }, p)
            }
        }
    }

    private struct PartsBody {
        let body: (Int) -> Void
    }

    /// Runs `body` holding one core of the budget: while it runs, the pool's jobs borrow
    /// one helper fewer. Stage workers wrap their work in it; it waits while every core is
    /// busy. Nests (a thread holds at most one core).
    ///
    /// - Important: `body` must not wait for other threads that need a core (a queue fed
    ///   by another stage, a nested job's workers): with every core held, they never get one.
    ///
    /// `express`: take the core at once, even when every core is busy (a short job beside a
    /// long one, see the server's text lane): the thread then shares a core with the long
    /// job's for the few milliseconds it runs, instead of waiting for the long job's current
    /// parallel step, which can take most of a second.
    public static func occupyingCore<R>(express: Bool = false, _ body: () throws -> R) rethrows -> R {
        if express { mmpipe_core_acquire_now() } else { mmpipe_core_acquire() }
        defer { mmpipe_core_release() }
        return try body()
    }

    /// The most threads seen busy at once (held cores + pool threads of a job) since the
    /// last `resetPeakBusy()`; never more than `cores` when every heavy thread occupies a core.
    public static var peakBusyThreads: Int { Int(mmpipe_pool_peak_busy()) }
    public static func resetPeakBusy() { mmpipe_pool_reset_peak() }
}
