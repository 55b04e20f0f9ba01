import Foundation
import TensorCore

// Pillow's `Image.resize` for 8-bit RGB, reproduced operation for operation so results
// are byte-identical (Pillow's src/libImaging/Resample.c and Geometry.c):
//
// * bilinear / bicubic: separable convolution, horizontal pass (only over the rows the
//   vertical pass will read), clipped to 8 bits, then the vertical pass, or vertical first
//   when the height shrinks much more than the width (Pillow 13 rule). Weights are
//   computed in Double per output pixel (`precompute_coeffs`), the filter support is
//   scaled by the downscale factor (antialiasing), weights are divided by their sum, then
//   turned into Int32 fixed point with PRECISION_BITS = 22 (`normalize_coeffs_8bpc`).
//   Sums start at 1 << 21 (rounding) and are clipped after `>> 22`.
// * nearest: `ImagingScaleAffine`: source x for output x is `Int(xo)` where xo starts at
//   scale / 2 and is advanced by `+= scale` (accumulated, like Pillow, not multiplied).
//
// The integer sums are exact whatever the order, so loops may be reordered and split
// over threads freely without changing a byte.

extension ResizeFilter {
    /// Pillow's kernel support radius at scale 1.
    var support: Double {
        switch self {
        case .nearest: return 0
        case .bilinear: return 1
        case .bicubic: return 2
        }
    }

    /// Pillow's `bilinear_filter` / `bicubic_filter` (a = -0.5), same operation order.
    @inline(__always)
    func weight(_ x: Double) -> Double {
        let x = x < 0 ? -x : x
        switch self {
        case .nearest:
            return x <= 0.5 ? 1 : 0
        case .bilinear:
            return x < 1 ? 1 - x : 0
        case .bicubic:
            let a = -0.5
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        }
    }
}

/// The taps of one axis of a convolution resize: for each output pixel, the first input
/// pixel it reads, how many it reads, and their fixed-point weights (`stride` slots per
/// output pixel, zero past `count`).
struct ResampleTaps: Sendable {
    static let precisionBits: Int32 = 22                  // 32 - 8 - 2, as Pillow
    static let half: Int32 = 1 << (precisionBits - 1)

    let inSize: Int
    let outSize: Int
    let stride: Int
    let first: [Int32]
    let count: [Int32]
    let weights: [Int32]

    /// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for box (0, inSize).
    init(inSize: Int, outSize: Int, filter: ResizeFilter) {
        precondition(inSize > 0 && outSize > 0 && filter != .nearest)
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        let stride = Int(support.rounded(.up)) * 2 + 1
        let ss = 1 / filterScale
        var first = [Int32](repeating: 0, count: outSize)
        var count = [Int32](repeating: 0, count: outSize)
        var weights = [Int32](repeating: 0, count: outSize * stride)
        var k = [Double](repeating: 0, count: stride)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            let xmin = max(Int(center - support + 0.5), 0)
            let n = min(Int(center + support + 0.5), inSize) - xmin
            var ww = 0.0
            for x in 0..<n {
                let w = filter.weight((Double(x + xmin) - center + 0.5) * ss)
                k[x] = w
                ww += w
            }
            for x in 0..<n {
                if ww != 0 { k[x] /= ww }
                let v = k[x] * Double(1 << Self.precisionBits)
                weights[xx * stride + x] = Int32(v < 0 ? -0.5 + v : 0.5 + v)
            }
            first[xx] = Int32(xmin)
            count[xx] = Int32(n)
        }
        self.inSize = inSize
        self.outSize = outSize
        self.stride = stride
        self.first = first
        self.count = count
        self.weights = weights
    }

    /// Taps are cheap to build but a batch resizes many images between the same sizes:
    /// keep the recent ones.
    static func cached(inSize: Int, outSize: Int, filter: ResizeFilter) -> ResampleTaps {
        let key = Key(inSize: inSize, outSize: outSize, filter: filter)
        cacheLock.lock()
        if let t = cache[key] { cacheLock.unlock(); return t }
        cacheLock.unlock()
        let t = ResampleTaps(inSize: inSize, outSize: outSize, filter: filter)
        cacheLock.lock()
        if cache.count >= 64 { cache.removeAll(keepingCapacity: true) }
        cache[key] = t
        cacheLock.unlock()
        return t
    }

    private struct Key: Hashable {
        let inSize: Int, outSize: Int, filter: ResizeFilter
    }
    private static let cacheLock = NSLock()
    nonisolated(unsafe) private static var cache: [Key: ResampleTaps] = [:]
}

