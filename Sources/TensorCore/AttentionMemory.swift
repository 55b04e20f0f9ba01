import CKernels

/// The keys and values that a decoder's cross-attention reads at every decoding step (an
/// encoder's output, projected once per window): keys `[G, H, Lk, D]` and values
/// `[G, H, Lk, Dv]`, laid out for a few queries at a time (keys transposed, as
/// `Tensor.keysForFewQueries` does), in float32 or in half precision.
///
/// Half precision halves the bytes that every step streams (8 chunks of Whisper tiny: 147 MB
/// of float32 per token, memory-bound); the few-query kernel (AVX-512 or AVX2, the same bits)
/// widens the values as it loads them. Its values differ from float32's by half precision's
/// rounding (2^-11 relative); where it is not on (`halfPrecision` false, or the portable
/// path), the memory is float32 and attention is exactly `Tensor.attention`'s.
public struct AttentionMemory: @unchecked Sendable {
    enum Storage {
        /// Keys as `keysForFewQueries` gives them, values contiguous.
        case float32(key: Tensor, value: Tensor)
        /// Keys `[G, H, D, Lk]` and values `[G, H, Lk, Dv]`, contiguous halves.
        case float16(key: HalfBuffer, value: HalfBuffer)
    }

    let storage: Storage
    /// `[G, H, Lk, D]` of the keys, `Dv` of the values.
    public let groups: Int, heads: Int, length: Int, keyWidth: Int, valueWidth: Int

    /// Whether half-precision memory runs on this CPU's kernels.
    public static var halfPrecisionAvailable: Bool { CPUFeatures.avx2FMAF16C }

    /// `key` `[G, H, Lk, D]` and `value` `[G, H, Lk, Dv]` (any strides); `halfPrecision`
    /// stores them as float16 where `halfPrecisionAvailable`.
    public init(key: Tensor, value: Tensor, halfPrecision: Bool = false) {
        precondition(key.rank == 4 && value.rank == 4 && Array(key.shape[0..<3]) == Array(value.shape[0..<3]),
                     "AttentionMemory: keys \(key.shape) and values \(value.shape) disagree")
        groups = key.shape[0]; heads = key.shape[1]; length = key.shape[2]
        keyWidth = key.shape[3]; valueWidth = value.shape[3]
        if halfPrecision && Self.halfPrecisionAvailable {
            storage = .float16(key: HalfBuffer(key.permuted([0, 1, 3, 2])), value: HalfBuffer(value))
        } else {
            storage = .float32(key: Tensor.keysForFewQueries(key), value: value.contiguous())
        }
    }

    private init(storage: Storage, _ g: Int, _ h: Int, _ l: Int, _ d: Int, _ dv: Int) {
        self.storage = storage
        groups = g; heads = h; length = l; keyWidth = d; valueWidth = dv
    }

    public var isHalfPrecision: Bool {
        if case .float16 = storage { return true }
        return false
    }

    /// The keys `[G, H, Lk, D]` in float32 (a view of float32 storage; converted from half).
    public var key: Tensor {
        switch storage {
        case .float32(let k, _): return k
        case .float16(let k, _): return k.float32([groups, heads, keyWidth, length]).permuted([0, 1, 3, 2])
        }
    }

    /// The values `[G, H, Lk, Dv]` in float32.
    public var value: Tensor {
        switch storage {
        case .float32(_, let v): return v
        case .float16(_, let v): return v.float32([groups, heads, length, valueWidth])
        }
    }

    /// Groups `rows`, in that order (copies): finished windows dropped from a batch.
    public func rows(_ rows: [Int]) -> AttentionMemory {
        precondition(rows.allSatisfy { $0 >= 0 && $0 < groups }, "AttentionMemory.rows: \(rows) outside 0..<\(groups)")
        let g = rows.count
        switch storage {
        case .float32(let k, let v):
            func pick(_ t: Tensor) -> Tensor { Tensor.concat(rows.map { t.slice(axis: 0, $0..<($0 + 1)) }, axis: 0) }
            // Keys: groups of their stored [G, H, D, Lk] layout, viewed as before.
            return AttentionMemory(storage: .float32(key: pick(k.permuted([0, 1, 3, 2])).permuted([0, 1, 3, 2]), value: pick(v)),
                                   g, heads, length, keyWidth, valueWidth)
        case .float16(let k, let v):
            return AttentionMemory(storage: .float16(key: k.groups(rows, of: groups), value: v.groups(rows, of: groups)),
                                   g, heads, length, keyWidth, valueWidth)
        }
    }
}

/// Contiguous float16 values (owned).
final class HalfBuffer: @unchecked Sendable {
    let base: UnsafeMutablePointer<UInt16>
    let count: Int

