import CFFmpeg
import Foundation

// Every libavformat / libavcodec call the Media module makes goes through this file and its
// siblings (FFmpeg+Decode.swift, FFmpeg+RGB.swift). The public types (AudioReader,
// VideoReader, FFmpegImage, MediaInspector) never see an FFmpeg return code: they get a
// `MediaError` with the file name and a one-line reason.

/// Constants and small helpers for FFmpeg's C API (its function-like macros do not import).
enum FF {
    /// `AVERROR_EOF` = `-MKTAG('E','O','F',' ')`.
    static let eof: Int32 = -tag(0x45, 0x4F, 0x46, 0x20)
    /// `AVERROR(EAGAIN)`.
    static let again: Int32 = -EAGAIN
    /// `AV_NOPTS_VALUE`.
    static let noPTS = Int64.min

    private static func tag(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: UInt32) -> Int32 {
        Int32(bitPattern: a | b << 8 | c << 16 | d << 24)
    }

    /// Silences FFmpeg's logging once per process (it would print to stderr from inside
    /// library calls) and keeps each thread's last error line instead, for error reasons
    /// ("moov atom not found"). `MMPIPE_FFMPEG_LOG=1` keeps FFmpeg's own log for debugging.
    static func setUp() { _ = quiet }
    private static let quiet: Void = {
        if getenv("MMPIPE_FFMPEG_LOG") == nil {
            av_log_set_level(AV_LOG_QUIET)
            // Formats errors (not warnings or info) into the thread's slot. (A closure literal:
            // the callback's va_list type cannot be spelled as a Swift @convention(c) type.)
            av_log_set_callback { _, level, format, args in
                guard level <= AV_LOG_ERROR, let format, let args,
                      let line = malloc(256)?.assumingMemoryBound(to: CChar.self) else { return }
                vsnprintf(line, 256, format, args)
                keepLastError(line)
            }
        }
    }()

    /// The last error FFmpeg logged on this thread since the last call, if any (and clears it).
    static func takeLoggedError() -> String? {
        guard let p = pthread_getspecific(lastErrorKey) else { return nil }
        pthread_setspecific(lastErrorKey, nil)
        defer { free(p) }
        let line = String(cString: p.assumingMemoryBound(to: CChar.self))
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return line.isEmpty ? nil : line
    }

    /// `av_strerror` as a String.
    static func message(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        if av_strerror(code, &buffer, buffer.count) < 0 { return "error \(code)" }
        return String(cString: buffer)
    }

    /// Seconds for a timestamp in `timeBase`, nil when unknown or absurd.
    static func seconds(_ ts: Int64, _ timeBase: AVRational) -> Double? {
        guard ts != noPTS, timeBase.num > 0, timeBase.den > 0 else { return nil }
        let s = Double(ts) * Double(timeBase.num) / Double(timeBase.den)
        return s.isFinite ? s : nil
    }

    static func string(_ p: UnsafePointer<CChar>?) -> String? {
        p.map { String(cString: $0) }
    }

    static func codecName(_ id: AVCodecID) -> String {
        string(avcodec_get_name(id)) ?? "unknown"
    }

    // MARK: Files

    enum FileKind { case regular, stream }

