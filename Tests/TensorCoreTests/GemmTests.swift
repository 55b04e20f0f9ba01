import Foundation
import Testing
@testable import TensorCore

/// mmpipe's own float32 products (CKernels gemm, `BLAS.sgemm`): against double-precision
/// sums, and the promise they exist for: a row's bits never depend on the other rows of its
/// product, on the columns beside it, on the operands' layout, on the thread split, or on
/// which of the AVX-512 and AVX2 kernels runs.
@Suite("Matrix products: one summation order")
struct GemmTests {
    struct Shape: CustomStringConvertible, Sendable {
        let m: Int, n: Int, k: Int
        var description: String { "\(m)x\(n)x\(k)" }
    }

    /// Edges of every tile (6 rows, 16 and 32 columns), a decoding step's few rows, the
    /// encoder's many, and k of 1 and 0.
    static let shapes: [Shape] = [
        Shape(m: 1, n: 1, k: 1), Shape(m: 1, n: 7, k: 5), Shape(m: 5, n: 33, k: 384), Shape(m: 6, n: 32, k: 16),
        Shape(m: 7, n: 17, k: 3), Shape(m: 13, n: 65, k: 100), Shape(m: 40, n: 96, k: 0), Shape(m: 300, n: 40, k: 70),
        Shape(m: 1500, n: 48, k: 384),
    ]

    static func random(_ count: Int, seed: UInt64) -> [Float] {
        var g = SplitMix64(seed: seed)
        return (0..<count).map { _ in Float(g.next() % 20001) / 10000 - 1 }
    }

    /// The levels this CPU can run.
    static let levels = InstructionSet.allCases.filter { $0 <= CPUFeatures.best }

    static func product(_ level: InstructionSet, _ s: Shape, a: [Float], b: [Float], transA: Bool = false, transB: Bool = false,
                        alpha: Float = 1, beta: Float = 0, c0: [Float]? = nil) -> [Float] {
        var c = c0 ?? [Float](repeating: 0, count: s.m * s.n)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    BLAS.sgemm(level: level, transA: transA, transB: transB, m: s.m, n: s.n, k: s.k, alpha: alpha,
                               a: ap.baseAddress!, lda: transA ? s.m : s.k, b: bp.baseAddress!, ldb: transB ? s.k : s.n,
                               beta: beta, c: cp.baseAddress!, ldc: s.n)
                }
            }
        }
        return c
    }

    static func transpose(_ x: [Float], rows: Int, cols: Int) -> [Float] {
        var t = [Float](repeating: 0, count: x.count)
        for r in 0..<rows { for c in 0..<cols { t[c * rows + r] = x[r * cols + c] } }
        return t
    }

    @Test(arguments: shapes)
    func everyLevelMatchesDoubleSums(_ s: Shape) {
        let a = Self.random(max(1, s.m * s.k), seed: 1), b = Self.random(max(1, s.k * s.n), seed: 2)
        let c0 = Self.random(s.m * s.n, seed: 3)
        for level in Self.levels {
            let got = Self.product(level, s, a: a, b: b, alpha: 0.5, beta: 2, c0: c0)
            var worst = 0.0
            for i in 0..<s.m {
                for j in 0..<s.n {
                    var sum = 0.0
                    for p in 0..<s.k { sum += Double(a[i * s.k + p]) * Double(b[p * s.n + j]) }
                    worst = max(worst, abs(0.5 * sum + 2 * Double(c0[i * s.n + j]) - Double(got[i * s.n + j])))
                }
            }
            // float32 sums of up to 384 products of values in [-1, 1]: a few 1e-6.
            #expect(worst <= 2e-5 * Double(max(1, s.k)).squareRoot(), "\(level) \(s): max abs error \(worst)")
        }
    }

    /// Each row computed alone, each column alone, and the operands transposed give the bits
    /// of the whole product, at every level.
    @Test(arguments: shapes)
    func aRowIsTheSameWhateverShares(_ s: Shape) {
        let a = Self.random(max(1, s.m * s.k), seed: 4), b = Self.random(max(1, s.k * s.n), seed: 5)
        let at = Self.transpose(a, rows: s.m, cols: s.k), bt = Self.transpose(b, rows: s.k, cols: s.n)
        for level in Self.levels {
            let whole = Self.product(level, s, a: a, b: b)
            #expect(Self.product(level, s, a: at, b: bt, transA: true, transB: true) == whole, "\(level) \(s): transposed operands")
            for i in 0..<s.m {
                let row = Self.product(level, Shape(m: 1, n: s.n, k: s.k), a: Array(a[(i * s.k)..<((i + 1) * s.k)]) + [0], b: b)
                #expect(row == Array(whole[(i * s.n)..<((i + 1) * s.n)]), "\(level) \(s): row \(i) alone")
            }
            for j in Set([0, s.n / 2, s.n - 1]) {
                let column = (0..<s.k).map { bt[j * s.k + $0] } + [0]
                let alone = Self.product(level, Shape(m: s.m, n: 1, k: s.k), a: a, b: column)
                #expect(alone == (0..<s.m).map { whole[$0 * s.n + j] }, "\(level) \(s): column \(j) alone")
            }
        }
    }

    /// AVX-512 and AVX2 give the same bits; the portable kernel (separately rounded multiply
    /// and add) stays within float32 rounding of them.
    @Test(arguments: shapes)
    func levelsAgree(_ s: Shape) {
        let a = Self.random(max(1, s.m * s.k), seed: 6), b = Self.random(max(1, s.k * s.n), seed: 7)
        let results = Self.levels.map { Self.product($0, s, a: a, b: b) }
        if Self.levels.count == 3 { #expect(results[1] == results[2], "\(s): avx2 and avx512 differ") }
        for r in results.dropFirst() {
            let diff = zip(r, results[0]).map { abs($0 - $1) }.max() ?? 0
            #expect(diff <= 1e-5 * Float(max(1, s.k)).squareRoot(), "\(s): portable off by \(diff)")
        }
    }

    /// `Tensor.linear`: a batch's rows equal each row alone, with the thread split of a
    /// large product; a half-precision weight gives the float32 weight's bits.
    @Test(arguments: [1, 5, 40, 300])
    func linearRowsAreIndependentOfTheirBatch(rows: Int) {
        let inF = 384, outF = 1536
        let w = Tensor(shape: [outF, inF], scalars: Self.random(outF * inF, seed: 8).map { ($0 * 1024).rounded() / 1024 })
        let bias = Tensor(shape: [outF], scalars: Self.random(outF, seed: 9))
        let x = Tensor(shape: [rows, inF], scalars: Self.random(rows * inF, seed: 10))
        let whole = Tensor.linear(x, weight: w, bias: bias).scalars
        for r in Set([0, rows / 2, rows - 1]) {
            let alone = Tensor.linear(x.slice(axis: 0, r..<(r + 1)), weight: w, bias: bias).scalars
            #expect(alone == Array(whole[(r * outF)..<((r + 1) * outF)]), "row \(r) of \(rows)")
        }
        if let half = WeightMatrix(halfPrecisionExactly: w) {
            #expect(Tensor.linear(x, weight: half, bias: bias).scalars == whole, "half weight")
        }
    }
}
