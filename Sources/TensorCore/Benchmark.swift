import Foundation

/// Measurements the benchmark tool needs from inside TensorCore (the only module that may
/// call BLAS).
public enum Benchmark {
    /// Median wall time of `repeats` runs of `body`, after one warm-up run.
    public static func medianSeconds(repeats: Int, _ body: () -> Void) -> Double {
        body()
        var times: [Double] = []
        for _ in 0..<max(repeats, 1) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        }
        times.sort()
        return times[times.count / 2]
    }

    /// Median seconds of one `[m, k] x [k, n]` sgemm left to OpenBLAS's own threads (as a
    /// program linking OpenBLAS normally runs it), for comparison with the pool's split.
    /// Its threads are put back to one afterwards (they then idle in sched_yield for a moment).
    public static func openBLASThreadedSGEMMSeconds(m: Int, n: Int, k: Int, repeats: Int = 7) -> Double {
        let a = Tensor(repeating: 0.5, shape: [m, k])
        let b = Tensor(repeating: 0.25, shape: [k, n])
        let c = Tensor(uninitializedShape: [m, n])
        BLAS.setOwnThreads(Compute.threads)
        defer { BLAS.setOwnThreads(1) }
        return medianSeconds(repeats: repeats) {
            BLAS.openBLASSgemm(m: m, n: n, k: k, a: a.pointer, lda: k, b: b.pointer, ldb: n,
                               c: c.outputPointer, ldc: n)
        }
    }

    /// Median seconds of one raw product of `[m, k] x op([k, n])` on fresh buffers (split over
    /// the compute pool as every product of the ops is): mmpipe's kernels, or OpenBLAS's
    /// sgemm split the same way (`openBLAS`).
    public static func rawSGEMMSeconds(m: Int, n: Int, k: Int, transB: Bool = false, openBLAS: Bool = false,
                                       repeats: Int = 7) -> Double {
        _ = Compute.threads
        let a = Tensor(repeating: 0.5, shape: [m, k])
        let b = Tensor(repeating: 0.25, shape: transB ? [n, k] : [k, n])
        let c = Tensor(uninitializedShape: [m, n])
        if openBLAS {
            return medianSeconds(repeats: repeats) {
                let ldb = transB ? k : n
                guard let split = BLAS.split(m: m, n: n, k: k) else {
                    return BLAS.openBLASSgemm(transB: transB, m: m, n: n, k: k, a: a.pointer, lda: k, b: b.pointer, ldb: ldb,
                                              c: c.outputPointer, ldc: n)
                }
                BLAS.splitSgemm(split, transA: false, transB: transB, m: m, n: n, k: k, alpha: 1, a: a.pointer, lda: k,
                                b: b.pointer, ldb: ldb, beta: 0, c: c.outputPointer, ldc: n, openBLAS: true)
            }
        }
        return medianSeconds(repeats: repeats) {
            BLAS.sgemm(transA: false, transB: transB, m: m, n: n, k: k, a: a.pointer, lda: k,
                       b: b.pointer, ldb: transB ? k : n, c: c.outputPointer, ldc: n)
        }
    }
}
