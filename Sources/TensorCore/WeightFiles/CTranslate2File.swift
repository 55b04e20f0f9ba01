import Foundation

/// A CTranslate2 `model.bin`, memory-mapped and indexed (binary versions 1 to 6).
///
/// Layout, all little-endian, strings as `u16 length` + that many bytes (the length
/// counts a trailing NUL, which is not part of the name):
///
///     u32 binary_version
///     string spec_name, u32 spec_revision                 (version >= 2)
///     u32 variable_count, then per variable:
///         string name, u8 rank, rank x u32 dims,
///         u8 dtype id, u32 byte_count                     (version >= 4)
///         u8 item_size, u32 element_count                 (version < 4: 4 float32, 2 int16, 1 int8)
///         byte_count bytes of row-major data
///     u32 alias_count, then per alias: string alias, string variable_name   (version >= 3)
///
/// dtype ids: 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16. Rank-0
/// variables are the spec's scalar attributes (flags as int8, head counts as int16, ...).
///
/// - Important: the header and every record are validated on open (lengths inside the
///   file, byte counts equal to shape x item size, known dtypes, unique names, aliases that
///   name a variable, nothing after the alias table); a bad file throws a one-line
///   `WeightFileError` naming it. Data is converted only when a tensor is asked for.
public final class CTranslate2File: @unchecked Sendable {
    public enum DataType: UInt8, Sendable, CaseIterable {
        case float32 = 0, int8 = 1, int16 = 2, int32 = 3, float16 = 4, bfloat16 = 5

        public var size: Int {
            switch self {
            case .float32, .int32: return 4
            case .int16, .float16, .bfloat16: return 2
            case .int8: return 1
            }
        }

        public var name: String {
            switch self {
            case .float32: return "float32"
            case .int8: return "int8"
            case .int16: return "int16"
            case .int32: return "int32"
            case .float16: return "float16"
            case .bfloat16: return "bfloat16"
            }
        }
    }

    public struct Variable: Sendable, Equatable {
        public let name: String
        public let shape: [Int]
        public let dtype: DataType
        /// Byte range of the data inside the file.
        public let range: Range<Int>

        public var isScalar: Bool { shape.isEmpty }
    }

    /// The newest binary version this reader knows (CTranslate2 3.x and 4.x write 6).
    public static let newestBinaryVersion = 6

    public let path: String
    public let binaryVersion: Int
    /// "WhisperSpec", "TransformerSpec", ...; empty for version 1 files.
    public let specName: String
    public let specRevision: Int
    /// Variables in file order.
    public let variables: [Variable]
    /// Alias name -> variable name (e.g. `decoder/projection/weight` -> `decoder/embeddings/weight`).
    public let aliases: [String: String]
    private let index: [String: Int]
    private let file: MappedFile

    public convenience init(url: URL) throws { try self.init(path: url.path) }

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        var r = Reader(bytes: file.bytes, path: path)

        let version = Int(try r.u32("binary version"))
        guard (1...CTranslate2File.newestBinaryVersion).contains(version) else {
            throw WeightFileError(path: path, "not a CTranslate2 model: binary version \(version), this reader knows 1 to \(CTranslate2File.newestBinaryVersion)")
        }
        binaryVersion = version
        if version >= 2 {
            specName = try r.string("spec name")
            specRevision = Int(try r.u32("spec revision"))
        } else {
            specName = ""
            specRevision = 1
        }

        let count = Int(try r.u32("variable count"))
        var variables: [Variable] = []
        var index: [String: Int] = [:]
        variables.reserveCapacity(min(count, 1 << 16))
        for i in 0..<count {
            let name = try r.string("name of variable \(i)")
            let rank = Int(try r.u8("rank of '\(name)'"))
            var shape: [Int] = []
            for _ in 0..<rank { shape.append(Int(try r.u32("shape of '\(name)'"))) }
            let dtype: DataType
            let byteCount: Int
            if version >= 4 {
                let id = try r.u8("dtype of '\(name)'")
                guard let t = DataType(rawValue: id) else {
                    throw WeightFileError(path: path, "variable '\(name)': unknown dtype id \(id) (known: 0-5)")
                }
                dtype = t
                byteCount = Int(try r.u32("byte count of '\(name)'"))
            } else {
                let itemSize = try r.u8("item size of '\(name)'")
                switch itemSize {
                case 4: dtype = .float32
                case 2: dtype = .int16
                case 1: dtype = .int8
                default: throw WeightFileError(path: path, "variable '\(name)': unknown item size \(itemSize)")
                }
                byteCount = Int(try r.u32("element count of '\(name)'")) * Int(itemSize)
            }
            guard let elements = MappedFile.elementCount(shape),
                  elements.multipliedReportingOverflow(by: dtype.size) == (byteCount, false) else {
                throw WeightFileError(path: path, "variable '\(name)': \(byteCount) bytes but shape \(shape) of \(dtype.name) needs \(MappedFile.elementCount(shape).map { String($0 * dtype.size) } ?? "too many")")
            }
            let start = r.offset
            try r.skip(byteCount, "data of '\(name)' (\(byteCount) bytes)")
            guard index[name] == nil else {
                throw WeightFileError(path: path, "variable '\(name)' appears twice")
            }
            index[name] = variables.count
            variables.append(Variable(name: name, shape: shape, dtype: dtype, range: start..<(start + byteCount)))
        }