    /// `t` (any strides) in row-major order, rounded to half precision. A tensor of rank 3 or
    /// more is converted a leading `[i, j]` part at a time on the pool (a view, as a decoder's
    /// keys transposed per head, is gathered part by part rather than copied whole first).
    init(_ t: Tensor) {
        count = t.count
        base = .allocate(capacity: max(1, count))
        guard t.rank >= 3, count > 0 else {
            let c = t.contiguous()
            withExtendedLifetime(c) { _ = mmpipe_f32_to_f16(c.pointer, base, count) }
            return
        }
        let (n0, n1) = (t.shape[0], t.shape[1]), part = count / (n0 * n1)
        let out = base
        Compute.parallelParts(n0 * n1) { p in
            let c = t.select(axis: 0, p / n1).select(axis: 0, p % n1).contiguous()
            withExtendedLifetime(c) { _ = mmpipe_f32_to_f16(c.pointer, out + p * part, part) }
        }
    }

    private init(count: Int) {
        self.count = count
        base = .allocate(capacity: max(1, count))
    }

    deinit { base.deallocate() }

    /// Groups `rows` of the `groups` equal parts this buffer holds, in that order.
    func groups(_ rows: [Int], of groups: Int) -> HalfBuffer {
        let part = count / groups
        let out = HalfBuffer(count: part * rows.count)
        for (i, r) in rows.enumerated() { (out.base + i * part).update(from: base + r * part, count: part) }
        return out
    }

    func float32(_ shape: [Int]) -> Tensor {
        precondition(shape.reduce(1, *) == count, "HalfBuffer: \(count) values are not \(shape)")
        let t = Tensor(uninitializedShape: shape)
        mmpipe_f16_to_f32(base, t.outputPointer, count)
        return t
    }
}

extension Tensor {
    /// `softmax(scale q k^T) v` per row and head against `memory` (see
    /// `attention(query:key:value:)`): q `[B, H, Lq, D]`, B a multiple of the memory's G (row
    /// `r` reads group `r / (B / G)`). Half-precision memory is read by the AVX-512 few-query
    /// kernel, each position of each row one query (up to 16 positions: a decoding step's
    /// one, a prompt's few); longer queries convert the memory to float32 first.
    public static func attention(query q: Tensor, memory: AttentionMemory) -> Tensor {
        guard case .float16(let keys, let values) = memory.storage else {
            return attention(query: q, key: memory.key, value: memory.value)
        }
        let b = q.shape[0], h = q.shape[1], lq = q.shape[2], d = q.shape[3]
        let g = memory.groups, lk = memory.length, dv = memory.valueWidth
        precondition(q.rank == 4 && h == memory.heads && d == memory.keyWidth && g > 0 && b % g == 0,
                     "attention: query \(q.shape) for memory [\(g), \(memory.heads), \(lk), \(memory.keyWidth)]")
        guard dv % 16 == 0, dv <= 64 else {
            return attention(query: q, key: memory.key, value: memory.value)
        }
        if lq > 1 {
            // A few positions (a prompt): each is one more query of its row's group, so the
            // positions become rows, `[B * Lq, H, 1, D]` (a view when q's heads were split
            // from `[B, Lq, H * D]`), and the memory stays in half precision. Many positions
            // (a long initial prompt) read the memory once per 6 rows: float32 and BLAS then.
            guard lq <= 16 else { return attention(query: q, key: memory.key, value: memory.value) }
            let rowsFirst = q.permuted([0, 2, 1, 3]).contiguous().reshaped([b * lq, h, 1, d])
            return attention(query: rowsFirst, memory: memory).reshaped([b, lq, h, dv]).permuted([0, 2, 1, 3])
        }
        let qq = q.strides[3] == 1 ? q : q.contiguous()
        let out = Tensor(uninitializedShape: [b, h, 1, dv])
        let rows = b / g, scale = 1 / Float(d).squareRoot()
        withExtendedLifetime((qq, keys, values)) {
            Compute.parallelParts(g * h) { p in
                let group = p / h, hi = p % h, first = group * rows
                let scores = UnsafeMutablePointer<Float>.allocate(capacity: Swift.min(rows, 6) * lk)
                defer { scores.deallocate() }
                let head = group * h + hi
                let kernel = CPUFeatures.avx512F ? mmpipe_attend_few_f16_avx512 : mmpipe_attend_few_f16_avx2
                _ = kernel(qq.pointer + first * qq.strides[0] + hi * qq.strides[1], Int32(qq.strides[0]),
                                                 Int32(rows), Int32(d), keys.base + head * d * lk, Int32(lk), Int32(lk),
                                                 values.base + head * lk * dv, Int32(dv), Int32(dv), scale, scores,
                                                 out.outputPointer + (first * h + hi) * dv, Int32(h * dv))
            }
        }
        return out
    }
}
