import CKernels
/// Scaled dot-product attention and the key/value cache for incremental decoding.
extension Tensor {
    /// `softmax(scale * q k^T + mask) v` per batch and head.
    ///
    /// q `[B, H, Lq, D]`, k `[G, H, Lk, D]`, v `[G, H, Lk, Dv]` (any strides with a unit
    /// inner stride are used without copying, e.g. heads split from `[B, L, H, D]` by a
    /// permute; keys may also be stored transposed, unit stride along Lk: see
    /// `keysForFewQueries`). G is B, or a divisor of B: then the keys and values are shared by groups of
    /// B / G consecutive query rows (row `r` reads keys `r / (B / G)`: the beams of one audio
    /// in a decoder's cross-attention, with no copy of the audio's keys per beam). `causal` is bottom-right aligned: query `i` sees keys `j <= i + Lk - Lq`,
    /// so a single query after a KV cache sees every key. `keyMask` `[B, Lk]`: 0 hides a key.
    /// Returns `[B, H, Lq, Dv]`.
    ///
    /// `lowPrecision`: the int8 compute type's attention over long sequences (at least 64
    /// queries and keys, unmasked, not causal: an encoder's). The scores `q k^T` are an int8
    /// product (each query and each head's keys quantised per row as `Int8Matrix` does); the
    /// attention weights `exp(s - max)` and the values are rounded to bfloat16 and multiplied
    /// with float32 sums (AVX-512 BF16's dot products where the CPU has them, else float32
    /// products of the rounded values), each row divided by its float32 sum of weights. The
    /// scores differ from float32's by the quantisation error of both operands, the weights
    /// and values by bfloat16's rounding (2^-9 relative). Other shapes ignore it.
    public static func attention(query q: Tensor, key k: Tensor, value v: Tensor,
                                 scale: Float? = nil, causal: Bool = false, keyMask: Tensor? = nil,
                                 lowPrecision: Bool = false) -> Tensor {
        attention(query: q, key: k, value: v, scale: scale, causal: causal, keyMask: keyMask,
                  lowPrecision: lowPrecision, bf16Kernel: CPUFeatures.avx512BF16)
    }

