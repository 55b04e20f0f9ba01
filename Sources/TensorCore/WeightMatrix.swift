/// A weight matrix `[rows, cols]` (PyTorch `nn.Linear` layout: `[out, in]`) in the precision
/// it is stored in. `Tensor.linear` picks the kernels for the storage, so the code of a layer
/// does not change when its weights are stored otherwise (ggml's weight types do the same).
///
/// - Important: float32 and float16 hold the values a float32 matrix would (float16 is made
///   only from weights exactly representable so), and their products equal the float32 ones
///   up to summation order; int8 (asked for: `--compute-type int8`) is an approximation.
///
/// Adding a storage is local to TensorCore: a case in
/// `Storage`, its constructor here, and its kernels in `Tensor.linear`'s dispatch
/// (`Tensor+Matmul.swift`); no model code changes. Code outside TensorCore reads `precision`
/// rather than switching over `storage`.
public struct WeightMatrix: Sendable {
    public enum Storage: Sendable {
        case float32(Tensor)
        /// IEEE half floats (needs F16C: see `HalfMatrix`).
        case float16(HalfMatrix)
        /// int8 values with a float scale per row (see `Int8Matrix`).
        case int8(Int8Matrix)
    }

    /// The element type of a storage, for reports and tests.
    public enum Precision: String, Sendable, Equatable {
        case float32, float16, int8
    }

    public let storage: Storage

    /// float32 storage of a rank-2 `weight` (any view; no copy).
    public init(_ weight: Tensor) {
        precondition(weight.rank == 2, "WeightMatrix: weight \(weight.shape) is not a matrix")
        storage = .float32(weight)
    }

    public init(_ half: HalfMatrix) { storage = .float16(half) }

    public init(_ quantized: Int8Matrix) { storage = .int8(quantized) }

    /// This matrix quantised to int8 per row (from its float32 values; int8 stays as it is).
    public func quantizedToInt8() -> WeightMatrix {
        if case .int8 = storage { return self }
        return WeightMatrix(Int8Matrix(quantizing: float32))
    }

    /// float16 storage of `weight` when every value is exactly a half float and the CPU
    /// converts in hardware; nil otherwise.
    public init?(halfPrecisionExactly weight: Tensor) {
        guard let h = HalfMatrix(exactly: weight) else { return nil }
        storage = .float16(h)
    }

    /// float16 when the values allow it exactly (see `init(halfPrecisionExactly:)`), else
    /// this matrix unchanged.
    public func halfPrecisionIfExact() -> WeightMatrix {
        guard case .float32(let w) = storage else { return self }
        return WeightMatrix(halfPrecisionExactly: w) ?? self
    }

    public var precision: Precision {
        switch storage {
        case .float32: return .float32
        case .float16: return .float16
        case .int8: return .int8
        }
    }

    public var rows: Int {
        switch storage {
        case .float32(let w): return w.shape[0]
        case .float16(let h): return h.rows
        case .int8(let q): return q.rows
        }
    }

    public var cols: Int {
        switch storage {
        case .float32(let w): return w.shape[1]
        case .float16(let h): return h.cols
        case .int8(let q): return q.cols
        }
    }

    public var shape: [Int] { [rows, cols] }

    /// Bytes of the stored values.
    public var byteCount: Int {
        switch storage {
        case .float32(let w): return w.count * 4
        case .float16(let h): return h.byteCount
        case .int8(let q): return q.byteCount
        }
    }

    /// The values as a float32 tensor: the stored tensor itself for float32, a fresh copy
    /// (exact) otherwise.
    public var float32: Tensor {
        switch storage {
        case .float32(let w): return w
        case .float16(let h): return h.float32()
        case .int8(let q): return q.float32()
        }
    }

    /// Rows `range`, in the same storage, sharing its memory.
    public func rows(_ range: Range<Int>) -> WeightMatrix {
        switch storage {
        case .float32(let w): return WeightMatrix(w.slice(axis: 0, range))
        case .float16(let h): return WeightMatrix(h.rows(range))
        case .int8(let q): return WeightMatrix(q.rows(range))
        }
    }

    /// Rows `indices` in float32, `[indices.count, cols]` (an embedding lookup).
    public func gather(_ indices: [Int]) -> Tensor {
        let n = rows, d = cols
        precondition(indices.allSatisfy { $0 >= 0 && $0 < n }, "WeightMatrix.gather: an index is outside 0..<\(n)")
        let out = Tensor(uninitializedShape: [indices.count, d])
        let o = out.outputPointer
        switch storage {
        case .float32(let w):
            let c = w.contiguous()
            withExtendedLifetime(c) {
                for (r, i) in indices.enumerated() { (o + r * d).update(from: c.pointer + i * d, count: d) }
            }
        case .float16(let h):
            for (r, i) in indices.enumerated() { h.convert(rows: i..<(i + 1), into: o + r * d) }
        case .int8(let q):
            for (r, i) in indices.enumerated() { q.dequantize(rows: i..<(i + 1), into: o + r * d) }
        }
        return out
    }
}
