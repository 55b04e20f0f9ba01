import Foundation

/// Layer norm, softmax and log-softmax.
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
        let m = VectorMath.max(s, n)
        VectorMath.map(s, o, n) { VectorMath.exp($0 - m) }
        let inv = 1 / VectorMath.sum(o, n)
        VectorMath.map(o, o, n) { $0 * inv }
    }
}