    /// `bf16Kernel`: low-precision products on the AVX-512 BF16 kernel (else the portable
    /// path; tests run both).
    static func attention(query q: Tensor, key k: Tensor, value v: Tensor, scale: Float?, causal: Bool, keyMask: Tensor?,
                          lowPrecision: Bool, bf16Kernel: Bool) -> Tensor {
        precondition(q.rank == 4 && k.rank == 4 && v.rank == 4, "attention: q, k, v must be 4-D")
        let b = q.shape[0], h = q.shape[1], lq = q.shape[2], d = q.shape[3]
        let lk = k.shape[2], dv = v.shape[3], g = k.shape[0]
        precondition(g > 0 && b % g == 0 && k.shape == [g, h, lk, d] && v.shape[0] == g && v.shape[1] == h && v.shape[2] == lk,
                     "attention: q \(q.shape), k \(k.shape), v \(v.shape) disagree")
        let perGroup = b / g
        precondition(!causal || lk >= lq, "attention: causal needs at least as many keys as queries")
        let mask = keyMask.map { m -> Tensor in
            precondition(m.shape == [b, lk], "attention: key mask \(m.shape), expected [\(b), \(lk)]")
            return m.contiguous()
        }
        _ = Compute.threads
        let s = scale ?? 1 / Float(d).squareRoot()
        // Unit inner stride lets each head's matrix go to BLAS as a (transposed) view.
        let qq = q.strides[3] == 1 || d == 1 ? q : q.contiguous()
        let kk = k.strides[3] == 1 || d == 1 || k.strides[2] == 1 ? k : k.contiguous()
        let vv = v.strides[3] == 1 || dv == 1 ? v : v.contiguous()
        let out = Tensor(uninitializedShape: [b, h, lq, dv])
        // One query per row against keys/values shared by a group of rows (a decoding step's
        // cross-attention: the beams of one audio, as a group or with K/V broadcast over
        // them): one product per head and group, so BLAS packs each head's keys once instead
        // of once per row. (Group, head) pairs in parallel, each with its own scores.
        let broadcast = g == b && kk.strides[0] == 0 && vv.strides[0] == 0
        if lq == 1 && b > 1 && mask == nil && (perGroup > 1 || broadcast) {
            let groups = broadcast ? 1 : g, rows = broadcast ? b : perGroup
            withExtendedLifetime((qq, kk, vv)) {
                if groups * h > 1 && b * lk * d * h >= 1 << 16 {
                    Compute.parallelParts(groups * h) { p in
                        crossAttentionHead(qq, kk, vv, group: p / h, rows: rows, hi: p % h, scale: s, out: out.outputPointer)
                    }
                } else {
                    for p in 0..<(groups * h) {
                        crossAttentionHead(qq, kk, vv, group: p / h, rows: rows, hi: p % h, scale: s, out: out.outputPointer)
                    }
                }
            }
            return out
        }
        // Long sequences (an encoder, a ViT): query rows in blocks whose scores stay in cache.
        let long = lq >= 64 && lk >= 64
        let block = long ? 256 : lq
        let heads = b * h
        let reduced = lowPrecision && long && mask == nil && !causal && kk.strides[3] == 1
        func lowPrecisionHead(_ keyRow: Int, _ hi: Int) -> LowPrecisionHead? {
            reduced ? LowPrecisionHead(keys: kk.select(axis: 0, keyRow).select(axis: 0, hi),
                                       values: vv.select(axis: 0, keyRow).select(axis: 0, hi), bf16Kernel: bf16Kernel) : nil
        }
        withExtendedLifetime((qq, kk, vv, mask)) {
            if heads >= Compute.threads && Compute.threads > 1 && heads * lq * lk * (d + dv) >= 1 << 17 {
                // Every (batch, head) is independent: one per part, start to end on one thread.
                Compute.parallelParts(heads) { p in
                    let bi = p / h, hi = p % h
                    let sc = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(Swift.min(block, lq) * lk, 1))
                    defer { sc.deallocate() }
                    attentionRows(qq, kk, vv, bi: bi, keyRow: bi / perGroup, hi: hi, rows: 0..<lq, block: block, scale: s,
                                  causal: causal, mask: mask.map { $0.pointer + bi * lk }, scores: sc,
                                  out: out.outputPointer + p * lq * dv, lowPrecision: lowPrecisionHead(bi / perGroup, hi))
                }
                return
            }
            // Few heads: the products split over the pool, and the softmax between them too.
            let sc = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(Swift.min(block, lq) * lk, 1))
            defer { sc.deallocate() }
            for bi in 0..<b {
                for hi in 0..<h {
                    attentionRows(qq, kk, vv, bi: bi, keyRow: bi / perGroup, hi: hi, rows: 0..<lq, block: block, scale: s,
                                  causal: causal, mask: mask.map { $0.pointer + bi * lk }, scores: sc,
                                  out: out.outputPointer + (bi * h + hi) * lq * dv, parallelSoftmax: long,
                                  lowPrecision: lowPrecisionHead(bi / perGroup, hi))
                }
            }
        }
        return out
    }

    /// One head of one group of the shared-keys case: scores `[rows, lk]` for the single
    /// query of each of the group's rows (`group * rows ..< (group + 1) * rows`) against the
    /// group's keys, softmax, times values into `out` `[b, h, 1, dv]`.
    static func crossAttentionHead(_ q: Tensor, _ k: Tensor, _ v: Tensor, group: Int, rows: Int, hi: Int, scale: Float,
                                   out: UnsafeMutablePointer<Float>) {
        let h = q.shape[1], d = q.shape[3], lk = k.shape[2], dv = v.shape[3]
        let first = group * rows
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: rows * lk)
        defer { scores.deallocate() }
        let (transB, ldb) = keyOperand(k)
        let qp = q.pointer + first * q.strides[0] + hi * q.strides[1]
        let kp = k.pointer + group * k.strides[0] + hi * k.strides[1]
        let vp = v.pointer + group * v.strides[0] + hi * v.strides[1], ldv = lk == 1 ? dv : v.strides[2]
        // Keys stored transposed: one pass over them and one over the values, no packing.
        // (AVX-512 and AVX2 give the same bits, and the same as the products below.)
        if !transB && CPUFeatures.avx2FMAF16C && v.strides[3] == 1 {
            let kernel = CPUFeatures.avx512F ? mmpipe_attend_few_avx512 : mmpipe_attend_few_avx2
            if kernel(qp, Int32(q.strides[0]), Int32(rows), Int32(d), kp, Int32(ldb), Int32(lk),
                      vp, Int32(ldv), Int32(dv), scale, scores, out + (first * h + hi) * dv, Int32(h * dv)) != 0 {
                return
            }
        }
        BLAS.sgemm(transA: false, transB: transB, m: rows, n: lk, k: d, alpha: scale,
                   a: qp, lda: q.strides[0], b: kp, ldb: ldb, c: scores, ldc: lk)
        for r in 0..<rows { softmaxRow(scores + r * lk, scores + r * lk, lk) }
        BLAS.sgemm(transA: false, transB: false, m: rows, n: dv, k: lk,
                   a: scores, lda: lk, b: vp, ldb: ldv, c: out + (first * h + hi) * dv, ldc: h * dv)
    }

    /// How one head's keys enter `scores = q k^T` as BLAS's right operand: rows of D
    /// (transposed, the usual layout) or, for keys stored transposed (unit stride along Lk),
    /// as the `[D, Lk]` matrix itself.
    static func keyOperand(_ k: Tensor) -> (transposed: Bool, ld: Int) {
        let lk = k.shape[2], d = k.shape[3]
        if k.strides[3] != 1 && d > 1 && k.strides[2] == 1 { return (false, k.strides[3]) }
        return (true, lk == 1 ? d : k.strides[2])
    }

    /// `k` `[G, H, Lk, D]` laid out for attention by few query rows at a time (a decoding
    /// step's cross-attention): stored `[G, H, D, Lk]`, viewed as `[G, H, Lk, D]`. The score
    /// product is then an untransposed one: the AVX-512 few-query kernel streams it, or BLAS
    /// runs it on its small-matrix kernels, without packing the keys again at every step
    /// (packing 1500 keys for 5 query rows cost as much as the product).
    public static func keysForFewQueries(_ k: Tensor) -> Tensor {
        precondition(k.rank == 4, "keysForFewQueries: keys must be 4-D")
        return k.permuted([0, 1, 3, 2]).contiguous().permuted([0, 1, 3, 2])
    }

    /// One (batch, head) of attention over query `rows`, `block` rows at a time: scores
    /// `[block, lk]` (scratch), softmax, times values into `out` (`[lq, dv]`, contiguous).
    /// `keyRow`: the batch row of `k` and `v` that query row `bi` reads. `lowPrecision`: this
    /// head's keys and values for the int8 compute type's attention.
    static func attentionRows(_ q: Tensor, _ k: Tensor, _ v: Tensor, bi: Int, keyRow: Int, hi: Int, rows: Range<Int>, block: Int,
                              scale: Float, causal: Bool, mask: UnsafePointer<Float>?,
                              scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>,
                              parallelSoftmax: Bool = false, lowPrecision: LowPrecisionHead? = nil) {
        let lq = q.shape[2], d = q.shape[3], lk = k.shape[2], dv = v.shape[3]
        let qp = q.pointer + bi * q.strides[0] + hi * q.strides[1]
        let kp = k.pointer + keyRow * k.strides[0] + hi * k.strides[1]
        let vp = v.pointer + keyRow * v.strides[0] + hi * v.strides[1]
        let qStride = lq == 1 ? d : q.strides[2]
        let (transB, ldb) = keyOperand(k)
        var r0 = rows.lowerBound
        while r0 < rows.upperBound {
            let m = Swift.min(block, rows.upperBound - r0)
            if let lowPrecision {
                lowPrecision.keys.product(qp + r0 * qStride, rows: m, lda: qStride, into: scores, ldc: lk, alpha: scale,
                                          accumulate: false)
                lowPrecision.softmaxTimesValues(scores, rows: m, out: out + r0 * dv, parallel: parallelSoftmax && m * lk >= 1 << 16)
                r0 += m
                continue
            }
            BLAS.sgemm(transA: false, transB: transB, m: m, n: lk, k: d, alpha: scale,
                       a: qp + r0 * qStride, lda: qStride, b: kp, ldb: ldb,
                       c: scores, ldc: lk)
            if parallelSoftmax && m * lk >= 1 << 16 {
                let chunk = 8
                Compute.parallelFor((m + chunk - 1) / chunk) { c in
                    let lo = r0 + c * chunk, hi = Swift.min(r0 + m, lo + chunk)
                    normaliseScores(scores + (lo - r0) * lk, lq: lq, lk: lk, causal: causal, mask: mask, rows: lo..<hi)
                }
            } else {
                normaliseScores(scores, lq: lq, lk: lk, causal: causal, mask: mask, rows: r0..<(r0 + m))
            }
            BLAS.sgemm(transA: false, transB: false, m: m, n: dv, k: lk,
                       a: scores, lda: lk, b: vp, ldb: lk == 1 ? dv : v.strides[2],
                       c: out + r0 * dv, ldc: dv)
            r0 += m
        }
    }

    /// Row softmax of `[lq, lk]` scores in place, with causal and key masks (masked
    /// entries become exactly 0).
    /// `rows` are the query rows the scratch holds (row `i` of the range at `scores + (i - lower) * lk`).
    static func normaliseScores(_ scores: UnsafeMutablePointer<Float>, lq: Int, lk: Int,
                                causal: Bool, mask: UnsafePointer<Float>?, rows: Range<Int>? = nil) {
        let rows = rows ?? 0..<lq
        for i in rows {
            let row = scores + (i - rows.lowerBound) * lk
            let visible = causal ? Swift.min(lk, i + lk - lq + 1) : lk
            if let mask {
                // Hidden keys become -inf, which the softmax turns into exact zeros: a row padded
                // in a batch gives the bits of the same row alone, unmasked.
                var any = false
                for j in 0..<visible {
                    if mask[j] != 0 { any = any || row[j] > -.infinity } else { row[j] = -.infinity }
                }
                if !any {   // every key hidden: attend to nothing
                    row.initialize(repeating: 0, count: lk)
                    continue
                }
            }
            softmaxRow(row, row, visible)
            if visible < lk { (row + visible).initialize(repeating: 0, count: lk - visible) }
        }
    }
}

