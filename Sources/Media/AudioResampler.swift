import CFFmpeg

/// Mono Float resampling with libswresample at its default quality (the same filter the
/// ffmpeg CLI uses: windowed sinc, 32 taps). Output is appended to a Swift array through a
/// reused scratch buffer.
final class AudioResampler {
    let inputRate: Int
    let outputRate: Int
    private var swr: OpaquePointer?
    private var scratch: UnsafeMutablePointer<Float>
    private var capacity: Int

    init(from inputRate: Int, to outputRate: Int, path: String) throws {
        self.inputRate = inputRate
        self.outputRate = outputRate
        var inLayout = AVChannelLayout(), outLayout = AVChannelLayout()
        av_channel_layout_default(&inLayout, 1)
        av_channel_layout_default(&outLayout, 1)
        defer {
            av_channel_layout_uninit(&inLayout)
            av_channel_layout_uninit(&outLayout)
        }
        var ctx: OpaquePointer?
        var r = swr_alloc_set_opts2(&ctx, &outLayout, AV_SAMPLE_FMT_FLT, Int32(outputRate),
                                    &inLayout, AV_SAMPLE_FMT_FLT, Int32(inputRate), 0, nil)
        if r >= 0 { r = swr_init(ctx) }
        guard r >= 0, ctx != nil else {
            swr_free(&ctx)
            throw MediaError(path, .unsupported, "cannot resample \(inputRate) Hz to \(outputRate) Hz (\(FF.message(r)))")
        }
        swr = ctx
        capacity = 8192
        scratch = .allocate(capacity: capacity)
    }

    deinit {
        swr_free(&swr)
        scratch.deallocate()
    }

    private func reserve(_ n: Int) {
        guard n > capacity else { return }
        scratch.deallocate()
        capacity = max(n, capacity * 2)
        scratch = .allocate(capacity: capacity)
    }

    /// Resamples `input` and appends what comes out (the resampler keeps a short history).
    func convert(_ input: UnsafeBufferPointer<Float>, appendTo out: inout [Float], path: String) throws {
        guard let base = input.baseAddress, !input.isEmpty else { return }
        let bound = Int(swr_get_out_samples(swr, Int32(input.count))) + 16
        reserve(bound)
        var inPlane: UnsafePointer<UInt8>? = UnsafeRawPointer(base).assumingMemoryBound(to: UInt8.self)
        var outPlane: UnsafeMutablePointer<UInt8>? = UnsafeMutableRawPointer(scratch).assumingMemoryBound(to: UInt8.self)
        let n = swr_convert(swr, &outPlane, Int32(capacity), &inPlane, Int32(input.count))
        guard n >= 0 else { throw MediaError(path, .corrupt, "resampling failed (\(FF.message(n)))") }
        out.append(contentsOf: UnsafeBufferPointer(start: scratch, count: Int(n)))
    }

    /// Appends the tail the resampler still holds (call once at the end).
    func flush(appendTo out: inout [Float]) {
        reserve(4096)
        for _ in 0..<64 {
            var outPlane: UnsafeMutablePointer<UInt8>? = UnsafeMutableRawPointer(scratch).assumingMemoryBound(to: UInt8.self)
            let n = swr_convert(swr, &outPlane, Int32(capacity), nil, 0)
            guard n > 0 else { return }
            out.append(contentsOf: UnsafeBufferPointer(start: scratch, count: Int(n)))
        }
    }
}
