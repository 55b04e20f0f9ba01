import CJPEG
import CPNG
import Foundation

/// Header facts about a still image, read without decoding its pixels.
public struct ImageInfo: Sendable, Equatable {
    public let format: String
    public let width: Int
    public let height: Int
    /// EXIF orientation 1...8 for JPEG (1 = as stored); width/height above are as displayed.
    public let orientation: Int
}

/// Still images to RGB8: PNG through libpng, JPEG through libjpeg (EXIF orientation
/// applied), every other format FFmpeg knows (WebP, BMP, TIFF, GIF's first frame) through
/// `FFmpegImage`. The format is found from the bytes. Alpha is composited on white.
public enum ImageDecoder {
    public static func decode(path: String, limits: DecodeLimits = .default) throws -> RGBImage {
        let format = try MediaFormat.detect(path: path)
        switch format.name {
        case "png", "jpeg":
            let data = try MediaFile.readAll(path: path)
            return try decode(data: data, name: path, limits: limits)
        default:
            if format.kind == .audio {
                throw MediaError(path, .unsupported, "is \(format.name) audio, not an image")
            }
            return try FFmpegImage.decode(path: path, limits: limits)
        }
    }

    /// Decodes PNG or JPEG bytes (`name` is used in errors).
    public static func decode(data: Data, name: String, limits: DecodeLimits = .default) throws -> RGBImage {
        let format = MediaFormat.sniff([UInt8](data.prefix(MediaFormat.sniffLength)))
        switch format.name {
        case "png": return try PNGCodec.decode(data, name: name, limits: limits)
        case "jpeg": return try JPEGCodec.decode(data, name: name, limits: limits)
        default:
            if data.isEmpty { throw MediaError(name, .empty, "file is empty (0 bytes)") }
            throw MediaError(name, .unsupported, "not a PNG or JPEG image (unrecognised first bytes)")
        }
    }

    /// Format and size from the header only.
    public static func info(path: String) throws -> ImageInfo {
        let format = try MediaFormat.detect(path: path)
        switch format.name {
        case "png":
            let data = try MediaFile.readAll(path: path)
            let h = try PNGCodec.header(data, name: path)
            return ImageInfo(format: "png", width: Int(h.width), height: Int(h.height), orientation: 1)
        case "jpeg":
            let data = try MediaFile.readAll(path: path)
            let h = try JPEGCodec.header(data, name: path)
            let o = EXIF.orientation(in: data)
            let swap = o >= 5
            return ImageInfo(format: "jpeg", width: Int(swap ? h.height : h.width), height: Int(swap ? h.width : h.height),
                             orientation: o)
        default:
            let streams = try MediaInspector.inspect(path: path)
            guard let v = streams.video else { throw MediaError(path, .noStream, "no image stream found") }
            return ImageInfo(format: format.name == "unknown" ? streams.container : format.name,
                             width: v.width, height: v.height, orientation: 1)
        }
    }

    static func checkSize(_ width: Int, _ height: Int, name: String, limits: DecodeLimits) throws {
        guard width > 0, height > 0 else {
            throw MediaError(name, .corrupt, "image header says \(width)x\(height)")
        }
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        if overflow || pixels > limits.maxPixels {
            throw MediaError(name, .tooLarge, limits.refusal("image", width, height))
        }
    }

    /// RGBA8 → RGB8 composited on white: `c * a / 255 + 255 * (1 - a / 255)`, rounded.
    static func compositeOnWhite(_ rgba: UnsafePointer<UInt8>, pixels n: Int, into rgb: UnsafeMutablePointer<UInt8>) {
        for i in 0..<n {
            let a = UInt32(rgba[4 * i + 3])
            if a == 255 {
                rgb[3 * i] = rgba[4 * i]; rgb[3 * i + 1] = rgba[4 * i + 1]; rgb[3 * i + 2] = rgba[4 * i + 2]
            } else {
                let w = 255 * (255 - a)
                for c in 0..<3 { rgb[3 * i + c] = UInt8((UInt32(rgba[4 * i + c]) * a + w + 127) / 255) }
            }
        }
    }
}

enum PNGCodec {
    static func header(_ data: Data, name: String) throws -> mmpipe_png_info {
        var info = mmpipe_png_info()
        let rc = data.withUnsafeBytes { mmpipe_png_read($0.bindMemory(to: UInt8.self).baseAddress, data.count, nil, 0, &info) }
        guard rc == 0 else { throw MediaError(name, .corrupt, "bad PNG: \(message(&info))") }
        return info
    }

    static func message(_ info: inout mmpipe_png_info) -> String {
        withUnsafeBytes(of: &info.message) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    }

