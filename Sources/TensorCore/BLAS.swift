import CBLAS

/// Every BLAS call of the project lives in this file.
enum BLAS {
    /// Row-major C[m x n] = alpha * op(A)[m x k] * op(B)[k x n] + beta * C.
    @inline(__always)
    static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                      alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                      b: UnsafePointer<Float>, ldb: Int,
                      beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(max(lda, 1)), b, Int32(max(ldb, 1)),
                    beta, c, Int32(max(ldc, 1)))
    }

    static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
    static var threads: Int { Int(openblas_get_num_threads()) }
    static var coreName: String { String(cString: openblas_get_corename()) }
    static var config: String { String(cString: openblas_get_config()) }
}
