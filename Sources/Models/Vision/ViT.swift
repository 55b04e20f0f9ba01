import Foundation
import TensorCore

/// Hugging Face `ViTConfig` (transformers 4.36), also used for timm `VisionTransformer`
/// weights (then `layer_norm_eps` is timm's 1e-6 and the pooling comes from timm's
/// `global_pool`).
public struct ViTConfig: Codable, Sendable, Equatable {
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var intermediateSize: Int
    public var hiddenAct: String
    public var layerNormEps: Float
    public var imageSize: Int
    public var patchSize: Int
    public var numChannels: Int
    public var qkvBias: Bool
    public var id2label: [String: String]?
    /// How the pooled feature is made: the class token after the final norm ("token", Hugging
    /// Face and timm's default) or the mean of the patch tokens ("avg", timm `global_pool='avg'`).
    public var pooling: String = "token"

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case intermediateSize = "intermediate_size", hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps"
        case imageSize = "image_size", patchSize = "patch_size", numChannels = "num_channels", qkvBias = "qkv_bias"
        case id2label
    }

    public init(hiddenSize: Int, numHiddenLayers: Int, numAttentionHeads: Int, intermediateSize: Int,
                patchSize: Int, imageSize: Int = 224, layerNormEps: Float = 1e-12) {
        self.hiddenSize = hiddenSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.intermediateSize = intermediateSize
        hiddenAct = "gelu"
        self.layerNormEps = layerNormEps
        self.imageSize = imageSize
        self.patchSize = patchSize
        numChannels = 3
        qkvBias = true
        id2label = nil
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? 768
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? 12
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? 12
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? 3072
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "gelu"
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? 1e-12
        imageSize = try Self.squareSize(c, .imageSize) ?? 224
        patchSize = try Self.squareSize(c, .patchSize) ?? 16
        numChannels = try c.decodeIfPresent(Int.self, forKey: .numChannels) ?? 3
        qkvBias = try c.decodeIfPresent(Bool.self, forKey: .qkvBias) ?? true
        id2label = try c.decodeIfPresent([String: String].self, forKey: .id2label)
    }

    /// `224` or `[224, 224]` (transformers accepts both; only squares are supported here).
    static func squareSize(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Int? {
        if let n = try? c.decodeIfPresent(Int.self, forKey: key) { return n }
        guard let pair = try c.decodeIfPresent([Int].self, forKey: key) else { return nil }
        guard pair.count == 2, pair[0] == pair[1] else {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "only square sizes are supported, got \(pair)")
        }
        return pair[0]
    }

    var summary: String {
        "width \(hiddenSize), \(numHiddenLayers) layers, \(numAttentionHeads) heads, MLP \(intermediateSize), patch \(patchSize)"
    }

    func sameArchitecture(_ o: ViTConfig) -> Bool {
        hiddenSize == o.hiddenSize && numHiddenLayers == o.numHiddenLayers && numAttentionHeads == o.numAttentionHeads
            && intermediateSize == o.intermediateSize && patchSize == o.patchSize
    }
}

/// Vision Transformer (Dosovitskiy et al.) for inference, from Hugging Face (`google/vit-*`,
/// `ViTModel` / `ViTForImageClassification`) or timm (`VisionTransformer`) weights.
///
/// Pre-norm blocks: `x += proj(attention(ln1(x)))`, `x += fc2(gelu(fc1(ln2(x))))`, with
/// layer scale when the timm checkpoint has it. Hugging Face's separate query/key/value
/// projections are joined into one `[3D, D]` projection at load (one GEMM per layer).
/// Pooled feature: the final-norm class token (or the timm `fc_norm` of the mean patch
/// token), through Hugging Face's `pooler` (dense + tanh) when the checkpoint has one.
public struct ViT: VisionEncoder {
    public static let standardNames = ["vit-ti-16", "vit-s-16", "vit-b-16", "vit-b-32", "vit-l-16"]

