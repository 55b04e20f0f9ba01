import Foundation
import TensorCore

/// Hugging Face `ResNetConfig` (transformers 4.36), also the description of a torchvision
/// ResNet (`layer_type` basic for BasicBlock, bottleneck for Bottleneck; `hidden_sizes` are
/// each stage's output widths).
public struct ResNetConfig: Codable, Sendable, Equatable {
    public var numChannels: Int
    /// Stem width (the 7x7 convolution's output).
    public var embeddingSize: Int
    /// Output channels of each stage.
    public var hiddenSizes: [Int]
    /// Residual blocks per stage.
    public var depths: [Int]
    /// "basic" (two 3x3 convolutions) or "bottleneck" (1x1, 3x3, 1x1).
    public var layerType: String
    public var hiddenAct: String
    /// Whether the first stage's first block has stride 2 (false in every standard ResNet).
    public var downsampleInFirstStage: Bool
    /// Whether a bottleneck block strides in its first 1x1 convolution instead of its 3x3
    /// (false: torchvision's "ResNet v1.5", and transformers' default).
    public var downsampleInBottleneck: Bool
    public var id2label: [String: String]?
    /// Bottleneck width = stage width / this (4 in transformers; torchvision wide ResNets use 2).
    public var bottleneckReduction: Int = 4

    enum CodingKeys: String, CodingKey {
        case numChannels = "num_channels", embeddingSize = "embedding_size", hiddenSizes = "hidden_sizes"
        case depths, layerType = "layer_type", hiddenAct = "hidden_act"
        case downsampleInFirstStage = "downsample_in_first_stage", downsampleInBottleneck = "downsample_in_bottleneck"
        case id2label
    }

    public init(embeddingSize: Int = 64, hiddenSizes: [Int], depths: [Int], layerType: String,
                downsampleInFirstStage: Bool = false, downsampleInBottleneck: Bool = false) {
        numChannels = 3
        self.embeddingSize = embeddingSize
        self.hiddenSizes = hiddenSizes
        self.depths = depths
        self.layerType = layerType
        hiddenAct = "relu"
        self.downsampleInFirstStage = downsampleInFirstStage
        self.downsampleInBottleneck = downsampleInBottleneck
        id2label = nil
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        numChannels = try c.decodeIfPresent(Int.self, forKey: .numChannels) ?? 3
        embeddingSize = try c.decodeIfPresent(Int.self, forKey: .embeddingSize) ?? 64
        hiddenSizes = try c.decodeIfPresent([Int].self, forKey: .hiddenSizes) ?? [256, 512, 1024, 2048]
        depths = try c.decodeIfPresent([Int].self, forKey: .depths) ?? [3, 4, 6, 3]
        layerType = try c.decodeIfPresent(String.self, forKey: .layerType) ?? "bottleneck"
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "relu"
        downsampleInFirstStage = try c.decodeIfPresent(Bool.self, forKey: .downsampleInFirstStage) ?? false
        downsampleInBottleneck = try c.decodeIfPresent(Bool.self, forKey: .downsampleInBottleneck) ?? false
        id2label = try c.decodeIfPresent([String: String].self, forKey: .id2label)
    }

    var isBottleneck: Bool { layerType == "bottleneck" }

    /// The same network (ignoring labels)?
    func sameArchitecture(_ o: ResNetConfig) -> Bool {
        embeddingSize == o.embeddingSize && hiddenSizes == o.hiddenSizes && depths == o.depths
            && layerType == o.layerType && downsampleInFirstStage == o.downsampleInFirstStage
            && downsampleInBottleneck == o.downsampleInBottleneck && (!isBottleneck || bottleneckReduction == o.bottleneckReduction)
    }

    var summary: String {
        "\(layerType) blocks, depths \(depths), widths \(hiddenSizes), stem \(embeddingSize)"
    }
}

