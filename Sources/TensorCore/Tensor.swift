import Foundation

/// Owner of a block of `Float` memory that one or more `Tensor` values view.
///
/// - Important: storage is shared between tensors (views); ops never write into an
///   input's storage. Writers go through `Tensor.withUnsafeMutableBufferPointer`,
///   which copies first when the storage is shared (copy-on-write).
public final class TensorStorage: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Float>
    public let count: Int
    private let release: (@Sendable () -> Void)?

    /// Fresh, 64-byte aligned, uninitialised memory.
    init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        release = nil
    }

    /// Memory owned by someone else (an mmap'd weight file); `release` runs on deinit.
    init(borrowing base: UnsafeMutablePointer<Float>, count: Int, release: @escaping @Sendable () -> Void) {
        self.base = base
        self.count = count
        self.release = release
    }

    deinit {
        if let release { release() } else { UnsafeMutableRawPointer(base).deallocate() }
    }
}

/// An n-dimensional array of `Float32`: shape, strides (in elements) and an offset into
/// shared storage. Reshape, permute, transpose, slice and broadcast views do not copy.
///
/// - Important: ops accept any strides; outputs are always new contiguous row-major tensors.
public struct Tensor: Sendable {
    public private(set) var storage: TensorStorage
    public let shape: [Int]
    public let strides: [Int]
    public let offset: Int

    public init(storage: TensorStorage, shape: [Int], strides: [Int], offset: Int = 0) {
        precondition(shape.count == strides.count, "shape \(shape) and strides \(strides) differ in rank")
        self.storage = storage
        self.shape = shape
        self.strides = strides
        self.offset = offset
    }

    /// A contiguous tensor whose elements are not initialised; the caller fills them.
    public init(uninitializedShape shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        let n = shape.reduce(1, *)
        self.init(storage: TensorStorage(count: n), shape: shape, strides: Tensor.contiguousStrides(shape))
    }

    public init(zeros shape: [Int]) {
        self.init(repeating: 0, shape: shape)
    }

    public init(repeating value: Float, shape: [Int]) {
        self.init(uninitializedShape: shape)
        storage.base.initialize(repeating: value, count: max(count, 0))
    }

    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.reduce(1, *) == scalars.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.init(uninitializedShape: shape)
        scalars.withUnsafeBufferPointer { src in
            if let p = src.baseAddress { storage.base.update(from: p, count: scalars.count) }
        }
    }

    public init(shape: [Int], _ fill: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        self.init(uninitializedShape: shape)
        try fill(UnsafeMutableBufferPointer(start: storage.base, count: count))
    }

    public static func scalar(_ v: Float) -> Tensor { Tensor(shape: [], scalars: [v]) }

    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = s
            s *= max(shape[i], 1)
        }
        return strides
    }

    public var rank: Int { shape.count }
    public var count: Int { shape.reduce(1, *) }

    /// True when the elements are laid out row-major without gaps (size-1 dims ignored).
    public var isContiguous: Bool {
        var expected = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) where shape[i] != 1 {
            if strides[i] != expected { return false }
            expected *= shape[i]
        }
        return true
    }

    /// Pointer to element (0, 0, ..., 0). Read-only by contract.
    public var pointer: UnsafePointer<Float> { UnsafePointer(storage.base + offset) }

    /// Mutable access to a tensor's own pointer, only for storage that was just created
    /// by an op (internal helper; never on a caller's input).
    @inlinable var outputPointer: UnsafeMutablePointer<Float> { storage.base + offset }

    /// The same values in a fresh contiguous row-major tensor when this one is a
    /// non-contiguous view; otherwise `self`.
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        return copied()
    }

    /// A fresh contiguous copy, always.
    public func copied() -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        stridedCopy(to: out.outputPointer)
        return out
    }

    /// Copies the elements, in row-major order of `shape`, to `dst`.
    public func stridedCopy(to dst: UnsafeMutablePointer<Float>) {
        let n = count
        if n == 0 { return }
        if isContiguous { dst.update(from: pointer, count: n); return }
        // Merge dimensions so the loop nest is as shallow as possible.
        var dims: [(size: Int, stride: Int)] = []
        for (size, stride) in zip(shape, strides) where size != 1 {
            if let last = dims.last, last.stride == stride * size {
                dims[dims.count - 1] = (last.size * size, stride)
            } else {
                dims.append((size, stride))
            }
        }
        let src = pointer
        let inner = dims.removeLast()
        let outerCount = n / inner.size
        var index = [Int](repeating: 0, count: dims.count)
        var srcOffset = 0
        var d = dst
        for _ in 0..<outerCount {
            let s = src + srcOffset
            if inner.stride == 1 {
                d.update(from: s, count: inner.size)
            } else {
                for j in 0..<inner.size { d[j] = s[j * inner.stride] }
            }
            d += inner.size
            // Odometer increment over the outer dims.
            var k = dims.count - 1
            while k >= 0 {
                index[k] += 1
                srcOffset += dims[k].stride
                if index[k] < dims[k].size { break }
                srcOffset -= dims[k].stride * dims[k].size
                index[k] = 0
                k -= 1
            }
        }
    }

    /// Row-major copy of all elements.
    public var scalars: [Float] {
        [Float](unsafeUninitializedCapacity: count) { buf, n in
            if let p = buf.baseAddress { stridedCopy(to: p) }
            n = count
        }
    }

    public subscript(_ index: Int...) -> Float {
        precondition(index.count == rank, "index \(index) for rank \(rank)")
        var o = offset
        for (i, (x, n)) in zip(index, shape).enumerated() {
            precondition(x >= 0 && x < n, "index \(index) out of bounds for \(shape)")
            o += x * strides[i]
        }
        return storage.base[o]
    }

    /// Writes through a contiguous, uniquely owned buffer (copying first if this tensor
    /// is a view or shares storage).
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        if !isContiguous || offset != 0 || storage.count != count || !isKnownUniquelyReferenced(&storage) {
            self = copied()
        }
        return try body(UnsafeMutableBufferPointer(start: storage.base, count: count))
    }

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        let c = contiguous()
        return try withExtendedLifetime(c) {
            try body(UnsafeBufferPointer(start: c.pointer, count: c.count))
        }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let values = scalars.prefix(8).map { String(format: "%.5g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(values)\(count > 8 ? ", ..." : "")])"
    }
}
