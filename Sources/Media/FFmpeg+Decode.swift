import CFFmpeg

/// What the `get_buffer2` hook reads and writes (`AVCodecContext.opaque` points at it).
private struct PixelGuard {
    var limit: Int
    var rejected: (width: Int, height: Int)?
}

/// Refuses picture buffers above the pixel limit, and remembers the size it refused. (The
/// decoder's own `max_pixels` check would refuse too, but forgets the size.)
private let guardedGetBuffer: @convention(c) (UnsafeMutablePointer<AVCodecContext>?, UnsafeMutablePointer<AVFrame>?, Int32) -> Int32 = {
    ctx, frame, flags in
    if let ctx, let frame, let state = ctx.pointee.opaque?.assumingMemoryBound(to: PixelGuard.self) {
        let w = Int(ctx.pointee.width > 0 ? ctx.pointee.width : frame.pointee.width)
        let h = Int(ctx.pointee.height > 0 ? ctx.pointee.height : frame.pointee.height)
        let (pixels, overflow) = w.multipliedReportingOverflow(by: h)
        if w > 0, h > 0, overflow || pixels > state.pointee.limit {
            state.pointee.rejected = (w, h)
            return -ERANGE
        }
    }
    return avcodec_default_get_buffer2(ctx, frame, flags)
}

/// One stream of an `FFInput` being decoded packet by packet (`AVCodecContext`, one reused
/// `AVPacket` and `AVFrame`, all freed on deinit).
///
/// - Important: Never loops forever on garbage. Decoding stops (as if at the end, with
///   `endedEarly` set) after `maxConsecutiveErrors` packets in a row fail to decode, after
///   `maxIdlePackets` packets in a row give no frame, or after `maxAgain` "try again" reads
///   in a row, or when `FFInput`'s read watchdog stops the demuxer (128 MB read without a
///   packet of this stream). A read error other than end-of-file (a truncated file) also
///   ends the stream early after draining what the decoder holds. Callers decide whether a
///   stream that ended early with no output at all is `.corrupt`.
final class FFDecoder {
    static let maxConsecutiveErrors = 32
    static let maxIdlePackets = 4096
    static let maxAgain = 1024

    let input: FFInput
    let index: Int32
    let ctx: UnsafeMutablePointer<AVCodecContext>
    private let packet: UnsafeMutablePointer<AVPacket>
    private let frame: UnsafeMutablePointer<AVFrame>
    private let pixelGuard: UnsafeMutablePointer<PixelGuard>

    /// Frames returned so far.
    private(set) var framesDecoded = 0
    /// Packets that failed to decode (skipped), over the whole stream.
    private(set) var decodeErrors = 0
    /// The stream ended on an error or a cap instead of end-of-file.
    private(set) var endedEarly = false
    /// Why it ended early, for error messages.
    private(set) var endReason: String?
    /// The last decode error (0 = none), and what FFmpeg logged with it.
    private(set) var lastError: Int32 = 0
    private(set) var lastErrorLog: String?

    /// The last decode error as one line, for error reasons.
    var lastErrorDescription: String? {
        guard lastError != 0 else { return nil }
        return lastErrorLog.map { "\(FF.message(lastError)): \($0)" } ?? FF.message(lastError)
    }

    private var draining = false
    private var finished = false
    private var consecutiveErrors = 0

    /// Skip packets that are not keyframes and tell the decoder to skip non-key frames.
    var keyframesOnly = false {
        didSet { ctx.pointee.skip_frame = keyframesOnly ? AVDISCARD_NONKEY : AVDISCARD_DEFAULT }
    }