    /// Checks a path before any decoder sees it, so the common mistakes get exact reasons:
    /// missing (`.notFound`), a directory or no read permission (`.unreadable`), zero bytes
    /// (`.empty`), a device (`.unreadable`: /dev/zero would never end). FIFOs are allowed
    /// and reported as `.stream`.
    @discardableResult
    static func preflight(_ path: String) throws -> FileKind {
        var info = stat()
        if stat(path, &info) != 0 {
            let e = errno
            switch e {
            case ENOENT, ENOTDIR:
                throw MediaError(path, .notFound, "no such file; check the path")
            case EACCES:
                throw MediaError(path, .unreadable, "permission denied on a folder in the path")
            default:
                throw MediaError(path, .unreadable, "cannot stat the file: \(String(cString: strerror(e)))")
            }
        }
        let type = info.st_mode & S_IFMT
        if type == S_IFDIR {
            throw MediaError(path, .unreadable, "is a directory, not a media file")
        }
        if access(path, R_OK) != 0 {
            throw MediaError(path, .unreadable, "permission denied; make the file readable (chmod +r)")
        }
        if type == S_IFREG {
            if info.st_size == 0 { throw MediaError(path, .empty, "the file is empty (0 bytes)") }
            // Text (notes, a list of paths, a transcript): one reason whatever the file's
            // name, not what each decoder would make of it.
            if let handle = FileHandle(forReadingAtPath: path), let head = try? handle.read(upToCount: 4096) {
                try? handle.close()
                if MediaFormat.looksLikeText([UInt8](head), complete: Int64(head.count) >= Int64(info.st_size)) {
                    throw MediaError(path, .unsupported, MediaError.textFileReason)
                }
            }
            return .regular
        }
        if type == S_IFIFO { return .stream }
        throw MediaError(path, .unreadable, "is a device or socket, not a media file (use a pipe for streams)")
    }

    /// Turns an `avformat_open_input` failure into a MediaError. For "invalid data" it sniffs
    /// the first bytes: a recognised container whose headers do not parse is `.corrupt`
    /// (typically truncated), anything else is `.unsupported`.
    static func openFailure(_ path: String, _ code: Int32, sniff: Bool) -> MediaError {
        let logged = takeLoggedError()
        let detail = logged.map { "\(message(code)): \($0)" } ?? message(code)
        // (The path passed `preflight`, so EIO or ENOMEM here come from a demuxer choking on
        // damaged headers, not from the disk or the machine.)
        switch -code {
        case ENOENT: return MediaError(path, .notFound, "no such file; check the path")
        case EACCES, EPERM: return MediaError(path, .unreadable, "permission denied; make the file readable")
        case EISDIR: return MediaError(path, .unreadable, "is a directory, not a media file")
        case ENOMEM:
            return MediaError(path, .corrupt, "its headers ask for an absurd amount of memory; the file is probably damaged")
        default: break
        }
        if sniff, let format = recognisedFormat(path) {
            return MediaError(path, .corrupt,
                              "looks like \(format) but its headers do not parse (\(detail)); the file is probably truncated or damaged")
        }
        return MediaError(path, .unsupported,
                          "not an audio, video or image format this build of FFmpeg recognises (\(detail))")
    }

    /// The format the first bytes of `path` announce (`MediaFormat.sniff`), `.unknown` when
    /// they do not or the file cannot be read.
    static func sniff(_ path: String) -> MediaFormat {
        guard let handle = FileHandle(forReadingAtPath: path) else { return .unknown }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: MediaFormat.sniffLength) else { return .unknown }
        return MediaFormat.sniff([UInt8](head))
    }

    /// The name of the format the file's first bytes announce: the magic numbers first (they
    /// know a WAV header cut after 30 bytes), then FFmpeg's probe with a real score (not just
    /// the file extension). Nil when nothing matches.
    static func recognisedFormat(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 1 << 16), !head.isEmpty else { return nil }
        var bytes = [UInt8](head)
        let magic = MediaFormat.sniff(Array(bytes.prefix(MediaFormat.sniffLength)))
        if magic != .unknown { return magic.name.uppercased() }
        bytes.append(contentsOf: repeatElement(0, count: Int(AVPROBE_PADDING_SIZE)))
        return path.withCString { name -> String? in
            bytes.withUnsafeMutableBufferPointer { buf -> String? in
                var probe = AVProbeData()
                probe.filename = name
                probe.buf = buf.baseAddress
                probe.buf_size = Int32(head.count)
                var score: Int32 = 0
                guard let format = av_probe_input_format3(&probe, 1, &score),
                      score > AVPROBE_SCORE_RETRY else { return nil }
                return containerName(string(format.pointee.name) ?? "", path: path)
            }
        }
    }

    /// A friendly container name: FFmpeg's demuxer names are lists ("mov,mp4,m4a,3gp,3g2,mj2")
    /// or carry a suffix ("png_pipe"); pick the one matching the file extension, else the first.
    static func containerName(_ demuxer: String, path: String) -> String {
        let names = demuxer.split(separator: ",").map(String.init)
        let ext = (path as NSString).pathExtension.lowercased()
        var name = names.first(where: { $0 == ext }) ?? names.first ?? demuxer
        if name.hasSuffix("_pipe") { name.removeLast(5) }
        return name
    }
}

