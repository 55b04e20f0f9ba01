import CKernels
/// Element-wise activations. Outputs are contiguous; inputs may be any view.
extension Tensor {
    /// Applies a SIMD function to every element (parallel over large tensors).
    public func map(_ f: @escaping (VectorMath.V) -> VectorMath.V) -> Tensor {
        mapChunks { s, d, n in VectorMath.map(s, d, n, f) }
    }

    /// Applies `kernel(src, dst, count)` to the elements in chunks (parallel over large tensors).
    func mapChunks(_ kernel: @escaping (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
        let src = contiguous()
        let out = Tensor(uninitializedShape: shape)
        let n = count
        let chunk = 1 << 15
        let chunks = (n + chunk - 1) / chunk
        withExtendedLifetime(src) {
            let s = src.pointer, d = out.outputPointer
            Compute.parallelFor(chunks) { ci in
                let lo = ci * chunk
                kernel(s + lo, d + lo, Swift.min(chunk, n - lo))
            }
        }
        return out
    }

    public func relu() -> Tensor { map { $0.replacing(with: 0, where: $0 .< 0) } }
    public func relu6() -> Tensor { map { VectorMath.clamp($0, 0, 6) } }
    public func sigmoid() -> Tensor { map { VectorMath.sigmoid($0) } }
    public func silu() -> Tensor { map { $0 * VectorMath.sigmoid($0) } }
    /// CLIP's `x * sigmoid(1.702 x)`.
    public func quickGELU() -> Tensor { map { $0 * VectorMath.sigmoid(1.702 * $0) } }
    /// `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`, computed as `x * sigmoid(2u)`.
    public func geluTanh() -> Tensor {
        map { x in
            let u = 0.7978845608028654 * (x + 0.044715 * x * x * x)
            return x * VectorMath.sigmoid(2 * u)
        }
    }
    /// Exact GELU `0.5 x (1 + erf(x / sqrt 2))`.
    public func gelu() -> Tensor {
        if CPUFeatures.avx2FMA { return mapChunks { mmpipe_gelu_f32($0, $1, $2) } }
        return geluPortable()
    }

    /// `gelu` without the AVX2 kernel.
    func geluPortable() -> Tensor {
        map { x in
            let q = VectorMath.erfcAbs(x * 0.7071067811865476)   // erfc(|x|/sqrt2)
            let onePlusErf = (2 - q).replacing(with: q, where: x .< 0)
            return 0.5 * x * onePlusErf
        }
    }
}
