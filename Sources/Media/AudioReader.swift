import Foundation

/// Streaming audio reader: decoded, down-mixed to mono (the mean of the channels),
/// resampled with libswresample to `sampleRate` (nil = the source's native rate), and read
/// in chunks so a 3-hour file never sits in memory whole.
///
/// WAV, AIFF, FLAC and Ogg (Vorbis, Opus) files are read with libsndfile; everything else
/// (MP3, M4A/AAC, Opus in other containers, the audio track of a video, any pipe) with
/// libavformat + libavcodec. When the output rate equals the source rate no resampling
/// happens: a mono 16-bit WAV read at its own rate gives exactly `Float(x) / 32768`.
///
/// Damaged input (the behaviour is deliberate and tested):
/// - A truncated file decodes what is there: PCM up to the cut, compressed formats up to the
///   last frame that decodes; the stream then ends normally. Up to 32 damaged packets in a
///   row are skipped; more than that, or 128 MB read without a single packet, ends the
///   stream as if at its end.
/// - If not a single sample decodes, reading throws `.corrupt` (or `.empty` when the file is
///   well-formed and simply holds no samples, e.g. a WAV with a zero-length data chunk, or a
///   stream whose header states no length).
/// - Missing files, directories, devices, unreadable or zero-byte files, and data FFmpeg does
///   not recognise (random bytes, text) throw from `init`; a container whose headers are
///   cut (an M4A without its index) throws `.corrupt` from `init`.
///
/// Limits: when `limits.maxAudioSeconds` is set, a header that states a longer duration
/// throws `.tooLarge` from `init` before anything is decoded; audio whose header does not say
/// (pipes, some streams) throws `.tooLarge` from `read` once more than that limit plus one
/// second has decoded.
///
/// - Important: Safe to share between tasks (calls are serialised), but reads consume the
///   stream: use one consumer. `read` holds at most `maxFrames` plus one decoded block.
public final class AudioReader: @unchecked Sendable {
    /// The source's format, from its headers.
    public let format: AudioFormat
    /// The sample rate of everything `read` returns.
    public let outputRate: Int

    private let path: String
    private let limits: DecodeLimits
    private let source: AudioSource
    private var resampler: AudioResampler?
    private var fifo: [Float] = []
    private var head = 0
    private var finished = false
    private var decodedSamples = 0
    private var decodedSeconds = 0.0
    private let lock = NSLock()

    /// Opens an audio file, or the audio track of a video file.
    public convenience init(path: String, sampleRate: Int? = 16_000, limits: DecodeLimits = .default) throws {
        let source: AudioSource
        // libsndfile only for the formats it is for (sniffed, so it never sees an MP3: its
        // mpg123 backend prints to stderr), and only when it finds samples.
        if try FF.preflight(path) == .regular, SndFileAudioSource.formats.contains(FF.sniff(path).name),
           let sndfile = SndFileAudioSource(path: path), sndfile.format.frames != 0 {
            source = sndfile
        } else {
            source = try FFmpegAudioSource(path: path)
        }
        try self.init(source: source, path: path, sampleRate: sampleRate, limits: limits)
    }

    /// Reads audio from a file descriptor that need not seek (stdin, a pipe, a socket):
    /// WAV or any container FFmpeg can demux from a stream (MP3, ADTS AAC, Ogg, fragmented MP4,
    /// Matroska ...; a regular MP4 with its index at the end cannot work from a pipe). The
    /// descriptor is read to its end and not closed. `name` names the input in errors.
    public convenience init(fileDescriptor: Int32, name: String = "<stdin>", sampleRate: Int? = 16_000,
                            limits: DecodeLimits = .default) throws {
        guard fileDescriptor >= 0, fcntl(fileDescriptor, F_GETFD) != -1 else {
            throw MediaError(name, .unreadable, "file descriptor \(fileDescriptor) is not open")
        }
        try self.init(source: FFmpegAudioSource(fileDescriptor: fileDescriptor, name: name), path: name,
                      sampleRate: sampleRate, limits: limits)
    }

    /// Reads headerless PCM from a file descriptor (`ffmpeg ... -f s16le -`): signed 16-bit
    /// little-endian samples, `raw.channels` interleaved at `raw.sampleRate`; mixed down and
    /// resampled like any other source. The descriptor is read to its end and not closed.
    public convenience init(fileDescriptor: Int32, name: String = "<stdin>", raw: RawPCMFormat, sampleRate: Int? = 16_000,
                            limits: DecodeLimits = .default) throws {
        guard fileDescriptor >= 0, fcntl(fileDescriptor, F_GETFD) != -1 else {
            throw MediaError(name, .unreadable, "file descriptor \(fileDescriptor) is not open")
        }
        try self.init(source: RawPCMAudioSource(fileDescriptor: fileDescriptor, name: name, layout: raw), path: name,
                      sampleRate: sampleRate, limits: limits)
    }