    public static func standardConfig(_ name: String) -> ViTConfig? {
        switch name {
        case "vit-ti-16": return ViTConfig(hiddenSize: 192, numHiddenLayers: 12, numAttentionHeads: 3, intermediateSize: 768, patchSize: 16)
        case "vit-s-16": return ViTConfig(hiddenSize: 384, numHiddenLayers: 12, numAttentionHeads: 6, intermediateSize: 1536, patchSize: 16)
        case "vit-b-16": return ViTConfig(hiddenSize: 768, numHiddenLayers: 12, numAttentionHeads: 12, intermediateSize: 3072, patchSize: 16)
        case "vit-b-32": return ViTConfig(hiddenSize: 768, numHiddenLayers: 12, numAttentionHeads: 12, intermediateSize: 3072, patchSize: 32)
        case "vit-l-16": return ViTConfig(hiddenSize: 1024, numHiddenLayers: 24, numAttentionHeads: 16, intermediateSize: 4096, patchSize: 16)
        default: return nil
        }
    }

    public enum Layout: String, Sendable {
        case huggingFace, timm
    }

    public let name: String
    public let config: ViTConfig
    public let layout: Layout
    public let preprocessing: ImagePreprocessing
    public let labels: [String]?
    let patchWeight: Tensor            // [D, 3, P, P]
    let patchBias: Tensor?
    let classToken: Tensor?            // [D]
    let positions: Tensor              // [T, D]
    let preNorm: LayerNorm?            // timm norm_pre
    let blocks: [TransformerBlock]     // pre-norm; layer scales from timm's ls1 / ls2
    let norm: LayerNorm?               // final norm over every token
    let fcNorm: LayerNorm?             // timm norm after avg pooling
    let pooler: Linear?                // Hugging Face ViTModel pooler (tanh)
    let head: Linear?

    public var featureDimension: Int { config.hiddenSize }

    public func features(_ pixels: Tensor) throws -> VisionFeatures {
        try checkInput(pixels, size: (config.imageSize, config.imageSize))
        let n = pixels.shape[0], d = config.hiddenSize, p = config.patchSize
        let patches = Tensor.conv2d(pixels, weight: patchWeight, bias: patchBias,
                                    Conv2DGeometry(stride: (p, p)))                       // [N, D, gh, gw]
        let l = patches.shape[2] * patches.shape[3]
        let prefix = classToken == nil ? 0 : 1
        let t = l + prefix
        // Tokens [N, T, D]: class token, then patches in row-major order; plus positions.
        var x = Tensor(shape: [n, t, d]) { out in
            let src = patches.contiguous(), pos = positions.contiguous()
            let o = out.baseAddress!
            for img in 0..<n {
                let dst = o + img * t * d
                if let cls = classToken {
                    let c = cls.contiguous()
                    for j in 0..<d { dst[j] = c.pointer[j] + pos.pointer[j] }
                }
                let s = src.pointer + img * d * l
                for i in 0..<l {
                    let row = dst + (prefix + i) * d, pr = pos.pointer + (prefix + i) * d
                    for j in 0..<d { row[j] = s[j * l + i] + pr[j] }
                }
            }
        }
        if let preNorm { x = preNorm(x) }
        for b in blocks { x = b(x) }
        if let norm { x = norm(x) }
        var pooled: Tensor
        if config.pooling == "avg" {
            pooled = x.slice(axis: 1, prefix..<t).mean(axis: 1)
        } else {
            pooled = x.select(axis: 1, 0).contiguous()
        }
        if let fcNorm { pooled = fcNorm(pooled) }
        if let pooler { pooled = pooler(pooled).map { 2 * VectorMath.sigmoid(2 * $0) - 1 } }   // tanh
        return VisionFeatures(pooled: pooled, logits: head.map { $0(pooled) })
    }