    /// `threads`: 0 = FFmpeg's choice (one per core), else that many.
    init(input: FFInput, index: Int32, maxPixels: Int, threads: Int) throws {
        let path = input.path
        let st = input.stream(index)
        let par = st.pointee.codecpar!
        let name = FF.codecName(par.pointee.codec_id)
        guard let codec = avcodec_find_decoder(par.pointee.codec_id) else {
            throw MediaError(path, .unsupported, "no decoder for codec '\(name)' in this FFmpeg build")
        }
        guard let ctx = avcodec_alloc_context3(codec) else {
            throw MediaError(path, .tooLarge, "out of memory")
        }
        var owned: UnsafeMutablePointer<AVCodecContext>? = ctx
        var r = avcodec_parameters_to_context(ctx, par)
        if r < 0 {
            avcodec_free_context(&owned)
            throw MediaError(path, .corrupt, "bad '\(name)' stream parameters (\(FF.message(r)))")
        }
        ctx.pointee.pkt_timebase = st.pointee.time_base
        ctx.pointee.max_pixels = max(ctx.pointee.max_pixels, Int64(maxPixels))
        ctx.pointee.thread_count = Int32(clamping: threads)
        let pixelGuard = UnsafeMutablePointer<PixelGuard>.allocate(capacity: 1)
        pixelGuard.initialize(to: PixelGuard(limit: maxPixels))
        ctx.pointee.opaque = UnsafeMutableRawPointer(pixelGuard)
        ctx.pointee.get_buffer2 = guardedGetBuffer
        r = avcodec_open2(ctx, codec, nil)
        if r < 0 {
            avcodec_free_context(&owned)
            pixelGuard.deallocate()
            if r == -EINVAL, par.pointee.width > 0,
               Int(par.pointee.width) * Int(par.pointee.height) > maxPixels {
                throw MediaError(path, .tooLarge, DecodeLimits(maxPixels: maxPixels).refusal("picture", Int(par.pointee.width), Int(par.pointee.height)))
            }
            throw MediaError(path, .unsupported, "cannot open the '\(name)' decoder (\(FF.message(r)))")
        }
        guard let packet = av_packet_alloc() else {
            avcodec_free_context(&owned)
            pixelGuard.deallocate()
            throw MediaError(path, .tooLarge, "out of memory")
        }
        guard let frame = av_frame_alloc() else {
            var p: UnsafeMutablePointer<AVPacket>? = packet
            av_packet_free(&p)
            avcodec_free_context(&owned)
            pixelGuard.deallocate()
            throw MediaError(path, .tooLarge, "out of memory")
        }
        self.input = input
        self.index = index
        self.ctx = ctx
        self.packet = packet
        self.frame = frame
        self.pixelGuard = pixelGuard
        input.keepOnly(index)
    }

    deinit {
        var f: UnsafeMutablePointer<AVFrame>? = frame
        av_frame_free(&f)
        var p: UnsafeMutablePointer<AVPacket>? = packet
        av_packet_free(&p)
        var c: UnsafeMutablePointer<AVCodecContext>? = ctx
        avcodec_free_context(&c)
        pixelGuard.deallocate()
    }

    /// The picture size the decoder wanted and the pixel limit refused, if any.
    var refusedSize: (width: Int, height: Int)? { pixelGuard.pointee.rejected }

    private func stop(_ reason: String) -> UnsafeMutablePointer<AVFrame>? {
        finished = true
        endedEarly = true
        endReason = reason
        return nil
    }

    /// Counts a decode error (`what`: frames or packets); true when too many came in a row
    /// and decoding has stopped.
    private func recordError(_ code: Int32, of what: String) -> Bool {
        lastError = code
        lastErrorLog = FF.takeLoggedError() ?? lastErrorLog
        decodeErrors += 1
        consecutiveErrors += 1
        guard consecutiveErrors >= FFDecoder.maxConsecutiveErrors else { return false }
        _ = stop("\(consecutiveErrors) \(what) in a row failed to decode (\(lastErrorDescription!))")
        return true
    }

    /// The next decoded frame, or nil at the end. The frame stays valid until the next call.
    func nextFrame() -> UnsafeMutablePointer<AVFrame>? {
        av_frame_unref(frame)
        if finished { return nil }
        var idle = 0
        var again = 0
        while true {
            let r = avcodec_receive_frame(ctx, frame)
            if r >= 0 {
                consecutiveErrors = 0
                framesDecoded += 1
                return frame
            }
            if r == FF.eof {
                finished = true
                return nil
            }
            if r != FF.again {
                if recordError(r, of: "frames") { return nil }
                continue
            }
            // The decoder wants input.
            if draining {
                finished = true
                return nil
            }
            let rr = av_read_frame(input.ctx, packet)
            if rr == FF.again {
                again += 1
                if again >= FFDecoder.maxAgain { return stop("the demuxer made no progress") }
                continue
            }
            again = 0
            if rr < 0 {
                if input.stuck {
                    endedEarly = true
                    endReason = "read \(FFIOState.limit >> 20) MB without a packet of this stream"
                } else if rr != FF.eof {
                    endedEarly = true
                    endReason = "read error: \(FF.message(rr))"
                }
                avcodec_send_packet(ctx, nil)   // drain
                draining = true
                continue
            }
            defer { av_packet_unref(packet) }
            if packet.pointee.stream_index != index { continue }
            input.madeProgress()
            if keyframesOnly && packet.pointee.flags & AV_PKT_FLAG_KEY == 0 { continue }
            idle += 1
            if idle >= FFDecoder.maxIdlePackets {
                return stop("\(idle) packets in a row gave no frame")
            }
            let s = avcodec_send_packet(ctx, packet)
            if s < 0 && s != FF.again {
                if s == FF.eof {
                    draining = true
                    continue
                }
                if recordError(s, of: "packets") { return nil }
            }
        }
    }
}
