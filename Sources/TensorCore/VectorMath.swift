import CKernels
import Foundation
/// SIMD kernels for transcendental functions and row reductions, `lanes` floats at a time.
///
/// - Important: accuracy: `exp` within 2 ulp on [-87, 88] (Cephes polynomial, inputs
///   clamped to that range), `erfcAbs` within 1.5e-7 absolute (Abramowitz & Stegun 7.1.26).
///   8 lanes: two SSE registers, so the polynomials stay in registers without spilling.
///   The hot row operations (softmax, `sumExp`, GELU) run as AVX2/FMA kernels of the same
///   polynomials (CKernels' vecmath.c) where the CPU has them.
public enum VectorMath {
    /// The first `i < n` with `x[i] > t` (NaN never is), else `n`: AVX2, 8 at a time, where
    /// the CPU has it (beam search's scan of the vocabulary for a better candidate).
    public static func firstIndex(_ x: UnsafePointer<Float>, _ n: Int, above t: Float) -> Int {
        if CPUFeatures.avx2FMA { return Int(mmpipe_first_above_f32(x, Int32(n), t)) }
        for i in 0..<n where x[i] > t { return i }
        return n
    }

    public typealias V = SIMD8<Float>
    typealias VI = SIMD8<Int32>
    public static let lanes = V.scalarCount

    @inline(__always)
    public static func exp(_ x: V) -> V {
        let x = clamp(x, -87.33654, 88.72283)
        // Round x*log2(e) to an integer n by adding 1.5 * 2^23: n lands in the low mantissa
        // bits, read back as an integer without a per-lane conversion.
        let shifted = x * 1.44269504088896341 + 12582912.0
        let n = shifted - 12582912.0
        let ni = unsafeBitCast(shifted, to: VI.self) &- 0x4B40_0000
        var r = x - n * 0.693359375
        r = r - n * -2.12194440e-4
        var p = V(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        p = p * (r * r) + r + 1
        // 2^n from exponent bits, in two factors so n = 128 does not overflow the field.
        let half = ni &>> 1
        let s1 = unsafeBitCast((half &+ 127) &<< 23, to: V.self)
        let s2 = unsafeBitCast((ni &- half &+ 127) &<< 23, to: V.self)
        return p * s1 * s2
    }

    /// Lane-wise `min(max(x, lo), hi)` (the generic `pointwiseMin/Max` are not inlined).
    @inline(__always)
    public static func clamp(_ x: V, _ lo: Float, _ hi: Float) -> V {
        var r = x.replacing(with: lo, where: x .< lo)
        r.replace(with: hi, where: r .> hi)
        return r
    }

    @inline(__always)
    public static func sigmoid(_ x: V) -> V { 1 / (1 + exp(-x)) }

    /// `1 - 2 / (exp(2x) + 1)`: within 1e-7 absolute (not relative near 0), exactly ±1 far out.
    @inline(__always)
    public static func tanh(_ x: V) -> V { 1 - 2 / (exp(2 * x) + 1) }

    /// erfc(|z|) for the GELU: Abramowitz & Stegun 7.1.26.
    @inline(__always)
    static func erfcAbs(_ z: V) -> V {
        let a = z.replacing(with: -z, where: z .< 0)
        let t = 1 / (1 + 0.3275911 * a)
        var p = V(repeating: 1.061405429)
        p = p * t - 1.453152027
        p = p * t + 1.421413741
        p = p * t - 0.284496736
        p = p * t + 0.254829592
        return p * t * exp(-(a * a))
    }

    @inline(__always)
    public static func load(_ p: UnsafePointer<Float>, _ i: Int) -> V {
        UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
    }

    @inline(__always)
    public static func store(_ v: V, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
        UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: V.self)
    }

    /// Applies `simd` to `n` floats from `src` into `dst` (which may equal `src`).
    @inline(__always)
    public static func map(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int,
                           _ simd: (V) -> V) {
        var i = 0
        while i + lanes <= n {
            store(simd(load(src, i)), dst, i)
            i += lanes
        }
        if i < n {
            var v = V()
            for j in 0..<(n - i) { v[j] = src[i + j] }
            let r = simd(v)
            for j in 0..<(n - i) { dst[i + j] = r[j] }
        }
    }

    /// Sum of `n` floats (lane-wise partial sums, so the order differs from a plain loop).
    @inline(__always)
    public static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = V()
        var i = 0
        while i + lanes <= n {
            acc += load(p, i)
            i += lanes
        }
        // The last partial block into the same lanes, zero-padded: trailing zeros (masked
        // entries) change no bit of the sum.
        if i < n {
            var t = V()
            for j in 0..<(n - i) { t[j] = p[i + j] }
            acc += t
        }
        return acc.sum()
    }

    /// Maximum of `n >= 1` floats.
    @inline(__always)
    public static func max(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var i = 0
        var m = -Float.infinity
        if n >= lanes {
            var acc = load(p, 0)
            i = lanes
            while i + lanes <= n {
                let v = load(p, i)
                acc.replace(with: v, where: v .> acc)
                i += lanes
            }
            m = acc.max()
        }
        while i < n { m = Swift.max(m, p[i]); i += 1 }
        return m
    }

    /// `sum(exp(p[i] - shift))` over `n` floats (`-inf` entries add nothing measurable: exp of
    /// the clamped input is 1e-38). Float lanes within blocks of 2048, Double across blocks.
    public static func sumExp(_ p: UnsafePointer<Float>, _ n: Int, shift: Float) -> Double {
        if CPUFeatures.avx2FMA { return mmpipe_sum_exp_f32(p, Int32(n), shift) }
        return sumExpPortable(p, n, shift: shift)
    }

    /// `sumExp` without the AVX2 kernel.
    static func sumExpPortable(_ p: UnsafePointer<Float>, _ n: Int, shift: Float) -> Double {
        let m = V(repeating: shift)
        var total = 0.0
        var i = 0
        while i < n {
            let end = Swift.min(n, i + 2048)
            var acc = V()
            while i + lanes <= end {
                acc += exp(load(p, i) - m)
                i += lanes
            }
            var t = Double(acc.sum())
            while i < end { t += Double(Foundation.exp(p[i] - shift)); i += 1 }
            total += t
        }
        return total
    }
}
