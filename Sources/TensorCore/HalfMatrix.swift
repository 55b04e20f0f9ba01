import CKernels

/// A `[rows, cols]` weight matrix stored as IEEE half floats, row-major: half the memory
/// traffic of float32 when a decoding step streams the whole matrix for a few input rows.
/// The float16 storage of `WeightMatrix`.
///
/// - Important: made only from weights that are exactly representable in half precision
///   (models shipped in float16, such as the CTranslate2 Whisper weights), so products
///   with it equal the float32 ones up to summation order. Needs `CPUFeatures.avx2FMAF16C`
///   (the conversions run in hardware).
public final class HalfMatrix: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    let base: UnsafeMutablePointer<UInt16>
    /// The matrix whose memory a row range (`rows(_:)`) shares; nil when this one owns it.
    private let owner: HalfMatrix?

    /// nil when the CPU lacks F16C/AVX2/FMA, or when some value of `weight` (rank 2) would
    /// change in half precision.
    public init?(exactly weight: Tensor) {
        guard CPUFeatures.avx2FMAF16C, weight.rank == 2 else { return nil }
        let r = weight.shape[0], c = weight.shape[1]
        let buffer = UnsafeMutablePointer<UInt16>.allocate(capacity: max(1, r * c))
        let w = weight.contiguous()
        let exact = withExtendedLifetime(w) { mmpipe_f32_to_f16(w.pointer, buffer, r * c) != 0 }
        // Fail before any stored property is set: a fully initialised instance that fails
        // still runs `deinit`, which would free the buffer a second time.
        guard exact else {
            buffer.deallocate()
            return nil
        }
        rows = r
        cols = c
        owner = nil
        base = buffer
    }

    private init(rowsOf parent: HalfMatrix, _ range: Range<Int>) {
        rows = range.count
        cols = parent.cols
        base = parent.base + range.lowerBound * parent.cols
        owner = parent.owner ?? parent
    }

    deinit { if owner == nil { base.deallocate() } }

    public var byteCount: Int { rows * cols * 2 }

    /// Rows `range` as a matrix sharing this one's memory.
    public func rows(_ range: Range<Int>) -> HalfMatrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "HalfMatrix.rows: \(range) outside 0..<\(rows)")
        return HalfMatrix(rowsOf: self, range)
    }

    /// Writes rows `range` in float32 (exact) to `dst`, `cols` values per row.
    func convert(rows range: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        withExtendedLifetime(self) { mmpipe_f16_to_f32(base + range.lowerBound * cols, dst, range.count * cols) }
    }

    /// The whole matrix in float32 `[rows, cols]`.
    public func float32() -> Tensor {
        let out = Tensor(uninitializedShape: [rows, cols])
        if rows * cols > 0 { convert(rows: 0..<rows, into: out.outputPointer) }
        return out
    }
}
