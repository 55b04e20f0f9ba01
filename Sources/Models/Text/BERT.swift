import Foundation
import TensorCore

/// Hugging Face `BertConfig` (transformers 4.36): the fields the encoder needs.
public struct BERTConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var intermediateSize: Int
    public var maxPositionEmbeddings: Int
    public var typeVocabSize: Int
    public var layerNormEps: Float
    /// `gelu` (erf), `gelu_new` / `gelu_pytorch_tanh` / `gelu_fast` (tanh), `relu`.
    public var hiddenAct: String
    /// Only `absolute` is supported.
    public var positionEmbeddingType: String
    public var modelType: String?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size"
        case maxPositionEmbeddings = "max_position_embeddings", typeVocabSize = "type_vocab_size"
        case layerNormEps = "layer_norm_eps", hiddenAct = "hidden_act"
        case positionEmbeddingType = "position_embedding_type", modelType = "model_type"
    }

    /// `bert-base-uncased` sizes unless given.
    public init(vocabSize: Int = 30522, hiddenSize: Int = 768, numHiddenLayers: Int = 12, numAttentionHeads: Int = 12,
                intermediateSize: Int = 3072, maxPositionEmbeddings: Int = 512, typeVocabSize: Int = 2,
                layerNormEps: Float = 1e-12, hiddenAct: String = "gelu") {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.intermediateSize = intermediateSize
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.typeVocabSize = typeVocabSize
        self.layerNormEps = layerNormEps
        self.hiddenAct = hiddenAct
        positionEmbeddingType = "absolute"
        modelType = "bert"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = BERTConfig()
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? d.numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? d.maxPositionEmbeddings
        typeVocabSize = try c.decodeIfPresent(Int.self, forKey: .typeVocabSize) ?? d.typeVocabSize
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? d.layerNormEps
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? d.hiddenAct
        positionEmbeddingType = try c.decodeIfPresent(String.self, forKey: .positionEmbeddingType) ?? "absolute"
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType)
    }

    var summary: String {
        "width \(hiddenSize), \(numHiddenLayers) layers, \(numAttentionHeads) heads, MLP \(intermediateSize)"
    }
}

/// A problem that is not about a file: bad token ids, an unusable vocabulary.
public struct TextModelError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

/// BERT encoder (Devlin et al.) for inference, from Hugging Face `BertModel` weights.
///
/// Embeddings: word + token type + absolute position, then LayerNorm. Post-norm layers:
/// `x = LN(x + dense(attention(x)))`, `x = LN(x + fc2(gelu(fc1(x))))`; attention hides
/// padding keys. The separate query/key/value projections are joined into one `[3D, D]`
/// projection at load (one GEMM per layer). Output: the last hidden state `[N, T, D]`
/// (the pooler is not used).
public struct BERT: Sendable {
    public let config: BERTConfig
    let wordEmbeddings: Tensor           // [V, D]
    let positionEmbeddings: Tensor       // [P, D]
    let tokenTypeEmbeddings: Tensor      // [types, D]
    let embeddingNorm: LayerNorm
    let layers: [TransformerBlock]       // post-norm; query, key and value as one [3D, D] product

    public var hiddenSize: Int { config.hiddenSize }