/// One head's keys and values for the int8 compute type's attention over a long sequence
/// (`Tensor.attention`'s `lowPrecision`): the keys quantised per row, the values rounded to
/// bfloat16 (packed in pairs of positions for the BF16 kernel, else as float32 rows).
final class LowPrecisionHead {
    let keys: Int8Matrix
    let count: Int, width: Int
    private enum Values {
        /// `mmpipe_pack_values_bf16`'s pairs, for the BF16 kernel.
        case pairs(UnsafeMutablePointer<UInt16>)
        /// `[Lk, Dv]` rounded, as float32, for BLAS.
        case rounded(Tensor)
    }
    private let values: Values

    /// keys `[Lk, D]` with a unit inner stride, values `[Lk, Dv]`.
    init(keys k: Tensor, values v: Tensor, bf16Kernel: Bool) {
        keys = Int8Matrix(quantizing: k)
        let lk = v.shape[0], dv = v.shape[1]
        count = lk
        width = dv
        if bf16Kernel && dv % 16 == 0 && dv <= 64 && v.strides[1] == 1 {
            let p = UnsafeMutablePointer<UInt16>.allocate(capacity: (lk + 1) / 2 * dv * 2)
            withExtendedLifetime(v) {
                mmpipe_pack_values_bf16(v.pointer, Int32(lk == 1 ? dv : v.strides[0]), Int32(lk), Int32(dv), p)
            }
            values = .pairs(p)
        } else {
            values = .rounded(Tensor(shape: v.shape, scalars: v.contiguous().scalars.map(LowPrecisionHead.bfloat16)))
        }
    }