        var aliases: [String: String] = [:]
        if version >= 3 {
            let n = Int(try r.u32("alias count"))
            for _ in 0..<n {
                let alias = try r.string("alias name")
                let target = try r.string("target of alias '\(alias)'")
                guard index[target] != nil else {
                    throw WeightFileError(path: path, "alias '\(alias)' names '\(target)', which is not a variable of the file")
                }
                guard index[alias] == nil, aliases[alias] == nil else {
                    throw WeightFileError(path: path, "alias '\(alias)' is defined twice or shadows a variable")
                }
                aliases[alias] = target
            }
        }
        guard r.offset == file.count else {
            throw WeightFileError(path: path, "\(file.count - r.offset) unexpected bytes after the end of the model at byte \(r.offset) (two files joined?)")
        }
        self.variables = variables
        self.index = index
        self.aliases = aliases
    }

    /// Variable names in file order (aliases not included).
    public var names: [String] { variables.map(\.name) }

    /// The variable `name`, following an alias; nil when there is none.
    public func variable(_ name: String) -> Variable? {
        if let i = index[name] { return variables[i] }
        if let target = aliases[name], let i = index[target] { return variables[i] }
        return nil
    }

    /// The variable `name` (or an alias of one) as a Float32 tensor. float16 / bfloat16 /
    /// integer data is converted once here (integers by value: quantised weights still need
    /// their `_scale`); float32 data is used in place when aligned.
    public func tensor(_ name: String) throws -> Tensor {
        guard let v = variable(name) else {
            throw WeightFileError(path: path, "no variable named '\(name)'")
        }
        switch v.dtype {
        case .float32: return try file.tensor(bytes: v.range, dtype: .f32, shape: v.shape)
        case .float16: return try file.tensor(bytes: v.range, dtype: .f16, shape: v.shape)
        case .bfloat16: return try file.tensor(bytes: v.range, dtype: .bf16, shape: v.shape)
        case .int8: return try file.tensor(bytes: v.range, dtype: .i8, shape: v.shape)
        case .int32: return try file.tensor(bytes: v.range, dtype: .i32, shape: v.shape)
        case .int16:
            let src = UnsafeRawPointer(file.bytes.baseAddress!) + v.range.lowerBound
            let n = v.range.count / 2
            return Tensor(shape: v.shape) { dst in
                for i in 0..<n { dst[i] = Float(Int16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))) }
            }
        }
    }

    /// The value of a rank-0 (scalar attribute) variable, e.g. `encoder/num_heads`.
    public func scalar(_ name: String) throws -> Double {
        guard let v = variable(name) else {
            throw WeightFileError(path: path, "no scalar named '\(name)'")
        }
        guard v.isScalar else {
            throw WeightFileError(path: path, "'\(name)' is a tensor of shape \(v.shape), not a scalar")
        }
        return Double(try tensor(name).scalars[0])
    }

    /// A bounds-checked cursor over the mapped bytes.
    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        let path: String
        var offset = 0

        mutating func need(_ n: Int, _ what: String) throws -> UnsafeRawPointer {
            guard n >= 0, n <= bytes.count - offset, let base = bytes.baseAddress else {
                throw WeightFileError(path: path, "truncated CTranslate2 model: \(what) at byte \(offset) runs past the end of the \(bytes.count)-byte file")
            }
            defer { offset += n }
            return base + offset
        }

        mutating func skip(_ n: Int, _ what: String) throws { _ = try need(n, what) }
        mutating func u8(_ what: String) throws -> UInt8 { try need(1, what).load(as: UInt8.self) }
        mutating func u16(_ what: String) throws -> UInt16 { UInt16(littleEndian: try need(2, what).loadUnaligned(as: UInt16.self)) }
        mutating func u32(_ what: String) throws -> UInt32 { UInt32(littleEndian: try need(4, what).loadUnaligned(as: UInt32.self)) }

        mutating func string(_ what: String) throws -> String {
            let n = Int(try u16(what))
            let p = try need(n, what)
            var raw = UnsafeRawBufferPointer(start: p, count: n)
            if let nul = raw.firstIndex(of: 0) { raw = UnsafeRawBufferPointer(rebasing: raw[..<nul]) }
            guard let s = String(validating: raw, as: UTF8.self) else {
                throw WeightFileError(path: path, "\(what) at byte \(offset - n) is not UTF-8")
            }
            return s
        }
    }
}
