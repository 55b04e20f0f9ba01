import CKernels
import Foundation

/// Element types of tensor files and how they become `Float32`.
public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64", i64 = "I64", i32 = "I32", u8 = "U8", i8 = "I8", bool = "BOOL"

    public var size: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .u8, .i8, .bool: return 1
        }
    }

    /// Converts `n` little-endian elements at `src` to Float.
    func convert(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        switch self {
        case .f32: UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: n * 4)
        case .f16:
            // F16C's conversion, 8 at a time: loading a float16 checkpoint (Whisper's) spent
            // most of its time in the compiler's one-at-a-time software conversion.
            if CPUFeatures.avx2FMAF16C {
                // A large matrix (a vocabulary embedding) in parts on the pool.
                let h = src.assumingMemoryBound(to: UInt16.self), part = 1 << 20
                Compute.parallelFor((n + part - 1) / part) { i in
                    mmpipe_f16_to_f32(h + i * part, dst + i * part, Swift.min(part, n - i * part))
                }
                return
            }
            #if arch(x86_64) || arch(arm64)
            for i in 0..<n { dst[i] = Float(Float16(bitPattern: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            #else
            for i in 0..<n { dst[i] = DType.halfToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
            #endif
        case .bf16:
            for i in 0..<n { dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
        case .f64: for i in 0..<n { dst[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
        case .i64: for i in 0..<n { dst[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
        case .i32: for i in 0..<n { dst[i] = Float(src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
        case .u8, .bool: for i in 0..<n { dst[i] = Float(src.load(fromByteOffset: i, as: UInt8.self)) }
        case .i8: for i in 0..<n { dst[i] = Float(src.load(fromByteOffset: i, as: Int8.self)) }
        }
    }

    /// IEEE half to single, for platforms without `Float16`.
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        var exp = Int32((h >> 10) & 0x1f)
        var mant = UInt32(h & 0x3ff)
        if exp == 0x1f { return Float(bitPattern: sign | 0x7f80_0000 | (mant << 13)) }
        if exp == 0 {
            if mant == 0 { return Float(bitPattern: sign) }
            exp = 1
            while mant & 0x400 == 0 { mant <<= 1; exp -= 1 }
            mant &= 0x3ff
        }
        return Float(bitPattern: sign | UInt32(exp + 112) << 23 | (mant << 13))
    }
}

/// A `.safetensors` file mapped into memory. The header is validated on open: every
/// tensor's byte range lies inside the file, ranges do not overlap, and each length agrees
/// with its dtype and shape.
public final class SafeTensorsFile: @unchecked Sendable {
    public struct Entry: Sendable, Equatable {
        public let dtype: DType
        public let shape: [Int]
        /// Byte range relative to the start of the data section.
        public let range: Range<Int>
    }

    public let path: String
    public let metadata: [String: String]
    public let entries: [String: Entry]
    private let mapping: FileSystem.Mapping
    private let dataStart: Int

    /// Tensor names in file order.
    public var names: [String] { entries.sorted { $0.value.range.lowerBound < $1.value.range.lowerBound }.map(\.key) }

    public init(path: String) throws {
        self.path = path
        mapping = try FileSystem.Mapping(path: path)
        let size = mapping.size
        guard size >= 8, let base = mapping.base else {
            throw WeightFileError(path: path, "not a safetensors file: \(size) bytes, too short for a header")
        }
        let headerLength = base.loadUnaligned(as: UInt64.self).littleEndian
        guard headerLength >= 2, headerLength <= UInt64(size - 8), headerLength <= 100_000_000 else {
            throw WeightFileError(path: path, "not a safetensors file: header length \(headerLength) does not fit a \(size)-byte file")
        }
        dataStart = 8 + Int(headerLength)
        let headerData = Data(bytes: base + 8, count: Int(headerLength))
        guard let json = try? JSONSerialization.jsonObject(with: headerData), let header = json as? [String: Any] else {
            throw WeightFileError(path: path, "safetensors header is not a JSON object")
        }
        var meta: [String: String] = [:]
        var entries: [String: Entry] = [:]
        let dataSize = size - dataStart
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else {
                    throw WeightFileError(path: path, "safetensors __metadata__ is not an object")
                }
                for (k, v) in m { meta[k] = (v as? String) ?? "\(v)" }
                continue
            }
            guard let info = value as? [String: Any],
                  let dtypeName = info["dtype"] as? String,
                  let shapeAny = info["shape"] as? [Any],
                  let offsetsAny = info["data_offsets"] as? [Any], offsetsAny.count == 2 else {
                throw WeightFileError(path: path, "tensor '\(name)': header entry needs dtype, shape and two data_offsets")
            }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw WeightFileError(path: path, "tensor '\(name)': unsupported dtype \(dtypeName)")
            }
            let shape = shapeAny.compactMap { ($0 as? NSNumber)?.intValue }
            let offsets = offsetsAny.compactMap { ($0 as? NSNumber)?.intValue }
            guard shape.count == shapeAny.count, shape.allSatisfy({ $0 >= 0 }), offsets.count == 2 else {
                throw WeightFileError(path: path, "tensor '\(name)': shape and data_offsets must be non-negative integers")
            }
            let (elements, overflow) = shape.reduce((1, false)) { acc, d in
                let r = acc.0.multipliedReportingOverflow(by: d)
                return (r.partialValue, acc.1 || r.overflow)
            }
            guard !overflow, offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataSize else {
                throw WeightFileError(path: path, "tensor '\(name)': data_offsets \(offsets) outside the \(dataSize)-byte data section")
            }
            guard offsets[1] - offsets[0] == elements * dtype.size else {
                throw WeightFileError(path: path, "tensor '\(name)': \(offsets[1] - offsets[0]) bytes but shape \(shape) of \(dtypeName) needs \(elements * dtype.size)")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
        }
        let sorted = entries.sorted { $0.value.range.lowerBound < $1.value.range.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.value.range.lowerBound < a.value.range.upperBound {
            throw WeightFileError(path: path, "tensors '\(a.key)' and '\(b.key)' overlap in the data section")
        }
        self.metadata = meta
        self.entries = entries
    }

    /// The tensor `name` as Float32. F32 data aligned to 4 bytes is used in place (no copy;
    /// the mapping lives as long as any tensor from it); other dtypes are converted.
    public func tensor(_ name: String) throws -> Tensor {
        guard let e = entries[name] else {
            throw WeightFileError(path: path, "no tensor named '\(name)'")
        }
        let src = UnsafeRawPointer(mapping.base!) + dataStart + e.range.lowerBound
        let n = e.shape.reduce(1, *)
        if e.dtype == .f32 && Int(bitPattern: src) % 4 == 0 && n > 0 {
            let owner = self
            let storage = TensorStorage(borrowing: UnsafeMutablePointer(mutating: src.assumingMemoryBound(to: Float.self)),
                                        count: n, release: { withExtendedLifetime(owner) {} })
            return Tensor(storage: storage, shape: e.shape, strides: Tensor.contiguousStrides(e.shape))
        }
        return Tensor(shape: e.shape) { e.dtype.convert(src, $0.baseAddress!, n) }
    }

    /// Every tensor, converted to Float32.
    public func allTensors() throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for name in entries.keys { out[name] = try tensor(name) }
        return out
    }
}

/// Writes `.safetensors` files (F32), atomically.
public enum SafeTensorsWriter {
    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:],
                             to url: URL) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        var seen = Set<String>()
        for (name, t) in tensors {
            guard name != "__metadata__", seen.insert(name).inserted else {
                throw WeightFileError(path: url.path, "duplicate or reserved tensor name '\(name)'")
            }
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + t.count * 4]] as [String: Any]
            offset += t.count * 4
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad with spaces so the data section starts 8-byte aligned.
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        try AtomicFile.write(to: url) { file in
            var length = UInt64(json.count).littleEndian
            try file.append(Data(bytes: &length, count: 8))
            try file.append(json)
            for (_, t) in tensors {
                try t.withUnsafeBufferPointer { try file.append(UnsafeRawBufferPointer($0)) }
            }
        }
    }
}
