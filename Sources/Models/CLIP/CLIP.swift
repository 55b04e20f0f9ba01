import Foundation
import TensorCore

// MARK: - configuration

/// Hugging Face `CLIPVisionConfig` (transformers 4.36): the image tower.
public struct CLIPVisionConfig: Codable, Sendable, Equatable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var imageSize: Int
    public var patchSize: Int
    public var numChannels: Int
    /// `quick_gelu` (OpenAI CLIP), `gelu` (exact), `gelu_new` / `gelu_pytorch_tanh` (tanh form).
    public var hiddenAct: String
    public var layerNormEps: Float

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", imageSize = "image_size", patchSize = "patch_size"
        case numChannels = "num_channels", hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps"
    }

    public init(hiddenSize: Int = 768, intermediateSize: Int = 3072, numHiddenLayers: Int = 12, numAttentionHeads: Int = 12,
                imageSize: Int = 224, patchSize: Int = 32, hiddenAct: String = "quick_gelu", layerNormEps: Float = 1e-5) {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.imageSize = imageSize
        self.patchSize = patchSize
        numChannels = 3
        self.hiddenAct = hiddenAct
        self.layerNormEps = layerNormEps
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CLIPVisionConfig()
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? d.numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? d.imageSize
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? d.patchSize
        numChannels = try c.decodeIfPresent(Int.self, forKey: .numChannels) ?? 3
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? d.hiddenAct
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? d.layerNormEps
    }
}

/// Hugging Face `CLIPTextConfig` (transformers 4.36): the text tower.
public struct CLIPTextConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var maxPositionEmbeddings: Int
    public var hiddenAct: String
    public var layerNormEps: Float
    public var bosTokenId: Int
    /// Pooling, as transformers 4.36's `CLIPTextTransformer`: `2` (configs written before
    /// transformers PR #24773, e.g. `openai/clip-vit-base-patch32`) pools at the largest token
    /// id (`argmax`, OpenAI CLIP's rule); any other value pools at its first occurrence.
    public var eosTokenId: Int
    public var padTokenId: Int

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case maxPositionEmbeddings = "max_position_embeddings", hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps"
        case bosTokenId = "bos_token_id", eosTokenId = "eos_token_id", padTokenId = "pad_token_id"
    }

    public init(vocabSize: Int = 49408, hiddenSize: Int = 512, intermediateSize: Int = 2048, numHiddenLayers: Int = 12,
                numAttentionHeads: Int = 8, maxPositionEmbeddings: Int = 77, hiddenAct: String = "quick_gelu",
                layerNormEps: Float = 1e-5) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.hiddenAct = hiddenAct
        self.layerNormEps = layerNormEps
        bosTokenId = 49406
        eosTokenId = 49407
        padTokenId = 1
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CLIPTextConfig()
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? d.numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? d.maxPositionEmbeddings
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? d.hiddenAct
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? d.layerNormEps
        bosTokenId = try c.decodeIfPresent(Int.self, forKey: .bosTokenId) ?? d.bosTokenId
        eosTokenId = try c.decodeIfPresent(Int.self, forKey: .eosTokenId) ?? d.eosTokenId
        padTokenId = try c.decodeIfPresent(Int.self, forKey: .padTokenId) ?? d.padTokenId
    }
}

/// Hugging Face `CLIPConfig` (transformers 4.36): both towers and the shared embedding width.
/// `logit_scale_init_value` is only the training initialisation; the model's temperature is
/// the checkpoint's `logit_scale` tensor.
public struct CLIPConfig: Codable, Sendable, Equatable {
    public var visionConfig: CLIPVisionConfig
    public var textConfig: CLIPTextConfig
    public var projectionDim: Int
    public var logitScaleInitValue: Float

    enum CodingKeys: String, CodingKey {
        case visionConfig = "vision_config", textConfig = "text_config"
        case projectionDim = "projection_dim", logitScaleInitValue = "logit_scale_init_value"
    }

