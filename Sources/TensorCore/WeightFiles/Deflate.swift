import Foundation

/// DEFLATE data (zlib): gzip files such as CLIP's `bpe_simple_vocab_16e6.txt.gz`, and raw
/// streams. Every failure is a `WeightFileError` naming the file.
public enum Deflate {
    /// The data of a gzip file (RFC 1952; members back to back are joined), each member's
    /// CRC-32 and length checked.
    public static func gunzip(_ bytes: [UInt8], path: String) throws -> [UInt8] {
        do {
            return try Zlib.inflate(bytes, .gzip)
        } catch let e as Zlib.Failure {
            let why = e.checkFailed ? "the CRC-32 or length does not match (a damaged file?)" : e.reason
            throw WeightFileError(path: path, "not a valid gzip file: \(why)")
        }
    }

    /// A raw DEFLATE stream (RFC 1951, no header) inflated; bytes after its last block are
    /// ignored. `expectedSize`: the output must be exactly this long.
    public static func inflate(raw bytes: [UInt8], expectedSize: Int? = nil, path: String) throws -> [UInt8] {
        let out: [UInt8]
        do {
            out = try Zlib.inflate(bytes, .raw, limit: expectedSize)
        } catch let e as Zlib.Failure {
            throw WeightFileError(path: path, "not a valid DEFLATE stream: \(e.reason)")
        }
        if let expectedSize, out.count != expectedSize {
            throw WeightFileError(path: path, "inflated to \(out.count) bytes, expected \(expectedSize)")
        }
        return out
    }

    /// The CRC-32 of `bytes` (the checksum of zip and gzip).
    public static func crc32(_ bytes: some ContiguousBytes) -> UInt32 {
        bytes.withUnsafeBytes { Zlib.crc32($0) }
    }

    /// True when `bytes` start with gzip's magic number (1F 8B).
    public static func isGzip(_ bytes: some Collection<UInt8>) -> Bool {
        bytes.starts(with: [0x1F, 0x8B])
    }
}