    deinit {
        if case .pairs(let p) = values { p.deallocate() }
    }

    /// `x` rounded to the nearest bfloat16 (ties to even), as a float.
    static func bfloat16(_ x: Float) -> Float {
        let b = x.bitPattern
        return Float(bitPattern: (b &+ 0x7fff &+ ((b >> 16) & 1)) & 0xffff_0000)
    }

    /// `out[r] = sum_j p[r, j] v[j] / sum_j p[r, j]` with `p = bfloat16(exp(s - max s))`, for
    /// scores `[rows, Lk]` (overwritten) into `out` `[rows, Dv]`; `parallel`: rows split over
    /// the pool.
    func softmaxTimesValues(_ scores: UnsafeMutablePointer<Float>, rows: Int, out: UnsafeMutablePointer<Float>, parallel: Bool) {
        let lk = count, dv = width
        let perPart = parallel ? 12 : rows
        let parts = (rows + perPart - 1) / perPart
        switch values {
        case .pairs(let pairs):
            Compute.parallelFor(parts) { c in
                let lo = c * perPart, hi = Swift.min(rows, lo + perPart)
                _ = mmpipe_softmax_values_bf16(scores + lo * lk, Int32(hi - lo), Int32(lk), Int32(lk), pairs, Int32(dv),
                                               out + lo * dv, Int32(dv))
            }
        case .rounded(let rounded):
            var inverse = [Float](repeating: 0, count: rows)
            inverse.withUnsafeMutableBufferPointer { inv in
                Compute.parallelFor(parts) { c in
                    for r in (c * perPart)..<Swift.min(rows, (c + 1) * perPart) {
                        let row = scores + r * lk
                        var m = -Float.infinity
                        for j in 0..<lk { m = Swift.max(m, row[j]) }
                        VectorMath.map(row, row, lk) { VectorMath.exp($0 - m) }
                        var total: Float = 0
                        for j in 0..<lk { total += row[j]; row[j] = LowPrecisionHead.bfloat16(row[j]) }
                        inv[r] = total > 0 ? 1 / total : 0
                    }
                }
            }
            withExtendedLifetime(rounded) {
                BLAS.sgemm(transA: false, transB: false, m: rows, n: dv, k: lk, a: scores, lda: lk, b: rounded.pointer, ldb: dv,
                           c: out, ldc: dv)
            }
            for r in 0..<rows { for c in 0..<dv { out[r * dv + c] *= inverse[r] } }
        }
    }
}