    /// The last hidden state `[N, T, D]` of a padded batch (rows past a sequence's length
    /// are computed but meaningless: mask them out).
    /// - Throws: `TextModelError` for ids outside the vocabulary or the token types, or a
    ///   batch longer than the position embeddings.
    public func lastHiddenState(_ batch: TokenBatch) throws -> Tensor {
        if batch.length > config.maxPositionEmbeddings {
            throw TextModelError("BERT: sequences of \(batch.length) tokens, the model has \(config.maxPositionEmbeddings) positions")
        }
        if let bad = batch.ids.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw TextModelError("BERT: token id \(bad) is outside the vocabulary (0..<\(config.vocabSize))")
        }
        if let bad = batch.typeIDs.first(where: { $0 < 0 || $0 >= config.typeVocabSize }) {
            throw TextModelError("BERT: token type \(bad) is outside 0..<\(config.typeVocabSize)")
        }
        return forward(batch)
    }

    /// `lastHiddenState` for a batch known to be valid (ids from the model's own tokenizer).
    func forward(_ batch: TokenBatch) -> Tensor {
        let n = batch.count, t = batch.length, d = config.hiddenSize
        if n == 0 || t == 0 { return Tensor(zeros: [n, t, d]) }
        var x = embeddingNorm(embed(batch))
        // The key mask only when something is padded.
        let mask: Tensor? = batch.lengths.allSatisfy({ $0 == t }) ? nil
            : Tensor(shape: [n, t], scalars: batch.attentionMask.map(Float.init))
        for layer in layers { x = layer(x, keyMask: mask) }
        return x
    }

    /// Word + token type + position embeddings `[N, T, D]` (before the LayerNorm), summed in
    /// the reference's order.
    func embed(_ batch: TokenBatch) -> Tensor {
        let n = batch.count, t = batch.length, d = config.hiddenSize
        let words = wordEmbeddings.contiguous(), positions = positionEmbeddings.contiguous()
        let types = tokenTypeEmbeddings.contiguous()
        return withExtendedLifetime((words, positions, types)) {
            Tensor(shape: [n, t, d]) { out in
                let o = out.baseAddress!
                for r in 0..<(n * t) {
                    let w = words.pointer + batch.ids[r] * d
                    let p = positions.pointer + (r % t) * d
                    let ty = types.pointer + batch.typeIDs[r] * d
                    let dst = o + r * d
                    for j in 0..<d { dst[j] = (w[j] + ty[j]) + p[j] }
                }
            }
        }
    }

    // MARK: loading

    /// Builds the encoder from checkpoint tensors (Hugging Face names with any `bert.`
    /// prefix removed), taking every tensor it uses with a shape check.
    static func load(_ w: inout CheckedTensors, config: BERTConfig) throws -> BERT {
        let d = config.hiddenSize, mlp = config.intermediateSize
        guard d > 0, config.numAttentionHeads > 0, d % config.numAttentionHeads == 0 else {
            throw WeightFileError(path: w.configPath, "\(config.numAttentionHeads) attention heads do not divide hidden_size \(d)")
        }
        guard config.numHiddenLayers > 0, mlp > 0, config.vocabSize > 0, config.maxPositionEmbeddings > 0, config.typeVocabSize > 0 else {
            throw WeightFileError(path: w.configPath, "sizes must be positive (\(config.summary), vocab \(config.vocabSize), \(config.maxPositionEmbeddings) positions, \(config.typeVocabSize) token types)")
        }
        let activation = try Activation.huggingFace(config.hiddenAct, path: w.configPath)
        guard config.positionEmbeddingType == "absolute" else {
            throw WeightFileError(path: w.configPath, "position_embedding_type '\(config.positionEmbeddingType)' is not supported (only absolute)")
        }
        let layerCount = try w.count(under: "encoder.layer.", what: "encoder layers")
        guard layerCount == config.numHiddenLayers else {
            throw WeightFileError(path: w.path, "the weights have \(layerCount) encoder layers, config.json says num_hidden_layers \(config.numHiddenLayers)")
        }
        let eps = config.layerNormEps
        func linear(_ prefix: String, _ out: Int, _ inp: Int) throws -> Linear {
            Linear(weight: try w.take(prefix + ".weight", [out, inp]), bias: try w.take(prefix + ".bias", [out]))
        }
        func norm(_ prefix: String) throws -> LayerNorm {
            LayerNorm(weight: try w.take(prefix + ".weight", [d]), bias: try w.take(prefix + ".bias", [d]), eps: eps)
        }
        let words = try w.take("embeddings.word_embeddings.weight", [config.vocabSize, d])
        let positions = try w.take("embeddings.position_embeddings.weight", [config.maxPositionEmbeddings, d])
        let types = try w.take("embeddings.token_type_embeddings.weight", [config.typeVocabSize, d])
        let embeddingNorm = try norm("embeddings.LayerNorm")
        var layers: [TransformerBlock] = []
        for i in 0..<config.numHiddenLayers {
            let p = "encoder.layer.\(i)."
            let qkv = Linear(stacking: try ["query", "key", "value"].map { try linear(p + "attention.self.\($0)", d, d) })
            let attention = MultiHeadAttention(qkv: qkv, out: try linear(p + "attention.output.dense", d, d),
                                               heads: config.numAttentionHeads)
            let attentionNorm = try norm(p + "attention.output.LayerNorm")
            let feedForward = MLP(fc1: try linear(p + "intermediate.dense", mlp, d), fc2: try linear(p + "output.dense", d, mlp),
                                  activation: activation)
            layers.append(TransformerBlock(.post, attentionNorm: attentionNorm, attention: attention,
                                           mlpNorm: try norm(p + "output.LayerNorm"), mlp: feedForward))
        }
        try w.checkAllTaken()
        return BERT(config: config, wordEmbeddings: words, positionEmbeddings: positions, tokenTypeEmbeddings: types,
                    embeddingNorm: embeddingNorm, layers: layers)
    }
}
