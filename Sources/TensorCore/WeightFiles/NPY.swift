import Foundation

/// NumPy `.npy` arrays (format versions 1 and 2): float32 and int64 read and written,
/// float64 / float16 / int32 read and converted.
public enum NPY {
    public enum Array: Sendable {
        case float32(Tensor)
        case int64(shape: [Int], values: [Int64])

        public var shape: [Int] {
            switch self {
            case .float32(let t): return t.shape
            case .int64(let shape, _): return shape
            }
        }

        /// The values as a Float tensor, whatever the stored type.
        public var tensor: Tensor {
            switch self {
            case .float32(let t): return t
            case .int64(let shape, let v): return Tensor(shape: shape, scalars: v.map { Float($0) })
            }
        }
    }

    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]   // "\x93NUMPY"

    public static func read(_ url: URL) throws -> Array {
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw WeightFileError(path: url.path, "cannot read: \(error.localizedDescription)")
        }
        return try decode(data, path: url.path)
    }

    public static func decode(_ data: Data, path: String) throws -> Array {
        let bytes = [UInt8](data.prefix(12))
        guard bytes.count >= 10, Swift.Array(bytes[0..<6]) == magic else {
            throw WeightFileError(path: path, "not a .npy file (no \\x93NUMPY magic)")
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw WeightFileError(path: path, ".npy header truncated") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw WeightFileError(path: path, "unsupported .npy format version \(major)")
        }
        guard headerStart + headerLength <= data.count else {
            throw WeightFileError(path: path, ".npy header of \(headerLength) bytes runs past the end of the file")
        }
        guard let header = String(data: data.subdata(in: headerStart..<(headerStart + headerLength)), encoding: .utf8) else {
            throw WeightFileError(path: path, ".npy header is not text")
        }
        let (descr, fortran, shape) = try parseHeader(header, path: path)
        let count = shape.reduce(1, *)
        let payload = data.count - headerStart - headerLength
        let itemSize: Int
        switch descr {
        case "<f4", "<f8", "<f2", "<i8", "<i4": itemSize = Int(String(descr.last!))!
        case "|u1", "|b1", "|i1": itemSize = 1
        default: throw WeightFileError(path: path, "unsupported .npy dtype '\(descr)' (float32/64/16, int64/32, uint8)")
        }
        guard payload >= count * itemSize else {
            throw WeightFileError(path: path, ".npy data is \(payload) bytes, shape \(shape) of \(descr) needs \(count * itemSize)")
        }
        let dataShape = fortran ? shape.reversed() : shape
        func reorder(_ t: Tensor) -> Tensor {
            fortran ? t.permuted(Swift.Array((0..<shape.count).reversed())).contiguous() : t
        }
        return data.withUnsafeBytes { raw -> Array in
            let src = raw.baseAddress! + headerStart + headerLength
            if descr == "<i8" {
                var v = [Int64](repeating: 0, count: count)
                for i in 0..<count { v[i] = src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self) }
                if fortran { return .int64(shape: shape, values: reorder(Tensor(shape: dataShape, scalars: v.map(Float.init))).scalars.map { Int64($0) }) }
                return .int64(shape: shape, values: v)
            }
            let dtype: DType = ["<f4": .f32, "<f8": .f64, "<f2": .f16, "<i4": .i32, "|u1": .u8, "|b1": .bool, "|i1": .i8][descr]!
            return .float32(reorder(Tensor(shape: dataShape) { dtype.convert(src, $0.baseAddress!, count) }))
        }
    }

    /// Parses `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
    static func parseHeader(_ h: String, path: String) throws -> (String, Bool, [Int]) {
        func value(_ key: String) -> Substring? {
            guard let r = h.range(of: "'\(key)':") else { return nil }
            return h[r.upperBound...].drop { $0 == " " }
        }
        guard let d = value("descr"), d.first == "'", let end = d.dropFirst().firstIndex(of: "'") else {
            throw WeightFileError(path: path, ".npy header has no descr: \(h)")
        }
        let descr = String(d[d.index(after: d.startIndex)..<end])
        guard let f = value("fortran_order") else { throw WeightFileError(path: path, ".npy header has no fortran_order") }
        let fortran = f.hasPrefix("True")
        guard let s = value("shape"), s.first == "(", let close = s.firstIndex(of: ")") else {
            throw WeightFileError(path: path, ".npy header has no shape")
        }
        let parts = s[s.index(after: s.startIndex)..<close].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let shape = parts.compactMap { Int($0) }
        guard shape.count == parts.count, shape.allSatisfy({ $0 >= 0 }) else {
            throw WeightFileError(path: path, ".npy shape is not a tuple of sizes: \(s[...close])")
        }
        return (descr, fortran, shape)
    }

    /// The header block for an array, padded so the data starts 64-byte aligned.
    public static func header(descr: String, shape: [Int]) -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let version: UInt8 = dict.utf8.count + 11 > 65_535 ? 2 : 1
        let prefix = version == 1 ? 10 : 12
        let total = (prefix + dict.utf8.count + 1 + 63) / 64 * 64
        dict += String(repeating: " ", count: total - prefix - dict.utf8.count - 1) + "\n"
        var out = Data(magic)
        out.append(contentsOf: [version, 0])
        let n = dict.utf8.count
        if version == 1 {
            out.append(contentsOf: [UInt8(n & 0xff), UInt8(n >> 8)])
        } else {
            out.append(contentsOf: [UInt8(n & 0xff), UInt8((n >> 8) & 0xff), UInt8((n >> 16) & 0xff), UInt8(n >> 24)])
        }
        out.append(contentsOf: Swift.Array(dict.utf8))
        return out
    }

    public static func encode(_ t: Tensor) -> Data {
        var out = header(descr: "<f4", shape: t.shape)
        let c = t.contiguous()
        out.append(Data(bytes: c.pointer, count: c.count * 4))
        return out
    }

    public static func encode(int64 values: [Int64], shape: [Int]) -> Data {
        precondition(shape.reduce(1, *) == values.count, "npy: \(values.count) values for shape \(shape)")
        var out = header(descr: "<i8", shape: shape)
        values.withUnsafeBytes { out.append(contentsOf: $0) }
        return out
    }

    /// Writes a float32 array atomically.
    public static func write(_ t: Tensor, to url: URL) throws {
        try AtomicFile.write(encode(t), to: url)
    }

    /// Writes an int64 array atomically.
    public static func write(int64 values: [Int64], shape: [Int], to url: URL) throws {
        try AtomicFile.write(encode(int64: values, shape: shape), to: url)
    }
}