    public init(visionConfig: CLIPVisionConfig, textConfig: CLIPTextConfig, projectionDim: Int,
                logitScaleInitValue: Float = 2.6592) {
        self.visionConfig = visionConfig
        self.textConfig = textConfig
        self.projectionDim = projectionDim
        self.logitScaleInitValue = logitScaleInitValue
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        visionConfig = try c.decodeIfPresent(CLIPVisionConfig.self, forKey: .visionConfig) ?? CLIPVisionConfig()
        textConfig = try c.decodeIfPresent(CLIPTextConfig.self, forKey: .textConfig) ?? CLIPTextConfig()
        projectionDim = try c.decodeIfPresent(Int.self, forKey: .projectionDim) ?? 512
        logitScaleInitValue = try c.decodeIfPresent(Float.self, forKey: .logitScaleInitValue) ?? 2.6592
    }

    /// The `--model` names of OpenAI's CLIP sizes.
    public static let standardNames = ["clip-vit-b-32", "clip-vit-b-16", "clip-vit-l-14", "clip-vit-l-14-336"]

    /// OpenAI CLIP ViT-B/32, B/16, L/14, L/14@336px (open_clip's `ViT-*-quickgelu` configs).
    public static func standard(_ name: String) -> CLIPConfig? {
        func base(_ patch: Int) -> CLIPConfig {
            CLIPConfig(visionConfig: CLIPVisionConfig(patchSize: patch), textConfig: CLIPTextConfig(), projectionDim: 512)
        }
        func large(_ image: Int) -> CLIPConfig {
            CLIPConfig(visionConfig: CLIPVisionConfig(hiddenSize: 1024, intermediateSize: 4096, numHiddenLayers: 24,
                                                      numAttentionHeads: 16, imageSize: image, patchSize: 14),
                       textConfig: CLIPTextConfig(hiddenSize: 768, intermediateSize: 3072, numAttentionHeads: 12),
                       projectionDim: 768)
        }
        switch name {
        case "clip-vit-b-32": return base(32)
        case "clip-vit-b-16": return base(16)
        case "clip-vit-l-14": return large(224)
        case "clip-vit-l-14-336": return large(336)
        default: return nil
        }
    }

    /// The standard name these sizes are, or nil.
    public var standardName: String? {
        CLIPConfig.standardNames.first { CLIPConfig.standard($0)!.sameArchitecture(self) }
    }

    /// Same sizes (activation, norm epsilon and token ids aside).
    func sameArchitecture(_ o: CLIPConfig) -> Bool {
        let v = visionConfig, w = o.visionConfig, t = textConfig, u = o.textConfig
        return v.hiddenSize == w.hiddenSize && v.intermediateSize == w.intermediateSize && v.numHiddenLayers == w.numHiddenLayers
            && v.numAttentionHeads == w.numAttentionHeads && v.imageSize == w.imageSize && v.patchSize == w.patchSize
            && t.vocabSize == u.vocabSize && t.hiddenSize == u.hiddenSize && t.intermediateSize == u.intermediateSize
            && t.numHiddenLayers == u.numHiddenLayers && t.numAttentionHeads == u.numAttentionHeads
            && t.maxPositionEmbeddings == u.maxPositionEmbeddings && projectionDim == o.projectionDim
    }

    public var summary: String {
        let v = visionConfig, t = textConfig
        return "image \(v.imageSize) patch \(v.patchSize), vision width \(v.hiddenSize) x \(v.numHiddenLayers) layers (\(v.numAttentionHeads) heads, MLP \(v.intermediateSize)), "
            + "text width \(t.hiddenSize) x \(t.numHiddenLayers) layers (\(t.numAttentionHeads) heads, MLP \(t.intermediateSize)), "
            + "context \(t.maxPositionEmbeddings), vocab \(t.vocabSize), embedding \(projectionDim)"
    }
}

// MARK: - model

/// CLIP (Radford et al. 2021) dual encoder for inference: image and text embeddings in one
/// space, compared by cosine similarity scaled by `logitScale`.
///
/// Image tower: patches (a convolution without bias, done as one GEMM) + class token +
/// positions, `ln_pre`, pre-norm transformer blocks, `ln_post` on the class token, projection.
/// Text tower: token + position embeddings, causal pre-norm blocks, `ln_final` at the pooled
/// position (the end-of-text token: see `CLIPTextConfig.eosTokenId`), projection.
/// Blocks: `x += out(attention(qkv(ln1(x))))`, `x += fc2(act(fc1(ln2(x))))`, with query, key
/// and value in one `[3D, D]` projection (Hugging Face's three are joined at load).
///
/// Work skipped because it cannot change the embeddings: the last block runs its attention
/// query, output projection and MLP for the pooled token only, and the text tower runs only
/// the positions up to the last pooled one (the attention is causal, so later positions and
/// padding never reach it). Results equal a run over the full 77 positions.
///
/// Loaded by `CLIPLoader.load`.
public final class CLIPModel: @unchecked Sendable {
    /// The `--model` name (`clip-vit-b-32`, ...), or `clip (custom)` for other sizes.
    public let name: String
    public let config: CLIPConfig
    /// OpenAI CLIP's: shorter side to the image size (bicubic), center crop, CLIP mean/std.
    public let preprocessing: ImagePreprocessing
    public let tokenizer: CLIPTokenizer
    private let vision: Vision.Tower
    private let text: Text.Tower
    private let logitScaleLog: Float

