import Foundation
import Testing
import TensorCore

/// Views, copy-on-write, fallbacks, the KV cache and the thread budget.
@Suite("Tensor views and core behaviour")
struct TensorTests {
    static func iota(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map(Float.init))
    }

    @Test func reshapeIsAViewWhenPossible() {
        let t = Self.iota([4, 6])
        let r = t.reshaped([2, -1, 3])
        #expect(r.shape == [2, 4, 3])
        #expect(r.storage === t.storage)
        // A row slice stays viewable; a transposed tensor must be copied.
        let rows = t.slice(axis: 0, 1..<3)
        let flat = rows.reshaped([12])
        #expect(flat.storage === t.storage && flat.scalars == (6..<18).map(Float.init))
        let tt = t.transposed()
        let c = tt.reshaped([24])
        #expect(c.storage !== t.storage)
        #expect(c.scalars == tt.scalars)
        // Splitting a permuted axis is still a view.
        let p = Self.iota([2, 3, 4]).permuted([2, 0, 1])     // [4, 2, 3]
        let split = p.reshaped([2, 2, 2, 3])
        #expect(split.storage === p.storage && split.scalars == p.scalars)
    }

    @Test func selectSqueezeBroadcast() {
        let t = Self.iota([2, 3])
        #expect(t.select(axis: 1, 2).scalars == [2, 5])
        #expect(t.unsqueezed(0).shape == [1, 2, 3] && t.unsqueezed(-1).shape == [2, 3, 1])
        #expect(t.unsqueezed(1).squeezed(1).scalars == t.scalars)
        let b = Tensor(shape: [3], scalars: [1, 2, 3]).broadcast(to: [2, 3])
        #expect(b.scalars == [1, 2, 3, 1, 2, 3] && b.strides == [0, 1])
        #expect(t[1, 2] == 5 && t.transposed()[2, 1] == 5)
    }

    @Test func copyOnWriteLeavesOtherViewsAlone() {
        let a = Self.iota([2, 2])
        var b = a
        b.withUnsafeMutableBufferPointer { $0[0] = 100 }
        #expect(a.scalars == [0, 1, 2, 3])
        #expect(b.scalars == [100, 1, 2, 3])
        var c = Self.iota([3])
        let base = c.storage.base                             // a pointer, not a second owner
        c.withUnsafeMutableBufferPointer { $0[1] = -1 }      // unique: written in place
        #expect(c.storage.base == base && c.scalars == [0, -1, 2])
    }

    @Test func matmulOnStridedViewsThatBLASCannotTake() {
        // Every other column: inner stride 2, neither row- nor column-major.
        let a = Self.iota([3, 8]).reshaped([3, 4, 2]).select(axis: 2, 0)    // [3, 4]
        let b = Self.iota([4, 2])
        let got = Tensor.matmul(a, b).scalars
        let av = a.scalars, bv = b.scalars
        var want = [Float](repeating: 0, count: 6)
        for i in 0..<3 { for j in 0..<2 { for k in 0..<4 { want[i * 2 + j] += av[i * 4 + k] * bv[k * 2 + j] } } }
        #expect(got == want)
    }

    @Test func emptyAndZeroSizedOperands() {
        let z = Tensor.matmul(Tensor(zeros: [2, 0]), Tensor(zeros: [0, 3]))
        #expect(z.shape == [2, 3] && z.scalars == [0, 0, 0, 0, 0, 0])
        #expect(Tensor.linear(Tensor(zeros: [0, 4]), weight: Self.iota([5, 4])).shape == [0, 5])
        #expect((Tensor(zeros: [0, 3]) + Tensor(zeros: [3])).shape == [0, 3])
    }

    /// Decoding token by token through the cache gives the same rows as full causal attention.
    @Test func kvCacheDecodingMatchesFullCausalAttention() {
        let (b, h, l, d) = (2, 3, 6, 4)
        let q = Tensor(shape: [b, h, l, d], scalars: (0..<(b * h * l * d)).map { sin(Float($0) * 0.37) })
        let k = Tensor(shape: [b, h, l, d], scalars: (0..<(b * h * l * d)).map { cos(Float($0) * 0.11) })
        let v = Tensor(shape: [b, h, l, d], scalars: (0..<(b * h * l * d)).map { sin(Float($0) * 0.05 + 1) })
        let full = Tensor.attention(query: q, key: k, value: v, causal: true)
        let cache = KVCache(batch: b, heads: h, capacity: 8, headDim: d)
        for t in 0..<l {
            cache.append(key: k.slice(axis: 2, t..<(t + 1)), value: v.slice(axis: 2, t..<(t + 1)))
            let step = Tensor.attention(query: q.slice(axis: 2, t..<(t + 1)), key: cache.key, value: cache.value, causal: true)
            let want = full.slice(axis: 2, t..<(t + 1)).scalars
            let err = zip(step.scalars, want).map { abs($0 - $1) }.max() ?? 0
            #expect(err < 1e-6, "step \(t): max abs error \(err)")
        }
        #expect(cache.length == l)
        // Beam reordering: batch row 0 takes row 1's history.
        let before1 = cache.key.select(axis: 0, 1).scalars
        cache.reorder([1, 1])
        #expect(cache.key.select(axis: 0, 0).scalars == before1)
        #expect(cache.key.select(axis: 0, 1).scalars == before1)
    }

    /// Beams attending to shared (broadcast) keys/values take a batched path; it must give
    /// what attending row by row gives.
    @Test func broadcastKeysOneQueryPerRowMatchesRowByRow() {
        let (b, h, lk, d) = (5, 3, 37, 8)
        let q = Tensor(shape: [b, 1, h, d], scalars: (0..<(b * h * d)).map { sin(Float($0) * 0.3) }).permuted([0, 2, 1, 3])
        let k1 = Tensor(shape: [1, h, lk, d], scalars: (0..<(h * lk * d)).map { cos(Float($0) * 0.07) })
        let v1 = Tensor(shape: [1, h, lk, d], scalars: (0..<(h * lk * d)).map { sin(Float($0) * 0.02 + 0.5) })
        let k = k1.broadcast(to: [b, h, lk, d]), v = v1.broadcast(to: [b, h, lk, d])
        let batched = Tensor.attention(query: q, key: k, value: v, causal: true)
        for r in 0..<b {
            let one = Tensor.attention(query: q.slice(axis: 0, r..<(r + 1)), key: k1, value: v1)
            let err = zip(batched.slice(axis: 0, r..<(r + 1)).scalars, one.scalars).map { abs($0 - $1) }.max() ?? 1
            #expect(err < 1e-6, "row \(r): max abs error \(err)")
        }
    }

    /// A few rows against a large weight take a streaming path instead of BLAS; compare it
    /// with a plain double-precision product, with and without bias, for 1...8 rows.
    @Test(arguments: [1, 3, 5, 8])
    func fewRowLinearMatchesNaiveProduct(rows: Int) {
        let (k, n) = (389, 211)          // k not a multiple of the SIMD width; n * k > 65536
        let x = Tensor(shape: [rows, k], scalars: (0..<(rows * k)).map { sin(Float($0) * 0.013) })
        let w = Tensor(shape: [n, k], scalars: (0..<(n * k)).map { cos(Float($0) * 0.0071) })
        let bias = Tensor(shape: [n], scalars: (0..<n).map { Float($0) * 0.01 - 1 })
        let xs = x.scalars, ws = w.scalars
        for withBias in [false, true] {
            let got = Tensor.linear(x, weight: w, bias: withBias ? bias : nil).scalars
            var worst = 0.0
            for r in 0..<rows {
                for j in 0..<n {
                    var acc = withBias ? Double(bias.scalars[j]) : 0
                    for i in 0..<k { acc += Double(xs[r * k + i]) * Double(ws[j * k + i]) }
                    worst = max(worst, abs(acc - Double(got[r * n + j])))
                }
            }
            #expect(worst < 1e-3, "rows \(rows) bias \(withBias): max abs error \(worst)")
        }
    }

    @Test func fullyMaskedRowAttendsToNothingAndOthersAreIntact() {
        // Causal + key mask hiding key 0: query 0 sees no key at all.
        let q = Tensor(shape: [1, 1, 3, 2], scalars: [1, 0, 0, 1, 1, 1])
        let k = Tensor(shape: [1, 1, 3, 2], scalars: [1, 2, 3, 4, 5, 6])
        let v = Tensor(shape: [1, 1, 3, 1], scalars: [10, 20, 30])
        let mask = Tensor(shape: [1, 3], scalars: [0, 1, 1])
        let out = Tensor.attention(query: q, key: k, value: v, causal: true, keyMask: mask).scalars
        #expect(out[0] == 0)
        #expect(out[1] == 20)                                    // only key 1 visible
        let s1 = (3 + 4) / Float(2).squareRoot(), s2 = (5 + 6) / Float(2).squareRoot()
        let w = 1 / (1 + exp(s2 - s1))
        #expect(abs(out[2] - (w * 20 + (1 - w) * 30)) < 1e-4)
    }

    @Test func parallelForVisitsEveryIndexOnce() {
        let n = 10_007
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: n)
        counts.initialize(repeating: 0, count: n)
        defer { counts.deallocate() }
        Compute.parallelFor(n) { counts[$0] += 1 }
        #expect((0..<n).allSatisfy { counts[$0] == 1 })
        #expect(Compute.threads >= 1)
    }

    @Test func batchNormFoldMatchesExplicitNormalisation() {
        let x = Tensor(shape: [1, 2, 2, 2], scalars: [1, 2, 3, 4, 5, 6, 7, 8])
        let w = Tensor(shape: [2, 2, 1, 1], scalars: [1, 0, 0.5, -1])
        let gamma = Tensor(shape: [2], scalars: [2, 0.5]), beta = Tensor(shape: [2], scalars: [0.1, -0.2])
        let mean = Tensor(shape: [2], scalars: [1, -1]), variance = Tensor(shape: [2], scalars: [4, 0.25])
        let f = Tensor.foldBatchNorm(weight: w, bias: nil, gamma: gamma, beta: beta, mean: mean, variance: variance, eps: 0)
        let got = Tensor.conv2d(x, weight: f.weight, bias: f.bias).scalars
        let conv = Tensor.conv2d(x, weight: w).scalars
        let want = conv.enumerated().map { i, c -> Float in
            let ch = i / 4
            return gamma.scalars[ch] * (c - mean.scalars[ch]) / variance.scalars[ch].squareRoot() + beta.scalars[ch]
        }
        #expect(zip(got, want).allSatisfy { abs($0 - $1) < 1e-5 }, "\(got) vs \(want)")
    }
}
