import Testing
@testable import TensorCore

/// `DoubleMatrix`'s products (OpenBLAS dgemm, split over the pool) against the naive sums in
/// double, on shapes one call takes and shapes split by rows or by columns.
@Suite("double-precision products")
struct DoubleMatrixTests {
    static func values(_ count: Int, seed: UInt64) -> [Double] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in Double.random(in: -1...1, using: &rng) }
    }

    @Test(arguments: [(3, 5, 4), (1150, 1280, 10), (10, 1150, 1280), (17, 33, 65)])
    func productsAreTheNaiveSums(_ shape: (Int, Int, Int)) {
        let (m, k, n) = shape
        let a = Self.values(m * k, seed: 1), b = Self.values(n * k, seed: 2)
        let got = DoubleMatrix.timesTransposed(a, b, m: m, k: k, n: n)
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for t in 0..<k { s += a[i * k + t] * b[j * k + t] }
                worst = max(worst, abs(s - got[i * n + j]))
            }
        }
        #expect(worst < 1e-12 * Double(k), "a b^T [\(m), \(n)]: off by \(worst)")
        // a [k, m]^T b [k, n]: the same numbers read as the transposes.
        let at = Self.values(k * m, seed: 3), bt = Self.values(k * n, seed: 4)
        let got2 = DoubleMatrix.transposedTimes(at, bt, k: k, m: m, n: n)
        worst = 0
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for t in 0..<k { s += at[t * m + i] * bt[t * n + j] }
                worst = max(worst, abs(s - got2[i * n + j]))
            }
        }
        #expect(worst < 1e-12 * Double(k), "a^T b [\(m), \(n)]: off by \(worst)")
    }
}