    /// Width and height from the IHDR chunk, which the PNG format puts first (bytes 16..<24).
    static func ihdrSize(_ data: Data) -> (Int, Int)? {
        guard data.count >= 24 else { return nil }
        let b = [UInt8](data.prefix(24))
        guard Array(b[12..<16]) == Array("IHDR".utf8) else { return nil }
        func u32(_ o: Int) -> Int { Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3]) }
        return (u32(16), u32(20))
    }

    static func decode(_ data: Data, name: String, limits: DecodeLimits) throws -> RGBImage {
        // The size limit is checked from the raw header first, so a file claiming a huge
        // image is refused as such even when the rest of it is missing.
        if let (w, h) = ihdrSize(data), w > 0, h > 0 { try ImageDecoder.checkSize(w, h, name: name, limits: limits) }
        let h = try header(data, name: name)
        let w = Int(h.width), ht = Int(h.height)
        try ImageDecoder.checkSize(w, ht, name: name, limits: limits)
        let n = w * ht
        let rgba = UnsafeMutablePointer<UInt8>.allocate(capacity: n * 4)
        defer { rgba.deallocate() }
        var info = mmpipe_png_info()
        let rc = data.withUnsafeBytes {
            mmpipe_png_read($0.bindMemory(to: UInt8.self).baseAddress, data.count, rgba, n * 4, &info)
        }
        guard rc == 0 else {
            let m = message(&info)
            throw MediaError(name, .corrupt, "bad PNG: \(m.isEmpty ? "decode failed" : m)")
        }
        let pixels = [UInt8](unsafeUninitializedCapacity: n * 3) { buf, count in
            ImageDecoder.compositeOnWhite(rgba, pixels: n, into: buf.baseAddress!)
            count = n * 3
        }
        return RGBImage(width: w, height: ht, pixels: pixels)
    }
}

enum JPEGCodec {
    static func message(_ info: inout mmpipe_jpeg_info) -> String {
        withUnsafeBytes(of: &info.message) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    }

    static func header(_ data: Data, name: String) throws -> mmpipe_jpeg_info {
        var info = mmpipe_jpeg_info()
        let rc = data.withUnsafeBytes {
            mmpipe_jpeg_read($0.bindMemory(to: UInt8.self).baseAddress, UInt(data.count), nil, 0, &info)
        }
        guard rc == 0 else { throw MediaError(name, .corrupt, "bad JPEG: \(message(&info))") }
        return info
    }

    static func decode(_ data: Data, name: String, limits: DecodeLimits) throws -> RGBImage {
        let h = try header(data, name: name)
        let w = Int(h.width), ht = Int(h.height)
        try ImageDecoder.checkSize(w, ht, name: name, limits: limits)
        let cmyk = h.colorspace == Int32(JCS_CMYK.rawValue) || h.colorspace == Int32(JCS_YCCK.rawValue)
        let channels = cmyk ? 4 : 3
        let n = w * ht
        let raw = UnsafeMutablePointer<UInt8>.allocate(capacity: n * channels)
        defer { raw.deallocate() }
        var info = mmpipe_jpeg_info()
        let rc = data.withUnsafeBytes {
            mmpipe_jpeg_read($0.bindMemory(to: UInt8.self).baseAddress, UInt(data.count), raw, UInt(n * channels), &info)
        }
        guard rc == 0 else { throw MediaError(name, .corrupt, "bad JPEG: \(message(&info))") }
        // A file that ends early still decodes (libjpeg fills the rest with grey) but says
        // so with a warning; refuse it rather than hand a model half an image.
        if info.warnings > 0 && isTruncated(data) {
            throw MediaError(name, .corrupt, "bad JPEG: \(message(&info)) (file is truncated)")
        }
        var pixels = [UInt8](repeating: 0, count: n * 3)
        pixels.withUnsafeMutableBufferPointer { dst in
            if cmyk {
                // Adobe CMYK JPEGs store inverted values: stored = 255 - ink.
                let inverted = h.adobe != 0
                for i in 0..<n {
                    let k = UInt32(inverted ? raw[4 * i + 3] : 255 - raw[4 * i + 3])
                    for c in 0..<3 {
                        let v = UInt32(inverted ? raw[4 * i + c] : 255 - raw[4 * i + c])
                        dst[3 * i + c] = UInt8((v * k + 127) / 255)
                    }
                }
            } else {
                dst.baseAddress!.update(from: raw, count: n * 3)
            }
        }
        let image = RGBImage(width: w, height: ht, pixels: pixels)
        return ImageOrientation.apply(EXIF.orientation(in: data), to: image)
    }

    /// True when the data does not end with the JPEG end-of-image marker.
    static func isTruncated(_ data: Data) -> Bool {
        var end = data.count
        while end > 2 && (data[data.startIndex + end - 1] == 0 || data[data.startIndex + end - 1] == 0x0A) { end -= 1 }
        return !(end >= 2 && data[data.startIndex + end - 2] == 0xFF && data[data.startIndex + end - 1] == 0xD9)
    }
}
