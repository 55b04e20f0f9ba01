import CFFmpeg
import Foundation

/// Reads a video file's frames in order, sampled at a rate or keyframes only, as RGB8
/// images (libswscale) with their presentation times.
///
/// Damaged input (deliberate and tested): a truncated file yields the frames that decode
/// and then ends; a file whose index is missing or cut (an MP4 cut before the end of its
/// `moov` box) throws `.corrupt`, from `init` or, when the demuxer accepts the partial index,
/// from the first `next`; whenever not a single frame decodes, `next` throws `.corrupt`.
///
/// - Important: Safe to share between tasks (calls are serialised), but frames are consumed:
///   use one consumer. Decoding uses FFmpeg's default thread count (one per core).
public final class VideoReader: @unchecked Sendable {
    public let info: VideoInfo

    private let path: String
    private let limits: DecodeLimits
    private let input: FFInput
    private let decoder: FFDecoder
    private let converter = FFRGBConverter()
    private let timeBase: AVRational
    private let origin: Double
    private let frameStep: Double?
    private var nextSlot: Int64 = 0
    private var slotFPS: Double?
    private var lastTime: Double?
    private var emitted = 0
    private let lock = NSLock()

    /// Opens a video file. Throws `.noStream` when it has no video stream (cover art in an
    /// audio file does not count) and `.tooLarge` when a frame is above `limits.maxPixels`.
    public init(path: String, limits: DecodeLimits = .default) throws {
        let input = try FFInput(path: path, maxPixels: limits.maxPixels)
        guard let index = input.bestStream(AVMEDIA_TYPE_VIDEO) else {
            let what = input.bestStream(AVMEDIA_TYPE_AUDIO) != nil ? "audio only" : "no audio or video"
            throw MediaError(path, .noStream, "has no video stream (\(input.container), \(what))")
        }
        let info = VideoInfo(input: input, stream: index)
        let (pixels, overflow) = info.width.multipliedReportingOverflow(by: info.height)
        if overflow || pixels > limits.maxPixels {
            throw MediaError(path, .tooLarge, limits.refusal("video frame", info.width, info.height))
        }
        self.decoder = try FFDecoder(input: input, index: index, maxPixels: limits.maxPixels, threads: 0)
        self.input = input
        self.info = info
        self.path = path
        self.limits = limits
        self.timeBase = input.stream(index).pointee.time_base
        self.origin = input.startTime
        self.frameStep = info.fps.map { 1 / $0 }
    }

    /// The next frame: with `keyframesOnly`, every keyframe (only keyframes are decoded, so
    /// this is fast); otherwise sampled at `fps`, i.e. the first frame whose time is at or
    /// after 0, 1/fps, 2/fps ... (each frame at most once, gaps skip slots). Nil at the end.
    /// `fps` may change between calls; the grid then continues after the last frame returned.
    public func next(fps: Double = 1, keyframesOnly: Bool = false) throws -> VideoFrame? {
        lock.lock()
        defer { lock.unlock() }
        if !keyframesOnly {
            guard fps.isFinite, fps > 0 else {
                throw MediaError(path, .unsupported, "the sampling rate must be a positive number of frames per second, not \(fps)")
            }
            if slotFPS != fps {
                slotFPS = fps
                nextSlot = lastTime.map { slot(after: $0, fps: fps) } ?? 0
            }
        }
        decoder.keyframesOnly = keyframesOnly
        while let frame = decoder.nextFrame() {
            let t = time(of: frame)
            if keyframesOnly {
                guard frame.pointee.key_frame != 0 else { continue }
            } else {
                // 1 ms of slack so a frame stamped 0.9999 s counts for t = 1 s.
                guard t + 1e-3 >= Double(nextSlot) / fps else { continue }
                nextSlot = slot(after: t, fps: fps)
            }
            lastTime = t
            let image = try converter.image(from: frame, path: path, maxPixels: limits.maxPixels)
            emitted += 1
            return VideoFrame(image: image, time: t)
        }
        if let (w, h) = decoder.refusedSize {
            throw MediaError(path, .tooLarge, limits.refusal("video frame", w, h))
        }
        if emitted == 0 && decoder.framesDecoded == 0 {
            emitted = -1   // report once
            let reason = decoder.endReason ?? decoder.lastErrorDescription ?? "no frames in the stream"
            throw MediaError(path, .corrupt, "no video frame could be decoded (\(reason))")
        }
        return nil
    }

    /// `next(fps:keyframesOnly:)` as an async sequence, decoding as frames are pulled.
    public func frames(fps: Double = 1, keyframesOnly: Bool = false) -> AsyncThrowingStream<VideoFrame, Error> {
        AsyncThrowingStream { [self] in
            try Task.checkCancellation()
            return try self.next(fps: fps, keyframesOnly: keyframesOnly)
        }
    }

    private func slot(after t: Double, fps: Double) -> Int64 {
        let k = ((t + 1e-3) * fps).rounded(.down) + 1
        return k < 9e18 ? Int64(max(k, 0)) : Int64.max
    }

    /// Presentation time in seconds from the container's start; frames without timestamps
    /// continue from the previous one at the stream's frame rate.
    private func time(of frame: UnsafeMutablePointer<AVFrame>) -> Double {
        var ts = frame.pointee.best_effort_timestamp
        if ts == FF.noPTS { ts = frame.pointee.pts }
        if let s = FF.seconds(ts, timeBase) { return s - origin }
        if let last = lastTime { return last + (frameStep ?? 0.04) }
        return 0
    }
}