    /// OpenAI CLIP's image normalisation.
    public static var imageMean: [Float] { ImagePreprocessing.clipMean }
    public static var imageStd: [Float] { ImagePreprocessing.clipStd }

    public static func defaultPreprocessing(imageSize: Int) -> ImagePreprocessing { .clip(imageSize: imageSize) }

    /// `exp(logit_scale)`: the temperature applied to cosine similarities.
    public var logitScale: Float { Foundation.exp(logitScaleLog) }

    /// Width of the image and text embeddings.
    public var embeddingDimension: Int { config.projectionDim }

    /// The text tower's context (77): the longest token sequence `encodeTexts` takes.
    public var contextLength: Int { config.textConfig.maxPositionEmbeddings }

    /// Image embeddings `[B, E]` (projected, not normalised) of pixels `[B, 3, S, S]` made by
    /// `preprocessing` (S = the config's image size).
    public func encodeImages(_ pixels: Tensor) -> Tensor {
        let s = config.visionConfig.imageSize
        precondition(pixels.rank == 4 && pixels.shape[1] == 3 && pixels.shape[2] == s && pixels.shape[3] == s,
                     "\(name): images \(pixels.shape) are not [N, 3, \(s), \(s)] (preprocess with the model's `preprocessing`)")
        if pixels.shape[0] == 0 { return Tensor(zeros: [0, embeddingDimension]) }
        return vision(pixels)
    }

    /// Text embeddings `[B, E]` (projected, not normalised) of token sequences, each with its
    /// start and end tokens (as `CLIPTokenizer.encode` makes them), at most `contextLength` long,
    /// unpadded (sequences of different lengths are fine; padding after the end token is
    /// ignored too).
    public func encodeTexts(_ tokens: [[Int]]) -> Tensor {
        if tokens.isEmpty { return Tensor(zeros: [0, embeddingDimension]) }
        let vocab = config.textConfig.vocabSize
        for (i, t) in tokens.enumerated() {
            precondition(!t.isEmpty && t.count <= contextLength,
                         "\(name): text \(i) has \(t.count) tokens; 1...\(contextLength) are allowed (encode with the model's tokenizer)")
            precondition(t.allSatisfy { $0 >= 0 && $0 < vocab }, "\(name): text \(i) has token ids outside 0..<\(vocab)")
        }
        return text(tokens)
    }

    /// Tokenises (`CLIPTokenizer.encode`, cut to the context length) and encodes.
    public func encodeTexts(_ texts: [String]) -> Tensor {
        encodeTexts(texts.map { tokenizer.encode($0, contextLength: contextLength) })
    }

    /// Rows scaled to unit length (zero rows stay zero); squares summed in Double.
    public static func normalized(_ embeddings: Tensor) -> Tensor {
        precondition(embeddings.rank == 2, "normalized: expected [N, E], got \(embeddings.shape)")
        return embeddings.l2Normalized(accumulation: .double)
    }

    /// Zero-shot probabilities `[images, texts]`: `softmax(logitScale * cos)` over the texts
    /// (Hugging Face `logits_per_image.softmax(dim=1)`), from unnormalised embeddings.
    public func probabilities(imageEmbeddings: Tensor, textEmbeddings: Tensor) -> Tensor {
        let logits = Tensor.matmul(Self.normalized(imageEmbeddings), Self.normalized(textEmbeddings).transposed()) * logitScale
        return logits.softmax(axis: -1)
    }

    private init(name: String, config: CLIPConfig, preprocessing: ImagePreprocessing, tokenizer: CLIPTokenizer,
                 vision: Vision.Tower, text: Text.Tower, logitScaleLog: Float) {
        self.name = name
        self.config = config
        self.preprocessing = preprocessing
        self.tokenizer = tokenizer
        self.vision = vision
        self.text = text
        self.logitScaleLog = logitScaleLog
    }
}

