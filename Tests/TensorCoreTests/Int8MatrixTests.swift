import Foundation
import Testing
@testable import TensorCore

/// int8 weights: quantisation per row, the three kernels against exact integer arithmetic
/// on the same quantised values, and the product's distance from float32.
@Suite("Int8Matrix")
struct Int8MatrixTests {
    static func values(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: s >> 11) % 2001 - 1000) / 1000 * scale
        }
    }

    /// The per-row symmetric quantisation, in Swift: (q, scale).
    static func quantize(_ row: ArraySlice<Float>) -> ([Int32], Float) {
        let m = row.map(abs).max() ?? 0
        let inv: Float = m > 0 ? 127 / m : 0
        return (row.map { Int32(max(-127, min(127, ($0 * inv).rounded(.toNearestOrEven)))) }, m > 0 ? m / 127 : 1)
    }

    static var kernels: [Int8Matrix.Kernel] {
        var k: [Int8Matrix.Kernel] = [.portable]
        if CPUFeatures.avx2FMA { k.append(.avx2) }
        if CPUFeatures.avx512VNNI { k.append(.vnni) }
        return k
    }

    @Test(arguments: [(1, 5, 3), (3, 17, 4), (5, 40, 33), (8, 64, 384), (13, 100, 385), (37, 33, 64)])
    func kernelsMatchIntegerArithmetic(_ shape: (m: Int, n: Int, k: Int)) {
        let (m, n, k) = shape
        let w = Self.values(n * k, seed: 1, scale: 0.2), x = Self.values(m * k, seed: 2, scale: 3)
        let q = Int8Matrix(quantizing: Tensor(shape: [n, k], scalars: w))
        // Reference: the same quantisation of both operands, exact integer dot products.
        var expected = [Float](repeating: 0, count: m * n)
        let wq = (0..<n).map { Self.quantize(w[($0 * k)..<($0 * k + k)]) }
        for r in 0..<m {
            let (xq, sx) = Self.quantize(x[(r * k)..<(r * k + k)])
            for j in 0..<n {
                let dot = zip(xq, wq[j].0).reduce(Int32(0)) { $0 + $1.0 * $1.1 }
                expected[r * n + j] = Float(dot) * sx * wq[j].1
            }
        }
        #expect(q.scales == wq.map(\.1))
        for kernel in Self.kernels {
            for accumulate in [false, true] {
                var c = [Float](repeating: accumulate ? 1 : -7, count: m * n)
                x.withUnsafeBufferPointer { xp in
                    c.withUnsafeMutableBufferPointer { cp in
                        q.product(xp.baseAddress!, rows: m, into: cp.baseAddress!, accumulate: accumulate, kernel: kernel)
                    }
                }
                let want = expected.map { accumulate ? $0 + 1 : $0 }
                let err = zip(c, want).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
                #expect(err < 1e-5, "\(kernel) \(shape) accumulate \(accumulate): max relative error \(err)")
            }
        }
    }

    @Test func productIsCloseToFloat32AndDequantisationIsExact() {
        let (m, n, k) = (6, 48, 256)
        let w = Tensor(shape: [n, k], scalars: Self.values(n * k, seed: 3, scale: 0.1))
        let x = Tensor(shape: [m, k], scalars: Self.values(m * k, seed: 4))
        let int8 = WeightMatrix(w).quantizedToInt8()
        #expect(int8.precision == .int8 && int8.shape == [n, k])
        let exact = Tensor.linear(x, weight: w), approx = Tensor.linear(x, weight: int8)
        // Relative to the output's scale: the two quantisation errors of ~0.4% each.
        let scale = exact.scalars.map(abs).max()!
        let err = zip(exact.scalars, approx.scalars).map { abs($0 - $1) }.max()! / scale
        #expect(err < 0.02, "int8 product off by \(err) of the largest output")
        // w ≈ s q within half a step per row; rows(range) repacks exactly; gather dequantises.
        let deq = int8.float32
        for j in 0..<n {
            let row = w.scalars[(j * k)..<(j * k + k)], step = row.map(abs).max()! / 127
            #expect(zip(row, deq.scalars[(j * k)..<(j * k + k)]).allSatisfy { abs($0 - $1) <= step / 2 + 1e-7 })
        }
        let part = int8.rows(5..<29)
        #expect(part.float32.scalars == Array(deq.scalars[(5 * k)..<(29 * k)]))
        #expect(int8.gather([7, 0]).scalars == Array(deq.scalars[(7 * k)..<(8 * k)] + deq.scalars[0..<k]))
        #expect(int8.byteCount < WeightMatrix(w).byteCount / 3)
    }

    /// `Tensor.attention(int8Scores:)` is float attention of the queries and keys quantised
    /// per row (each position of each head): the same scores up to float rounding. Heads
    /// split from `[B, L, H, D]` as an encoder's are (strided rows); one head (the products
    /// split over the pool) and several (heads in parallel).
    @Test(arguments: [(1, 1, 70, 90, 32), (2, 3, 130, 130, 64)])
    func int8ScoresAreFloatAttentionOfQuantisedRows(_ shape: (b: Int, h: Int, lq: Int, lk: Int, d: Int)) {
        let (b, h, lq, lk, d) = shape
        func heads(_ l: Int, seed: UInt64, scale: Float) -> Tensor {
            Tensor(shape: [b, l, h, d], scalars: Self.values(b * l * h * d, seed: seed, scale: scale)).permuted([0, 2, 1, 3])
        }
        func quantised(_ t: Tensor) -> Tensor {
            let c = t.contiguous().scalars
            return Tensor(shape: t.shape, scalars: stride(from: 0, to: c.count, by: d).flatMap { i -> [Float] in
                let (q, s) = Self.quantize(c[i..<(i + d)])
                return q.map { Float($0) * s }
            })
        }
        let q = heads(lq, seed: 5, scale: 2), k = heads(lk, seed: 6, scale: 1.5), v = heads(lk, seed: 7, scale: 1)
        let got = Tensor.attention(query: q, key: k, value: v, int8Scores: true).scalars
        let want = Tensor.attention(query: quantised(q), key: quantised(k), value: v).scalars
        let err = zip(got, want).map { abs($0 - $1) }.max()!
        #expect(err < 1e-5, "\(shape): int8 scores off the quantised rows' float attention by \(err)")
        // ... which is near float32's, and not float32's itself (the option took effect).
        let exact = Tensor.attention(query: q, key: k, value: v).scalars
        let drift = zip(got, exact).map { abs($0 - $1) }.max()!
        #expect(drift > 0 && drift < 0.05, "\(shape): int8 scores off float32 attention by \(drift)")
        // Causal attention keeps float32 scores.
        #expect(Tensor.attention(query: q, key: k, value: v, causal: true, int8Scores: true).scalars
                == Tensor.attention(query: q, key: k, value: v, causal: true).scalars)
    }

    @Test func zeroRowsAndZeroInputs() {
        let w = Tensor(zeros: [20, 8]), x = Tensor(zeros: [3, 8])
        let y = Tensor.linear(x, weight: WeightMatrix(w).quantizedToInt8(), bias: Tensor(repeating: 2, shape: [20]))
        #expect(y.scalars.allSatisfy { $0 == 2 })
    }
}
