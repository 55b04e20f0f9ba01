import Foundation
import TensorCore

/// The former name of `ImagePreprocessing` (TensorCore) in Models: how a vision model wants
/// its images, the spec Media applies.
public typealias VisionPreprocessing = ImagePreprocessing

/// What a vision encoder computes for a batch of images.
public struct VisionFeatures: Sendable {
    /// `[N, featureDimension]`: the image embedding (the classifier head's input).
    public var pooled: Tensor
    /// `[N, classes]` when the checkpoint has a classifier head, else nil.
    public var logits: Tensor?

    public init(pooled: Tensor, logits: Tensor?) {
        self.pooled = pooled
        self.logits = logits
    }
}

/// One class of a classification: index into the model's labels, label and probability.
/// Class predictions from logits, for every model with a classifier head.
public enum VisionClassifier {
    /// The `k` most probable classes of each row (softmax over the logits), ties by index.
    public static func top(_ logits: Tensor, k: Int, labels: [String]) -> [[VisionPrediction]] {
        let probs = logits.softmax(axis: -1)
        let n = probs.shape[0], c = probs.shape[1]
        let kk = min(k, c)
        let (values, indices) = probs.topK(kk, axis: -1)
        let v = values.scalars
        return (0..<n).map { i in
            (0..<kk).map { j in
                let idx = indices[i * kk + j]
                return VisionPrediction(index: idx, label: idx < labels.count ? labels[idx] : "\(idx)", probability: v[i * kk + j])
            }
        }
    }
}

public struct VisionPrediction: Sendable, Equatable {
    public var index: Int
    public var label: String
    public var probability: Float

    public init(index: Int, label: String, probability: Float) {
        self.index = index
        self.label = label
        self.probability = probability
    }
}

/// An image model: preprocessed pixels in, pooled features (and class logits) out.
/// Implementations are pure functions of their (immutable) weights, safe to share.
public protocol VisionEncoder: Sendable {
    /// The architecture as `--model` names it (`resnet50`, `vit-b-16`, `efficientnet-lite0`,
    /// or a family name `resnet` / `vit` / `efficientnet-lite` for non-standard sizes).
    var name: String { get }
    /// How images must be prepared for `features`.
    var preprocessing: ImagePreprocessing { get }
    /// Width of `VisionFeatures.pooled`.
    var featureDimension: Int { get }
    /// Class names for the logits (nil without a classifier head; index strings when the
    /// checkpoint names no labels and is not a 1000-class ImageNet model).
    var labels: [String]? { get }
    /// pixels `[N, 3, H, W]` as `preprocessing` makes them.
    func features(_ pixels: Tensor) throws -> VisionFeatures
}

extension VisionEncoder {
    public var hasClassifier: Bool { labels != nil }

    /// The `k` most probable classes of each image (softmax over the logits).
    public func classify(_ pixels: Tensor, top k: Int = 5) throws -> [[VisionPrediction]] {
        guard let labels else {
            throw VisionError("\(name): these weights have no classifier head; use the pooled features (embed) instead")
        }
        guard let logits = try features(pixels).logits else {
            throw VisionError("\(name): the model returned no logits")
        }
        return VisionClassifier.top(logits, k: k, labels: labels)
    }

    /// Checks `pixels` is `[N, 3, H, W]` with the size the model needs (nil: any size).
    func checkInput(_ pixels: Tensor, size: (height: Int, width: Int)?) throws {
        guard pixels.rank == 4, pixels.shape[1] == 3 else {
            throw VisionError("\(name): input \(pixels.shape) is not [N, 3, height, width]")
        }
        if let size, pixels.shape[2] != size.height || pixels.shape[3] != size.width {
            throw VisionError("\(name): input is \(pixels.shape[3])x\(pixels.shape[2]), this model needs \(size.width)x\(size.height) (its position embeddings are fixed; preprocess with its `preprocessing`)")
        }
        guard pixels.shape[2] > 0, pixels.shape[3] > 0 else {
            throw VisionError("\(name): empty input \(pixels.shape)")
        }
    }
}

/// A problem that is not about a weight file: an unknown model name, a wrong input shape.
public struct VisionError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

/// A vision architecture the model catalog can register: its `--model` names and how it
/// builds itself from a checkpoint. A new architecture is one file conforming to this and
/// one registration line in the catalog (Engine's `ModelCatalog`).
public protocol VisionArchitecture: VisionEncoder {
    /// The family name (`resnet`): `--model` takes it for a checkpoint of any size.
    static var familyName: String { get }
    /// The standard sizes (`resnet18` ... `resnet152`).
    static var standardNames: [String] { get }
    /// Builds the model from an opened checkpoint (torchvision / Hugging Face / timm /
    /// EfficientNet-PyTorch layouts); the sizes found must be the ones `name` stands for.
    static func load(_ checkpoint: VisionCheckpoint, name: String) throws -> Self
}

extension VisionArchitecture {
    /// Opens `weights` (a `.safetensors` file, or a folder holding `model.safetensors` and,
    /// for Hugging Face checkpoints, `config.json`; a `preprocessor_config.json` or timm
    /// `config.json` `pretrained_cfg` sets the preprocessing) and builds the model.
    public static func load(name: String, weights: URL) throws -> any VisionEncoder {
        try load(VisionLoader.open(weights), name: name)
    }
}

