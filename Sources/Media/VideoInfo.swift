import CFFmpeg

/// A video stream as its headers describe it.
public struct VideoInfo: Sendable, Equatable {
    public let container: String
    public let codec: String
    public let width: Int
    public let height: Int
    /// Seconds; nil when unknown.
    public let duration: Double?
    /// Average frame rate; nil when the stream does not state one.
    public let fps: Double?
    /// Frames according to the header; nil when unknown.
    public let frameCount: Int?
    /// The file also has an audio track.
    public let hasAudio: Bool

    public init(container: String, codec: String, width: Int, height: Int, duration: Double?, fps: Double?,
                frameCount: Int?, hasAudio: Bool) {
        self.container = container
        self.codec = codec
        self.width = width
        self.height = height
        self.duration = duration
        self.fps = fps
        self.frameCount = frameCount
        self.hasAudio = hasAudio
    }
}

/// A decoded video frame and its presentation time in seconds from the start of the file.
public struct VideoFrame: Sendable {
    public let image: RGBImage
    public let time: Double

    public init(image: RGBImage, time: Double) {
        self.image = image
        self.time = time
    }
}

extension VideoInfo {
    /// The info of video stream `index` of an opened container.
    init(input: FFInput, stream index: Int32) {
        let st = input.stream(index)
        let par = st.pointee.codecpar!.pointee
        func rate(_ r: AVRational) -> Double? {
            guard r.num > 0, r.den > 0 else { return nil }
            let v = Double(r.num) / Double(r.den)
            return v.isFinite && v < 10_000 ? v : nil
        }
        self.init(container: input.container, codec: FF.codecName(par.codec_id),
                  width: Int(par.width), height: Int(par.height),
                  duration: FF.seconds(st.pointee.duration, st.pointee.time_base).flatMap { $0 > 0 ? $0 : nil } ?? input.duration,
                  fps: rate(st.pointee.avg_frame_rate) ?? rate(st.pointee.r_frame_rate),
                  frameCount: st.pointee.nb_frames > 0 ? Int(st.pointee.nb_frames) : nil,
                  hasAudio: input.bestStream(AVMEDIA_TYPE_AUDIO) != nil)
    }
}