/// ResNet 18/34/50/101/152 (He et al.) for inference, from torchvision or Hugging Face
/// (`microsoft/resnet-*`, `ResNetModel` / `ResNetForImageClassification`) weights.
///
/// Every convolution has its batch norm folded in at load (eps 1e-5, PyTorch's default), and
/// ReLU and the residual add are fused into the convolution that precedes them. Pooled
/// features are the global average of the last stage `[N, hidden_sizes.last]`; logits are
/// `fc` (torchvision) / `classifier.1` (Hugging Face) applied to them.
public struct ResNet: VisionEncoder {
    public static let standardNames = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]

    public static func standardConfig(_ name: String) -> ResNetConfig? {
        let basic = [64, 128, 256, 512], bottleneck = [256, 512, 1024, 2048]
        switch name {
        case "resnet18": return ResNetConfig(hiddenSizes: basic, depths: [2, 2, 2, 2], layerType: "basic")
        case "resnet34": return ResNetConfig(hiddenSizes: basic, depths: [3, 4, 6, 3], layerType: "basic")
        case "resnet50": return ResNetConfig(hiddenSizes: bottleneck, depths: [3, 4, 6, 3], layerType: "bottleneck")
        case "resnet101": return ResNetConfig(hiddenSizes: bottleneck, depths: [3, 4, 23, 3], layerType: "bottleneck")
        case "resnet152": return ResNetConfig(hiddenSizes: bottleneck, depths: [3, 8, 36, 3], layerType: "bottleneck")
        default: return nil
        }
    }

    /// Where the weights came from (it decides nothing but the default preprocessing).
    public enum Layout: String, Sendable {
        case torchvision, huggingFace
    }

    struct Block: Sendable {
        var convs: [FoldedConv]         // 2 (basic) or 3 (bottleneck); the last one adds the shortcut
        var shortcut: FoldedConv?
    }

    public let name: String
    public let config: ResNetConfig
    public let layout: Layout
    public let preprocessing: ImagePreprocessing
    public let labels: [String]?
    let stem: FoldedConv
    let stages: [[Block]]
    let fc: Linear?

    public var featureDimension: Int { config.hiddenSizes.last ?? 0 }

    public func features(_ pixels: Tensor) throws -> VisionFeatures {
        try checkInput(pixels, size: nil)
        var x = stem(pixels)
        x = x.maxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        for stage in stages {
            for block in stage {
                let shortcut = block.shortcut.map { $0(x) } ?? x
                var y = x
                for (i, conv) in block.convs.enumerated() {
                    y = conv(y, residual: i == block.convs.count - 1 ? shortcut : nil)
                }
                x = y
            }
        }
        let pooled = x.globalAvgPool2d()
        return VisionFeatures(pooled: pooled, logits: fc.map { $0(pooled) })
    }

    /// The evaluation preprocessing of each layout's published weights, used when the
    /// checkpoint has no `preprocessor_config.json`: torchvision's `Resize(256)` bilinear +
    /// `CenterCrop(224)`; for `microsoft/resnet-*` their `ConvNextImageProcessor` (shortest
    /// edge 224, crop_pct 0.875, so `Resize(256)` bicubic + center crop 224). Both ImageNet
    /// mean/std.
    ///
    /// - Important: Hugging Face's center crop starts at `(size - crop) // 2`, torchvision's
    ///   (and ours) at `round((size - crop) / 2)` with halves to even: they differ by one
    ///   pixel when `size - crop` is odd and its half rounds up. Not the case for
    ///   224 crops of 256 squares, nor for any of the sample photos.
    public static func defaultPreprocessing(_ layout: Layout) -> ImagePreprocessing {
        switch layout {
        case .torchvision: return .torchvisionImageNet
        case .huggingFace:
            return .centerCrop(size: 224, cropFraction: 0.875, filter: .bicubic,
                               mean: ImagePreprocessing.imagenetMean, std: ImagePreprocessing.imagenetStd)
        }
    }

    // MARK: loading

    /// Hugging Face names -> torchvision names (the model's own), one rename per tensor.
    static func torchvisionName(fromHuggingFace key: String) -> String? {
        var k = Substring(key)
        if k.hasPrefix("resnet.") { k = k.dropFirst("resnet.".count) }
        if k.hasPrefix("embedder.embedder.convolution.") { return "conv1." + k.dropFirst("embedder.embedder.convolution.".count) }
        if k.hasPrefix("embedder.embedder.normalization.") { return "bn1." + k.dropFirst("embedder.embedder.normalization.".count) }
        if k.hasPrefix("classifier.1.") { return "fc." + k.dropFirst("classifier.1.".count) }
        // encoder.stages.S.layers.L.{shortcut.(convolution|normalization) | layer.K.(convolution|normalization)}.param
        let parts = k.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 7, parts[0] == "encoder", parts[1] == "stages", let s = Int(parts[2]),
              parts[3] == "layers", let l = Int(parts[4]) else { return String(key) }
        let block = "layer\(s + 1).\(l)"
        if parts[5] == "shortcut", parts.count == 8 {
            if parts[6] == "convolution" { return "\(block).downsample.0.\(parts[7])" }
            if parts[6] == "normalization" { return "\(block).downsample.1.\(parts[7])" }
        }
        if parts[5] == "layer", parts.count == 9, let c = Int(parts[6]) {
            if parts[7] == "convolution" { return "\(block).conv\(c + 1).\(parts[8])" }
            if parts[7] == "normalization" { return "\(block).bn\(c + 1).\(parts[8])" }
        }
        return String(key)
    }

    /// The inverse of `torchvisionName(fromHuggingFace:)` (ResNetForImageClassification names
    /// when `prefixed`, ResNetModel names otherwise).
    static func huggingFaceName(fromTorchvision key: String, prefixed: Bool) -> String {
        let p = prefixed ? "resnet." : ""
        let parts = key.split(separator: ".").map(String.init)
        guard let first = parts.first else { return key }
        if first == "fc" { return "classifier.1." + parts.dropFirst().joined(separator: ".") }
        if first == "conv1" { return p + "embedder.embedder.convolution." + parts.dropFirst().joined(separator: ".") }
        if first == "bn1" { return p + "embedder.embedder.normalization." + parts.dropFirst().joined(separator: ".") }
        guard first.hasPrefix("layer"), let s = Int(first.dropFirst(5)), parts.count >= 4, let l = Int(parts[1]) else { return key }
        let block = "\(p)encoder.stages.\(s - 1).layers.\(l)"
        let rest = parts.dropFirst(3).joined(separator: ".")
        if parts[2] == "downsample", parts.count >= 5 {
            let which = parts[3] == "0" ? "convolution" : "normalization"
            return "\(block).shortcut.\(which)." + parts.dropFirst(4).joined(separator: ".")
        }
        if parts[2].hasPrefix("conv"), let c = Int(parts[2].dropFirst(4)) { return "\(block).layer.\(c - 1).convolution.\(rest)" }
        if parts[2].hasPrefix("bn"), let c = Int(parts[2].dropFirst(2)) { return "\(block).layer.\(c - 1).normalization.\(rest)" }
        return key
    }

    public static func load(_ checkpoint: VisionCheckpoint, name: String) throws -> ResNet {
        let keys = Set(checkpoint.tensorNames)
        let layout: Layout
        if keys.contains(where: { $0.hasPrefix("resnet.embedder.") || $0.hasPrefix("embedder.embedder.") }) {
            layout = .huggingFace
        } else if keys.contains("conv1.weight") && keys.contains(where: { $0.hasPrefix("layer1.") }) {
            layout = .torchvision
        } else {
            throw WeightFileError(path: checkpoint.path, "not ResNet weights: they look like \(checkpoint.layoutGuess), but --model \(name) was given")
        }
        let prefixed = keys.contains { $0.hasPrefix("resnet.") }
        var w = try CheckedTensors(checkpoint, model: name, rename: { key in
            layout == .huggingFace ? torchvisionName(fromHuggingFace: key) : key
        }, inverse: { key in
            layout == .huggingFace ? huggingFaceName(fromTorchvision: key, prefixed: prefixed) : key
        })

        // The architecture: config.json for Hugging Face checkpoints, else read off the shapes.
        var config: ResNetConfig
        if layout == .huggingFace, let file = checkpoint.config {
            config = try file.decode(ResNetConfig.self, what: "ResNet")
            if let t = file.object["model_type"] as? String, t != "resnet" {
                throw WeightFileError(path: file.path, "model_type is '\(t)', not 'resnet'")
            }
            guard config.layerType == "basic" || config.layerType == "bottleneck" else {
                throw WeightFileError(path: file.path, "layer_type '\(config.layerType)' is not basic or bottleneck")
            }
            guard config.hiddenAct == "relu" else {
                throw WeightFileError(path: file.path, "hidden_act '\(config.hiddenAct)' is not supported (ResNet uses relu)")
            }
            guard config.numChannels == 3, config.depths.count == config.hiddenSizes.count, !config.depths.isEmpty,
                  config.depths.allSatisfy({ $0 > 0 }) else {
                throw WeightFileError(path: file.path, "num_channels must be 3 and depths / hidden_sizes one positive entry per stage")
            }
        } else {
            config = try inferConfig(w)
        }
        if config.isBottleneck {
            // Bottleneck width: stage width / 4 in every standard ResNet; wide ResNets differ.
            let mid = try w.shape("layer1.0.conv1.weight", rank: 4)[0]
            guard mid > 0, config.hiddenSizes[0] % mid == 0,
                  config.hiddenSizes.allSatisfy({ $0 % (config.hiddenSizes[0] / mid) == 0 }) else {
                throw WeightFileError(path: w.path, "bottleneck width \(mid) ('\(w.display("layer1.0.conv1.weight"))') does not divide the stage widths \(config.hiddenSizes)")
            }
            config.bottleneckReduction = config.hiddenSizes[0] / mid
        }
        try checkName(name, config: config, path: w.path)

        let eps: Float = 1e-5
        func conv(_ prefix: String, bn: String, out: Int, in inp: Int, k: Int, stride: Int, act: Activation) throws -> FoldedConv {
            FoldedConv(weight: try w.take("\(prefix).weight", [out, inp, k, k]), bn: try takeBatchNorm(&w, bn, out), eps: eps,
                       stride: stride, padding: .symmetric(k / 2), activation: act)
        }
        let stem = try conv("conv1", bn: "bn1", out: config.embeddingSize, in: 3, k: 7, stride: 2, act: .relu)
        var stages: [[Block]] = []
        var inWidth = config.embeddingSize
        for (s, (depth, width)) in zip(config.depths, config.hiddenSizes).enumerated() {
            var blocks: [Block] = []
            for b in 0..<depth {
                let p = "layer\(s + 1).\(b)"
                let stride = b > 0 ? 1 : (s > 0 || config.downsampleInFirstStage ? 2 : 1)
                var convs: [FoldedConv] = []
                if config.isBottleneck {
                    let mid = width / config.bottleneckReduction
                    let s1 = config.downsampleInBottleneck ? stride : 1
                    convs.append(try conv("\(p).conv1", bn: "\(p).bn1", out: mid, in: inWidth, k: 1, stride: s1, act: .relu))
                    convs.append(try conv("\(p).conv2", bn: "\(p).bn2", out: mid, in: mid, k: 3, stride: stride / s1, act: .relu))
                    convs.append(try conv("\(p).conv3", bn: "\(p).bn3", out: width, in: mid, k: 1, stride: 1, act: .relu))
                } else {
                    convs.append(try conv("\(p).conv1", bn: "\(p).bn1", out: width, in: inWidth, k: 3, stride: stride, act: .relu))
                    convs.append(try conv("\(p).conv2", bn: "\(p).bn2", out: width, in: width, k: 3, stride: 1, act: .relu))
                }
                var shortcut: FoldedConv? = nil
                if inWidth != width || stride != 1 {
                    shortcut = try conv("\(p).downsample.0", bn: "\(p).downsample.1", out: width, in: inWidth, k: 1,
                                        stride: stride, act: .identity)
                }
                blocks.append(Block(convs: convs, shortcut: shortcut))
                inWidth = width
            }
            stages.append(blocks)
        }
        var fc: Linear? = nil
        var labels: [String]? = nil
        if w.has("fc.weight") {
            let classes = try w.shape("fc.weight", rank: 2)[0]
            fc = Linear(weight: try w.take("fc.weight", [classes, inWidth]), bias: try w.take("fc.bias", [classes]))
            labels = classLabels(classes: classes, id2label: config.id2label)
        }
        try w.checkAllTaken()

        var preprocessing = defaultPreprocessing(layout)
        if let p = try PreprocessorConfig.huggingFace(checkpoint.preprocessorConfig) { preprocessing = p }
        return ResNet(name: name, config: config, layout: layout, preprocessing: preprocessing, labels: labels,
                      stem: stem, stages: stages, fc: fc)
    }

    /// The architecture of torchvision-named weights, from their shapes.
    static func inferConfig(_ w: CheckedTensors) throws -> ResNetConfig {
        let stem = try w.shape("conv1.weight", rank: 4)
        var depths: [Int] = [], widths: [Int] = []
        let bottleneck = w.has("layer1.0.conv3.weight")
        var s = 1
        while w.has("layer\(s).0.conv1.weight") {
            depths.append(try w.count(under: "layer\(s).", what: "blocks of stage layer\(s)"))
            widths.append(try w.shape("layer\(s).0.\(bottleneck ? "conv3" : "conv2").weight", rank: 4)[0])
            s += 1
        }
        guard !depths.isEmpty else {
            throw WeightFileError(path: w.path, "no residual blocks ('layer1.0.conv1.weight' missing)")
        }
        // Strides are not in the weights: torchvision's (and transformers' default) placement.
        return ResNetConfig(embeddingSize: stem[0], hiddenSizes: widths, depths: depths,
                            layerType: bottleneck ? "bottleneck" : "basic")
    }

    /// A specific name must match the weights' architecture exactly; "resnet" accepts any.
    static func checkName(_ name: String, config: ResNetConfig, path: String) throws {
        let match = standardNames.first { standardConfig($0)!.sameArchitecture(config) }
        guard name != "resnet" else { return }
        guard let want = standardConfig(name) else {
            throw VisionError("'\(name)' is not a ResNet size (known: \(standardNames.joined(separator: ", ")), or resnet for any)")
        }
        if !want.sameArchitecture(config) {
            let looks = match.map { "look like \($0) (\(config.summary))" } ?? "are a ResNet with \(config.summary), not a standard size"
            let fix = match.map { "pass --model \($0)" } ?? "pass --model resnet to load any ResNet"
            throw WeightFileError(path: path, "weights \(looks) but --model \(name) expects \(want.summary); \(fix)")
        }
    }
}