extension ResNet: VisionArchitecture { public static let familyName = "resnet" }
extension ViT: VisionArchitecture { public static let familyName = "vit" }
extension EfficientNetLite: VisionArchitecture { public static let familyName = "efficientnet-lite" }

/// The vision architectures, each registered once: a new one is a file conforming to
/// `VisionArchitecture` and one line in `architectures`.
public enum VisionModelRegistry {
    public static let architectures: [any VisionArchitecture.Type] = [
        ResNet.self,
        ViT.self,
        EfficientNetLite.self,
    ]

    /// An architecture family, by its family name.
    public struct Family: RawRepresentable, Hashable, Sendable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public static let resnet = Family(rawValue: ResNet.familyName)
        public static let vit = Family(rawValue: ViT.familyName)
        public static let efficientnetLite = Family(rawValue: EfficientNetLite.familyName)
    }

    /// Every name `--model` accepts: sizes, then the family names (any size).
    public static var names: [String] {
        architectures.flatMap { $0.standardNames } + architectures.map { $0.familyName }
    }

    static func architecture(of name: String) -> (any VisionArchitecture.Type)? {
        architectures.first { $0.familyName == name || $0.standardNames.contains(name) }
    }

    /// The family of a `--model` name, or nil for an unknown name.
    public static func family(of name: String) -> Family? {
        architecture(of: name).map { Family(rawValue: $0.familyName) }
    }

    /// Loads `name` from `weights` (see `VisionArchitecture.load(name:weights:)`).
    public static func load(name: String, weights: URL) throws -> any VisionEncoder {
        guard let a = architecture(of: name) else {
            throw VisionError("unknown vision model '\(name)'; known: \(names.joined(separator: ", "))")
        }
        return try a.load(name: name, weights: weights)
    }
}

// MARK: - layers shared by the convolutional models

/// A convolution with its batch norm folded in (inference), and an optional activation.
struct FoldedConv: Sendable {
    var weight: Tensor          // [O, C / groups, kh, kw]
    var bias: Tensor            // [O]
    var stride: Int
    /// Zero padding before (top, left) and the output size rule: symmetric PyTorch padding,
    /// or TensorFlow "SAME" (output ceil(in / stride), extra padding after).
    var padding: Padding
    var groups: Int
    /// Fused into the convolution's epilogue: identity, relu or relu6 (`Activation.fused`).
    var activation: Activation

    enum Padding: Sendable, Equatable {
        case symmetric(Int)
        case same
    }

    var outChannels: Int { weight.shape[0] }
    var kernel: Int { weight.shape[2] }

    /// Folds `bn` (gamma, beta, running mean, running variance) into `weight`.
    init(weight: Tensor, bn: (gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor), eps: Float,
         stride: Int, padding: Padding, groups: Int = 1, activation: Activation) {
        precondition(activation.fused != nil, "FoldedConv: \(activation) is not fused into convolutions")
        let folded = Tensor.foldBatchNorm(weight: weight, bias: nil, gamma: bn.gamma, beta: bn.beta,
                                          mean: bn.mean, variance: bn.variance, eps: eps)
        self.weight = folded.weight
        self.bias = folded.bias
        self.stride = stride
        self.padding = padding
        self.groups = groups
        self.activation = activation
    }

    /// `[N, C, H, W]` -> `[N, O, H', W']`; with `residual`, `act(conv(x) + residual)`.
    func callAsFunction(_ x: Tensor, residual: Tensor? = nil) -> Tensor {
        let h = x.shape[2], w = x.shape[3]
        let k = kernel
        let (top, left, outH, outW): (Int, Int, Int, Int)
        switch padding {
        case .symmetric(let p):
            (top, left) = (p, p)
            outH = (h + 2 * p - k) / stride + 1
            outW = (w + 2 * p - k) / stride + 1
        case .same:
            outH = (h + stride - 1) / stride
            outW = (w + stride - 1) / stride
            top = max((outH - 1) * stride + k - h, 0) / 2
            left = max((outW - 1) * stride + k - w, 0) / 2
        }
        return Tensor.fusedConv2d(x, weight: weight, bias: bias, stride: stride, padTop: top, padLeft: left,
                                  outHeight: outH, outWidth: outW, groups: groups,
                                  residual: residual, activation: activation.fused!)
    }
}

/// Reads a batch-norm's four tensors `prefix.{weight,bias,running_mean,running_var}`.
func takeBatchNorm(_ w: inout CheckedTensors, _ prefix: String, _ channels: Int) throws
    -> (gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor) {
    (try w.take("\(prefix).weight", [channels]), try w.take("\(prefix).bias", [channels]),
     try w.take("\(prefix).running_mean", [channels]), try w.take("\(prefix).running_var", [channels]))
}

/// Labels for a classifier with `classes` outputs: the checkpoint's `id2label` when it has
/// one for every index, else the ImageNet names for 1000 classes, else "0", "1", ...
func classLabels(classes: Int, id2label: [String: String]?) -> [String] {
    if let id2label, id2label.count == classes {
        let names = (0..<classes).compactMap { id2label[String($0)] }
        if names.count == classes { return names }
    }
    if classes == ImageNetClasses.names.count { return ImageNetClasses.names }
    return (0..<classes).map(String.init)
}
