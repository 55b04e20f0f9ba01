/// Products of row-major double-precision matrices held in flat arrays, for algorithms that
/// compute in double as their reference does (the logistic-regression head, as scikit-learn).
/// OpenBLAS's dgemm, split over the compute pool.
public enum DoubleMatrix {
    /// `a [m, k] · b [n, k]^T` → `[m, n]`.
    public static func timesTransposed(_ a: [Double], _ b: [Double], m: Int, k: Int, n: Int) -> [Double] {
        product(a, transA: false, b, transB: true, m: m, k: k, n: n)
    }

    /// `a [k, m]^T · b [k, n]` → `[m, n]`.
    public static func transposedTimes(_ a: [Double], _ b: [Double], k: Int, m: Int, n: Int) -> [Double] {
        product(a, transA: true, b, transB: false, m: m, k: k, n: n)
    }

    /// `op(a) [m, k] · op(b) [k, n]`, each operand stored row-major as given (transposed or not).
    private static func product(_ a: [Double], transA: Bool, _ b: [Double], transB: Bool, m: Int, k: Int, n: Int) -> [Double] {
        precondition(a.count >= m * k && b.count >= k * n, "DoubleMatrix: [\(m), \(k)] x [\(k), \(n)] from \(a.count) and \(b.count) values")
        var c = [Double](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    BLAS.dgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: ap.baseAddress!, lda: transA ? m : k,
                               b: bp.baseAddress!, ldb: transB ? k : n, c: cp.baseAddress!, ldc: n)
                }
            }
        }
        return c
    }
}
