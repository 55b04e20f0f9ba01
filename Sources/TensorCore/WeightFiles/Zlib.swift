import CLibz

/// Every zlib call of TensorCore lives in this file: inflating a DEFLATE stream, raw or in a
/// gzip wrapper, and CRC-32. Failures come back as zlib's own one-line reason.
enum Zlib {
    enum Wrapper {
        /// RFC 1951 data with no header (a zip member).
        case raw
        /// RFC 1952 gzip members, one or more back to back; zlib checks each one's CRC-32
        /// and length.
        case gzip

        var windowBits: Int32 { self == .raw ? -MAX_WBITS : 16 + MAX_WBITS }
    }

    struct Failure: Error {
        let reason: String
        /// The data ended before the stream did.
        let truncated: Bool
        /// A gzip member's CRC-32 or length does not match its data.
        let checkFailed: Bool

        init(_ reason: String, truncated: Bool = false, checkFailed: Bool = false) {
            self.reason = reason
            self.truncated = truncated
            self.checkFailed = checkFailed
        }
    }

    /// Inflates `input`. `limit`: more output than this is an error (a zip member's size).
    /// A raw stream may be followed by other bytes (ignored); gzip data must be whole
    /// members to the end.
    static func inflate(_ input: [UInt8], _ wrapper: Wrapper, limit: Int? = nil) throws -> [UInt8] {
        guard input.count <= Int(UInt32.max) else { throw Failure("more than 4 GiB of compressed data") }
        var stream = z_stream()
        guard inflateInit2_(&stream, wrapper.windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure("zlib cannot start inflating (out of memory?)")
        }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        if let limit { out.reserveCapacity(limit) }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        try input.withUnsafeBufferPointer { source in
            stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
            stream.avail_in = UInt32(source.count)
            while true {
                let rc = chunk.withUnsafeMutableBufferPointer { c -> Int32 in
                    stream.next_out = c.baseAddress
                    stream.avail_out = UInt32(c.count)
                    return CLibz.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                out.append(contentsOf: chunk[0..<produced])
                if let limit, out.count > limit { throw Failure("inflates to more than the expected \(limit) bytes") }
                switch rc {
                case Z_STREAM_END:
                    // Another gzip member may follow (as `gzip -d` reads `cat a.gz b.gz`).
                    guard wrapper == .gzip, stream.avail_in > 0 else { return }
                    guard inflateReset(&stream) == Z_OK else { throw Failure("zlib cannot restart for the next gzip member") }
                case Z_OK:
                    continue
                case Z_BUF_ERROR where stream.avail_in == 0:
                    throw Failure("truncated: the data ends inside the compressed stream", truncated: true)
                case Z_DATA_ERROR:
                    let reason = stream.msg.map { String(cString: $0) } ?? "invalid compressed data"
                    throw Failure(reason, checkFailed: reason == "incorrect data check" || reason == "incorrect length check")
                case Z_MEM_ERROR:
                    throw Failure("out of memory")
                default:
                    throw Failure("zlib error \(rc)")
                }
            }
        }
        return out
    }

    /// CRC-32 (ISO-HDLC, as zip and gzip use it).
    static func crc32(_ bytes: UnsafeRawBufferPointer, startingAt crc: UInt32 = 0) -> UInt32 {
        var value = UInt(crc)
        var rest = bytes
        while !rest.isEmpty {
            let n = min(rest.count, Int(UInt32.max))
            value = CLibz.crc32(value, rest.baseAddress?.assumingMemoryBound(to: Bytef.self), uInt(n))
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
        }
        return UInt32(truncatingIfNeeded: value)
    }
}
