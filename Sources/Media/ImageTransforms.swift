import TensorCore

/// Resampling filters with Pillow's semantics (see `ImagePreprocessing.Filter`).
public typealias ResizeFilter = ImagePreprocessing.Filter

/// The former name of `ImagePreprocessing` in Media (kept for callers not yet moved).
public typealias ImagePreprocess = ImagePreprocessing

/// Image preprocessing for model input, matching PIL + torchvision byte for byte:
/// `resize` is Pillow's `Image.resize`, `resizeShorterSide` torchvision's `Resize(int)`,
/// `centerCrop` torchvision's `CenterCrop`, `toTensor` `ToTensor` + `Normalize`.
///
/// - Important: the 8-bit results (`resize`, `resizeShorterSide`, `centerCrop`) are
///   identical to Pillow 13's, and the float results are computed in Float32 in
///   torchvision's order: `(x / 255 - mean[c]) / std[c]`.
public enum ImageTransforms {
    /// Pillow `Image.resize((width, height), filter)`: separable convolution with
    /// antialiasing when downscaling (bilinear: triangle, support 1; bicubic: a = -0.5,
    /// support 2; support scaled by the downscale factor), Pillow's 22-bit fixed-point
    /// weights and rounding, horizontal pass first; nearest as Pillow's affine scaler.
    /// Returns `image` itself when the size does not change.
    public static func resize(_ image: RGBImage, width: Int, height: Int, filter: ResizeFilter) -> RGBImage {
        precondition(width > 0 && height > 0, "resize to \(width)x\(height): sizes must be positive")
        precondition(image.width > 0 && image.height > 0, "resize of an empty \(image.width)x\(image.height) image")
        switch filter {
        case .nearest: return PILResample.nearest(image, width: width, height: height)
        case .bilinear, .bicubic: return PILResample.convolve(image, width: width, height: height, filter: filter)
        }
    }

    /// The size torchvision's `Resize(size, max_size=maxSize)` gives an image of
    /// `width` x `height` (`_compute_resized_output_size`): the shorter side becomes
    /// `size`, the longer `int(size * long / short)`; when that exceeds `maxSize` the
    /// longer side becomes `maxSize` and the shorter `int(maxSize * size / long)`.
    public static func shorterSideSize(width: Int, height: Int, to size: Int, maxSize: Int? = nil) -> (width: Int, height: Int) {
        precondition(size > 0 && width > 0 && height > 0, "resize \(width)x\(height) to shorter side \(size)")
        let (short, long) = width <= height ? (width, height) : (height, width)
        var newShort = size
        var newLong = Int(Double(size * long) / Double(short))
        if let maxSize {
            precondition(maxSize > size, "maxSize \(maxSize) must be greater than size \(size)")
            if newLong > maxSize {
                newShort = Int(Double(maxSize * newShort) / Double(newLong))
                newLong = maxSize
            }
        }
        return width <= height ? (newShort, newLong) : (newLong, newShort)
    }

    /// torchvision `Resize(size, interpolation, max_size)` with an int `size` on a PIL
    /// image (see `shorterSideSize`); returns `image` itself when the size is unchanged.
    public static func resizeShorterSide(_ image: RGBImage, to size: Int, filter: ResizeFilter, maxSize: Int? = nil) -> RGBImage {
        let s = shorterSideSize(width: image.width, height: image.height, to: size, maxSize: maxSize)
        return resize(image, width: s.width, height: s.height, filter: filter)
    }

