/// A whole file mapped read-only into memory, for weight-file readers (`CTranslate2File`,
/// and any format reader outside TensorCore). The system calls stay in `FileSystem.swift`;
/// this type only exposes the bytes and turns byte ranges into tensors.
///
/// - Important: the bytes are valid as long as the `MappedFile` lives. Tensors made by
///   `tensor(bytes:dtype:shape:)` either own converted memory or, for aligned F32 data,
///   keep the mapping alive themselves.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    private let mapping: FileSystem.Mapping

    public init(path: String) throws {
        self.path = path
        mapping = try FileSystem.Mapping(path: path)
    }

    /// File size in bytes.
    public var count: Int { mapping.size }

    /// The file's bytes (empty for an empty file).
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: mapping.base.map { UnsafeRawPointer($0) }, count: mapping.size)
    }

    /// The elements in `range` (little-endian `dtype`, row-major `shape`) as a Float32 tensor.
    /// F32 data aligned to 4 bytes is used in place; everything else is converted into fresh
    /// memory. Throws when the range is outside the file or does not hold exactly
    /// `shape.product * dtype.size` bytes.
    public func tensor(bytes range: Range<Int>, dtype: DType, shape: [Int]) throws -> Tensor {
        guard range.lowerBound >= 0, range.upperBound <= count else {
            throw WeightFileError(path: path, "bytes \(range) lie outside the \(count)-byte file")
        }
        guard shape.allSatisfy({ $0 >= 0 }), let n = MappedFile.elementCount(shape),
              n.multipliedReportingOverflow(by: dtype.size) == (range.count, false) else {
            throw WeightFileError(path: path, "\(range.count) bytes cannot hold shape \(shape) of \(dtype.rawValue)")
        }
        guard n > 0, let base = mapping.base else { return Tensor(zeros: shape) }
        let src = UnsafeRawPointer(base) + range.lowerBound
        if dtype == .f32 && Int(bitPattern: src) % 4 == 0 {
            let owner = self
            let storage = TensorStorage(borrowing: UnsafeMutablePointer(mutating: src.assumingMemoryBound(to: Float.self)),
                                        count: n, release: { withExtendedLifetime(owner) {} })
            return Tensor(storage: storage, shape: shape, strides: Tensor.contiguousStrides(shape))
        }
        return Tensor(shape: shape) { dtype.convert(src, $0.baseAddress!, n) }
    }

    /// The product of `shape`, or nil when it overflows.
    public static func elementCount(_ shape: [Int]) -> Int? {
        var n = 1
        for d in shape {
            let (r, overflow) = n.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            n = r
        }
        return n
    }
}

extension DType {
    /// Converts `count` little-endian elements at `source` to Float32 into `destination`.
    public func convert(_ source: UnsafeRawPointer, to destination: UnsafeMutablePointer<Float>, count: Int) {
        convert(source, destination, count)
    }
}
