/// Products of row-major double-precision matrices held in flat arrays, for algorithms that
/// compute in double as their reference does (the logistic-regression head, as scikit-learn).
/// OpenBLAS's dgemm, split over the compute pool.
public enum DoubleMatrix {
    /// `a [m, k] · b [n, k]^T` → `[m, n]`.
    public static func timesTransposed(_ a: [Double], _ b: [Double], m: Int, k: Int, n: Int) -> [Double] {
        precondition(a.count >= m * k && b.count >= n * k, "DoubleMatrix.timesTransposed: [\(m), \(k)] x [\(n), \(k)]^T from \(a.count) and \(b.count) values")
        var c = [Double](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    BLAS.dgemm(transA: false, transB: true, m: m, n: n, k: k, a: ap.baseAddress!, lda: k,
                               b: bp.baseAddress!, ldb: k, c: cp.baseAddress!, ldc: n)
                }
            }
        }
        return c
    }

    /// `a [k, m]^T · b [k, n]` → `[m, n]`.
    public static func transposedTimes(_ a: [Double], _ b: [Double], k: Int, m: Int, n: Int) -> [Double] {
        precondition(a.count >= k * m && b.count >= k * n, "DoubleMatrix.transposedTimes: [\(k), \(m)]^T x [\(k), \(n)] from \(a.count) and \(b.count) values")
        var c = [Double](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    BLAS.dgemm(transA: true, transB: false, m: m, n: n, k: k, a: ap.baseAddress!, lda: m,
                               b: bp.baseAddress!, ldb: n, c: cp.baseAddress!, ldc: n)
                }
            }
        }
        return c
    }
}
