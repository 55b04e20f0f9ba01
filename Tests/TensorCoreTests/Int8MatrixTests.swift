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
        // A bias, added to each row as the kernels write it (n not a multiple of 16 or 32
        // checks the last block's partial columns).
        let bias = (0..<n).map { Float($0 % 7) - 3.5 }
        for kernel in Self.kernels {
            for accumulate in [false, true] {
                for withBias in [false, true] {
                    var c = [Float](repeating: accumulate ? 1 : -7, count: m * n)
                    x.withUnsafeBufferPointer { xp in
                        bias.withUnsafeBufferPointer { bp in
                            c.withUnsafeMutableBufferPointer { cp in
                                q.product(xp.baseAddress!, rows: m, into: cp.baseAddress!, bias: withBias ? bp.baseAddress : nil,
                                          accumulate: accumulate, kernel: kernel)
                            }
                        }
                    }
                    let want = expected.indices.map { i in expected[i] + (accumulate ? 1 : 0) + (withBias ? bias[i % n] : 0) }
                    let err = zip(c, want).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
                    #expect(err < 1e-5, "\(kernel) \(shape) accumulate \(accumulate) bias \(withBias): max relative error \(err)")
                }
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

    /// `Tensor.attention(lowPrecision:)` against its definition computed here in double:
    /// scores from the queries and keys quantised per row (each position of each head),
    /// weights `exp(s - max)` and values rounded to bfloat16, each row divided by its sum of
    /// unrounded weights. Both kernels (AVX-512 BF16 where the CPU has it, the portable
    /// path); heads split from `[B, L, H, D]` as an encoder's are (strided rows); one head
    /// (the work split over the pool) and several (heads in parallel); an odd number of keys
    /// (the last pair padded) and a value width the BF16 kernel does not take.
    @Test(arguments: [(1, 1, 70, 91, 32, 32), (2, 3, 130, 130, 64, 64), (1, 2, 64, 66, 16, 24)])
    func lowPrecisionAttentionIsItsDefinition(_ shape: (b: Int, h: Int, lq: Int, lk: Int, d: Int, dv: Int)) {
        let (b, h, lq, lk, d, dv) = shape
        func heads(_ l: Int, _ w: Int, seed: UInt64, scale: Float) -> Tensor {
            Tensor(shape: [b, l, h, w], scalars: Self.values(b * l * h * w, seed: seed, scale: scale)).permuted([0, 2, 1, 3])
        }
        func quantised(_ t: Tensor) -> [Float] {
            let c = t.contiguous().scalars, w = t.shape[3]
            return stride(from: 0, to: c.count, by: w).flatMap { i -> [Float] in
                let (q, s) = Self.quantize(c[i..<(i + w)])
                return q.map { Float($0) * s }
            }
        }
        let q = heads(lq, d, seed: 5, scale: 2), k = heads(lk, d, seed: 6, scale: 1.5), v = heads(lk, dv, seed: 7, scale: 1)
        let qd = quantised(q), kd = quantised(k), vr = v.contiguous().scalars.map(LowPrecisionHead.bfloat16)
        let scale = 1 / Double(d).squareRoot()
        var want = [Float](repeating: 0, count: b * h * lq * dv)
        for bh in 0..<(b * h) {
            for i in 0..<lq {
                let qi = (bh * lq + i) * d
                let s = (0..<lk).map { j in scale * (0..<d).reduce(0.0) { $0 + Double(qd[qi + $1]) * Double(kd[(bh * lk + j) * d + $1]) } }
                let m = s.max()!, e = s.map { Foundation.exp($0 - m) }, total = e.reduce(0, +)
                for c in 0..<dv {
                    let dot = (0..<lk).reduce(0.0) { $0 + Double(LowPrecisionHead.bfloat16(Float(e[$1]))) * Double(vr[(bh * lk + $1) * dv + c]) }
                    want[(bh * lq + i) * dv + c] = Float(dot / total)
                }
            }
        }
        let exact = Tensor.attention(query: q, key: k, value: v).scalars
        for kernel in CPUFeatures.avx512BF16 ? [true, false] : [false] {
            let got = Tensor.attention(query: q, key: k, value: v, scale: nil, causal: false, keyMask: nil,
                                       lowPrecision: true, bf16Kernel: kernel).scalars
            // A weight whose float exp lands on the other side of a bfloat16 rounding boundary
            // than double's moves its term by 2^-8 of it: rare, so the mean stays far smaller.
            let errors = zip(got, want).map { abs($0 - $1) }
            let err = errors.max()!, mean = errors.reduce(0, +) / Float(errors.count)
            #expect(err < 1e-3 && mean < 1e-5, "\(shape) bf16 kernel \(kernel): off its definition by \(err) (mean \(mean))")
            // ... which is near float32's attention, and not float32's itself (it took effect).
            let drift = zip(got, exact).map { abs($0 - $1) }.max()!
            #expect(drift > 0 && drift < 0.05, "\(shape) bf16 kernel \(kernel): off float32 attention by \(drift)")
        }
        // Causal attention stays float32.
        #expect(Tensor.attention(query: q, key: k, value: v, causal: true, lowPrecision: true).scalars
                == Tensor.attention(query: q, key: k, value: v, causal: true).scalars)
    }

    @Test func zeroRowsAndZeroInputs() {
        let w = Tensor(zeros: [20, 8]), x = Tensor(zeros: [3, 8])
        let y = Tensor.linear(x, weight: WeightMatrix(w).quantizedToInt8(), bias: Tensor(repeating: 2, shape: [20]))
        #expect(y.scalars.allSatisfy { $0 == 2 })
    }
}
