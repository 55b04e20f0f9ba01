import CKernels

/// A `[rows, cols]` weight matrix quantised to int8 with one float scale per row (per output
/// channel), CTranslate2's int8 scheme: `w[j, i] ≈ scale[j] * q[j, i]`, `scale[j] = max |w[j]| / 127`.
/// Products quantise each input row the same way on the fly and accumulate in int32, so a
/// product reads a quarter of float32's bytes and runs on the CPU's int8 dot-product
/// instructions (AVX-512 VNNI, else AVX2, else a portable loop). The int8 storage of
/// `WeightMatrix`.
///
/// - Important: unlike float16, this changes the values: products differ from float32's by
///   the quantisation error of both operands (about 0.5% of each row's largest value).
public final class Int8Matrix: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    /// Packed for the kernels (see ckernels_int8.h).
    let packed: UnsafeMutablePointer<Int8>
    let scales: [Float]
    /// Sum of each row's int8 values (the VNNI kernel's correction for its unsigned operand).
    let rowSums: [Int32]

    /// Quantises a float32 matrix `[rows, cols]` (any view).
    public init(quantizing weight: Tensor) {
        precondition(weight.rank == 2, "Int8Matrix: weight \(weight.shape) is not a matrix")
        let n = weight.shape[0], k = weight.shape[1]
        rows = n
        cols = k
        // Rows with a unit inner stride are read in place (one head's keys of an encoder).
        let w = weight.strides[1] == 1 ? weight : weight.contiguous()
        let ld = n == 1 ? k : w.strides[0]
        let p = UnsafeMutablePointer<Int8>.allocate(capacity: max(1, mmpipe_i8_packed_bytes(Int32(n), Int32(k))))
        var s = [Float](repeating: 0, count: n), sums = [Int32](repeating: 0, count: n)
        // Blocks of 16 rows pack on their own: 256 rows a part on the pool (a vocabulary of
        // 51 864 rows is most of a model's quantisation at load).
        let perPart = 256, packedPerRow = mmpipe_i8_packed_bytes(16, Int32(k)) / 16, avx2: Int32 = CPUFeatures.avx2FMA ? 1 : 0
        withExtendedLifetime(w) {
            s.withUnsafeMutableBufferPointer { sp in
                sums.withUnsafeMutableBufferPointer { sump in
                    Compute.parallelFor((n + perPart - 1) / perPart) { part in
                        let j0 = part * perPart, j1 = Swift.min(n, j0 + perPart)
                        mmpipe_i8_quantize_pack(w.pointer + j0 * ld, Int32(j1 - j0), Int32(k), Int32(ld), p + j0 * packedPerRow,
                                                sp.baseAddress! + j0, sump.baseAddress! + j0, avx2)
                    }
                }
            }
        }
        packed = p
        scales = s
        rowSums = sums
    }

    deinit { packed.deallocate() }

    /// Bytes of the stored values and scales.
    public var byteCount: Int { mmpipe_i8_packed_bytes(Int32(rows), Int32(cols)) + rows * 8 }

    /// The int8 values of rows `range`, row-major.
    func values(rows range: Range<Int>) -> [Int8] {
        var out = [Int8](repeating: 0, count: range.count * cols)
        if !range.isEmpty {
            mmpipe_i8_unpack_rows(packed, Int32(rows), Int32(cols), Int32(range.lowerBound), Int32(range.upperBound), &out)
        }
        return out
    }

    /// The dequantised values of rows `range` into `out` (`range.count * cols` floats).
    func dequantize(rows range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let q = values(rows: range)
        for (r, j) in range.enumerated() {
            let s = scales[j]
            for i in 0..<cols { out[r * cols + i] = Float(q[r * cols + i]) * s }
        }
    }

    /// The dequantised matrix in float32.
    public func float32() -> Tensor {
        let t = Tensor(uninitializedShape: [rows, cols])
        dequantize(rows: 0..<rows, into: t.outputPointer)
        return t
    }

    /// Rows `range` as a matrix of their own (repacked: a block holds 16 rows). Exact: every
    /// nonzero row's largest value quantises to ±127, so quantising the dequantised rows
    /// gives back the same scales and values.
    public func rows(_ range: Range<Int>) -> Int8Matrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "Int8Matrix.rows: \(range) outside 0..<\(rows)")
        let t = Tensor(uninitializedShape: [range.count, cols])
        dequantize(rows: range, into: t.outputPointer)
        return Int8Matrix(quantizing: t)
    }

    /// The kernels (tests run each one the CPU has).
    enum Kernel { case best, vnni, avx2, portable }

    /// `c = alpha x w^T (+ bias) (+ c)` for `x` `[m, cols]` (rows `lda` apart, `cols` by
    /// default), `bias` `[rows]`, `c` `[m, rows]` (rows `ldc` apart, `rows` by default), in
    /// parallel over blocks of output columns. The kernels add the bias as they write each
    /// result, so `c` is written once.
    func product(_ x: UnsafePointer<Float>, rows m: Int, lda: Int? = nil, into c: UnsafeMutablePointer<Float>, ldc: Int? = nil,
                 alpha: Float = 1, bias: UnsafePointer<Float>? = nil, accumulate: Bool, kernel: Kernel = .best) {
        let k = cols, n = rows, ldx = lda ?? cols, ldo = ldc ?? rows
        let kp = (k + 3) / 4 * 4
        let vnni = kernel == .vnni || (kernel == .best && CPUFeatures.avx512VNNI)
        let avx2 = kernel == .avx2 || (kernel == .best && !vnni && CPUFeatures.avx2FMA)
        let q = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, m * kp))
        defer { q.deallocate() }
        var sx = [Float](repeating: 0, count: m)
        mmpipe_i8_quantize_rows(x, Int32(m), Int32(k), Int32(ldx), q, &sx, vnni ? 128 : 0, CPUFeatures.avx2FMA && kernel != .portable ? 1 : 0)
        if alpha != 1 { for r in 0..<m { sx[r] *= alpha } }
        // Columns per part: a multiple of 32 (the VNNI tile), about 64 parts' worth of work.
        let chunk = max(32, ((n + 63) / 64 + 31) / 32 * 32)
        sx.withUnsafeBufferPointer { sxp in
            scales.withUnsafeBufferPointer { swp in
                rowSums.withUnsafeBufferPointer { sums in
                    Compute.parallelFor((n + chunk - 1) / chunk) { part in
                        let j0 = Int32(part * chunk), j1 = Int32(min(n, (part + 1) * chunk))
                        if vnni {
                            mmpipe_i8_gemm_vnni512(q, Int32(m), Int32(k), packed, sums.baseAddress, sxp.baseAddress, swp.baseAddress,
                                                   bias, Int32(n), j0, j1, c, Int32(ldo), accumulate ? 1 : 0)
                        } else if avx2 {
                            mmpipe_i8_gemm_avx2(q, Int32(m), Int32(k), packed, sxp.baseAddress, swp.baseAddress,
                                                bias, Int32(n), j0, j1, c, Int32(ldo), accumulate ? 1 : 0)
                        } else {
                            mmpipe_i8_gemm_portable(q, Int32(m), Int32(k), packed, sxp.baseAddress, swp.baseAddress,
                                                    bias, Int32(n), j0, j1, c, Int32(ldo), accumulate ? 1 : 0)
                        }
                    }
                }
            }
        }
    }
}
