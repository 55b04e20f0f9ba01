import Dispatch
import Foundation

/// The one place that decides how many threads compute may use.
///
/// - Important: BLAS and `Compute.parallelFor` share the same budget and never run
///   nested (a parallel loop body must not call BLAS), so together they use at most
///   `Compute.threads` cores.
public enum Compute {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var current: Int = {
        let n = defaultThreads()
        BLAS.setThreads(n)
        return n
    }()

    /// `MMPIPE_THREADS` when set to a positive integer, else the number of online cores.
    public static func defaultThreads() -> Int {
        if let s = ProcessInfo.processInfo.environment["MMPIPE_THREADS"], let n = Int(s), n > 0 {
            return n
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Threads used by BLAS and by the parallel loops of the ops.
    public static var threads: Int {
        lock.lock(); defer { lock.unlock() }
        return current
    }

    /// Sets the compute thread budget (the `--threads` option lands here).
    public static func setThreads(_ n: Int) {
        precondition(n > 0, "threads must be positive")
        lock.lock(); defer { lock.unlock() }
        current = n
        BLAS.setThreads(n)
    }

    /// Keeps large freed blocks in the heap for reuse instead of handing them back to the
    /// kernel (glibc returns blocks above a dynamic mmap threshold): every op allocates a
    /// fresh output, and a 19 MB output page-faulted anew on each call cost a GEMM 20% of
    /// its speed. Call once at program start (the CLI and the benchmark do).
    public static func configureAllocator() {
        FileSystem.keepLargeFreedBlocks(mmapThreshold: 256 << 20, trimThreshold: 512 << 20)
    }

    /// Name of the BLAS kernel set chosen for this CPU, and its build configuration.
    public static var blasDescription: String { "\(BLAS.coreName) (\(BLAS.config))" }

    /// Runs `body(i)` for `i` in `0..<n`, in chunks on up to `threads` threads.
    /// `grain` is the smallest number of iterations worth a thread.
    @inlinable
    public static func parallelFor(_ n: Int, grain: Int = 1, _ body: (Int) -> Void) {
        let workers = min(threads, max(1, n / max(grain, 1)))
        if workers <= 1 || n <= 1 {
            for i in 0..<n { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let lo = n * w / workers, hi = n * (w + 1) / workers
                for i in lo..<hi { body(i) }
            }
        }
    }
}