/// Preallocated keys and values of past positions, `[B, H, capacity, D]` each, for
/// decoding one token at a time without re-running the prefix.
public final class KVCache: @unchecked Sendable {
    public let batch: Int, heads: Int, capacity: Int, headDim: Int
    public private(set) var length = 0
    private var keys: Tensor
    private var values: Tensor

    public init(batch: Int, heads: Int, capacity: Int, headDim: Int) {
        self.batch = batch; self.heads = heads; self.capacity = capacity; self.headDim = headDim
        keys = Tensor(uninitializedShape: [batch, heads, capacity, headDim])
        values = Tensor(uninitializedShape: [batch, heads, capacity, headDim])
    }

    /// Appends `T` new positions: k and v `[B, H, T, D]`.
    public func append(key k: Tensor, value v: Tensor) {
        let t = k.shape[2]
        precondition(k.shape == [batch, heads, t, headDim] && v.shape == k.shape,
                     "KVCache.append: \(k.shape) / \(v.shape) for cache [\(batch), \(heads), \(capacity), \(headDim)]")
        precondition(length + t <= capacity, "KVCache full: \(length) + \(t) > \(capacity)")
        for (src, dst) in [(k, keys), (v, values)] {
            let c = src.contiguous()
            for bh in 0..<(batch * heads) {
                (dst.outputPointer + (bh * capacity + length) * headDim)
                    .update(from: c.pointer + bh * t * headDim, count: t * headDim)
            }
        }
        length += t
    }