/// CLIP's image tower as a `VisionEncoder` (for `mmpipe embed`): `pooled` is the image
/// embedding (projected, not normalised), no logits.
public struct CLIPImageEncoder: VisionEncoder {
    public let model: CLIPModel

    public init(_ model: CLIPModel) { self.model = model }

    public var name: String { model.name }
    public var preprocessing: ImagePreprocessing { model.preprocessing }
    public var featureDimension: Int { model.embeddingDimension }
    public var labels: [String]? { nil }

    public func features(_ pixels: Tensor) throws -> VisionFeatures {
        let s = model.config.visionConfig.imageSize
        try checkInput(pixels, size: (s, s))
        return VisionFeatures(pooled: model.encodeImages(pixels), logits: nil)
    }
}

// MARK: - towers

/// The pre-norm transformer blocks of a tower.
private struct CLIPEncoder: Sendable {
    var blocks: [TransformerBlock]

    /// Runs every block over `x` `[N, T, D]` and returns the output rows at `pool[n]` `[N, D]`.
    /// `causal`: token `i` attends to tokens `<= i` (the text tower).
    func callAsFunction(_ x0: Tensor, causal: Bool, pool: [Int]) -> Tensor {
        var x = x0
        for b in blocks.dropLast() { x = b(x, causal: causal) }
        guard let last = blocks.last else { return gatherRows(x, pool) }
        return pooledOnly(last, x, causal: causal, pool: pool)
    }

    /// The last block for the pooled rows only: keys and values of every token, the query,
    /// output projection and MLP of the pooled token.
    private func pooledOnly(_ b: TransformerBlock, _ x: Tensor, causal: Bool, pool: [Int]) -> Tensor {
        let n = x.shape[0], t = x.shape[1], d = x.shape[2]
        let h = b.attentionNorm(x)
        let (k, v) = b.attention.keysAndValues(h)                                   // [N, H, T, Dh]
        let q = b.attention.queries(gatherRows(h, pool).reshaped([n, 1, d]))        // [N, H, 1, Dh]
        var mask: Tensor? = nil
        if causal {
            mask = Tensor(shape: [n, t]) { m in
                for i in 0..<n { for j in 0..<t { m[i * t + j] = j <= pool[i] ? 1 : 0 } }
            }
        }
        var y = gatherRows(x, pool) + b.attention.attend(q, key: k, value: v, keyMask: mask).reshaped([n, d])
        y = y + b.mlp(b.mlpNorm(y))
        return y
    }
}

/// Rows `x[i, rows[i]]` of `x` `[N, T, D]`: `[N, D]`.
private func gatherRows(_ x: Tensor, _ rows: [Int]) -> Tensor {
    let c = x.contiguous()
    let n = c.shape[0], t = c.shape[1], d = c.shape[2]
    return Tensor(shape: [n, d]) { out in
        for i in 0..<n {
            precondition(rows[i] >= 0 && rows[i] < t)
            (out.baseAddress! + i * d).update(from: c.pointer + (i * t + rows[i]) * d, count: d)
        }
    }
}

private enum Vision {
    struct Tower: Sendable {
        var patchWeight: Tensor        // [D, 3 * P * P]: the patch convolution as a matrix
        var patchSize: Int
        var classEmbedding: Tensor     // [D]
        var positions: Tensor          // [1 + G * G, D]
        var preNorm: LayerNorm
        var encoder: CLIPEncoder
        var postNorm: LayerNorm
        var projection: Linear         // [E, D], no bias

