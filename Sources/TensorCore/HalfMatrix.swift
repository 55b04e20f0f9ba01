import CKernels

/// CPU features the kernels of `CKernels` need, checked once (from `CPUFeatureSet`'s cpuid
/// decoding, which also checks that the OS saves the AVX registers).
public enum CPUFeatures {
    /// AVX2, FMA and F16C: the hand-vectorised few-row kernels and half-precision weights.
    public static let avx2FMAF16C: Bool = {
        let f = CPUFeatureSet.current.features
        return f.contains("avx2") && f.contains("fma") && f.contains("f16c")
    }()
}

/// A `[rows, cols]` weight matrix stored as IEEE half floats: half the memory traffic of
/// float32 when a decoding step streams the whole matrix for a few input rows.
///
/// - Important: made only from weights that are exactly representable in half precision
///   (models shipped in float16, such as the CTranslate2 Whisper weights), so products
///   with it equal the float32 ones up to summation order.
public final class HalfMatrix: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    let base: UnsafeMutablePointer<UInt16>

    /// nil when the CPU lacks F16C/AVX2/FMA, or when some value of `weight` (rank 2) would
    /// change in half precision.
    public init?(exactly weight: Tensor) {
        guard CPUFeatures.avx2FMAF16C, weight.rank == 2 else { return nil }
        rows = weight.shape[0]
        cols = weight.shape[1]
        base = .allocate(capacity: max(1, rows * cols))
        let w = weight.contiguous()
        let exact = withExtendedLifetime(w) { mmpipe_f32_to_f16(w.pointer, base, rows * cols) != 0 }
        if !exact {
            base.deallocate()
            return nil
        }
    }

    deinit { base.deallocate() }

    public var byteCount: Int { rows * cols * 2 }
}