/// Per-thread storage for FFmpeg's last error line (a malloc'd C string).
private let lastErrorKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { free($0) }
    return key
}()

/// Keeps an FFmpeg error line in the thread's slot.
private func keepLastError(_ line: UnsafeMutablePointer<CChar>) {
    if let old = pthread_getspecific(lastErrorKey) { free(old) }
    pthread_setspecific(lastErrorKey, line)
}

/// Shared with FFmpeg's I/O callbacks: the descriptor of a pipe input, and the read
/// watchdog. FFmpeg can swallow a whole damaged file looking for a frame (2 GB of zeros
/// named .mp3 grows its MP3 parser's buffer to 2 GB), so reading stops with `AVERROR_EXIT`
/// once `limit` bytes (128 MB) pass without the demuxer handing over a packet of our stream.
struct FFIOState {
    static let limit: Int64 = 128 << 20

    var fd: Int32 = -1
    /// Bytes read from `fd` (pipe inputs).
    var bytes: Int64 = 0
    /// The format context, whose `pb.bytes_read` counts bytes for path inputs.
    var ctx: UnsafeMutablePointer<AVFormatContext>?
    /// Bytes read when the last packet of our stream arrived.
    var mark: Int64 = 0
    var tripped = false

    var bytesRead: Int64 {
        fd >= 0 ? bytes : ctx?.pointee.pb?.pointee.bytes_read ?? 0
    }

    /// True (and remembered) when too much has been read since the last packet.
    mutating func shouldStop() -> Bool {
        if bytesRead - mark > FFIOState.limit { tripped = true }
        return tripped
    }
}

/// `AVIOInterruptCB` for path inputs (the file protocol checks it before every read).
private let interruptWhenStuck: @convention(c) (UnsafeMutableRawPointer?) -> Int32 = { opaque in
    guard let state = opaque?.assumingMemoryBound(to: FFIOState.self) else { return 0 }
    return state.pointee.shouldStop() ? 1 : 0
}

/// Reads a pipe (a file descriptor that cannot seek) for FFmpeg's custom I/O.
private let readDescriptor: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<UInt8>?, Int32) -> Int32 = {
    opaque, buffer, size in
    let state = opaque!.assumingMemoryBound(to: FFIOState.self)
    if state.pointee.shouldStop() { return AVERROR_EXIT_CODE }
    while true {
        let n = InputStreamEnd.read(state.pointee.fd, buffer!, Int(size))
        if n > 0 {
            state.pointee.bytes += Int64(n)
            return Int32(n)
        }
        if n == 0 { return FF.eof }
        if errno == EINTR { continue }
        return -errno
    }
}

/// `AVERROR_EXIT` = `-MKTAG('E','X','I','T')`.
private let AVERROR_EXIT_CODE: Int32 = -Int32(bitPattern: 0x45 | 0x58 << 8 | 0x49 << 16 | 0x54 << 24)

/// An open container (`AVFormatContext`), closed on deinit.
///
/// - Important: Opened by path with the `file` protocol only (a path like `http:x` or
///   `concat:a|b` is a file name, and playlists cannot pull in other protocols), and image
///   file names are never treated as `%d` patterns.
final class FFInput {
    /// The name used in errors (the path, or e.g. "<stdin>").
    let path: String
    let ctx: UnsafeMutablePointer<AVFormatContext>
    private var io: UnsafeMutablePointer<AVIOContext>?
    private let state: UnsafeMutablePointer<FFIOState>