    /// torchvision `CenterCrop((height, width))`: where the crop is larger than the image
    /// the image is first padded with black, `(crop - size) / 2` before and the rest
    /// after; then the crop starts at `round((size - crop) / 2)` (halves to even, as
    /// Python's `round`).
    public static func centerCrop(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        precondition(width > 0 && height > 0, "center crop to \(width)x\(height): sizes must be positive")
        if width == image.width && height == image.height { return image }
        // First source column / row of the crop (negative: that much padding before).
        func start(_ size: Int, _ crop: Int) -> Int {
            if crop > size { return -((crop - size) / 2) }
            return Int((Double(size - crop) / 2).rounded(.toNearestOrEven))
        }
        let left = start(image.width, width), top = start(image.height, height)
        let inW = image.width, inH = image.height
        // Columns of the crop that fall inside the image.
        let x0 = max(0, -left), x1 = min(width, inW - left)
        let pixels = [UInt8](unsafeUninitializedCapacity: width * height * 3) { dst, initialised in
            image.pixels.withUnsafeBufferPointer { src in
                let out = dst.baseAddress!
                for y in 0..<height {
                    let o = out + y * width * 3
                    let sy = y + top
                    guard sy >= 0 && sy < inH && x1 > x0 else {
                        o.initialize(repeating: 0, count: width * 3)
                        continue
                    }
                    o.initialize(repeating: 0, count: x0 * 3)
                    (o + x0 * 3).initialize(from: src.baseAddress! + (sy * inW + x0 + left) * 3, count: (x1 - x0) * 3)
                    (o + x1 * 3).initialize(repeating: 0, count: (width - x1) * 3)
                }
            }
            initialised = width * height * 3
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// HWC RGB8 -> CHW Float32 `[3, height, width]`: `(Float(x) / 255 - mean[c]) / std[c]`.
    public static func toTensor(_ image: RGBImage, mean: [Float], std: [Float]) -> Tensor {
        let table = NormalisationTable(mean: mean, std: std)
        return Tensor(shape: [3, image.height, image.width]) { out in
            table.write(image, to: out.baseAddress!)
        }
    }

    /// Several images of one size -> `[N, 3, height, width]`. An empty list gives
    /// `[0, 3, 0, 0]`.
    public static func batch(_ images: [RGBImage], mean: [Float], std: [Float]) -> Tensor {
        guard let firstImage = images.first else { return Tensor(zeros: [0, 3, 0, 0]) }
        let w = firstImage.width, h = firstImage.height
        for (i, im) in images.enumerated() {
            precondition(im.width == w && im.height == h,
                         "batch: image \(i) is \(im.width)x\(im.height), image 0 is \(w)x\(h)")
        }
        let table = NormalisationTable(mean: mean, std: std)
        return Tensor(shape: [images.count, 3, h, w]) { out in
            let base = out.baseAddress!
            for (i, im) in images.enumerated() { table.write(im, to: base + i * 3 * h * w) }
        }
    }
}

/// `(Float(v) / 255 - mean[c]) / std[c]` for every byte value and channel, in Float32 and
/// torchvision's operation order, so the lookup equals the arithmetic exactly.
struct NormalisationTable {
    var values: [Float]    // 3 x 256

    init(mean: [Float], std: [Float]) {
        precondition(mean.count == 3 && std.count == 3, "mean and std need 3 values (RGB), got \(mean.count) and \(std.count)")
        precondition(std.allSatisfy { $0 != 0 }, "std must not be zero: \(std)")
        values = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 {
            for v in 0..<256 { values[c * 256 + v] = (Float(v) / 255 - mean[c]) / std[c] }
        }
    }

    /// Writes `image` as planes R, G, B of `height * width` floats each.
    func write(_ image: RGBImage, to out: UnsafeMutablePointer<Float>) {
        let n = image.width * image.height
        values.withUnsafeBufferPointer { lut in
            image.pixels.withUnsafeBufferPointer { px in
                let l = lut.baseAddress!, p = px.baseAddress!
                let r = out, g = out + n, b = out + 2 * n
                for i in 0..<n {
                    r[i] = l[Int(p[3 * i])]
                    g[i] = l[256 + Int(p[3 * i + 1])]
                    b[i] = l[512 + Int(p[3 * i + 2])]
                }
            }
        }
    }
}

/// Applying a model's preprocessing (`ImagePreprocessing`, declared by the model): resize
/// the shorter side, center crop, normalise (torchvision `Resize(s, filter)`, `CenterCrop`,
/// `ToTensor`, `Normalize`); or, with `resizeExact`, resize straight to the crop size
/// (Hugging Face `ViTImageProcessor`: `resize` to `size` with PIL, then rescale and normalise).
extension ImagePreprocessing {
    /// The 8-bit image the model sees, before normalisation: resized and cropped.
    public func crop(_ image: RGBImage) -> RGBImage {
        if resizeExact { return ImageTransforms.resize(image, width: cropWidth, height: cropHeight, filter: filter) }
        let resized = ImageTransforms.resizeShorterSide(image, to: resizeShorterSide, filter: filter)
        return ImageTransforms.centerCrop(resized, width: cropWidth, height: cropHeight)
    }

    /// `[3, cropHeight, cropWidth]`.
    public func apply(_ image: RGBImage) -> Tensor {
        ImageTransforms.toTensor(crop(image), mean: mean, std: std)
    }

    /// `[N, 3, cropHeight, cropWidth]`.
    public func apply(batch images: [RGBImage]) -> Tensor {
        if images.isEmpty { return Tensor(zeros: [0, 3, cropHeight, cropWidth]) }
        return ImageTransforms.batch(images.map(crop), mean: mean, std: std)
    }
}