    /// Views `[B, H, length, D]` of everything appended so far.
    public var key: Tensor { keys.slice(axis: 2, 0..<length) }
    public var value: Tensor { values.slice(axis: 2, 0..<length) }

    /// Keeps batch rows in the order `indices` (beam search re-ranking); an index may repeat.
    public func reorder(_ indices: [Int]) {
        precondition(indices.count == batch && indices.allSatisfy { $0 >= 0 && $0 < batch }, "KVCache.reorder: bad indices")
        // Beams mostly keep their rows: copy in place only the rows that change, reading
        // their sources out first (a source may itself be overwritten).
        let moves = indices.enumerated().filter { $0.offset != $0.element }
        if moves.isEmpty || length == 0 { return }
        let sources = Array(Set(moves.map(\.element))).sorted()
        let per = heads * capacity * headDim, used = length * headDim
        let temp = UnsafeMutablePointer<Float>.allocate(capacity: sources.count * heads * used)
        defer { temp.deallocate() }
        for t in [keys, values] {
            let p = t.outputPointer
            for (si, src) in sources.enumerated() {
                for h in 0..<heads {
                    (temp + (si * heads + h) * used).update(from: p + src * per + h * capacity * headDim, count: used)
                }
            }
            for (dst, src) in moves {
                let si = sources.firstIndex(of: src)!
                for h in 0..<heads {
                    (p + dst * per + h * capacity * headDim).update(from: temp + (si * heads + h) * used, count: used)
                }
            }
        }
    }

    public func reset() { length = 0 }

    /// Makes every batch row a copy of one of `other`'s rows: with `other.batch` = G (a divisor
    /// of `batch`), rows `g * (batch / G) ..< (g + 1) * (batch / G)` copy its row `g` (prompts
    /// decoded once, then shared by the beams of each).
    public func fill(from other: KVCache) {
        precondition(other.batch > 0 && batch % other.batch == 0 && other.heads == heads && other.headDim == headDim
                     && other.length <= capacity, "KVCache.fill: incompatible caches")
        let per = capacity * headDim, perGroup = batch / other.batch
        for (dst, src) in [(keys, other.keys), (values, other.values)] {
            for b in 0..<batch {
                for h in 0..<heads {
                    (dst.outputPointer + (b * heads + h) * per)
                        .update(from: src.pointer + ((b / perGroup) * heads + h) * other.capacity * headDim,
                                count: other.length * headDim)
                }
            }
        }
        length = other.length
    }

    /// A cache of `other`'s rows `rows`, in that order (rows of finished sequences dropped
    /// from a batch); its capacity is `other`'s.
    public convenience init(rows: [Int], of other: KVCache) {
        precondition(rows.allSatisfy { $0 >= 0 && $0 < other.batch }, "KVCache(rows:): row outside 0..<\(other.batch)")
        self.init(batch: rows.count, heads: other.heads, capacity: other.capacity, headDim: other.headDim)
        let per = heads * capacity * headDim
        for (dst, src) in [(keys, other.keys), (values, other.values)] {
            for (b, r) in rows.enumerated() {
                for h in 0..<heads {
                    (dst.outputPointer + b * per + h * capacity * headDim)
                        .update(from: src.pointer + r * per + h * capacity * headDim, count: other.length * headDim)
                }
            }
        }
        length = other.length
    }
}
