import CFFmpeg

/// What an audio source is, from its headers: container and codec as FFmpeg names them
/// ("wav" / "pcm_s16le", "mp3" / "mp3", "mp4" / "aac", "ogg" / "opus"), native sample rate,
/// channel count, and the length in frames when the header states it.
public struct AudioFormat: Sendable, Equatable {
    public let container: String
    public let codec: String
    public let sampleRate: Int
    public let channels: Int
    /// Frames (samples per channel) according to the header; nil when unknown (pipes,
    /// some streams). For compressed formats it can be an estimate.
    public let frames: Int?

    public init(container: String, codec: String, sampleRate: Int, channels: Int, frames: Int?) {
        self.container = container
        self.codec = codec
        self.sampleRate = sampleRate
        self.channels = channels
        self.frames = frames
    }

    /// Seconds, when the header states the length.
    public var duration: Double? {
        guard let frames, sampleRate > 0 else { return nil }
        return Double(frames) / Double(sampleRate)
    }
}

extension AudioFormat {
    /// The format of audio stream `index` of an opened container.
    init(input: FFInput, stream index: Int32) {
        let st = input.stream(index)
        let par = st.pointee.codecpar!.pointee
        let rate = Int(par.sample_rate)
        var frames: Int?
        if rate > 0, let seconds = FF.seconds(st.pointee.duration, st.pointee.time_base) ?? input.duration,
           seconds > 0, seconds < 1e9 {
            frames = Int((seconds * Double(rate)).rounded())
        }
        self.init(container: input.container, codec: FF.codecName(par.codec_id), sampleRate: rate,
                  channels: Int(par.ch_layout.nb_channels), frames: frames)
    }
}
