import Foundation

/// Something wrong with a media file that still decodes (so not a `MediaError`): said as a
/// warning, the file is used as far as it goes. `description`: `path: message`.
public struct MediaWarning: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The header declares more audio than the file holds (a cut download or copy).
        case truncated
    }

    public let path: String
    public let kind: Kind
    /// Without the path: `truncated: header says 1.10 s, file holds 0.15 s`.
    public let message: String

    public init(_ path: String, _ kind: Kind, _ message: String) {
        self.path = path
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(path): \(message)" }

    /// A truncation warning: `truncated: header says 1.10 s, file holds 0.15 s`.
    static func truncated(_ path: String, declared: Double, holds: Double) -> MediaWarning {
        MediaWarning(path, .truncated, String(format: "truncated: header says %@, file holds %@",
                                              seconds(declared), seconds(holds)))
    }

    static func seconds(_ s: Double) -> String { String(format: s < 100 ? "%.2f s" : "%.0f s", s) }
}

/// Checks of an audio file's declared length against what it holds. Nothing is printed:
/// the caller says the warnings (probe's `warnings` field, transcribe's progress).
///
/// - `check(path:)` reads only headers: a WAV (RIFF) `data` chunk or an AIFF `SSND` chunk
///   whose size runs past the end of the file (libsndfile and FFmpeg then quietly report
///   the shorter length).
/// - `compare(...)` after a whole decode: a header length (FLAC's STREAMINFO, an MP4's
///   index, ...) well beyond what decoded. Not for MP3 / ADTS AAC, whose "length" FFmpeg
///   estimates from the bit rate.
public enum AudioIntegrity {
    /// Truncation seen in the headers of a WAV or AIFF file; empty for other files, for
    /// sound files and for files it cannot read (the decoder says why).
    public static func check(path: String) -> [MediaWarning] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd(), size >= 12 else { return [] }
        func read(_ offset: UInt64, _ count: Int) -> [UInt8]? {
            guard (try? handle.seek(toOffset: offset)) != nil,
                  let d = try? handle.read(upToCount: count), d.count == count else { return nil }
            return [UInt8](d)
        }
        guard let head = read(0, 12) else { return [] }
        let tag = String(decoding: head[0..<4], as: UTF8.self), form = String(decoding: head[8..<12], as: UTF8.self)
        let truncation: (declared: Double, holds: Double)?
        switch (tag, form) {
        case ("RIFF", "WAVE"): truncation = wav(size: size, read: read)
        case ("FORM", "AIFF"), ("FORM", "AIFC"): truncation = aiff(size: size, read: read)
        default: truncation = nil
        }
        guard let t = truncation else { return [] }
        return [.truncated(path, declared: t.declared, holds: t.holds)]
    }

    /// A warning when a whole decode gave clearly less than the header states (more than
    /// 0.25 s and 2 % short), for formats whose header length is exact.
    public static func compare(path: String, format: AudioFormat, decodedSeconds: Double) -> MediaWarning? {
        guard let declared = format.duration, declared > 0 else { return nil }
        let estimated: Set<String> = ["mp3", "mp2", "aac", "adts"]
        if estimated.contains(format.codec) || estimated.contains(format.container) { return nil }
        guard declared - decodedSeconds > max(0.25, 0.02 * declared) else { return nil }
        return .truncated(path, declared: declared, holds: decodedSeconds)
    }

    /// What a whole decode of `path` says of it: the header's truncation (`check`), else a
    /// decoded length clearly short of the declared one (`compare`).
    public static func warnings(path: String, format: AudioFormat, decodedSeconds: Double) -> [MediaWarning] {
        let header = check(path: path)
        if !header.isEmpty { return header }
        return compare(path: path, format: format, decodedSeconds: decodedSeconds).map { [$0] } ?? []
    }

    /// Seconds declared and held when a WAV's `data` chunk runs past the end of the file.
    /// Streaming writers leave the size 0 or 0xFFFFFFFF (unknown): not a truncation.
    static func wav(size: UInt64, read: (UInt64, Int) -> [UInt8]?) -> (declared: Double, holds: Double)? {
        soundChunk(size: size, read: read, bigEndian: false, format: ("fmt ", 16), sound: ("data", 0), unknownSize: 0xFFFF_FFFF) { f in
            let rate = Double(le32(f, 4)), byteRate = Double(le32(f, 8))
            let blockAlign = Double(UInt16(f[12]) | UInt16(f[13]) << 8)
            return byteRate > 0 ? byteRate : rate * blockAlign
        }
    }

    /// The same for an AIFF's `SSND` chunk (big-endian; the rate is an 80-bit float; the
    /// sound data follows an 8-byte offset and block size).
    static func aiff(size: UInt64, read: (UInt64, Int) -> [UInt8]?) -> (declared: Double, holds: Double)? {
        soundChunk(size: size, read: read, bigEndian: true, format: ("COMM", 18), sound: ("SSND", 8), unknownSize: nil) { c in
            let channels = Double(UInt16(c[0]) << 8 | UInt16(c[1]))
            let bits = Double(UInt16(c[6]) << 8 | UInt16(c[7]))
            return channels * ((bits + 7) / 8).rounded(.down) * extended80(Array(c[8..<18]))
        }
    }

    /// Walks the chunks of a RIFF / IFF file after its 12-byte header (at most 1024): the
    /// `format` chunk (its first `bytes`) gives the bytes per second, the `sound` chunk
    /// (after a `header` of that many bytes) the sound data; a sound chunk longer than what
    /// the file holds is a truncation, unless its size is 0 or `unknownSize` (a streaming
    /// writer's placeholder).
    static func soundChunk(size: UInt64, read: (UInt64, Int) -> [UInt8]?, bigEndian: Bool,
                           format: (id: String, bytes: Int), sound: (id: String, header: UInt64), unknownSize: UInt64?,
                           bytesPerSecond parse: ([UInt8]) -> Double) -> (declared: Double, holds: Double)? {
        var offset: UInt64 = 12
        var bytesPerSecond: Double?
        var chunks = 0
        while offset + 8 <= size, chunks < 1024 {
            chunks += 1
            guard let h = read(offset, 8) else { return nil }
            let id = String(decoding: h[0..<4], as: UTF8.self)
            let length = UInt64(bigEndian ? be32(h, 4) : le32(h, 4))
            let body = offset + 8
            if id == format.id, length >= UInt64(format.bytes), let f = read(body, format.bytes) {
                bytesPerSecond = parse(f)
            } else if id == sound.id {
                guard let bps = bytesPerSecond, bps > 0, length > sound.header, length != unknownSize else { return nil }
                let start = body + sound.header
                let held = size > start ? size - start : 0
                guard length - sound.header > held else { return nil }
                return (Double(length - sound.header) / bps, Double(held) / bps)
            }
            offset = body + length + (length & 1)
        }
        return nil
    }

    static func le32(_ b: [UInt8], _ o: Int) -> UInt32 {
        UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
    }

    static func be32(_ b: [UInt8], _ o: Int) -> UInt32 {
        UInt32(b[o]) << 24 | UInt32(b[o + 1]) << 16 | UInt32(b[o + 2]) << 8 | UInt32(b[o + 3])
    }

    /// An IEEE 754 80-bit extended float (AIFF's sample rate); 0 when out of range.
    static func extended80(_ b: [UInt8]) -> Double {
        let exponent = Int(UInt16(b[0] & 0x7F) << 8 | UInt16(b[1])) - 16383 - 63
        var mantissa: UInt64 = 0
        for i in 2..<10 { mantissa = mantissa << 8 | UInt64(b[i]) }
        guard exponent > -1100, exponent < 1000 else { return 0 }
        return Double(mantissa) * pow(2, Double(exponent))
    }
}
