import Foundation

/// What a file is, found from its first bytes (never from its name).
public struct MediaFormat: Sendable, Equatable {
    public enum Kind: String, Sendable { case image, audio, video, unknown }
    public let kind: Kind
    /// Short format name: png, jpeg, webp, gif, bmp, tiff, wav, flac, ogg, aiff, mp3, mp4, matroska, ...
    public let name: String

    public init(_ kind: Kind, _ name: String) {
        self.kind = kind
        self.name = name
    }

    public static let unknown = MediaFormat(.unknown, "unknown")

    /// Bytes needed to recognise every format below.
    public static let sniffLength = 64

    /// Recognises the container from magic numbers. `.unknown` means "let FFmpeg try".
    /// MP4/QuickTime/Matroska/AVI/OGG may hold audio only; the probe refines that by streams.
    public static func sniff(_ b: [UInt8]) -> MediaFormat {
        func at(_ o: Int, _ s: String) -> Bool {
            let u = Array(s.utf8)
            return b.count >= o + u.count && Array(b[o..<(o + u.count)]) == u
        }
        func bytes(_ o: Int, _ u: [UInt8]) -> Bool { b.count >= o + u.count && Array(b[o..<(o + u.count)]) == u }
        if bytes(0, [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return MediaFormat(.image, "png") }
        if bytes(0, [0xFF, 0xD8, 0xFF]) { return MediaFormat(.image, "jpeg") }
        if at(0, "RIFF") && at(8, "WEBP") { return MediaFormat(.image, "webp") }
        if at(0, "GIF87a") || at(0, "GIF89a") { return MediaFormat(.image, "gif") }
        if at(0, "BM") && b.count >= 18 { return MediaFormat(.image, "bmp") }
        if bytes(0, [0x49, 0x49, 0x2A, 0x00]) || bytes(0, [0x4D, 0x4D, 0x00, 0x2A]) { return MediaFormat(.image, "tiff") }
        if at(0, "RIFF") && at(8, "WAVE") { return MediaFormat(.audio, "wav") }
        if at(0, "RIFF") && at(8, "AVI ") { return MediaFormat(.video, "avi") }
        if at(0, "fLaC") { return MediaFormat(.audio, "flac") }
        if at(0, "OggS") { return MediaFormat(.audio, "ogg") }
        if at(0, "FORM") && (at(8, "AIFF") || at(8, "AIFC")) { return MediaFormat(.audio, "aiff") }
        if at(0, "ID3") { return MediaFormat(.audio, "mp3") }
        // MPEG audio frame sync (11 bits) with a layer; layer bits 00 with sync is ADTS AAC.
        if b.count >= 2 && b[0] == 0xFF && (b[1] & 0xE0) == 0xE0 && (b[1] & 0x06) != 0 { return MediaFormat(.audio, "mp3") }
        if b.count >= 2 && b[0] == 0xFF && (b[1] & 0xF6) == 0xF0 { return MediaFormat(.audio, "aac") }
        if at(4, "ftyp") {
            if at(8, "M4A ") || at(8, "M4B ") { return MediaFormat(.audio, "m4a") }
            return MediaFormat(.video, "mp4")
        }
        if bytes(0, [0x1A, 0x45, 0xDF, 0xA3]) { return MediaFormat(.video, "matroska") }
        if bytes(0, [0x00, 0x00, 0x01, 0xBA]) || bytes(0, [0x00, 0x00, 0x01, 0xB3]) { return MediaFormat(.video, "mpeg") }
        if b.count >= 189 && b[0] == 0x47 && b[188] == 0x47 { return MediaFormat(.video, "mpegts") }
        return .unknown
    }

    /// Whether `bytes` (the start of a file or stream) read as text: UTF-8 without NUL or
    /// control characters other than tab, newline, form feed and carriage return, and no
    /// magic number of a media format. `complete`: `bytes` is everything (otherwise a
    /// character cut at the end is allowed). ASCII netpbm (`P1`...`P3`) and XPM images
    /// are text that FFmpeg decodes: not counted as text. `charactersOnly`: judge by the
    /// characters alone (a list of paths may start with "BM" or "P1").
    public static func looksLikeText(_ bytes: [UInt8], complete: Bool, charactersOnly: Bool = false) -> Bool {
        if bytes.isEmpty { return false }
        if !charactersOnly {
            if sniff(Array(bytes.prefix(sniffLength))) != .unknown { return false }
            if bytes.count >= 2, bytes[0] == UInt8(ascii: "P"), (UInt8(ascii: "1")...UInt8(ascii: "7")).contains(bytes[1]) { return false }
            if bytes.starts(with: Array("/* XPM */".utf8)) { return false }
        }
        if bytes.contains(where: { ($0 < 0x20 && ![0x09, 0x0A, 0x0C, 0x0D].contains($0)) || $0 == 0x7F }) { return false }
        var text = bytes[...]
        if !complete {
            // A multi-byte character cut at the end of what was read.
            var cut = 0
            while cut < 3, let last = text.last, last & 0xC0 == 0x80 { text = text.dropLast(); cut += 1 }
            if let last = text.last, last >= 0xC0 { text = text.dropLast() }
        }
        return String(validating: text, as: UTF8.self) != nil
    }

    /// File name extensions of the formats the decoders read, used only to pick files out of
    /// directories (a file named explicitly is always tried, whatever its name).
    public static let imageExtensions: Set<String> = ["jpg", "jpeg", "jpe", "png", "webp", "bmp", "tif", "tiff", "gif"]
    public static let audioExtensions: Set<String> = ["wav", "wave", "flac", "ogg", "oga", "opus", "mp3", "m4a", "aac",
                                                      "aif", "aiff", "aifc", "wma", "mka", "caf", "au"]
    public static let videoExtensions: Set<String> = ["mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "ts",
                                                      "mts", "m2ts", "wmv", "flv", "3gp", "ogv"]

    /// True when a file name's extension is one of `kinds`' extensions.
    public static func hasExtension(_ path: String, of kinds: Set<Kind>) -> Bool {
        let ext = (path as NSString).pathExtension.lowercased()
        return (kinds.contains(.image) && imageExtensions.contains(ext))
            || (kinds.contains(.audio) && audioExtensions.contains(ext))
            || (kinds.contains(.video) && videoExtensions.contains(ext))
    }

    /// Reads the first bytes of `path` and sniffs them, with file-level errors as `MediaError`.
    public static func detect(path: String) throws -> MediaFormat {
        try sniff(MediaFile.readPrefix(path: path, count: 256))
    }
}

/// File access shared by the decoders: existence, type, permissions and size checks with
/// clear errors.
enum MediaFile {
    /// Files larger than this are not read whole into memory (images, probes).
    static let maxWholeFileBytes = 1 << 30

