import CFFmpeg

/// Converts decoded pictures (any pixel format) to `RGBImage` with libswscale, reusing its
/// context and a padded scratch buffer between frames of the same shape.
///
/// - Important: Sources with alpha are converted to RGBA and composited on white
///   (`out = (c·a + 255·(255 − a)) / 255`, rounded), so a fully transparent pixel is
///   255,255,255. YUV sources use the matrix and range the frame declares (unspecified:
///   BT.709 from 720 lines up, BT.601 below, as players do). The pixel count is checked
///   against the limit before any buffer is allocated.
final class FFRGBConverter {
    private var sws: OpaquePointer?
    private var colourKey: (OpaquePointer?, Int32, Int32)?
    private var scratch: UnsafeMutablePointer<UInt8>?
    private var scratchSize = 0

    deinit {
        sws_freeContext(sws)
        av_free(scratch)
    }

    func image(from frame: UnsafeMutablePointer<AVFrame>, path: String, maxPixels: Int) throws -> RGBImage {
        let w = Int(frame.pointee.width), h = Int(frame.pointee.height)
        guard w > 0, h > 0 else { throw MediaError(path, .corrupt, "decoded a picture with no size") }
        let (pixels, overflow) = w.multipliedReportingOverflow(by: h)
        guard !overflow, pixels <= maxPixels else {
            throw MediaError(path, .tooLarge, DecodeLimits(maxPixels: maxPixels).refusal("picture", w, h))
        }
        let source = AVPixelFormat(rawValue: frame.pointee.format)
        guard let desc = av_pix_fmt_desc_get(source) else {
            throw MediaError(path, .unsupported, "decoded pictures have an unknown pixel format")
        }
        let formatName = FF.string(desc.pointee.name) ?? "?"
        let hasAlpha = desc.pointee.flags & UInt64(AV_PIX_FMT_FLAG_ALPHA) != 0
        let bpp = hasAlpha ? 4 : 3
        let target = hasAlpha ? AV_PIX_FMT_RGBA : AV_PIX_FMT_RGB24

        // swscale's SIMD paths may write a little past the row end: convert into a padded
        // buffer, then copy rows out.
        let stride = (w * bpp + 63) & ~63
        let needed = stride * h + 64
        if needed > scratchSize {
            av_free(scratch)
            scratch = av_malloc(needed)?.assumingMemoryBound(to: UInt8.self)
            scratchSize = scratch == nil ? 0 : needed
            guard scratch != nil else { throw MediaError(path, .tooLarge, "out of memory for a \(w)x\(h) picture") }
        }
        let flags = SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT
        sws = sws_getCachedContext(sws, Int32(w), Int32(h), source, Int32(w), Int32(h), target, flags, nil, nil, nil)
        guard let sws else {
            throw MediaError(path, .unsupported, "cannot convert pixel format '\(formatName)' to RGB")
        }
        setColourspace(sws, frame: frame, desc: desc, height: h)

        var dst: [UnsafeMutablePointer<UInt8>?] = [scratch, nil, nil, nil]
        var dstStride: [Int32] = [Int32(stride), 0, 0, 0]
        let rows = withUnsafeMutablePointer(to: &frame.pointee.linesize) { linesize in
            linesize.withMemoryRebound(to: Int32.self, capacity: Int(AV_NUM_DATA_POINTERS)) { srcStride in
                UnsafeRawPointer(frame.pointee.extended_data!).withMemoryRebound(
                    to: UnsafePointer<UInt8>?.self, capacity: Int(AV_NUM_DATA_POINTERS)) { src in
                    sws_scale(sws, src, srcStride, 0, Int32(h), &dst, &dstStride)
                }
            }
        }
        guard rows == Int32(h) else {
            throw MediaError(path, .unsupported, "converting '\(formatName)' to RGB failed")
        }

        let base = scratch!
        let out = [UInt8](unsafeUninitializedCapacity: pixels * 3) { buf, count in
            let o = buf.baseAddress!
            if hasAlpha {
                for y in 0..<h {
                    let row = base + y * stride
                    let orow = o + y * w * 3
                    for x in 0..<w {
                        let a = UInt32(row[4 * x + 3])
                        let white = 255 * (255 - a) + 127
                        orow[3 * x] = UInt8((UInt32(row[4 * x]) * a + white) / 255)
                        orow[3 * x + 1] = UInt8((UInt32(row[4 * x + 1]) * a + white) / 255)
                        orow[3 * x + 2] = UInt8((UInt32(row[4 * x + 2]) * a + white) / 255)
                    }
                }
            } else {
                for y in 0..<h {
                    (o + y * w * 3).update(from: base + y * stride, count: w * 3)
                }
            }
            count = pixels * 3
        }
        return RGBImage(width: w, height: h, pixels: out)
    }

    private func setColourspace(_ sws: OpaquePointer, frame: UnsafeMutablePointer<AVFrame>,
                                desc: UnsafePointer<AVPixFmtDescriptor>, height: Int) {
        let flags = desc.pointee.flags
        let isYUV = flags & UInt64(AV_PIX_FMT_FLAG_RGB) == 0 && flags & UInt64(AV_PIX_FMT_FLAG_PAL) == 0
            && desc.pointee.nb_components >= 3
        guard isYUV else { return }
        var space = Int32(bitPattern: frame.pointee.colorspace.rawValue)
        if frame.pointee.colorspace == AVCOL_SPC_UNSPECIFIED || frame.pointee.colorspace == AVCOL_SPC_RGB {
            space = height >= 720 ? Int32(SWS_CS_ITU709) : Int32(SWS_CS_ITU601)
        }
        let name = FF.string(desc.pointee.name) ?? ""
        let fullRange: Int32 = frame.pointee.color_range == AVCOL_RANGE_JPEG || name.hasPrefix("yuvj") ? 1 : 0
        if let key = colourKey, key.0 == sws, key.1 == space, key.2 == fullRange { return }
        let coefficients = sws_getCoefficients(space)
        sws_setColorspaceDetails(sws, coefficients, fullRange, sws_getCoefficients(Int32(SWS_CS_DEFAULT)), 1,
                                 0, 1 << 16, 1 << 16)
        colourKey = (sws, space, fullRange)
    }
}
