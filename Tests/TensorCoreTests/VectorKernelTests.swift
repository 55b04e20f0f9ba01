import CKernels
import Foundation
import Testing
@testable import TensorCore

/// The AVX2 row kernels (softmax, sum of exponentials, GELU) against TensorCore's portable
/// SIMD8 code and against double precision, at lengths around the 8-lane edges; and the
/// transposed key layout of decoding steps against the usual one.
@Suite("Vector kernels")
struct VectorKernelTests {
    static func values(_ n: Int, seed: UInt64, spread: Float = 6) -> [Float] {
        var g = SplitMix64(seed: seed)
        return (0..<n).map { _ in (Float(g.next() % 20001) / 10000 - 1) * spread }
    }

    static func tensor(_ shape: [Int], seed: UInt64, spread: Float) -> Tensor {
        Tensor(shape: shape, scalars: values(shape.reduce(1, *), seed: seed, spread: spread))
    }

    @Test(arguments: [1, 7, 8, 9, 63, 1500, 2049, 51865])
    func softmaxRowAgreesWithPortableAndDouble(n: Int) {
        var x = Self.values(n, seed: UInt64(n))
        if n > 9 { x[3] = -.infinity; x[n - 1] = -.infinity }   // masked keys
        var fast = [Float](repeating: 0, count: n), portable = fast
        Tensor.softmaxRow(x, &fast, n)
        Tensor.softmaxRowPortable(x, &portable, n)
        let m = Double(x.max()!)
        let exps = x.map { Foundation.exp(Double($0) - m) }
        let total = exps.reduce(0, +)
        // A float sum over a vocabulary-sized row (52 000 terms) drifts by a few 1e-6.
        let rel = n > 4096 ? 2e-5 : 1e-6
        for j in 0..<n {
            let want = exps[j] / total
            #expect(abs(Double(fast[j]) - want) <= rel * want + 1e-12, "n \(n) j \(j): \(fast[j]) vs \(want)")
            #expect(abs(Double(fast[j] - portable[j])) <= rel * Double(portable[j]) + 1e-12)
        }
        // exp of the clamped input: 1e-38 of the total, as the portable code gives.
        if n > 9 { #expect(fast[3] < 1e-30 && fast[n - 1] < 1e-30) }
    }

    @Test(arguments: [5, 8, 2048, 2049, 51865])
    func sumExpAgreesWithPortableAndDouble(n: Int) {
        let x = Self.values(n, seed: 7 + UInt64(n), spread: 20)
        let shift = x.max()!
        let fast = x.withUnsafeBufferPointer { VectorMath.sumExp($0.baseAddress!, n, shift: shift) }
        let portable = x.withUnsafeBufferPointer { VectorMath.sumExpPortable($0.baseAddress!, n, shift: shift) }
        let want = x.reduce(0.0) { $0 + Foundation.exp(Double($1) - Double(shift)) }
        #expect(abs(fast - want) <= 1e-6 * want)
        #expect(abs(fast - portable) <= 1e-6 * want)
    }

    @Test func geluAgreesWithPortableAndErf() {
        let x = Self.values(40_003, seed: 3, spread: 9) + [0, -0.0, 1e-8, -1e-8, 40, -40]
        let t = Tensor(shape: [x.count], scalars: x)
        let fast = t.gelu().scalars, portable = t.geluPortable().scalars
        for (i, v) in x.enumerated() {
            let want = 0.5 * Double(v) * (1 + erf(Double(v) / 2.0.squareRoot()))
            #expect(abs(Double(fast[i]) - want) <= 2e-6 + 1e-6 * abs(want), "gelu(\(v)) = \(fast[i]), want \(want)")
            #expect(abs(fast[i] - portable[i]) <= 1e-6 + 1e-6 * abs(portable[i]))
        }
    }

    /// Keys stored `[G, H, D, Lk]` (`keysForFewQueries`) give the attention of the usual
    /// layout: grouped single queries (a decoding step's cross-attention) and many queries.
    @Test(arguments: [(8, 2, 1), (6, 3, 1), (1, 1, 1), (2, 2, 70)])
    func transposedKeysGiveTheSameAttention(rows: Int, groups: Int, lq: Int) {
        let h = 3, lk = 97, d = 16
        let q = Self.tensor([rows, h, lq, d], seed: 11, spread: 1)
        let k = Self.tensor([groups, h, lk, d], seed: 12, spread: 1)
        let v = Self.tensor([groups, h, lk, d], seed: 13, spread: 1)
        let packed = Tensor.keysForFewQueries(k)
        #expect(packed.strides[2] == 1 && packed.shape == k.shape)
        let want = Tensor.attention(query: q, key: k, value: v).scalars
        let got = Tensor.attention(query: q, key: packed, value: v).scalars
        #expect(want.count == got.count)
        for i in want.indices { #expect(abs(want[i] - got[i]) <= 1e-5, "\(i): \(got[i]) vs \(want[i])") }
    }

    /// Half-precision cross-attention memory: the same attention as float32 keys and values
    /// rounded to half precision (one position per row and a prompt's few, up to 16, on the
    /// AVX-512 kernel; more through the float32 conversion), and near the unrounded float32's;
    /// dropping groups (`rows`) keeps each group's own attention, in both storages.
    @Test(arguments: [(10, 2, 1), (6, 3, 1), (1, 1, 1), (4, 2, 5), (2, 2, 3), (3, 1, 16), (2, 1, 17)])
    func halfPrecisionMemoryIsRoundedFloat32(rows: Int, groups: Int, lq: Int) {
        let h = 3, lk = 1500, d = 64
        let q = Self.tensor([rows, h, lq, d], seed: 21, spread: 1)
        let k = Self.tensor([groups, h, lk, d], seed: 22, spread: 2)
        let v = Self.tensor([groups, h, lk, d], seed: 23, spread: 3)
        let half = AttentionMemory(key: k, value: v, halfPrecision: true)
        let single = AttentionMemory(key: k, value: v)
        #expect(half.isHalfPrecision == AttentionMemory.halfPrecisionAvailable && !single.isHalfPrecision)
        func rounded(_ t: Tensor) -> Tensor { Tensor(shape: t.shape, scalars: t.scalars.map { Float(Float16($0)) }) }
        let want = Tensor.attention(query: q, key: rounded(k), value: rounded(v)).scalars
        let exact = Tensor.attention(query: q, key: k, value: v).scalars
        let got = Tensor.attention(query: q, memory: half).scalars
        #expect(Tensor.attention(query: q, memory: single).scalars == exact)
        #expect(got.count == want.count)
        let err = zip(got, want).map { abs($0 - $1) }.max()!, drift = zip(got, exact).map { abs($0 - $1) }.max()!
        if half.isHalfPrecision {
            #expect(err <= 1e-5, "half memory off rounded float32 by \(err)")
        } else {
            // No half-precision kernel on this path (it is AVX-512's): the memory stays float32.
            #expect(got == exact, "float32 memory (no half kernel here) differs from float32 attention")
        }
        #expect(drift < 5e-3, "half memory off float32 by \(drift)")
        if half.isHalfPrecision { #expect(half.key.scalars == rounded(k).scalars && half.value.scalars == rounded(v).scalars) }
        // The last group alone (queries of its rows), from each storage.
        let per = rows / groups, last = groups - 1
        let qLast = q.slice(axis: 0, (last * per)..<rows)
        let lastWant = Tensor.attention(query: qLast, key: k.slice(axis: 0, last..<groups), value: v.slice(axis: 0, last..<groups)).scalars
        for memory in [half, single] {
            let kept = memory.rows([last])
            #expect(kept.groups == 1)
            let out = Tensor.attention(query: qLast, memory: kept).scalars
            #expect(zip(out, lastWant).allSatisfy { abs($0 - $1) < 5e-3 })
        }
    }

    /// The few-query attention kernels (a decoding step's cross-attention), float32 and half
    /// keys and values: AVX2 gives AVX-512's bits (the same FMA chains, the same softmax), and
    /// both give the products' attention (`mmpipe_gemm`, softmaxRow) bit for bit. Lengths
    /// around the 16- and 32-key blocks, every value width the kernels take, 1 to 13 rows.
    @Test(arguments: [(1, 97, 64, 64), (6, 1500, 64, 64), (13, 33, 16, 32), (7, 16, 40, 48), (2, 1, 64, 16), (5, 47, 24, 64)])
    func fewQueryKernelsAgreeOnEveryPath(rows: Int, lk: Int, d: Int, dv: Int) throws {
        try #require(CPUFeatures.best >= .avx2, "no AVX2 on this CPU: the kernels cannot run")
        let q = Self.values(rows * d, seed: 31, spread: 1)
        let kt = Self.values(d * lk, seed: 32, spread: 2)            // [d, lk]: keys transposed
        let v = Self.values(lk * dv, seed: 33, spread: 3)
        let scale = 1 / Float(d).squareRoot()
        func run(_ f16: Bool, _ avx512: Bool) -> [Float] {
            var scores = [Float](repeating: 0, count: min(rows, 6) * lk), out = [Float](repeating: 0, count: rows * dv)
            let k16 = kt.map { Float16($0).bitPattern }, v16 = v.map { Float16($0).bitPattern }
            let ok: Int32
            switch (f16, avx512) {
            case (false, false): ok = mmpipe_attend_few_avx2(q, Int32(d), Int32(rows), Int32(d), kt, Int32(lk), Int32(lk), v, Int32(dv), Int32(dv), scale, &scores, &out, Int32(dv))
            case (false, true): ok = mmpipe_attend_few_avx512(q, Int32(d), Int32(rows), Int32(d), kt, Int32(lk), Int32(lk), v, Int32(dv), Int32(dv), scale, &scores, &out, Int32(dv))
            case (true, false): ok = mmpipe_attend_few_f16_avx2(q, Int32(d), Int32(rows), Int32(d), k16, Int32(lk), Int32(lk), v16, Int32(dv), Int32(dv), scale, &scores, &out, Int32(dv))
            case (true, true): ok = mmpipe_attend_few_f16_avx512(q, Int32(d), Int32(rows), Int32(d), k16, Int32(lk), Int32(lk), v16, Int32(dv), Int32(dv), scale, &scores, &out, Int32(dv))
            }
            #expect(ok == 1)
            return out
        }
        // The reference: the products (AVX2's, the same bits as AVX-512's) and the AVX2 softmax.
        func reference(_ kt: [Float], _ v: [Float]) -> [Float] {
            var scores = [Float](repeating: 0, count: rows * lk), out = [Float](repeating: 0, count: rows * dv)
            BLAS.sgemm(level: .avx2, m: rows, n: lk, k: d, alpha: scale, a: q, lda: d, b: kt, ldb: lk, c: &scores, ldc: lk)
            scores.withUnsafeMutableBufferPointer { s in for r in 0..<rows { mmpipe_softmax_f32(s.baseAddress! + r * lk, s.baseAddress! + r * lk, Int32(lk)) } }
            BLAS.sgemm(level: .avx2, m: rows, n: dv, k: lk, a: scores, lda: lk, b: v, ldb: dv, c: &out, ldc: dv)
            return out
        }
        let single = run(false, false), half = run(true, false)
        #expect(single == reference(kt, v), "AVX2 float32 kernel against the products")
        #expect(half == reference(kt.map { Float(Float16($0)) }, v.map { Float(Float16($0)) }), "AVX2 half kernel against rounded float32")
        if CPUFeatures.best >= .avx512 {
            #expect(run(false, true) == single && run(true, true) == half, "AVX-512 and AVX2 kernels differ")
        }
    }
}
