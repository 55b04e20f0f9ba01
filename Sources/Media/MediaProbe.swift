import Foundation

/// What `mmpipe probe` reports for one file.
public struct ProbeResult: Sendable, Equatable, Codable {
    public var path: String
    public var kind: String               // image, audio, video
    public var format: String             // container / image format
    public var codec: String?
    public var width: Int?
    public var height: Int?
    public var duration: Double?          // seconds
    public var sampleRate: Int?
    public var channels: Int?
    public var frames: Int?               // video frames (from the header, when it says)
    public var fps: Double?
    /// What is wrong with a file that still decodes (`truncated: header says 1.10 s, file
    /// holds 0.15 s`), without the path; nil when nothing is.
    public var warnings: [String]?
    /// A video's audio track (`sampleRate` and `channels` repeat its rate and channels).
    public var audio: AudioTrack?

    public struct AudioTrack: Sendable, Equatable, Codable {
        public var codec: String
        public var sampleRate: Int
        public var channels: Int
        public var duration: Double?
        enum CodingKeys: String, CodingKey { case codec, sampleRate = "sample_rate", channels, duration }
    }

    enum CodingKeys: String, CodingKey {
        case path, kind, format, codec, width, height, duration
        case sampleRate = "sample_rate", channels, frames, fps, warnings, audio
    }

    static func channelsText(_ n: Int) -> String { n == 1 ? "mono" : n == 2 ? "stereo" : "\(n) ch" }

    /// One human-readable line (without the path).
    public var summary: String {
        var parts = [kind, format]
        if let codec, codec != format { parts.append(codec) }
        if let width, let height { parts.append("\(width)x\(height)") }
        if let fps { parts.append(String(format: "%.3g fps", fps)) }
        if let frames { parts.append("\(frames) frames") }
        if let duration { parts.append(String(format: "%.2f s", duration)) }
        if let audio {
            parts.append("audio " + audio.codec)
            parts.append("\(audio.sampleRate) Hz")
            parts.append(ProbeResult.channelsText(audio.channels))
            if let d = audio.duration { parts.append(String(format: "%.2f s", d)) }
        } else {
            if let sampleRate { parts.append("\(sampleRate) Hz") }
            if let channels { parts.append(ProbeResult.channelsText(channels)) }
        }
        if let warnings, !warnings.isEmpty { parts.append("(" + warnings.joined(separator: "; ") + ")") }
        return parts.joined(separator: "  ")
    }
}

/// Identifies a file from its bytes and checks that it really decodes: images are decoded
/// whole; audio and video have their headers read and their first second / first frame
/// decoded (a long recording is not decoded to the end).
public enum MediaProbe {
    public static func probe(path: String, limits: DecodeLimits = .default) throws -> ProbeResult {
        let sniffed = try MediaFormat.detect(path: path)
        if sniffed.name == "png" || sniffed.name == "jpeg" {
            // One read and decode: the decoded size is the displayed one (EXIF applied).
            let image = try ImageDecoder.decode(path: path, limits: limits)
            return ProbeResult(path: path, kind: "image", format: sniffed.name, width: image.width, height: image.height)
        }
        let streams: MediaStreams
        do {
            streams = try MediaInspector.inspect(path: path)
        } catch let e as MediaError where sniffed.kind == .unknown && e.kind != .notFound && e.kind != .unreadable
                                          && e.reason != MediaError.textFileReason {
            throw MediaError(path, .unsupported, "not a recognised image, audio or video file (\(e.reason))")
        }
        let format = sniffed.name == "unknown" ? streams.container : sniffed.name
        if let v = streams.video {
            let still = sniffed.kind == .image || (streams.audio == nil && (v.frameCount ?? 2) <= 1 && streams.duration == nil)
            if still {
                let img = try FFmpegImage.decode(path: path, limits: limits)
                return ProbeResult(path: path, kind: "image", format: format, codec: v.codec, width: img.width, height: img.height)
            }
            let reader = try VideoReader(path: path, limits: limits)
            guard try reader.next(fps: 1) != nil else { throw MediaError(path, .empty, "video has no decodable frames") }
            var result = ProbeResult(path: path, kind: "video", format: format, codec: v.codec, width: v.width, height: v.height,
                                     duration: streams.duration ?? v.duration, sampleRate: streams.audio?.sampleRate,
                                     channels: streams.audio?.channels, frames: v.frameCount, fps: v.fps)
            result.audio = streams.audio.map { ProbeResult.AudioTrack(codec: $0.codec, sampleRate: $0.sampleRate, channels: $0.channels, duration: $0.duration) }
            return result
        }
        if let a = streams.audio {
            if let max = limits.maxAudioSeconds, let d = a.duration ?? streams.duration, d > max {
                throw MediaError(path, .tooLarge, String(format: "audio is %.1f s, above the %.1f s limit (--max-duration)", d, max))
            }
            let reader = try AudioReader(path: path, sampleRate: nil, limits: limits)
            guard let first = try reader.read(maxFrames: max(a.sampleRate, 1)), !first.isEmpty else {
                throw MediaError(path, .empty, "audio has no samples")
            }
            var result = ProbeResult(path: path, kind: "audio", format: format, codec: a.codec,
                                     duration: a.duration ?? streams.duration, sampleRate: a.sampleRate, channels: a.channels)
            let warnings = AudioIntegrity.check(path: path)
            if !warnings.isEmpty { result.warnings = warnings.map(\.message) }
            return result
        }
        throw MediaError(path, .noStream, "no audio or video stream")
    }
}