        /// pixels `[N, 3, S, S]` -> `[N, E]`.
        func callAsFunction(_ pixels: Tensor) -> Tensor {
            let x = pixels.contiguous()
            let n = x.shape[0], s = x.shape[2], p = patchSize, g = s / p, l = g * g
            let d = patchWeight.shape[0], k = 3 * p * p
            // Non-overlapping patches as rows [N * L, 3 * P * P] (channel, row, column order).
            let patches = Tensor(shape: [n * l, k]) { out in
                let o = out.baseAddress!, src = x.pointer
                for img in 0..<n {
                    for gy in 0..<g {
                        for gx in 0..<g {
                            var dst = o + ((img * l) + gy * g + gx) * k
                            for c in 0..<3 {
                                for ky in 0..<p {
                                    let row = src + ((img * 3 + c) * s + gy * p + ky) * s + gx * p
                                    dst.update(from: row, count: p)
                                    dst += p
                                }
                            }
                        }
                    }
                }
            }
            let embedded = Tensor.linear(patches, weight: patchWeight)   // [N * L, D]
            let t = l + 1
            var tokens = Tensor(shape: [n, t, d]) { out in
                let o = out.baseAddress!, e = embedded.pointer
                let pos = positions.contiguous(), cls = classEmbedding.contiguous()
                for img in 0..<n {
                    let dst = o + img * t * d
                    for j in 0..<d { dst[j] = cls.pointer[j] + pos.pointer[j] }
                    for i in 0..<l {
                        let row = dst + (i + 1) * d, pr = pos.pointer + (i + 1) * d, er = e + (img * l + i) * d
                        for j in 0..<d { row[j] = er[j] + pr[j] }
                    }
                }
            }
            tokens = preNorm(tokens)
            let pooled = encoder(tokens, causal: false, pool: [Int](repeating: 0, count: n))
            return projection(postNorm(pooled))
        }
    }
}

private enum Text {
    enum Pooling: Sendable, Equatable {
        /// The largest token id (OpenAI / open_clip; Hugging Face with `eos_token_id` 2).
        case argmax
        /// The first occurrence of this id (Hugging Face's current rule), position 0 if absent.
        case firstOf(Int)
    }

    struct Tower: Sendable {
        var tokenEmbedding: Tensor     // [V, D]
        var positions: Tensor          // [C, D]
        var encoder: CLIPEncoder
        var finalNorm: LayerNorm
        var projection: Linear         // [E, D], no bias
        var pooling: Pooling

        func poolPosition(_ ids: [Int]) -> Int {
            switch pooling {
            case .argmax:
                var best = 0
                for (i, v) in ids.enumerated() where v > ids[best] { best = i }   // first maximum, as torch.argmax
                return best
            case .firstOf(let eos):
                return ids.firstIndex(of: eos) ?? 0
            }
        }

        /// Token ids (validated by the caller) -> `[B, E]`.
        func callAsFunction(_ tokens: [[Int]]) -> Tensor {
            let b = tokens.count, d = tokenEmbedding.shape[1]
            let pool = tokens.map(poolPosition)
            // Causal attention: nothing after the last pooled position can reach a pooled row.
            let t = pool.max()! + 1
            let emb = tokenEmbedding.contiguous(), pos = positions.contiguous()
            let x = Tensor(shape: [b, t, d]) { out in
                let o = out.baseAddress!
                for (bi, ids) in tokens.enumerated() {
                    for i in 0..<t {
                        let id = i < ids.count ? ids[i] : 0
                        let row = o + (bi * t + i) * d, er = emb.pointer + id * d, pr = pos.pointer + i * d
                        for j in 0..<d { row[j] = er[j] + pr[j] }
                    }
                }
            }
            let pooled = encoder(x, causal: true, pool: pool)
            return projection(finalNorm(pooled))
        }
    }
}

// MARK: - building from a checkpoint

