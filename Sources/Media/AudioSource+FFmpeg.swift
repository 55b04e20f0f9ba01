import CFFmpeg

/// Any audio FFmpeg can demux and decode (MP3, AAC/M4A, Opus, the audio track of a video,
/// WAV from a pipe ...), one decoded frame per block.
final class FFmpegAudioSource: AudioSource {
    let format: AudioFormat
    private let input: FFInput
    private let decoder: FFDecoder
    private var mono: UnsafeMutablePointer<Float>
    private var capacity = 8192

    convenience init(path: String) throws {
        try self.init(input: FFInput(path: path))
    }

    convenience init(fileDescriptor: Int32, name: String) throws {
        try self.init(input: FFInput(fileDescriptor: fileDescriptor, name: name))
    }

    private init(input: FFInput) throws {
        guard let index = input.bestStream(AVMEDIA_TYPE_AUDIO) else {
            if input.bestStream(AVMEDIA_TYPE_VIDEO, allowCoverArt: true) != nil {
                throw MediaError(input.path, .noStream, "has no audio track (\(input.container) with video only)")
            }
            throw MediaError(input.path, .unsupported, "contains no audio (\(input.container) with no audio stream)")
        }
        let format = AudioFormat(input: input, stream: index)
        guard format.channels > 0, format.channels <= 64, format.sampleRate > 0 else {
            throw MediaError(input.path, .corrupt, "the audio stream has \(format.channels) channels at \(format.sampleRate) Hz")
        }
        self.input = input
        self.format = format
        self.decoder = try FFDecoder(input: input, index: index, maxPixels: DecodeLimits.default.maxPixels, threads: 1)
        self.mono = .allocate(capacity: capacity)
    }

    deinit { mono.deallocate() }

    var hadErrors: Bool { decoder.endedEarly || decoder.decodeErrors > 0 }
    var endReason: String? { decoder.endReason ?? decoder.lastErrorDescription }

    func nextBlock() throws -> (samples: UnsafeBufferPointer<Float>, rate: Int)? {
        while let frame = decoder.nextFrame() {
            let n = Int(frame.pointee.nb_samples)
            let rate = Int(frame.pointee.sample_rate)
            guard n > 0, rate > 0, frame.pointee.ch_layout.nb_channels > 0 else { continue }
            if n > capacity {
                mono.deallocate()
                capacity = max(n, capacity * 2)
                mono = .allocate(capacity: capacity)
            }
            guard AudioMixdown.mix(frame, into: mono) else {
                let name = FF.string(av_get_sample_fmt_name(AVSampleFormat(rawValue: frame.pointee.format))) ?? "?"
                throw MediaError(input.path, .unsupported, "decoded audio has an unsupported sample format '\(name)'")
            }
            return (UnsafeBufferPointer(start: mono, count: n), rate)
        }
        return nil
    }
}
