import CKernels
import Foundation

/// Layer norm, L2 normalisation, softmax and log-softmax.
extension Tensor {
    /// Runs `body(src, dst)` on each row of length `shape[axis]`, with `axis` moved last
    /// and moved back afterwards.
    func rowwise(axis a: Int, _ body: @escaping (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
        let ax = axis(a)
        var perm = Array(0..<rank)
        perm.remove(at: ax)
        perm.append(ax)
        let moved = ax == rank - 1 ? self : permuted(perm)
        let src = moved.contiguous()
        let out = Tensor(uninitializedShape: src.shape)
        let d = shape[ax]
        let rows = d == 0 ? 0 : count / d
        withExtendedLifetime(src) {
            let s = src.pointer, o = out.outputPointer
            Compute.parallelFor(rows, grain: max(1, 8192 / max(d, 1))) { r in body(s + r * d, o + r * d, d) }
        }
        if ax == rank - 1 { return out }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, p) in perm.enumerated() { inverse[p] = i }
        return out.permuted(inverse).contiguous()
    }

    /// Layer norm over the last axis with biased variance: `(x - mean) / sqrt(var + eps) * w + b`.
    public func layerNorm(weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
        let d = shape.last ?? 1
        if let weight { precondition(weight.count == d, "layerNorm: weight \(weight.shape) for width \(d)") }
        if let bias { precondition(bias.count == d, "layerNorm: bias \(bias.shape) for width \(d)") }
        let w = weight?.contiguous(), b = bias?.contiguous()
        return withExtendedLifetime((w, b)) {
            let wp = w?.pointer, bp = b?.pointer
            return rowwise(axis: -1) { s, o, n in
                let mean = VectorMath.sum(s, n) / Float(n)
                var v: Float = 0
                for j in 0..<n { let t = s[j] - mean; o[j] = t; v += t * t }
                let inv = 1 / (v / Float(n) + eps).squareRoot()
                switch (wp, bp) {
                case let (wp?, bp?): for j in 0..<n { o[j] = o[j] * inv * wp[j] + bp[j] }
                case let (wp?, nil): for j in 0..<n { o[j] = o[j] * inv * wp[j] }
                case let (nil, bp?): for j in 0..<n { o[j] = o[j] * inv + bp[j] }
                case (nil, nil): for j in 0..<n { o[j] *= inv }
                }
            }
        }
    }

    /// How `l2Normalized` sums a row's squares.
    public enum L2Accumulation: Sendable {
        /// In Float32, in index order (PyTorch's `F.normalize` on a CPU row of this width).
        case float
        /// In Double, in index order, the scale computed in Double and rounded once.
        case double
    }

    /// Each row along `axis` scaled to unit L2 norm: `x * (1 / max(||x||, epsilon))`, the sum
    /// of squares taken in index order at `accumulation`'s precision. With `epsilon` 0 a row
    /// whose squares sum to 0 stays 0 (the scale is 0, not infinity); sentence-transformers'
    /// `Normalize` is `epsilon: 1e-12`.
    public func l2Normalized(axis: Int = -1, epsilon: Float = 0, accumulation: L2Accumulation = .float) -> Tensor {
        precondition(epsilon >= 0, "l2Normalized: epsilon \(epsilon) < 0")
        return rowwise(axis: axis) { s, o, n in
            let inv: Float
            switch accumulation {
            case .float:
                var sq: Float = 0
                for j in 0..<n { sq += s[j] * s[j] }
                inv = sq > 0 || epsilon > 0 ? 1 / Swift.max(sq.squareRoot(), epsilon) : 0
            case .double:
                var sq: Double = 0
                for j in 0..<n { sq += Double(s[j]) * Double(s[j]) }
                inv = sq > 0 || epsilon > 0 ? Float(1 / Swift.max(sq.squareRoot(), Double(epsilon))) : 0
            }
            for j in 0..<n { o[j] = s[j] * inv }
        }
    }

    /// Numerically stable softmax along `axis`.
    public func softmax(axis: Int = -1) -> Tensor {
        rowwise(axis: axis) { s, o, n in Tensor.softmaxRow(s, o, n) }
    }

    /// `x - max - log(sum(exp(x - max)))` along `axis`.
    public func logSoftmax(axis: Int = -1) -> Tensor {
        rowwise(axis: axis) { s, o, n in
            let m = VectorMath.max(s, n)
            VectorMath.map(s, o, n) { VectorMath.exp($0 - m) }
            // (x - max) first: adding log-sum to a large max would round it away.
            let logSum = Foundation.log(VectorMath.sum(o, n))
            for j in 0..<n { o[j] = (s[j] - m) - logSum }
        }
    }

    /// Softmax of one row; `src` and `dst` may be the same buffer.
    @inline(__always)
    public static func softmaxRow(_ s: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ n: Int) {
        if CPUFeatures.avx2FMA { mmpipe_softmax_f32(s, o, Int32(n)); return }
        softmaxRowPortable(s, o, n)
    }

    /// `softmaxRow` without the AVX2 kernel (CPUs without it; tests compare the two).
    /// A -inf entry (a masked key) gives exactly 0, as in the AVX2 kernel.
    static func softmaxRowPortable(_ s: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ n: Int) {
        let m = VectorMath.max(s, n)
        VectorMath.map(s, o, n) { VectorMath.exp($0 - m) }
        for j in 0..<n where s[j] == -.infinity { o[j] = 0 }
        let inv = 1 / VectorMath.sum(o, n)
        VectorMath.map(o, o, n) { $0 * inv }
    }
}
