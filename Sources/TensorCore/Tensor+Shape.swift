/// Views (no copies) and copying shape ops: reshape, permute, slice, broadcast, concat, split.
extension Tensor {
    /// Resolves one `-1` in `newShape` from the element count.
    static func resolve(_ newShape: [Int], count: Int) -> [Int] {
        var shape = newShape
        if let i = shape.firstIndex(of: -1) {
            let known = shape.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "cannot reshape \(count) elements to \(newShape)")
            shape[i] = count / known
        }
        precondition(shape.reduce(1, *) == count, "cannot reshape \(count) elements to \(newShape)")
        return shape
    }

    /// Same elements, new shape. A view when the strides allow it, a contiguous copy otherwise.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        let shape = Tensor.resolve(newShape, count: count)
        if let strides = viewStrides(for: shape) {
            return Tensor(storage: storage, shape: shape, strides: strides, offset: offset)
        }
        let c = copied()
        return Tensor(storage: c.storage, shape: shape, strides: Tensor.contiguousStrides(shape))
    }

    /// Strides that present this tensor's elements (row-major order) in `newShape`
    /// without copying, or nil if no such strides exist.
    func viewStrides(for newShape: [Int]) -> [Int]? {
        if isContiguous || count == 0 { return Tensor.contiguousStrides(newShape) }
        // Walk old dims from the innermost out, in chunks whose dims are contiguous among
        // themselves; each chunk must be covered exactly by consecutive new dims.
        var result = [Int](repeating: 0, count: newShape.count)
        var viewD = newShape.count - 1
        var chunkBaseStride = strides.last ?? 1
        var tensorNumel = 1, viewNumel = 1
        for d in stride(from: rank - 1, through: 0, by: -1) {
            tensorNumel *= shape[d]
            let chunkEnds = d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensorNumel * chunkBaseStride)
            guard chunkEnds else { continue }
            while viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] == 1) {
                result[viewD] = viewNumel * chunkBaseStride
                viewNumel *= newShape[viewD]
                viewD -= 1
            }
            if viewNumel != tensorNumel { return nil }
            if d > 0 {
                chunkBaseStride = strides[d - 1]
                tensorNumel = 1
                viewNumel = 1
            }
        }
        return viewD == -1 ? result : nil
    }

    /// A view with axes reordered: axis `i` of the result is axis `perm[i]` of `self`.
    public func permuted(_ perm: [Int]) -> Tensor {
        precondition(perm.count == rank && Set(perm) == Set(0..<rank), "bad permutation \(perm) for rank \(rank)")
        return Tensor(storage: storage, shape: perm.map { shape[$0] }, strides: perm.map { strides[$0] }, offset: offset)
    }

    /// A view with two axes swapped (negative axes count from the end).
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        var perm = Array(0..<rank)
        perm.swapAt(axis(a), axis(b))
        return permuted(perm)
    }

    /// Normalises a possibly negative axis.
    public func axis(_ a: Int) -> Int {
        let r = a < 0 ? a + rank : a
        precondition(r >= 0 && r < rank, "axis \(a) out of range for rank \(rank)")
        return r
    }

    /// A view of `range` along `axis`.
    public func slice(axis a: Int, _ range: Range<Int>) -> Tensor {
        let ax = axis(a)
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[ax], "slice \(range) out of 0..<\(shape[ax]) on axis \(ax)")
        var newShape = shape
        newShape[ax] = range.count
        return Tensor(storage: storage, shape: newShape, strides: strides, offset: offset + range.lowerBound * strides[ax])
    }

    /// A view of index `i` along `axis`, with that axis removed.
    public func select(axis a: Int, _ i: Int) -> Tensor {
        let ax = axis(a)
        precondition(i >= 0 && i < shape[ax], "index \(i) out of 0..<\(shape[ax]) on axis \(ax)")
        var newShape = shape, newStrides = strides
        newShape.remove(at: ax)
        newStrides.remove(at: ax)
        return Tensor(storage: storage, shape: newShape, strides: newStrides, offset: offset + i * strides[ax])
    }

    public func unsqueezed(_ a: Int) -> Tensor {
        let ax = a < 0 ? a + rank + 1 : a
        precondition(ax >= 0 && ax <= rank, "axis \(a) out of range")
        var newShape = shape, newStrides = strides
        newShape.insert(1, at: ax)
        newStrides.insert(ax < rank ? strides[ax] * shape[ax] : 1, at: ax)
        return Tensor(storage: storage, shape: newShape, strides: newStrides, offset: offset)
    }

    public func squeezed(_ a: Int) -> Tensor {
        let ax = axis(a)
        precondition(shape[ax] == 1, "axis \(ax) has size \(shape[ax]), not 1")
        return select(axis: ax, 0)
    }

    /// A broadcast view of `self` at `target` shape (numpy rules; stride 0 on repeated axes).
    public func broadcast(to target: [Int]) -> Tensor {
        precondition(target.count >= rank, "cannot broadcast \(shape) to \(target)")
        let lead = target.count - rank
        var newStrides = [Int](repeating: 0, count: target.count)
        for i in 0..<rank {
            if shape[i] == target[lead + i] {
                newStrides[lead + i] = shape[i] == 1 ? 0 : strides[i]
            } else {
                precondition(shape[i] == 1, "cannot broadcast \(shape) to \(target)")
            }
        }
        return Tensor(storage: storage, shape: target, strides: newStrides, offset: offset)
    }

    /// The numpy broadcast shape of two shapes.
    public static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
        let n = max(a.count, b.count)
        return (0..<n).map { i in
            let x = i < n - a.count ? 1 : a[i - (n - a.count)]
            let y = i < n - b.count ? 1 : b[i - (n - b.count)]
            precondition(x == y || x == 1 || y == 1, "shapes \(a) and \(b) do not broadcast")
            return x == 1 ? y : x
        }
    }

    /// Concatenation along `axis`; inputs agree on every other axis.
    public static func concat(_ parts: [Tensor], axis a: Int) -> Tensor {
        precondition(!parts.isEmpty, "concat of nothing")
        let ax = parts[0].axis(a)
        var shape = parts[0].shape
        shape[ax] = 0
        for p in parts {
            precondition(p.rank == shape.count, "concat rank mismatch")
            for i in 0..<p.rank where i != ax {
                precondition(p.shape[i] == shape[i], "concat shape mismatch: \(p.shape) vs \(parts[0].shape) on axis \(i)")
            }
            shape[ax] += p.shape[ax]
        }
        let out = Tensor(uninitializedShape: shape)
        let outer = shape[..<ax].reduce(1, *)
        let inner = shape[(ax + 1)...].reduce(1, *)
        let rowOut = shape[ax] * inner
        var col = 0
        for p in parts {
            let c = p.contiguous()
            let rowIn = p.shape[ax] * inner
            if rowIn > 0 {
                for o in 0..<outer {
                    (out.outputPointer + o * rowOut + col).update(from: c.pointer + o * rowIn, count: rowIn)
                }
            }
            col += rowIn
        }
        return out
    }

    /// Views of consecutive pieces of `sizes` along `axis` (they sum to that axis' size).
    public func split(_ sizes: [Int], axis a: Int) -> [Tensor] {
        let ax = axis(a)
        precondition(sizes.reduce(0, +) == shape[ax], "split sizes \(sizes) do not add up to \(shape[ax])")
        var start = 0
        return sizes.map { n in
            defer { start += n }
            return slice(axis: ax, start..<(start + n))
        }
    }
}