enum PILResample {
    /// Items (rows, row blocks) per parallel task that make a thread worth starting, from
    /// the multiply-adds per item.
    @inline(__always)
    static func grain(workPerItem: Int) -> Int { max(1, 200_000 / max(workPerItem, 1)) }

    @inline(__always)
    static func clip8(_ v: Int32) -> UInt8 {
        let s = v >> ResampleTaps.precisionBits
        return s < 0 ? 0 : (s > 255 ? 255 : UInt8(truncatingIfNeeded: s))
    }

    /// Pillow `resize` with BILINEAR / BICUBIC (`ImagingResampleInner`).
    static func convolve(_ image: RGBImage, width: Int, height: Int, filter: ResizeFilter) -> RGBImage {
        let inW = image.width, inH = image.height
        let needH = width != inW, needV = height != inH
        if !needH && !needV { return image }
        // Pillow 13 runs the vertical pass first when the height shrinks by more
        // than twice as many pixels as the width does. The order changes the intermediate
        // 8-bit rounding, so it is part of the result. (Older Pillow always went horizontal
        // first; the two agree unless the height shrinks that much more, e.g. uniform
        // downscales of images over twice as tall as wide.)
        let horizontalFirst = !(inH - height > 0 && inH - height > (inW - width) * 2)
        let vTaps = needV ? ResampleTaps.cached(inSize: inH, outSize: height, filter: filter) : nil
        let hTaps = needH ? ResampleTaps.cached(inSize: inW, outSize: width, filter: filter) : nil
        var current = image
        if let hTaps, horizontalFirst {
            // Only the rows the vertical pass will read.
            let rows = vTaps.map { Int($0.first[0])..<Int($0.first[height - 1] + $0.count[height - 1]) } ?? 0..<inH
            let pixels = horizontal(current, rows: rows, taps: hTaps)
            current = RGBImage(width: width, height: rows.count, pixels: pixels)
            if let vTaps {
                let out = current.pixels.withUnsafeBufferPointer { src in
                    vertical(src.baseAddress!, width: width, rowShift: rows.lowerBound, taps: vTaps)
                }
                current = RGBImage(width: width, height: height, pixels: out)
            }
            return current
        }
        if let vTaps {
            let out = current.pixels.withUnsafeBufferPointer { src in
                vertical(src.baseAddress!, width: inW, rowShift: 0, taps: vTaps)
            }
            current = RGBImage(width: inW, height: height, pixels: out)
        }
        if let hTaps {
            current = RGBImage(width: width, height: height, pixels: horizontal(current, rows: 0..<height, taps: hTaps))
        }
        return current
    }

    /// Pillow `ImagingResampleHorizontal_8bpc` over `rows` of `image`; returns
    /// `rows.count` rows of `taps.outSize` pixels.
    ///
    /// Rows go in blocks of 8, transposed to `[x][row][channel]` (24 bytes a column), so
    /// one tap is three 8-lane multiply-adds for 8 rows x 3 channels at once. Left-over
    /// rows take the scalar path, which is Pillow's loop as written.
    static func horizontal(_ image: RGBImage, rows: Range<Int>, taps: ResampleTaps) -> [UInt8] {
        let outW = taps.outSize, inW = image.width
        let rowCount = rows.count, blocks = rowCount / blockRows
        return [UInt8](unsafeUninitializedCapacity: rowCount * outW * 3) { dst, initialised in
            image.pixels.withUnsafeBufferPointer { srcBuf in
            taps.first.withUnsafeBufferPointer { firstBuf in
            taps.count.withUnsafeBufferPointer { countBuf in
            taps.weights.withUnsafeBufferPointer { weightBuf in
                let src = srcBuf.baseAddress! + rows.lowerBound * inW * 3, out = dst.baseAddress!
                let first = firstBuf.baseAddress!, count = countBuf.baseAddress!, weights = weightBuf.baseAddress!
                let stride = taps.stride
                let work = outW * stride * blockRows + inW
                Compute.parallelFor(blocks, grain: grain(workPerItem: work)) { b in
                    let columns = UnsafeMutablePointer<UInt8>.allocate(capacity: inW * 3 * blockRows)
                    defer { columns.deallocate() }
                    transposeBlock(src + b * blockRows * inW * 3, inW: inW, into: columns)
                    horizontalBlock(columns, out + b * blockRows * outW * 3, outW, first, count, weights, stride)
                }
                for r in (blocks * blockRows)..<rowCount {
                    horizontalRowScalar(src + r * inW * 3, out + r * outW * 3, outW, first, count, weights, stride)
                }
            }}}}
            initialised = rowCount * outW * 3
        }
    }