    static func checkRegularFile(_ path: String) throws -> Int {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw MediaError(path, .notFound, "no such file")
        }
        if isDir.boolValue { throw MediaError(path, .unreadable, "is a directory, not a file") }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw MediaError(path, .unreadable, "permission denied")
        }
        let attrs = try? FileManager.default.attributesOfItem(atPath: path)
        return (attrs?[.size] as? NSNumber)?.intValue ?? 0
    }

    static func readPrefix(path: String, count: Int) throws -> [UInt8] {
        _ = try checkRegularFile(path)
        guard let h = FileHandle(forReadingAtPath: path) else { throw MediaError(path, .unreadable, "cannot open") }
        defer { try? h.close() }
        do {
            return [UInt8](try h.read(upToCount: count) ?? Data())
        } catch {
            throw MediaError(path, .unreadable, "read failed: \(error.localizedDescription)")
        }
    }

    static func readAll(path: String) throws -> Data {
        let size = try checkRegularFile(path)
        if size == 0 { throw MediaError(path, .empty, "file is empty (0 bytes)") }
        if size > maxWholeFileBytes {
            throw MediaError(path, .tooLarge, "file is \(size / (1 << 20)) MiB, above the \(maxWholeFileBytes >> 20) MiB limit for a still image")
        }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw MediaError(path, .unreadable, "read failed: \(error.localizedDescription)")
        }
    }
}