    /// Opens `path`. `streamInfo`: run `avformat_find_stream_info` (reads a few packets and,
    /// for some codecs, decodes a frame: its decoders get `maxPixels` as `max_pixels`).
    init(path: String, streamInfo: Bool = true, maxPixels: Int = DecodeLimits.default.maxPixels) throws {
        FF.setUp()
        try FF.preflight(path)
        var options: OpaquePointer?
        av_dict_set(&options, "protocol_whitelist", "file", 0)
        av_dict_set(&options, "pattern_type", "none", 0)
        defer { av_dict_free(&options) }
        guard let fresh = avformat_alloc_context() else { throw MediaError(path, .tooLarge, "out of memory") }
        let state = UnsafeMutablePointer<FFIOState>.allocate(capacity: 1)
        state.initialize(to: FFIOState(ctx: fresh))
        fresh.pointee.interrupt_callback = AVIOInterruptCB(callback: interruptWhenStuck, opaque: state)
        var ic: UnsafeMutablePointer<AVFormatContext>? = fresh
        _ = FF.takeLoggedError()
        let r = avformat_open_input(&ic, "file:" + path, nil, &options)   // frees `fresh` on failure
        guard r >= 0, let ic else {
            let tripped = state.pointee.tripped
            state.deallocate()
            if tripped { throw FFInput.stuck(path) }
            throw FF.openFailure(path, r, sniff: true)
        }
        self.path = path
        self.ctx = ic
        self.state = state
        try finishOpening(streamInfo: streamInfo, maxPixels: maxPixels)
    }

    /// Opens a readable file descriptor (a pipe, a socket, stdin) through a custom AVIOContext
    /// that only reads: FFmpeg demuxes it as a stream that cannot seek. The descriptor is not
    /// closed. `name` is used in errors and its extension (if any) helps the format probe.
    init(fileDescriptor fd: Int32, name: String, maxPixels: Int = DecodeLimits.default.maxPixels) throws {
        FF.setUp()
        let size = 1 << 16
        guard let buffer = av_malloc(size)?.assumingMemoryBound(to: UInt8.self) else {
            throw MediaError(name, .tooLarge, "out of memory")
        }
        let state = UnsafeMutablePointer<FFIOState>.allocate(capacity: 1)
        state.initialize(to: FFIOState(fd: fd))
        guard let io = avio_alloc_context(buffer, Int32(size), 0, state, readDescriptor, nil, nil) else {
            av_free(buffer)
            state.deallocate()
            throw MediaError(name, .tooLarge, "out of memory")
        }
        io.pointee.seekable = 0
        guard let fresh = avformat_alloc_context() else {
            FFInput.free(io)
            state.deallocate()
            throw MediaError(name, .tooLarge, "out of memory")
        }
        fresh.pointee.pb = io
        fresh.pointee.flags |= AVFMT_FLAG_CUSTOM_IO
        var ic: UnsafeMutablePointer<AVFormatContext>? = fresh
        _ = FF.takeLoggedError()
        let r = avformat_open_input(&ic, name, nil, nil)   // frees `fresh` on failure
        guard r >= 0, let ic else {
            FFInput.free(io)
            let (bytes, tripped) = (state.pointee.bytes, state.pointee.tripped)
            state.deallocate()
            if bytes == 0 {
                throw MediaError(name, .empty, "the stream ended before any data arrived")
            }
            if tripped { throw FFInput.stuck(name) }
            throw FF.openFailure(name, r, sniff: false)
        }
        self.path = name
        self.ctx = ic
        self.io = io
        self.state = state
        // A live pipe should not wait for seconds of data (find_stream_info reads ahead up to
        // 5 MB / 5 s) when the headers already describe an audio stream (WAV, MP3, Ogg, ADTS).
        let described = (0..<Int32(streamCount)).contains { i in
            let par = stream(i).pointee.codecpar.pointee
            return par.codec_type == AVMEDIA_TYPE_AUDIO && par.codec_id != AV_CODEC_ID_NONE
                && par.sample_rate > 0 && par.ch_layout.nb_channels > 0
        }
        try finishOpening(streamInfo: !described, maxPixels: maxPixels)
    }