    static let blockRows = 8

    /// 8 rows of `inW` RGB pixels -> `columns[x * 24 + row * 3 + channel]`.
    @inline(__always)
    static func transposeBlock(_ src: UnsafePointer<UInt8>, inW: Int, into columns: UnsafeMutablePointer<UInt8>) {
        let rowBytes = inW * 3
        // 4-byte moves; each store's 4th byte is overwritten by the next one. The last
        // column goes byte by byte (its 4th byte would be past both buffers).
        for x in 0..<(inW - 1) {
            let s = UnsafeRawPointer(src + 3 * x)
            let c = UnsafeMutableRawPointer(columns + x * 24)
            for r in 0..<8 {
                c.storeBytes(of: s.loadUnaligned(fromByteOffset: r * rowBytes, as: UInt32.self),
                             toByteOffset: 3 * r, as: UInt32.self)
            }
        }
        let x = inW - 1
        for r in 0..<8 {
            for ch in 0..<3 { columns[x * 24 + r * 3 + ch] = src[r * rowBytes + 3 * x + ch] }
        }
    }

    /// All outputs of one transposed block: lane i of the 24 is row i / 3, channel i % 3.
    @inline(__always)
    static func horizontalBlock(_ columns: UnsafePointer<UInt8>, _ out: UnsafeMutablePointer<UInt8>, _ outW: Int,
                                _ first: UnsafePointer<Int32>, _ count: UnsafePointer<Int32>,
                                _ weights: UnsafePointer<Int32>, _ stride: Int) {
        let rowStride = outW * 3
        for xx in 0..<outW {
            let n = Int(count[xx])
            let k = weights + xx * stride
            var p = UnsafeRawPointer(columns + Int(first[xx]) * 24)
            var a0 = SIMD8<Int32>(repeating: ResampleTaps.half), a1 = a0, a2 = a0
            for t in 0..<n {
                let w = k[t]
                a0 &+= SIMD8<Int32>(truncatingIfNeeded: p.loadUnaligned(as: SIMD8<UInt8>.self)) &* w
                a1 &+= SIMD8<Int32>(truncatingIfNeeded: p.loadUnaligned(fromByteOffset: 8, as: SIMD8<UInt8>.self)) &* w
                a2 &+= SIMD8<Int32>(truncatingIfNeeded: p.loadUnaligned(fromByteOffset: 16, as: SIMD8<UInt8>.self)) &* w
                p += 24
            }
            let d = out + xx * 3
            store3(d, a0[0], a0[1], a0[2])
            store3(d + rowStride, a0[3], a0[4], a0[5])
            store3(d + 2 * rowStride, a0[6], a0[7], a1[0])
            store3(d + 3 * rowStride, a1[1], a1[2], a1[3])
            store3(d + 4 * rowStride, a1[4], a1[5], a1[6])
            store3(d + 5 * rowStride, a1[7], a2[0], a2[1])
            store3(d + 6 * rowStride, a2[2], a2[3], a2[4])
            store3(d + 7 * rowStride, a2[5], a2[6], a2[7])
        }
    }

    @inline(__always)
    static func store3(_ d: UnsafeMutablePointer<UInt8>, _ r: Int32, _ g: Int32, _ b: Int32) {
        d[0] = clip8(r)
        d[1] = clip8(g)
        d[2] = clip8(b)
    }

