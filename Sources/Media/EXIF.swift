import Foundation

/// The EXIF orientation tag of a JPEG (APP1 "Exif" segment, IFD0 tag 0x0112).
enum EXIF {
    /// 1...8, or 1 when absent or unreadable.
    static func orientation(in data: Data) -> Int {
        let b = [UInt8](data.prefix(1 << 17))   // APP1 must come early; 128 KiB is plenty
        var i = 2
        while i + 4 <= b.count, b[i] == 0xFF {
            let marker = b[i + 1]
            if marker == 0xD8 || (0xD0...0xD7).contains(marker) || marker == 0x01 { i += 2; continue }
            if marker == 0xDA || marker == 0xD9 { break }     // image data starts: no EXIF
            let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
            guard length >= 2, i + 2 + length <= b.count else { break }
            if marker == 0xE1, length >= 8, Array(b[(i + 4)..<(i + 10)]) == Array("Exif\0\0".utf8) {
                return tiffOrientation(Array(b[(i + 10)..<(i + 2 + length)])) ?? 1
            }
            i += 2 + length
        }
        return 1
    }

    static func tiffOrientation(_ t: [UInt8]) -> Int? {
        guard t.count >= 8 else { return nil }
        let little: Bool
        switch (t[0], t[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func u16(_ o: Int) -> Int? {
            guard o >= 0, o + 2 <= t.count else { return nil }
            return little ? Int(t[o]) | Int(t[o + 1]) << 8 : Int(t[o]) << 8 | Int(t[o + 1])
        }
        func u32(_ o: Int) -> Int? {
            guard let a = u16(o), let b = u16(o + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        guard let ifd = u32(4), let entries = u16(ifd), entries < 1000 else { return nil }
        for e in 0..<entries {
            let o = ifd + 2 + 12 * e
            guard let tag = u16(o) else { return nil }
            if tag == 0x0112, let type = u16(o + 2), type == 3, let v = u16(o + 8), (1...8).contains(v) { return v }
        }
        return nil
    }
}

/// Applies an EXIF orientation so the image is as it should be displayed (as PIL's
/// `ImageOps.exif_transpose`).
enum ImageOrientation {
    static func apply(_ orientation: Int, to image: RGBImage) -> RGBImage {
        if orientation <= 1 || orientation > 8 { return image }
        let w = image.width, h = image.height
        let swap = orientation >= 5
        let ow = swap ? h : w, oh = swap ? w : h
        var out = [UInt8](repeating: 0, count: ow * oh * 3)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<oh {
                    for x in 0..<ow {
                        // Source pixel for output (x, y).
                        let (sx, sy): (Int, Int)
                        switch orientation {
                        case 2: (sx, sy) = (w - 1 - x, y)               // mirror horizontal
                        case 3: (sx, sy) = (w - 1 - x, h - 1 - y)       // rotate 180
                        case 4: (sx, sy) = (x, h - 1 - y)               // mirror vertical
                        case 5: (sx, sy) = (y, x)                       // transpose
                        case 6: (sx, sy) = (y, h - 1 - x)               // rotate 90 CW to display
                        case 7: (sx, sy) = (w - 1 - y, h - 1 - x)       // transverse
                        default: (sx, sy) = (w - 1 - y, x)              // 8: rotate 90 CCW to display
                        }
                        let s = (sy * w + sx) * 3, d = (y * ow + x) * 3
                        dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]
                    }
                }
            }
        }
        return RGBImage(width: ow, height: oh, pixels: out)
    }
}
