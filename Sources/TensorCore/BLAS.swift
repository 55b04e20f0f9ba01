import CBLAS

/// Every BLAS call of the project lives in this file.
///
/// OpenBLAS itself runs single-threaded (module `CBLAS` loads it so, and picks its kernel set
/// for the CPU); large products are split into row or column blocks over `Compute`'s pool,
/// one single-threaded sgemm per block, so no BLAS thread ever waits by spinning.
enum BLAS {
    /// Products below this many multiply-adds run on the calling thread: waking a helper
    /// costs more than it saves.
    static let parallelMinimumMACs = 1 << 21

    /// Row-major C[m x n] = alpha * op(A)[m x k] * op(B)[k x n] + beta * C.
    @inline(__always)
    static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                      alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                      b: UnsafePointer<Float>, ldb: Int,
                      beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        let lda = max(lda, 1), ldb = max(ldb, 1), ldc = max(ldc, 1)
        if m * n * k >= parallelMinimumMACs && Compute.threads > 1 && (m >= 16 || n >= 64) {
            splitSgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                       b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        mmpipe_blas_sgemm(transA ? 1 : 0, transB ? 1 : 0, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda),
                          b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The product in blocks of C's rows (when M is the longer side) or columns, one per
    /// pool thread; block edges on multiples of the kernels' unrolling (8 rows, 32 columns)
    /// so no block runs the slow edge code more than an unsplit product would. Each element
    /// of C is summed in the same order as by one call.
    static func splitSgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let byRows = m >= n
        let extent = byRows ? m : n, align = byRows ? 8 : 32
        let parts = min(Compute.threads, max(1, extent / align))
        Compute.parallelParts(parts) { p in
            let lo = extent * p / parts / align * align
            let hi = p == parts - 1 ? extent : extent * (p + 1) / parts / align * align
            if hi <= lo { return }
            if byRows {
                let ap = transA ? a + lo : a + lo * lda
                mmpipe_blas_sgemm(transA ? 1 : 0, transB ? 1 : 0, Int32(hi - lo), Int32(n), Int32(k), alpha,
                                  ap, Int32(lda), b, Int32(ldb), beta, c + lo * ldc, Int32(ldc))
            } else {
                let bp = transB ? b + lo * ldb : b + lo
                mmpipe_blas_sgemm(transA ? 1 : 0, transB ? 1 : 0, Int32(m), Int32(hi - lo), Int32(k), alpha,
                                  a, Int32(lda), bp, Int32(ldb), beta, c + lo, Int32(ldc))
            }
        }
    }

    /// Row-major C = A x B (no transposes) on the calling thread only (for callers that
    /// already run one product per pool thread).
    static func sgemmOnThisThread(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                                  b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        mmpipe_blas_sgemm(0, 0, Int32(m), Int32(n), Int32(k), 1, a, Int32(max(lda, 1)), b, Int32(max(ldb, 1)), 0, c,
                          Int32(max(ldc, 1)))
    }

    /// OpenBLAS's own threads (1 unless a benchmark asks otherwise).
    static func setOwnThreads(_ n: Int) { mmpipe_blas_set_threads(Int32(n)) }
    static var ownThreads: Int { Int(mmpipe_blas_threads()) }
    static var coreName: String { String(cString: mmpipe_blas_corename()) }
    static var config: String { String(cString: mmpipe_blas_config()) }

    /// One unsplit sgemm on OpenBLAS's own threads (for the benchmark's reference rate).
    static func ownSgemm(transB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                         b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
        mmpipe_blas_sgemm(0, transB ? 1 : 0, Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), 0, c, Int32(ldc))
    }
}