    @inline(__always)
    static func horizontalRowScalar(_ row: UnsafePointer<UInt8>, _ out: UnsafeMutablePointer<UInt8>, _ outW: Int,
                                    _ first: UnsafePointer<Int32>, _ count: UnsafePointer<Int32>,
                                    _ weights: UnsafePointer<Int32>, _ stride: Int) {
        for xx in 0..<outW {
            let n = Int(count[xx])
            let k = weights + xx * stride
            var p = row + Int(first[xx]) * 3
            var s0 = ResampleTaps.half, s1 = ResampleTaps.half, s2 = ResampleTaps.half
            for t in 0..<n {
                let w = k[t]
                s0 &+= Int32(p[0]) &* w
                s1 &+= Int32(p[1]) &* w
                s2 &+= Int32(p[2]) &* w
                p += 3
            }
            let o = out + xx * 3
            o[0] = clip8(s0)
            o[1] = clip8(s1)
            o[2] = clip8(s2)
        }
    }

    /// Pillow `ImagingResampleVertical_8bpc`: `src` holds rows starting at image row
    /// `rowShift`, each `width` pixels; returns `taps.outSize` rows.
    static func vertical(_ src: UnsafePointer<UInt8>, width: Int, rowShift: Int, taps: ResampleTaps) -> [UInt8] {
        let rowBytes = width * 3, outH = taps.outSize, stride = taps.stride
        return [UInt8](unsafeUninitializedCapacity: outH * rowBytes) { dst, initialised in
            taps.first.withUnsafeBufferPointer { firstBuf in
            taps.count.withUnsafeBufferPointer { countBuf in
            taps.weights.withUnsafeBufferPointer { weightBuf in
                let out = dst.baseAddress!
                let first = firstBuf.baseAddress!, count = countBuf.baseAddress!, weights = weightBuf.baseAddress!
                Compute.parallelFor(outH, grain: grain(workPerItem: rowBytes * stride)) { yy in
                    withUnsafeTemporaryAllocation(of: Int32.self, capacity: rowBytes) { accBuf in
                        let acc = accBuf.baseAddress!
                        acc.initialize(repeating: ResampleTaps.half, count: rowBytes)
                        let y0 = Int(first[yy]) - rowShift
                        let k = weights + yy * stride
                        for t in 0..<Int(count[yy]) {
                            let w = k[t]
                            let row = src + (y0 + t) * rowBytes
                            for i in 0..<rowBytes { acc[i] &+= Int32(row[i]) &* w }
                        }
                        let o = out + yy * rowBytes
                        for i in 0..<rowBytes { o[i] = clip8(acc[i]) }
                    }
                }
            }}}
            initialised = outH * rowBytes
        }
    }

    /// Pillow `resize` with NEAREST (`ImagingScaleAffine`, fill 0 outside the source).
    static func nearest(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        if width == image.width && height == image.height { return image }
        let inW = image.width, inH = image.height
        func table(_ inSize: Int, _ outSize: Int) -> [Int] {
            let a = Double(inSize) / Double(outSize)
            var xo = a * 0.5
            var t = [Int](repeating: -1, count: outSize)
            for x in 0..<outSize {
                let xin = xo < 0 ? -1 : Int(xo)
                if xin >= 0 && xin < inSize { t[x] = xin }
                xo += a
            }
            return t
        }
        let xs = table(inW, width), ys = table(inH, height)
        let pixels = [UInt8](unsafeUninitializedCapacity: width * height * 3) { dst, initialised in
            image.pixels.withUnsafeBufferPointer { srcBuf in
            xs.withUnsafeBufferPointer { xsBuf in
                let src = srcBuf.baseAddress!, out = dst.baseAddress!, xt = xsBuf.baseAddress!
                Compute.parallelFor(height, grain: grain(workPerItem: width * 3)) { y in
                    let o = out + y * width * 3
                    let yi = ys[y]
                    if yi < 0 { o.initialize(repeating: 0, count: width * 3); return }
                    let row = src + yi * inW * 3
                    for x in 0..<width {
                        let xi = xt[x]
                        if xi < 0 {
                            o[3 * x] = 0; o[3 * x + 1] = 0; o[3 * x + 2] = 0
                        } else {
                            let p = row + 3 * xi
                            o[3 * x] = p[0]; o[3 * x + 1] = p[1]; o[3 * x + 2] = p[2]
                        }
                    }
                }
            }}
            initialised = width * height * 3
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }
}
