/// Broadcasting binary arithmetic (numpy rules).
extension Tensor {
    public enum BinaryOp: Sendable { case add, sub, mul, div }

    @inline(__always)
    static func apply(_ op: BinaryOp, _ a: VectorMath.V, _ b: VectorMath.V) -> VectorMath.V {
        switch op {
        case .add: return a + b
        case .sub: return a - b
        case .mul: return a * b
        case .div: return a / b
        }
    }

    @inline(__always)
    static func apply(_ op: BinaryOp, _ a: Float, _ b: Float) -> Float {
        switch op {
        case .add: return a + b
        case .sub: return a - b
        case .mul: return a * b
        case .div: return a / b
        }
    }

    public static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor {
        let shape = broadcastShape(a.shape, b.shape)
        let out = Tensor(uninitializedShape: shape)
        let n = out.count
        if n == 0 { return out }
        let aB = a.broadcast(to: shape), bB = b.broadcast(to: shape)
        // Merge axes that are contiguous for both operands, keeping the innermost last.
        var dims: [(size: Int, sa: Int, sb: Int)] = []
        for i in 0..<shape.count where shape[i] != 1 {
            if let l = dims.last, l.sa == aB.strides[i] * shape[i], l.sb == bB.strides[i] * shape[i] {
                dims[dims.count - 1] = (l.size * shape[i], aB.strides[i], bB.strides[i])
            } else {
                dims.append((shape[i], aB.strides[i], bB.strides[i]))
            }
        }
        if dims.isEmpty { dims = [(1, 1, 1)] }
        let inner = dims.removeLast()
        let outer = n / inner.size
        let pa = aB.pointer, pb = bB.pointer, po = out.outputPointer
        // Offsets of each outer row, computed once (outer rows are few or cheap).
        var offA = [Int](repeating: 0, count: outer), offB = [Int](repeating: 0, count: outer)
        var idx = [Int](repeating: 0, count: dims.count)
        var oa = 0, ob = 0
        for r in 0..<outer {
            offA[r] = oa; offB[r] = ob
            var k = dims.count - 1
            while k >= 0 {
                idx[k] += 1; oa += dims[k].sa; ob += dims[k].sb
                if idx[k] < dims[k].size { break }
                oa -= dims[k].sa * dims[k].size; ob -= dims[k].sb * dims[k].size
                idx[k] = 0; k -= 1
            }
        }
        let m = inner.size, sa = inner.sa, sb = inner.sb
        withExtendedLifetime((aB, bB)) {
            Compute.parallelFor(outer, grain: max(1, 32768 / m)) { r in
                let x = pa + offA[r], y = pb + offB[r], z = po + r * m
                var i = 0
                if sa == 1 && sb == 1 {
                    while i + VectorMath.lanes <= m {
                        VectorMath.store(apply(op, VectorMath.load(x, i), VectorMath.load(y, i)), z, i)
                        i += VectorMath.lanes
                    }
                    while i < m { z[i] = apply(op, x[i], y[i]); i += 1 }
                } else if sa == 1 && sb == 0 {
                    let c = y[0]
                    for j in 0..<m { z[j] = apply(op, x[j], c) }
                } else if sa == 0 && sb == 1 {
                    let c = x[0]
                    for j in 0..<m { z[j] = apply(op, c, y[j]) }
                } else {
                    for j in 0..<m { z[j] = apply(op, x[j * sa], y[j * sb]) }
                }
            }
        }
        return out
    }

    public static func + (a: Tensor, b: Tensor) -> Tensor { binary(.add, a, b) }
    public static func - (a: Tensor, b: Tensor) -> Tensor { binary(.sub, a, b) }
    public static func * (a: Tensor, b: Tensor) -> Tensor { binary(.mul, a, b) }
    public static func / (a: Tensor, b: Tensor) -> Tensor { binary(.div, a, b) }
    public static func + (a: Tensor, b: Float) -> Tensor { binary(.add, a, .scalar(b)) }
    public static func - (a: Tensor, b: Float) -> Tensor { binary(.sub, a, .scalar(b)) }
    public static func * (a: Tensor, b: Float) -> Tensor { binary(.mul, a, .scalar(b)) }
    public static func / (a: Tensor, b: Float) -> Tensor { binary(.div, a, .scalar(b)) }
}
