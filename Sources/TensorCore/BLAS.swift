import CBLAS
import CKernels

/// Every matrix product of the project lives in this file.
///
/// Float32 products run on mmpipe's own kernels (`mmpipe_gemm`, CKernels), whose every element
/// is summed in one fixed order: a row's result is the same bits whatever else shares its
/// product (a batch), however the product is split over threads, and on the AVX-512 and AVX2
/// paths alike (see mmpipe_gemm.h). OpenBLAS (loaded single-threaded by module `CBLAS`) does
/// the double-precision products and is the speed reference of the benchmark; its float32
/// kernels are not batch-invariant (a row's bits change with the row count on its M-edge and
/// small-matrix paths), which is why they are not used for the models. Large products are
/// split into row or column blocks over `Compute`'s pool, one single-threaded call per block,
/// so no thread ever waits by spinning.
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
        if let split = split(m: m, n: n, k: k) {
            splitSgemm(split, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                       b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        sgemmOnThisThread(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                          b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// `c = x w^T + beta c` with `w` `[n, k]` in half precision (`HalfMatrix`'s panels): the
    /// same bits as the product with the float32 weight (the kernels widen each value
    /// exactly), split as `sgemm` splits (column blocks start on panels: multiples of 32).
    static func sgemmHalfWeightT(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                                 w: HalfMatrix, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        let level = CPUFeatures.kernelLevel
        withExtendedLifetime(w) {
            func block(_ rows: Range<Int>, _ cols: Range<Int>) {
                let ap = a + rows.lowerBound * lda, wp = w.panels + cols.lowerBound / 32 * k * 32
                let cp = c + rows.lowerBound * ldc + cols.lowerBound
                mmpipe_gemm_f16_panels(level, Int32(rows.count), Int32(cols.count), Int32(k), 1, ap, Int32(lda), wp,
                                       beta, cp, Int32(ldc))
            }
            guard let split = split(m: m, n: n, k: k) else { return block(0..<m, 0..<n) }
            split.run(m: m, n: n, block)
        }
    }

    /// How `sgemm` splits a product over the pool: blocks of C's rows (when M is the longer
    /// side) or columns, one per pool thread, with edges on multiples of the kernels'
    /// tiles (6 rows, 32 columns: 8 and 32 here) so no block runs the edge code more than an
    /// unsplit product would. nil: one call on the calling thread. (Speed only: any split
    /// gives the same bits.)
    struct Split {
        let byRows: Bool
        let blocks: [Range<Int>]

        /// `body(rows, columns)` for each block of an `m x n` product, in parallel on the pool.
        func run(m: Int, n: Int, _ body: (Range<Int>, Range<Int>) -> Void) {
            Compute.parallelParts(blocks.count) { p in
                let r = blocks[p]
                if r.isEmpty { return }
                if byRows { body(r, 0..<n) } else { body(0..<m, r) }
            }
        }
    }

    static func split(m: Int, n: Int, k: Int) -> Split? {
        guard m * n * k >= parallelMinimumMACs && Compute.threads > 1 && (m >= 16 || n >= 64) else { return nil }
        let byRows = m >= n
        let extent = byRows ? m : n, align = byRows ? 8 : 32
        let parts = min(Compute.threads, max(1, extent / align))
        let blocks = (0..<parts).map { p -> Range<Int> in
            let lo = extent * p / parts / align * align
            let hi = p == parts - 1 ? extent : extent * (p + 1) / parts / align * align
            return lo..<max(lo, hi)
        }
        return Split(byRows: byRows, blocks: blocks)
    }

    /// The same product as one call on the calling thread (for callers that already run one
    /// product per pool thread).
    @inline(__always)
    static func sgemmOnThisThread(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                                  b: UnsafePointer<Float>, ldb: Int,
                                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        sgemm(level: CPUFeatures.isa, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
              b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// One call of the kernels of a given level (at most the CPU's; tests compare levels).
    static func sgemm(level: InstructionSet, transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                      alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(level <= CPUFeatures.best, "sgemm: level \(level) above this CPU's \(CPUFeatures.best)")
        if m == 0 || n == 0 { return }
        mmpipe_gemm(Int32(level.rawValue), transA ? 1 : 0, transB ? 1 : 0, Int32(m), Int32(n), Int32(k), alpha,
                    a, Int32(max(lda, 1)), b, Int32(max(ldb, 1)), beta, c, Int32(max(ldc, 1)))
    }

    /// OpenBLAS's sgemm on the calling thread: the benchmark's reference only.
    static func openBLASSgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                              alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                              b: UnsafePointer<Float>, ldb: Int,
                              beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        mmpipe_blas_sgemm(transA ? 1 : 0, transB ? 1 : 0, Int32(m), Int32(n), Int32(k), alpha, a, Int32(max(lda, 1)),
                          b, Int32(max(ldb, 1)), beta, c, Int32(max(ldc, 1)))
    }

    /// The product in `split`'s blocks, one single-threaded call each, on the pool. Each
    /// element of C is summed in the same order as by one call (the kernels' order does not
    /// depend on the block).
    static func splitSgemm(_ split: Split, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, openBLAS: Bool = false) {
        split.run(m: m, n: n) { rows, cols in
            let ap = transA ? a + rows.lowerBound : a + rows.lowerBound * lda
            let bp = transB ? b + cols.lowerBound * ldb : b + cols.lowerBound
            let cp = c + rows.lowerBound * ldc + cols.lowerBound
            if openBLAS {
                openBLASSgemm(transA: transA, transB: transB, m: rows.count, n: cols.count, k: k, alpha: alpha,
                              a: ap, lda: lda, b: bp, ldb: ldb, beta: beta, c: cp, ldc: ldc)
            } else {
                sgemmOnThisThread(transA: transA, transB: transB, m: rows.count, n: cols.count, k: k, alpha: alpha,
                                  a: ap, lda: lda, b: bp, ldb: ldb, beta: beta, c: cp, ldc: ldc)
            }
        }
    }

    /// Row-major C[m x n] = op(A)[m x k] * op(B)[k x n] in double, split over the pool as
    /// `sgemm` is (each element of C summed in the same order as by one call).
    static func dgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                      a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
                      c: UnsafeMutablePointer<Double>, ldc: Int) {
        if m == 0 || n == 0 { return }
        let (lda, ldb, ldc) = (Int32(max(lda, 1)), Int32(max(ldb, 1)), Int32(max(ldc, 1)))
        guard let split = split(m: m, n: n, k: k) else {
            mmpipe_blas_dgemm(transA ? 1 : 0, transB ? 1 : 0, Int32(m), Int32(n), Int32(k), 1, a, lda, b, ldb, 0, c, ldc)
            return
        }
        split.run(m: m, n: n) { rows, cols in
            mmpipe_blas_dgemm(transA ? 1 : 0, transB ? 1 : 0, Int32(rows.count), Int32(cols.count), Int32(k), 1,
                              transA ? a + rows.lowerBound : a + rows.lowerBound * Int(lda), lda,
                              transB ? b + cols.lowerBound * Int(ldb) : b + cols.lowerBound, ldb, 0,
                              c + rows.lowerBound * Int(ldc) + cols.lowerBound, ldc)
        }
    }

    /// OpenBLAS's own threads (1 unless a benchmark asks otherwise).
    static func setOwnThreads(_ n: Int) { mmpipe_blas_set_threads(Int32(n)) }
    static var coreName: String { String(cString: mmpipe_blas_corename()) }
    static var config: String { String(cString: mmpipe_blas_config()) }
}
