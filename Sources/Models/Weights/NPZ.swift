import Foundation
import TensorCore

/// A zip archive read from its central directory: stored (method 0) and deflated (method 8)
/// members, zip64 sizes and offsets, CRC-32 checked.
public struct ZipArchive: Sendable {
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let method: Int
        public let compressedSize: Int
        public let size: Int
        public let crc32: UInt32
        let localHeaderOffset: Int
    }

    public let path: String
    public let entries: [Entry]
    private let bytes: [UInt8]

    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw WeightFileError(path: url.path, "cannot read: \(error.localizedDescription)")
        }
        try self.init(bytes: [UInt8](data), path: url.path)
    }

    public init(bytes: [UInt8], path: String) throws {
        self.bytes = bytes
        self.path = path
        func fail(_ problem: String) -> WeightFileError { WeightFileError(path: path, problem) }
        func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        func u64(_ o: Int) -> Int { u32(o) | u32(o + 4) << 32 }

        // End of central directory: 22 bytes plus a comment of up to 65535.
        guard bytes.count >= 22 else { throw fail("not a zip archive (too short)") }
        var eocd = -1
        for o in stride(from: bytes.count - 22, through: max(0, bytes.count - 22 - 65_535), by: -1)
        where u32(o) == 0x0605_4B50 { eocd = o; break }
        guard eocd >= 0 else { throw fail("not a zip archive (no end-of-central-directory record)") }
        var count = u16(eocd + 10)
        var cdOffset = u32(eocd + 16)
        // zip64 end of central directory, located by its locator just before the EOCD.
        if eocd >= 20, u32(eocd - 20) == 0x0706_4B50 {
            let z = u64(eocd - 20 + 8)
            guard z >= 0, z + 56 <= bytes.count, u32(z) == 0x0606_4B50 else { throw fail("bad zip64 end-of-central-directory record") }
            count = u64(z + 32)
            cdOffset = u64(z + 48)
        }
        var entries: [Entry] = []
        var o = cdOffset
        for _ in 0..<count {
            guard o >= 0, o + 46 <= bytes.count, u32(o) == 0x0201_4B50 else { throw fail("central directory entry \(entries.count) is damaged") }
            let flags = u16(o + 8), method = u16(o + 10)
            let crc = UInt32(u32(o + 16))
            var csize = u32(o + 20), size = u32(o + 24)
            let nameLen = u16(o + 28), extraLen = u16(o + 30), commentLen = u16(o + 32)
            var local = u32(o + 42)
            guard o + 46 + nameLen + extraLen <= bytes.count else { throw fail("central directory entry \(entries.count) runs past the end") }
            let name = String(decoding: bytes[(o + 46)..<(o + 46 + nameLen)], as: UTF8.self)
            // zip64 extended information: the 8-byte values of the fields that read 0xFFFFFFFF, in order.
            var e = o + 46 + nameLen
            let extraEnd = e + extraLen
            while e + 4 <= extraEnd {
                let id = u16(e), len = u16(e + 2)
                guard e + 4 + len <= extraEnd else { break }
                if id == 0x0001 {
                    var p = e + 4
                    if size == 0xFFFF_FFFF, p + 8 <= e + 4 + len { size = u64(p); p += 8 }
                    if csize == 0xFFFF_FFFF, p + 8 <= e + 4 + len { csize = u64(p); p += 8 }
                    if local == 0xFFFF_FFFF, p + 8 <= e + 4 + len { local = u64(p); p += 8 }
                }
                e += 4 + len
            }
            if flags & 1 != 0 { throw fail("member \(name) is encrypted") }
            entries.append(Entry(name: name, method: method, compressedSize: csize, size: size, crc32: crc, localHeaderOffset: local))
            o += 46 + nameLen + extraLen + commentLen
        }
        self.entries = entries
    }

    /// The uncompressed bytes of a member.
    public func contents(of name: String) throws -> [UInt8] {
        guard let e = entries.first(where: { $0.name == name }) else {
            throw WeightFileError(path: path, "no member '\(name)' (members: \(entries.map(\.name).joined(separator: ", ")))")
        }
        return try contents(of: e)
    }

    public func contents(of e: Entry) throws -> [UInt8] {
        func fail(_ problem: String) -> WeightFileError { WeightFileError(path: path, "member \(e.name): \(problem)") }
        let h = e.localHeaderOffset
        guard h >= 0, h + 30 <= bytes.count,
              bytes[h] == 0x50, bytes[h + 1] == 0x4B, bytes[h + 2] == 0x03, bytes[h + 3] == 0x04 else { throw fail("local header is damaged") }
        let start = h + 30 + (Int(bytes[h + 26]) | Int(bytes[h + 27]) << 8) + (Int(bytes[h + 28]) | Int(bytes[h + 29]) << 8)
        guard start + e.compressedSize <= bytes.count else { throw fail("data runs past the end of the archive") }
        let raw = Array(bytes[start..<(start + e.compressedSize)])
        let out: [UInt8]
        switch e.method {
        case 0: out = raw
        case 8:
            do { out = try Inflate.decompress(raw, expectedSize: e.size) } catch {
                throw fail("cannot inflate: \(error)")
            }
        default: throw fail("compression method \(e.method) is not supported (stored or deflate only)")
        }
        guard out.count == e.size else { throw fail("\(out.count) bytes, the directory says \(e.size)") }
        guard CRC32.checksum(out) == e.crc32 else { throw fail("CRC-32 mismatch (damaged file)") }
        return out
    }
}

/// NumPy `.npz` archives (`np.savez`, `np.savez_compressed`): a zip of `.npy` members.
public enum NPZ {
    /// Every array, by name without the `.npy` suffix.
    public static func read(_ url: URL) throws -> [String: NPY.Array] {
        let zip = try ZipArchive(contentsOf: url)
        var out: [String: NPY.Array] = [:]
        for e in zip.entries where e.name.hasSuffix(".npy") {
            out[String(e.name.dropLast(4))] = try NPY.decode(Data(try zip.contents(of: e)), path: "\(url.path):\(e.name)")
        }
        return out
    }

    /// One array by name (`"mel_80"`).
    public static func read(_ url: URL, array name: String) throws -> NPY.Array {
        let zip = try ZipArchive(contentsOf: url)
        return try NPY.decode(Data(try zip.contents(of: name + ".npy")), path: "\(url.path):\(name).npy")
    }
}
