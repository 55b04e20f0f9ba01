/// Reductions along an axis: sum, mean, argmax, top-k.
extension Tensor {
    /// Moves `axis` last and returns rows of it: (contiguous tensor, rows, row length).
    func rows(along a: Int) -> (Tensor, Int, Int) {
        let ax = axis(a)
        var perm = Array(0..<rank)
        perm.remove(at: ax)
        perm.append(ax)
        let t = (ax == rank - 1 ? self : permuted(perm)).contiguous()
        let d = shape[ax]
        return (t, d == 0 ? 0 : count / d, d)
    }

    func outputShape(removing a: Int) -> [Int] {
        var s = shape
        s.remove(at: axis(a))
        return s
    }

    /// Index of the largest element along `axis` (first one on ties).
    public func argmax(axis a: Int = -1) -> [Int] {
        let (t, rows, d) = rows(along: a)
        precondition(d > 0, "argmax over an empty axis")
        return (0..<rows).map { r in
            let p = t.pointer + r * d
            var best = 0
            for j in 1..<d where p[j] > p[best] { best = j }
            return best
        }
    }

    /// The `k` largest elements along `axis`, descending, with their indices (first index
    /// first on ties). Shapes: the input's with `axis` of size `k`.
    public func topK(_ k: Int, axis a: Int = -1) -> (values: Tensor, indices: [Int]) {
        let ax = axis(a)
        let (t, rows, d) = rows(along: ax)
        precondition(k >= 0 && k <= d, "topK: k \(k) for axis of size \(d)")
        var idx = [Int](repeating: 0, count: rows * k)
        var vals = [Float](repeating: 0, count: rows * k)
        for r in 0..<rows {
            let p = t.pointer + r * d
            let order = (0..<d).sorted { p[$0] > p[$1] || (p[$0] == p[$1] && $0 < $1) }
            for j in 0..<k { idx[r * k + j] = order[j]; vals[r * k + j] = p[order[j]] }
        }
        var movedShape = outputShape(removing: ax)
        movedShape.append(k)
        var values = Tensor(shape: movedShape, scalars: vals)
        if ax != rank - 1 {
            var inverse = Array(0..<(rank - 1))
            inverse.insert(rank - 1, at: ax)
            values = values.permuted(inverse).contiguous()
        }
        return (values, idx)
    }

    /// Sum along `axis` (the axis is removed).
    public func sum(axis a: Int) -> Tensor {
        let (t, rows, d) = rows(along: a)
        return Tensor(shape: outputShape(removing: a)) { out in
            for r in 0..<rows { out[r] = VectorMath.sum(t.pointer + r * d, d) }
        }
    }

    public func mean(axis a: Int) -> Tensor {
        sum(axis: a) / Float(max(shape[axis(a)], 1))
    }
}
