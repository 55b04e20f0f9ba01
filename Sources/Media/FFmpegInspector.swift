import CFFmpeg

/// What a media file holds, from its headers: for `mmpipe probe`.
public struct MediaStreams: Sendable, Equatable {
    public let container: String
    /// Seconds; nil when unknown (e.g. a still image).
    public let duration: Double?
    /// The main video stream (cover art is not counted), if any.
    public let video: VideoInfo?
    /// The main audio stream, if any.
    public let audio: AudioFormat?

    public init(container: String, duration: Double?, video: VideoInfo?, audio: AudioFormat?) {
        self.container = container
        self.duration = duration
        self.video = video
        self.audio = audio
    }
}

public enum MediaInspector {
    /// Reads the headers only (`avformat_find_stream_info`: a few packets, no full decode).
    /// Falls back to libsndfile for audio files FFmpeg cannot open. Throws the usual
    /// MediaErrors for missing, unreadable, empty and unrecognised files.
    public static func inspect(path: String) throws -> MediaStreams {
        let input: FFInput
        do {
            input = try FFInput(path: path)
        } catch let error as MediaError where error.kind == .unsupported || error.kind == .corrupt {
            if SndFileAudioSource.formats.contains(FF.sniff(path).name), let sndfile = SndFileAudioSource(path: path) {
                let format = sndfile.format
                return MediaStreams(container: format.container, duration: format.duration, video: nil, audio: format)
            }
            throw error
        }
        let video = input.bestStream(AVMEDIA_TYPE_VIDEO).map { VideoInfo(input: input, stream: $0) }
        let audio = input.bestStream(AVMEDIA_TYPE_AUDIO).map { AudioFormat(input: input, stream: $0) }
        if video == nil && audio == nil && input.bestStream(AVMEDIA_TYPE_VIDEO, allowCoverArt: true) == nil {
            throw MediaError(path, .noStream, "has no audio or video stream (\(input.container))")
        }
        return MediaStreams(container: input.container, duration: input.duration ?? video?.duration ?? audio?.duration,
                            video: video, audio: audio)
    }
}
