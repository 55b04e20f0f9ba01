import CLibz

/// How well text compresses with zlib, as Whisper's fallback check measures it:
/// `len(bytes) / len(zlib.compress(bytes))` with zlib's default level (6), the same number
/// Python's `zlib.compress` gives. Repetitive (hallucinated) text scores high.
public enum TextCompression {
    public static func ratio(_ text: String) -> Double {
        let bytes = Array(text.utf8)
        if bytes.isEmpty { return 0 }
        var size = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(size))
        let rc = out.withUnsafeMutableBufferPointer { dst in
            bytes.withUnsafeBufferPointer { src in
                compress2(dst.baseAddress, &size, src.baseAddress, uLong(bytes.count), Z_DEFAULT_COMPRESSION)
            }
        }
        guard rc == Z_OK, size > 0 else { return 0 }
        return Double(bytes.count) / Double(size)
    }
}