    init(source: AudioSource, path: String, sampleRate: Int?, limits: DecodeLimits) throws {
        let format = source.format
        if let rate = sampleRate, !(1...768_000).contains(rate) {
            throw MediaError(path, .unsupported, "output sample rate \(rate) Hz is outside 1...768000 Hz")
        }
        // A damaged header can claim any rate or channel count; resampling from 1.6 GHz
        // (seen while fuzzing) would take seconds and gigabytes for a 67-byte file.
        if !(1...768_000).contains(format.sampleRate) {
            throw MediaError(path, .corrupt, "header says the sample rate is \(format.sampleRate) Hz (outside 1...768000 Hz)")
        }
        if !(1...64).contains(format.channels) {
            throw MediaError(path, .corrupt, "header says there are \(format.channels) channels (outside 1...64)")
        }
        if format.frames == 0 {
            throw MediaError(path, .empty, "contains no audio samples")
        }
        if let limit = limits.maxAudioSeconds, let duration = format.duration, duration > limit {
            throw MediaError(path, .tooLarge, "is \(AudioReader.seconds(duration)) long, above the \(AudioReader.seconds(limit)) limit (--max-duration)")
        }
        self.source = source
        self.format = format
        self.outputRate = sampleRate ?? format.sampleRate
        self.path = path
        self.limits = limits
    }

    /// The next at most `maxFrames` mono samples at `outputRate`; nil at the end of the
    /// stream. Returns fewer only at the end. `maxFrames <= 0` returns an empty array.
    public func read(maxFrames: Int) throws -> [Float]? {
        lock.lock()
        defer { lock.unlock() }
        guard maxFrames > 0 else { return [] }
        while fifo.count - head < maxFrames, try pump(into: &fifo) {}
        let available = fifo.count - head
        if available == 0 { return nil }
        let n = min(available, maxFrames)
        let chunk = Array(fifo[head ..< head + n])
        head += n
        if head == fifo.count {
            fifo.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1 << 16, head * 2 >= fifo.count {
            fifo.removeFirst(head)
            head = 0
        }
        return chunk
    }

    /// Everything not read yet, as one array.
    public func readAll() throws -> [Float] {
        lock.lock()
        defer { lock.unlock() }
        var out: [Float] = []
        if let frames = format.frames, format.sampleRate > 0 {
            // Trust the header for the allocation only up to an hour; beyond, grow as needed.
            let expected = Double(frames) * Double(outputRate) / Double(format.sampleRate)
            out.reserveCapacity(Int(min(expected, 3600 * Double(outputRate))) + 8192)
        }
        out.append(contentsOf: fifo[head...])
        fifo = []
        head = 0
        while try pump(into: &out) {}
        return out
    }

    /// The stream as chunks of `seconds` (the last one shorter), decoded as they are pulled.
    public func chunks(seconds: Double) -> AsyncThrowingStream<[Float], Error> {
        let frames = seconds.isFinite && seconds > 0 ? max(1, Int(min((seconds * Double(outputRate)).rounded(), 1_073_741_824.0))) : 0
        let path = self.path
        return AsyncThrowingStream { [self] in
            guard frames > 0 else {
                throw MediaError(path, .unsupported, "chunk length must be a positive number of seconds, not \(seconds)")
            }
            try Task.checkCancellation()
            return try self.read(maxFrames: frames)
        }
    }

    /// Decodes one block and appends it, resampled, to `out`. False at the end.
    private func pump(into out: inout [Float]) throws -> Bool {
        if finished { return false }
        guard let (block, rate) = try source.nextBlock() else {
            resampler?.flush(appendTo: &out)
            resampler = nil
            finished = true
            if decodedSamples == 0 {
                if source.hadErrors {
                    throw MediaError(path, .corrupt, "no audio could be decoded (\(source.endReason ?? "every packet was damaged"))")
                }
                if let promised = format.duration, promised > 0 {
                    throw MediaError(path, .corrupt, "the header promises \(AudioReader.seconds(promised)) of audio but none decodes; the file is probably damaged")
                }
                throw MediaError(path, .empty, "contains no audio samples")
            }
            return false
        }
        decodedSamples += block.count
        decodedSeconds += Double(block.count) / Double(rate)
        if let limit = limits.maxAudioSeconds, decodedSeconds > limit + 1 {
            finished = true
            throw MediaError(path, .tooLarge, "is longer than the \(AudioReader.seconds(limit)) limit (--max-duration)")
        }
        if rate == outputRate {
            if let r = resampler {   // the rate changed back mid-stream
                r.flush(appendTo: &out)
                resampler = nil
            }
            out.append(contentsOf: block)
        } else {
            if let r = resampler, r.inputRate != rate {
                r.flush(appendTo: &out)
                resampler = nil
            }
            if resampler == nil { resampler = try AudioResampler(from: rate, to: outputRate, path: path) }
            try resampler!.convert(block, appendTo: &out, path: path)
        }
        return true
    }

    private static func seconds(_ s: Double) -> String {
        String(format: s < 100 ? "%.1f s" : "%.0f s", s)
    }
}

/// Decodes a whole audio file to mono Float at `sampleRate` (see `AudioReader`).
public func decodeAudio(path: String, sampleRate: Int = 16_000, limits: DecodeLimits = .default) throws -> [Float] {
    try AudioReader(path: path, sampleRate: sampleRate, limits: limits).readAll()
}