    /// Preprocessing when the checkpoint does not name its own (`preprocessor_config.json`,
    /// timm `pretrained_cfg`): Hugging Face `ViTImageProcessor` (resize straight to the
    /// image size, bilinear, mean = std = 0.5); timm's ViT defaults for the augreg weights
    /// (bicubic, crop_pct 0.9, mean = std = 0.5).
    public static func defaultPreprocessing(_ layout: Layout, imageSize: Int) -> ImagePreprocessing {
        switch layout {
        case .huggingFace: return .huggingFaceViT(size: imageSize)
        case .timm: return .centerCrop(size: imageSize, cropFraction: 0.9, filter: .bicubic,
                                       mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
        }
    }

    // MARK: loading

    public static func load(_ checkpoint: VisionCheckpoint, name: String) throws -> ViT {
        let keys = Set(checkpoint.tensorNames)
        let layout: Layout
        if keys.contains(where: { $0.hasPrefix("vit.embeddings.") || $0.hasPrefix("embeddings.patch_embeddings.") }) {
            layout = .huggingFace
        } else if keys.contains("patch_embed.proj.weight") {
            layout = .timm
        } else {
            throw WeightFileError(path: checkpoint.path, "not ViT weights: they look like \(checkpoint.layoutGuess), but --model \(name) was given")
        }
        let prefixed = keys.contains { $0.hasPrefix("vit.") }
        var w = try CheckedTensors(checkpoint, model: name, rename: { key in
            layout == .huggingFace && key.hasPrefix("vit.") ? String(key.dropFirst(4)) : key
        }, inverse: { key in
            prefixed && key != "classifier.weight" && key != "classifier.bias" ? "vit." + key : key
        })
        let n = layout == .huggingFace ? ViTNames.huggingFace : ViTNames.timm

        // Architecture: Hugging Face config.json, else the shapes (+ timm's hub config.json).
        let patch = try w.shape(n.patchWeight, rank: 4)
        let d = patch[0]
        var config: ViTConfig
        var timmPreprocessing: ImagePreprocessing? = nil
        if layout == .huggingFace, let file = checkpoint.config {
            config = try file.decode(ViTConfig.self, what: "ViT")
            if let t = file.object["model_type"] as? String, t != "vit" {
                throw WeightFileError(path: file.path, "model_type is '\(t)', not 'vit'")
            }
        } else {
            let layers = try w.count(under: n.layerPrefix, what: "transformer layers")
            let mlp = try w.shape(n.fc1(0) + ".weight", rank: 2)[0]
            let positions = try w.shape(n.positions, rank: 3)[1]
            let patchCount = positions - (w.has(n.classToken) ? 1 : 0)
            let grid = Int(Double(patchCount).squareRoot().rounded())
            guard grid * grid == patchCount else {
                throw WeightFileError(path: w.path, "'\(w.display(n.positions))' has \(patchCount) patch positions, not a square grid")
            }
            let heads = standardConfig(name)?.numAttentionHeads ?? max(1, d / 64)
            config = ViTConfig(hiddenSize: d, numHiddenLayers: layers, numAttentionHeads: heads, intermediateSize: mlp,
                               patchSize: patch[2], imageSize: grid * patch[2],
                               layerNormEps: layout == .timm ? 1e-6 : 1e-12)
            config.qkvBias = w.has(n.qkvBias(0))
            if layout == .timm, let file = checkpoint.config {
                let o = file.object
                if let args = o["model_args"] as? [String: Any], let h = (args["num_heads"] as? NSNumber)?.intValue {
                    config.numAttentionHeads = h
                }
                if let pool = o["global_pool"] as? String {
                    guard pool == "token" || pool == "avg" else {
                        throw WeightFileError(path: file.path, "global_pool '\(pool)' is not supported (token or avg)")
                    }
                    config.pooling = pool
                }
                if let cfg = o["pretrained_cfg"] as? [String: Any] {
                    timmPreprocessing = try PreprocessorConfig.timm(cfg, path: file.path)
                }
            }
            if layout == .timm, checkpoint.config?.object["global_pool"] == nil {
                // timm uses fc_norm exactly when pooling by average (use_fc_norm defaults to global_pool == 'avg').
                config.pooling = w.has("fc_norm.weight") ? "avg" : "token"
            }
        }
        guard config.numChannels == 3, config.hiddenSize == d, config.numAttentionHeads > 0,
              d % config.numAttentionHeads == 0 else {
            throw WeightFileError(path: checkpoint.config?.path ?? w.path,
                                  "\(config.numAttentionHeads) heads do not divide the width \(d) (or num_channels is not 3)")
        }
        let activation = try Activation.huggingFace(config.hiddenAct, path: checkpoint.config?.path ?? w.path)
        try checkName(name, config: config, path: w.path)

        let p = config.patchSize, grid = config.imageSize / config.patchSize
        guard grid * p == config.imageSize else {
            throw WeightFileError(path: w.path, "image size \(config.imageSize) is not a multiple of the patch size \(p)")
        }
        let eps = config.layerNormEps
        func linear(_ prefix: String, _ out: Int, _ inp: Int, bias: Bool = true) throws -> Linear {
            Linear(weight: try w.take(prefix + ".weight", [out, inp]), bias: bias ? try w.take(prefix + ".bias", [out]) : nil)
        }
        func norm(_ prefix: String) throws -> LayerNorm {
            LayerNorm(weight: try w.take(prefix + ".weight", [d]), bias: try w.take(prefix + ".bias", [d]), eps: eps)
        }
        func optionalNorm(_ prefix: String) throws -> LayerNorm? { w.has(prefix + ".weight") ? try norm(prefix) : nil }

        let patchWeight = try w.take(n.patchWeight, [d, 3, p, p])
        let patchBias = w.has(n.patchBias) ? try w.take(n.patchBias, [d]) : nil
        let classToken = w.has(n.classToken) ? try w.take(n.classToken, [1, 1, d]).reshaped([d]) : nil
        let tokens = grid * grid + (classToken == nil ? 0 : 1)
        let positions = try w.take(n.positions, [1, tokens, d]).reshaped([tokens, d])
        let preNorm = layout == .timm ? try optionalNorm("norm_pre") : nil
        var blocks: [TransformerBlock] = []
        let mlp = config.intermediateSize
        for i in 0..<config.numHiddenLayers {
            let qkv: Linear
            if layout == .huggingFace {
                qkv = Linear(stacking: try ["query", "key", "value"].map { try linear(n.attention(i) + ".\($0)", d, d, bias: config.qkvBias) })
            } else {
                qkv = try linear("blocks.\(i).attn.qkv", 3 * d, d, bias: config.qkvBias)
            }
            let scale1 = layout == .timm && w.has("blocks.\(i).ls1.gamma") ? try w.take("blocks.\(i).ls1.gamma", [d]) : nil
            let scale2 = layout == .timm && w.has("blocks.\(i).ls2.gamma") ? try w.take("blocks.\(i).ls2.gamma", [d]) : nil
            blocks.append(TransformerBlock(
                attentionNorm: try norm(n.norm1(i)),
                attention: MultiHeadAttention(qkv: qkv, out: try linear(n.proj(i), d, d), heads: config.numAttentionHeads),
                attentionScale: scale1, mlpNorm: try norm(n.norm2(i)),
                mlp: MLP(fc1: try linear(n.fc1(i), mlp, d), fc2: try linear(n.fc2(i), d, mlp), activation: activation),
                mlpScale: scale2))
        }
        let finalNorm = try optionalNorm(n.finalNorm)
        let fcNorm = layout == .timm ? try optionalNorm("fc_norm") : nil
        let pooler = layout == .huggingFace && w.has("pooler.dense.weight") ? try linear("pooler.dense", d, d) : nil
        var head: Linear? = nil
        var labels: [String]? = nil
        if w.has(n.head + ".weight") {
            let classes = try w.shape(n.head + ".weight", rank: 2)[0]
            head = try linear(n.head, classes, d)
            labels = classLabels(classes: classes, id2label: config.id2label)
        }
        if layout == .huggingFace && finalNorm == nil {
            _ = try norm(n.finalNorm)   // required: throws "missing tensor"
        }
        try w.checkAllTaken()

        let preprocessing = try (layout == .huggingFace ? PreprocessorConfig.huggingFace(checkpoint.preprocessorConfig) : timmPreprocessing)
            ?? defaultPreprocessing(layout, imageSize: config.imageSize)
        guard preprocessing.cropWidth == config.imageSize, preprocessing.cropHeight == config.imageSize else {
            throw WeightFileError(path: checkpoint.preprocessorConfig?.path ?? checkpoint.config?.path ?? w.path,
                                  "preprocessing makes \(preprocessing.cropWidth)x\(preprocessing.cropHeight) images, the model needs \(config.imageSize)x\(config.imageSize)")
        }
        return ViT(name: name, config: config, layout: layout, preprocessing: preprocessing, labels: labels,
                   patchWeight: patchWeight, patchBias: patchBias, classToken: classToken, positions: positions,
                   preNorm: preNorm, blocks: blocks, norm: finalNorm, fcNorm: fcNorm, pooler: pooler, head: head)
    }

    static func checkName(_ name: String, config: ViTConfig, path: String) throws {
        guard name != "vit" else { return }
        guard let want = standardConfig(name) else {
            throw VisionError("'\(name)' is not a ViT size (known: \(standardNames.joined(separator: ", ")), or vit for any)")
        }
        if !want.sameArchitecture(config) {
            let match = standardNames.first { standardConfig($0)!.sameArchitecture(config) }
            let looks = match.map { "look like \($0) (\(config.summary))" } ?? "are a ViT with \(config.summary), not a standard size"
            let fix = match.map { "pass --model \($0)" } ?? "pass --model vit to load any ViT"
            throw WeightFileError(path: path, "weights \(looks) but --model \(name) expects \(want.summary); \(fix)")
        }
    }
}

/// Tensor names of one layout (after `vit.` is dropped from Hugging Face names).
private struct ViTNames {
    var patch: String               // the patch embedding (`.weight`, `.bias`)
    var classToken: String
    var positions: String
    var layerPrefix: String         // + layer index + "." + a name in `inLayer`
    var inLayer: (norm1: String, norm2: String, attention: String, qkvBias: String, proj: String, fc1: String, fc2: String)
    var finalNorm: String
    var head: String

