import CKernels

/// A `[rows, cols]` weight matrix (PyTorch `Linear` layout, `[out, in]`) stored as IEEE half
/// floats, laid out for the products (mmpipe_gemm.h's panels: 32 rows at a time, column by
/// column): half the memory traffic of float32 when a decoding step streams the whole matrix
/// for a few input rows, and read in order, once. The float16 storage of `WeightMatrix`.
///
/// - Important: made only from weights that are exactly representable in half precision
///   (models shipped in float16, such as the CTranslate2 Whisper weights), so products with it
///   give the float32 weight's bits. Needs `CPUFeatures.avx2FMAF16C` (the conversions run in
///   hardware; the portable path keeps float32 weights, with the same values).
public final class HalfMatrix: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    /// The first panel (rows 32 q ..< 32 q + 32 of the matrix: `cols` x 32 halves each).
    let panels: UnsafeMutablePointer<UInt16>
    /// The matrix whose memory a row range (`rows(_:)`) shares; nil when this one owns it.
    private let owner: HalfMatrix?

    /// nil when the CPU lacks F16C/AVX2/FMA, or when some value of `weight` (rank 2) would
    /// change in half precision.
    public init?(exactly weight: Tensor) {
        guard CPUFeatures.avx2FMAF16C, weight.rank == 2 else { return nil }
        let r = weight.shape[0], c = weight.shape[1]
        let buffer = UnsafeMutablePointer<UInt16>.allocate(capacity: max(1, mmpipe_gemm_panels_size(Int32(r), Int32(c))))
        let w = weight.contiguous()
        let panelCount = (r + 31) / 32, perPart = 64
        let parts = (panelCount + perPart - 1) / perPart
        var inexact = [Bool](repeating: false, count: parts)
        withExtendedLifetime(w) {
            inexact.withUnsafeMutableBufferPointer { flags in
                Compute.parallelFor(parts) { part in
                    let q0 = part * perPart, q1 = Swift.min(panelCount, q0 + perPart)
                    flags[part] = mmpipe_gemm_pack_f16(w.pointer, Int32(r), Int32(c), Int32(Swift.max(c, 1)), Int32(q0), Int32(q1), buffer) == 0
                }
            }
        }
        // Fail before any stored property is set: a fully initialised instance that fails
        // still runs `deinit`, which would free the buffer a second time.
        guard !inexact.contains(true) else {
            buffer.deallocate()
            return nil
        }
        rows = r
        cols = c
        owner = nil
        panels = buffer
    }

    private init(rowsOf parent: HalfMatrix, _ range: Range<Int>) {
        rows = range.count
        cols = parent.cols
        panels = parent.panels + range.lowerBound / 32 * parent.cols * 32
        owner = parent.owner ?? parent
    }

    deinit { if owner == nil { panels.deallocate() } }

    public var byteCount: Int { rows * cols * 2 }

    /// Rows `range`: sharing this one's memory when it starts on a panel (a multiple of 32,
    /// as fused query/key/value weights split), else a copy.
    public func rows(_ range: Range<Int>) -> HalfMatrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "HalfMatrix.rows: \(range) outside 0..<\(rows)")
        if range.lowerBound % 32 == 0 { return HalfMatrix(rowsOf: self, range) }
        let part = Tensor(uninitializedShape: [range.count, cols])
        if range.count * cols > 0 { convert(rows: range, into: part.outputPointer) }
        return HalfMatrix(exactly: part)!
    }

    /// Writes rows `range` in float32 (exact) to `dst`, `cols` values per row.
    func convert(rows range: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        withExtendedLifetime(self) {
            for j in range { mmpipe_gemm_unpack_f16(panels, Int32(cols), Int32(j), dst + (j - range.lowerBound) * cols) }
        }
    }

    /// The whole matrix in float32 `[rows, cols]`.
    public func float32() -> Tensor {
        let out = Tensor(uninitializedShape: [rows, cols])
        if rows * cols > 0 {
            let o = out.outputPointer
            Compute.parallelFor((rows + 255) / 256) { part in
                let lo = part * 256
                self.convert(rows: lo..<Swift.min(self.rows, lo + 256), into: o + lo * self.cols)
            }
        }
        return out
    }
}
