import CFFmpeg

/// Still images through FFmpeg: WebP, BMP, TIFF, GIF (first frame), PNG, JPEG and the
/// other image formats libavcodec decodes.
public enum FFmpegImage {
    /// The first frame as RGB8, alpha composited on white (a fully transparent pixel is
    /// 255,255,255). The size is checked against `limits.maxPixels` before the RGB buffer is
    /// allocated (and the decoder itself refuses larger pictures).
    public static func decode(path: String, limits: DecodeLimits = .default) throws -> RGBImage {
        // Image demuxers know the codec without probing, so skip avformat_find_stream_info
        // (it would decode the picture once more just to learn its size).
        var input = try FFInput(path: path, streamInfo: false, maxPixels: limits.maxPixels)
        let knowsCodec = input.bestStream(AVMEDIA_TYPE_VIDEO, allowCoverArt: true).map {
            input.stream($0).pointee.codecpar.pointee.codec_id != AV_CODEC_ID_NONE
        } ?? false
        if !knowsCodec {   // a video container, or a demuxer that needs probing
            input = try FFInput(path: path, streamInfo: true, maxPixels: limits.maxPixels)
        }
        guard let index = input.bestStream(AVMEDIA_TYPE_VIDEO, allowCoverArt: true) else {
            throw MediaError(path, .noStream, "has no picture (\(input.container))")
        }
        let par = input.stream(index).pointee.codecpar.pointee
        try checkSize(Int(par.width), Int(par.height), path: path, limits: limits)
        let decoder = try FFDecoder(input: input, index: index, maxPixels: limits.maxPixels, threads: 1)
        guard let frame = decoder.nextFrame() else {
            // Our buffer hook remembers a size it refused; a size FFmpeg itself refuses (above
            // about 268 MP) is only in its log line ("Picture size 30000x30000 is invalid").
            if let (w, h) = decoder.refusedSize { try checkSize(w, h, path: path, limits: limits) }
            if let (w, h) = pictureSize(in: decoder.lastErrorLog) { try checkSize(w, h, path: path, limits: limits) }
            let codec = FF.codecName(par.codec_id)
            let why = decoder.endReason ?? decoder.lastErrorDescription ?? "no picture in the file"
            throw MediaError(path, .corrupt, "the \(codec) picture does not decode (\(why)); the file is probably truncated or damaged")
        }
        return try FFRGBConverter().image(from: frame, path: path, maxPixels: limits.maxPixels)
    }

    /// The size in an FFmpeg log line about a refused picture: "Picture size 30000x30000 is
    /// invalid", "Failed to set dimensions 30000 30000".
    private static func pictureSize(in line: String?) -> (Int, Int)? {
        guard let line else { return nil }
        let words = line.split(whereSeparator: { $0 == " " || $0 == "," || $0 == ":" || $0 == "(" || $0 == ")" })
        for word in words {
            let parts = word.split(separator: "x", omittingEmptySubsequences: false)
            if parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]) { return (w, h) }
        }
        if let i = words.firstIndex(of: "dimensions"), i + 2 < words.count,
           let w = Int(words[i + 1]), let h = Int(words[i + 2]) {
            return (w, h)
        }
        return nil
    }

    private static func checkSize(_ w: Int, _ h: Int, path: String, limits: DecodeLimits) throws {
        guard w > 0, h > 0 else { return }
        let (pixels, overflow) = w.multipliedReportingOverflow(by: h)
        if overflow || pixels > limits.maxPixels {
            throw MediaError(path, .tooLarge, limits.refusal("image", w, h))
        }
    }
}
