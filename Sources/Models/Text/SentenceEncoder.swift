import Foundation
import TensorCore

/// Sentence embeddings as sentence-transformers computes them: tokenize, BERT, pool the
/// last hidden state over the real tokens, L2-normalise (all-MiniLM-L6-v2: mean pooling
/// and `Normalize`, 256 tokens).
///
/// Texts are embedded in batches of `batchSize`, longest first, so each batch pads little;
/// rows come back in input order. Built by `BERTLoader.loadSentenceEncoder`.
public final class SentenceEncoder: @unchecked Sendable {
    /// sentence-transformers `Pooling` modes.
    public enum Pooling: String, Sendable, Equatable {
        /// Mean of the real tokens' vectors (`pooling_mode_mean_tokens`).
        case mean
        /// The `[CLS]` token's vector (`pooling_mode_cls_token`).
        case cls
        /// Element-wise maximum over the real tokens (`pooling_mode_max_tokens`).
        case max
    }

    public let name: String
    public let model: BERT
    public let tokenizer: WordPieceTokenizer
    public let pooling: Pooling
    /// Rows are scaled to unit L2 norm (the model's `Normalize` module).
    public let normalizes: Bool
    /// Texts are lower-cased before tokenizing (`sentence_bert_config.json` `do_lower_case`).
    public let lowercasesInput: Bool
    /// Texts per forward pass.
    public let batchSize: Int

    /// Embedding width (384 for all-MiniLM-L6-v2).
    public var dimension: Int { model.config.hiddenSize }
    /// Longest input in tokens, `[CLS]` and `[SEP]` included; longer texts are truncated.
    public var maxLength: Int { tokenizer.maxLength }

    /// - Throws: `TextModelError` when the tokenizer does not fit the model (ids past the
    ///   embedding table, more tokens than positions) or `batchSize` is not positive.
    public init(name: String, model: BERT, tokenizer: WordPieceTokenizer, pooling: Pooling = .mean,
                normalizes: Bool = true, lowercasesInput: Bool = false, batchSize: Int = 32) throws {
        guard tokenizer.vocabularySize <= model.config.vocabSize else {
            throw TextModelError("\(name): the tokenizer has \(tokenizer.vocabularySize) tokens, the model embeds only \(model.config.vocabSize)")
        }
        guard tokenizer.maxLength <= model.config.maxPositionEmbeddings else {
            throw TextModelError("\(name): inputs of up to \(tokenizer.maxLength) tokens, the model has \(model.config.maxPositionEmbeddings) positions")
        }
        guard batchSize > 0 else { throw TextModelError("\(name): batch size must be positive, got \(batchSize)") }
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.normalizes = normalizes
        self.lowercasesInput = lowercasesInput
        self.batchSize = batchSize
    }

    /// Token ids of `text` as this encoder sees it (lower-cased first if the model says so).
    public func encode(_ text: String) -> WordPieceTokenizer.Encoding {
        tokenizer.encode(lowercasesInput ? text.lowercased() : text)
    }

    /// Embeddings `[N, dimension]` of `texts`, in input order (`[0, dimension]` for none).
    public func embed(_ texts: [String]) -> Tensor {
        embed(encodings: texts.map(encode))
    }

    /// Embeddings of already tokenized texts (`encode`), in input order.
    public func embed(encodings: [WordPieceTokenizer.Encoding]) -> Tensor {
        let d = dimension, n = encodings.count
        // Longest first (stable), as sentence-transformers' encode orders its batches.
        let order = encodings.indices.sorted { encodings[$0].count > encodings[$1].count || (encodings[$0].count == encodings[$1].count && $0 < $1) }
        var rows = [Float](repeating: 0, count: n * d)
        var start = 0
        while start < n {
            let part = Array(order[start..<min(n, start + batchSize)])
            let batch = TokenBatch(part.map { encodings[$0] }, paddingID: tokenizer.paddingID)
            let pooled = pool(model.forward(batch), batch)
            pooled.withUnsafeBufferPointer { p in
                for (i, row) in part.enumerated() {
                    for j in 0..<d { rows[row * d + j] = p[i * d + j] }
                }
            }
            start += batchSize
        }
        return Tensor(shape: [n, d], scalars: rows)
    }

    /// Pooled (and normalised) rows `[N, D]` of a hidden state `[N, T, D]`.
    func pool(_ hidden: Tensor, _ batch: TokenBatch) -> Tensor {
        let n = batch.count, t = batch.length, d = dimension
        let h = hidden.contiguous()
        let pooled = withExtendedLifetime(h) { Tensor(shape: [n, d]) { o in
            let src = h.pointer
            for r in 0..<n {
                let dst = o.baseAddress! + r * d
                switch pooling {
                case .cls:
                    for j in 0..<d { dst[j] = src[r * t * d + j] }
                case .mean:
                    // sum(h * mask) / clamp(sum(mask), 1e-9), as sentence-transformers.
                    dst.initialize(repeating: 0, count: d)
                    var count: Float = 0
                    for k in 0..<t where batch.attentionMask[r * t + k] != 0 {
                        let row = src + (r * t + k) * d
                        for j in 0..<d { dst[j] += row[j] }
                        count += 1
                    }
                    let inv = 1 / Swift.max(count, 1e-9)
                    for j in 0..<d { dst[j] *= inv }
                case .max:
                    // Padding counts as -1e9, as sentence-transformers.
                    for j in 0..<d { dst[j] = -1e9 }
                    for k in 0..<t where batch.attentionMask[r * t + k] != 0 {
                        let row = src + (r * t + k) * d
                        for j in 0..<d { dst[j] = Swift.max(dst[j], row[j]) }
                    }
                }
            }
        } }
        // torch.nn.functional.normalize: x / max(||x||, 1e-12).
        return normalizes ? pooled.l2Normalized(epsilon: 1e-12) : pooled
    }
}