extension CLIPModel {
    /// Builds the model from tensors under the loader's canonical names (see
    /// `CLIPLoader`), checking every shape against `config`; `argmaxPooling` pools the text
    /// at the largest id (OpenAI layout), else by `config.textConfig.eosTokenId`.
    static func build(_ w: inout CheckedTensors, name: String, config: CLIPConfig, preprocessing: ImagePreprocessing,
                      tokenizer: CLIPTokenizer, argmaxPooling: Bool, configPath: String) throws -> CLIPModel {
        let vc = config.visionConfig, tc = config.textConfig, e = config.projectionDim
        let vAct = try Activation.huggingFace(vc.hiddenAct, key: "vision hidden_act", path: configPath)
        let tAct = try Activation.huggingFace(tc.hiddenAct, key: "text hidden_act", path: configPath)
        for (what, width, heads) in [("vision", vc.hiddenSize, vc.numAttentionHeads), ("text", tc.hiddenSize, tc.numAttentionHeads)] {
            guard heads > 0, width > 0, width % heads == 0 else {
                throw WeightFileError(path: configPath, "\(what) tower: \(heads) attention heads do not divide the width \(width)")
            }
        }
        guard vc.numChannels == 3, vc.patchSize > 0, vc.imageSize > 0, vc.imageSize % vc.patchSize == 0 else {
            throw WeightFileError(path: configPath, "image size \(vc.imageSize) is not a multiple of the patch size \(vc.patchSize) (or num_channels is not 3)")
        }
        guard vc.numHiddenLayers > 0, tc.numHiddenLayers > 0 else {
            throw WeightFileError(path: configPath, "a tower without transformer layers is not supported")
        }

        func linear(_ prefix: String, _ out: Int, _ inp: Int) throws -> Linear {
            Linear(weight: try w.take(prefix + ".weight", [out, inp]), bias: try w.take(prefix + ".bias", [out]))
        }
        func norm(_ prefix: String, _ d: Int, _ eps: Float) throws -> LayerNorm {
            LayerNorm(weight: try w.take(prefix + ".weight", [d]), bias: try w.take(prefix + ".bias", [d]), eps: eps)
        }
        func encoder(_ prefix: String, layers: Int, width d: Int, mlp: Int, heads: Int, eps: Float,
                     activation: Activation) throws -> CLIPEncoder {
            var blocks: [TransformerBlock] = []
            for i in 0..<layers {
                let p = "\(prefix).\(i)"
                let qkv: Linear
                if w.has(p + ".qkv.weight") {
                    qkv = try linear(p + ".qkv", 3 * d, d)
                } else {
                    qkv = Linear(stacking: try ["q", "k", "v"].map { try linear("\(p).\($0)", d, d) })
                }
                blocks.append(TransformerBlock(
                    attentionNorm: try norm(p + ".norm1", d, eps),
                    attention: MultiHeadAttention(qkv: qkv, out: try linear(p + ".out", d, d), heads: heads),
                    mlpNorm: try norm(p + ".norm2", d, eps),
                    mlp: MLP(fc1: try linear(p + ".fc1", mlp, d), fc2: try linear(p + ".fc2", d, mlp), activation: activation)))
            }
            return CLIPEncoder(blocks: blocks)
        }
        func projection(_ prefix: String, from d: Int) throws -> Linear {
            if w.has(prefix + "T") {   // OpenAI: x @ proj, proj [D, E]
                return Linear(weight: try w.take(prefix + "T", [d, e]).transposed().contiguous(), bias: nil)
            }
            return Linear(weight: try w.take(prefix, [e, d]), bias: nil)
        }

        let d = vc.hiddenSize, p = vc.patchSize, g = vc.imageSize / p
        let vision = Vision.Tower(
            patchWeight: try w.take("vision.patch.weight", [d, 3, p, p]).reshaped([d, 3 * p * p]),
            patchSize: p,
            classEmbedding: try w.take("vision.class", [d]),
            positions: try w.take("vision.positions", [g * g + 1, d]),
            preNorm: try norm("vision.pre", d, vc.layerNormEps),
            encoder: try encoder("vision.layers", layers: vc.numHiddenLayers, width: d, mlp: vc.intermediateSize,
                                 heads: vc.numAttentionHeads, eps: vc.layerNormEps, activation: vAct),
            postNorm: try norm("vision.post", d, vc.layerNormEps),
            projection: try projection("vision.projection", from: d))
        let dt = tc.hiddenSize
        let text = Text.Tower(
            tokenEmbedding: try w.take("text.tokens", [tc.vocabSize, dt]),
            positions: try w.take("text.positions", [tc.maxPositionEmbeddings, dt]),
            encoder: try encoder("text.layers", layers: tc.numHiddenLayers, width: dt, mlp: tc.intermediateSize,
                                 heads: tc.numAttentionHeads, eps: tc.layerNormEps, activation: tAct),
            finalNorm: try norm("text.final", dt, tc.layerNormEps),
            projection: try projection("text.projection", from: dt),
            pooling: argmaxPooling || tc.eosTokenId == 2 ? .argmax : .firstOf(tc.eosTokenId))
        let scaleShape = w.shapes["logit_scale"]
        let logitScale = try w.take("logit_scale", scaleShape == [1] ? [1] : [])
        try w.checkAllTaken()
        return CLIPModel(name: name, config: config, preprocessing: preprocessing, tokenizer: tokenizer,
                         vision: vision, text: text, logitScaleLog: logitScale.scalars[0])
    }
}
