/// How a model wants its images prepared: what a vision model declares (Models) and what
/// Media applies (`crop`, `apply` in `Media/ImageTransforms.swift`). A plain value type here
/// so that neither of those modules needs the other.
///
/// Either torchvision's `Resize(resizeShorterSide, filter)` + `CenterCrop(cropHeight, cropWidth)`,
/// or with `resizeExact` a resize straight to `cropWidth` x `cropHeight` without keeping the
/// aspect ratio and without cropping (Hugging Face `ViTImageProcessor`); then
/// `(x / 255 - mean[c]) / std[c]` per RGB channel (`ToTensor` + `Normalize`).
///
/// JSON: the field names as keys; `resizeExact` may be absent (false).
public struct ImagePreprocessing: Sendable, Codable, Equatable {
    /// Resampling filters with Pillow's semantics (`Image.Resampling.NEAREST`, `BILINEAR`,
    /// `BICUBIC`), which is what torchvision's `InterpolationMode` maps to for PIL images.
    public enum Filter: String, Sendable, Codable, CaseIterable {
        case nearest, bilinear, bicubic
    }

    public var resizeShorterSide: Int
    public var filter: Filter
    public var cropWidth: Int
    public var cropHeight: Int
    public var mean: [Float]
    public var std: [Float]
    /// Resize to exactly `cropWidth` x `cropHeight` (`resizeShorterSide` unused), no crop.
    public var resizeExact: Bool

    public init(resizeShorterSide: Int, filter: Filter, cropWidth: Int, cropHeight: Int,
                mean: [Float], std: [Float], resizeExact: Bool = false) {
        self.resizeShorterSide = resizeShorterSide
        self.filter = filter
        self.cropWidth = cropWidth
        self.cropHeight = cropHeight
        self.mean = mean
        self.std = std
        self.resizeExact = resizeExact
    }

    /// Resize straight to `width` x `height` with `filter`, then normalise (no crop).
    public init(resizeToWidth width: Int, height: Int, filter: Filter, mean: [Float], std: [Float]) {
        self.init(resizeShorterSide: min(width, height), filter: filter, cropWidth: width, cropHeight: height,
                  mean: mean, std: std, resizeExact: true)
    }

    enum CodingKeys: String, CodingKey {
        case resizeShorterSide, filter, cropWidth, cropHeight, mean, std, resizeExact
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        resizeShorterSide = try c.decode(Int.self, forKey: .resizeShorterSide)
        filter = try c.decode(Filter.self, forKey: .filter)
        cropWidth = try c.decode(Int.self, forKey: .cropWidth)
        cropHeight = try c.decode(Int.self, forKey: .cropHeight)
        mean = try c.decode([Float].self, forKey: .mean)
        std = try c.decode([Float].self, forKey: .std)
        resizeExact = try c.decodeIfPresent(Bool.self, forKey: .resizeExact) ?? false
    }

    /// `[N, 3, cropHeight, cropWidth]`, the input shape the model expects.
    public func inputShape(batch: Int) -> [Int] { [batch, 3, cropHeight, cropWidth] }

    // MARK: recipes

    public static let imagenetMean: [Float] = [0.485, 0.456, 0.406]
    public static let imagenetStd: [Float] = [0.229, 0.224, 0.225]

    /// OpenAI CLIP's image normalisation.
    public static let clipMean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    public static let clipStd: [Float] = [0.26862954, 0.26130258, 0.27577711]

    /// torchvision's ImageNet evaluation transform (torchvision ResNet weights):
    /// `Resize(256)` bilinear, `CenterCrop(224)`, ImageNet mean/std.
    public static let imagenet = ImagePreprocessing(
        resizeShorterSide: 256, filter: .bilinear, cropWidth: 224, cropHeight: 224,
        mean: imagenetMean, std: imagenetStd)

    /// The same recipe under the name the vision models use.
    public static var torchvisionImageNet: ImagePreprocessing { imagenet }

    /// OpenAI CLIP at `imageSize` pixels: `Resize(imageSize, BICUBIC)`, `CenterCrop(imageSize)`,
    /// CLIP mean/std.
    public static func clip(imageSize s: Int) -> ImagePreprocessing {
        ImagePreprocessing(resizeShorterSide: s, filter: .bicubic, cropWidth: s, cropHeight: s, mean: clipMean, std: clipStd)
    }

    /// OpenAI CLIP ViT-B/32 and B/16 (224 pixels).
    public static let clip = ImagePreprocessing.clip(imageSize: 224)

    /// Hugging Face `ViTImageProcessor` defaults (`google/vit-*`): resize to `size` x `size`
    /// bilinear, no crop, mean = std = 0.5.
    public static func huggingFaceViT(size: Int) -> ImagePreprocessing {
        ImagePreprocessing(resizeToWidth: size, height: size, filter: .bilinear, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
    }

    /// Resize the shorter side to `int(size / cropFraction)` (timm's `crop_pct`, Hugging Face's
    /// `crop_pct`), then center crop `size` x `size`.
    public static func centerCrop(size: Int, cropFraction: Double, filter: Filter,
                                  mean: [Float], std: [Float]) -> ImagePreprocessing {
        ImagePreprocessing(resizeShorterSide: Int((Double(size) / cropFraction).rounded(.down)), filter: filter,
                           cropWidth: size, cropHeight: size, mean: mean, std: std)
    }
}