    static let huggingFace = ViTNames(
        patch: "embeddings.patch_embeddings.projection", classToken: "embeddings.cls_token",
        positions: "embeddings.position_embeddings", layerPrefix: "encoder.layer.",
        inLayer: (norm1: "layernorm_before", norm2: "layernorm_after", attention: "attention.attention",
                  qkvBias: "attention.attention.query.bias", proj: "attention.output.dense",
                  fc1: "intermediate.dense", fc2: "output.dense"),
        finalNorm: "layernorm", head: "classifier")

    static let timm = ViTNames(
        patch: "patch_embed.proj", classToken: "cls_token", positions: "pos_embed", layerPrefix: "blocks.",
        inLayer: (norm1: "norm1", norm2: "norm2", attention: "attn", qkvBias: "attn.qkv.bias", proj: "attn.proj",
                  fc1: "mlp.fc1", fc2: "mlp.fc2"),
        finalNorm: "norm", head: "head")

    var patchWeight: String { patch + ".weight" }
    var patchBias: String { patch + ".bias" }
    private func layer(_ i: Int, _ name: String) -> String { "\(layerPrefix)\(i).\(name)" }
    func norm1(_ i: Int) -> String { layer(i, inLayer.norm1) }
    func norm2(_ i: Int) -> String { layer(i, inLayer.norm2) }
    func attention(_ i: Int) -> String { layer(i, inLayer.attention) }
    func qkvBias(_ i: Int) -> String { layer(i, inLayer.qkvBias) }
    func proj(_ i: Int) -> String { layer(i, inLayer.proj) }
    func fc1(_ i: Int) -> String { layer(i, inLayer.fc1) }
    func fc2(_ i: Int) -> String { layer(i, inLayer.fc2) }
}