    private func finishOpening(streamInfo: Bool, maxPixels: Int) throws {
        if demuxer == "tty" {
            throw MediaError(path, .unsupported, "looks like a text file, not audio, video or an image")
        }
        guard streamInfo else { return }
        // Per-stream decoder options for the probe decode: cap the picture size and stay on
        // one thread (the probe decodes a frame or two).
        let n = Int(ctx.pointee.nb_streams)
        var perStream = [OpaquePointer?](repeating: nil, count: max(n, 1))
        for i in 0..<n {
            av_dict_set(&perStream[i], "max_pixels", String(maxPixels), 0)
            av_dict_set(&perStream[i], "threads", "1", 0)
        }
        defer { for i in 0..<n { av_dict_free(&perStream[i]) } }
        let r = perStream.withUnsafeMutableBufferPointer { avformat_find_stream_info(ctx, $0.baseAddress) }
        if state.pointee.tripped { throw FFInput.stuck(path) }
        if r < 0 {
            let detail = FF.takeLoggedError().map { "\(FF.message(r)): \($0)" } ?? FF.message(r)
            throw MediaError(path, .corrupt, "cannot read the stream parameters (\(detail)); the file is probably damaged")
        }
    }

    deinit {
        var ic: UnsafeMutablePointer<AVFormatContext>? = ctx
        avformat_close_input(&ic)
        if let io { FFInput.free(io) }
        state.deallocate()
    }

    /// The demuxer handed over a packet of our stream: restart the watchdog's count.
    func madeProgress() {
        state.pointee.mark = state.pointee.bytesRead
    }

    /// The watchdog stopped reading.
    var stuck: Bool { state.pointee.tripped }

    static func stuck(_ path: String) -> MediaError {
        MediaError(path, .corrupt, "read \(FFIOState.limit >> 20) MB without finding a single packet; the file is probably damaged")
    }

    private static func free(_ io: UnsafeMutablePointer<AVIOContext>) {
        av_free(io.pointee.buffer)   // FFmpeg may have replaced the buffer we gave it
        io.pointee.buffer = nil
        var p: UnsafeMutablePointer<AVIOContext>? = io
        avio_context_free(&p)
    }

    /// The demuxer's name as FFmpeg spells it ("mov,mp4,m4a,3gp,3g2,mj2", "wav", "png_pipe").
    var demuxer: String { FF.string(ctx.pointee.iformat?.pointee.name) ?? "unknown" }

    /// The container name to show people ("mp4", "wav", "png").
    var container: String { FF.containerName(demuxer, path: path) }

    var streamCount: Int { Int(ctx.pointee.nb_streams) }

    func stream(_ index: Int32) -> UnsafeMutablePointer<AVStream> {
        ctx.pointee.streams[Int(index)]!
    }

    /// Container duration in seconds, nil when unknown.
    var duration: Double? {
        let d = ctx.pointee.duration
        guard d != FF.noPTS, d > 0 else { return nil }
        return Double(d) / Double(AV_TIME_BASE)
    }

    /// Container start time in seconds (0 when unknown).
    var startTime: Double {
        let s = ctx.pointee.start_time
        guard s != FF.noPTS else { return 0 }
        return Double(s) / Double(AV_TIME_BASE)
    }

    /// The best stream of `type` as FFmpeg ranks them. For video, cover art (attached
    /// pictures, e.g. in MP3 or M4A files) does not count unless `allowCoverArt`.
    func bestStream(_ type: AVMediaType, allowCoverArt: Bool = false) -> Int32? {
        func usable(_ i: Int32) -> Bool {
            let st = stream(i)
            guard st.pointee.codecpar.pointee.codec_type == type else { return false }
            if type == AVMEDIA_TYPE_VIDEO, !allowCoverArt,
               st.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC != 0 { return false }
            return true
        }
        let best = av_find_best_stream(ctx, type, -1, -1, nil, 0)
        if best >= 0, usable(best) { return best }
        return (0..<Int32(streamCount)).first(where: usable)
    }

    /// Tells the demuxer to drop every packet except those of `index`.
    func keepOnly(_ index: Int32) {
        for i in 0..<Int32(streamCount) where i != index {
            stream(i).pointee.discard = AVDISCARD_ALL
        }
    }
}
