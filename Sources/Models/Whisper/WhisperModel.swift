import TensorCore

/// How a Whisper model's matrices are stored and multiplied: CTranslate2's compute types.
public enum WhisperComputeType: String, Sendable, CaseIterable {
    /// As the weights are stored: float16 weights (CTranslate2's models) kept in half
    /// precision where a decoding step reads a whole matrix (half the memory traffic), every
    /// product in float32, so the results are float32's.
    case `default`
    /// Every matrix in float32.
    case float32
    /// Every linear layer's matrix in half precision where the values are half floats (the
    /// encoder's too); products in float32, so the results are still float32's.
    case float16
    /// The linear layers of the encoder and decoder and the vocabulary projection quantised
    /// to int8 per output channel, activations per row on the fly (`Int8Matrix`):
    /// CTranslate2's int8, faster and smaller, with slightly different numbers. Attention
    /// follows: the encoder's in low precision (`Tensor.attention`'s `lowPrecision`), the
    /// decoder's cross-attention keys and values in half precision (`AttentionMemory`).
    case int8
}

extension WhisperComputeType {
    /// What the loader does to each linear layer as it reads it (`WhisperLoader.load(store:)`):
    /// int8 quantises there, so a model's float32 weights never exist all at once; the other
    /// types are chosen when the model is built.
    public var loading: @Sendable (Linear) -> Linear {
        if self == .int8 {
            return { (l: Linear) -> Linear in Linear(l.matrix.quantizedToInt8(), bias: l.bias) }
        }
        return { (l: Linear) -> Linear in l }
    }
}

/// Whisper's encoder and decoder as pure functions of `WhisperWeights` and tensors.
///
/// Shapes: mel `[B, nMels, 3000]` → audio features `[B, 1500, d]`; the decoder runs
/// incrementally over token ids with a key/value cache per layer, and computes each
/// layer's cross-attention keys/values from the audio features once per window.
/// Both stacks are pre-norm `TransformerBlock`s; the decoder's blocks cross-attend.
public final class WhisperModel: @unchecked Sendable {
    public let dims: WhisperDimensions
    private let conv1: (weight: Tensor, bias: Tensor)
    private let conv2: (weight: Tensor, bias: Tensor)
    private let encoderPositions: Tensor
    private let encoderBlocks: [TransformerBlock]
    private let encoderNorm: LayerNorm
    /// `[nVocab, d]`: the token embedding, and the output projection.
    private let tokenEmbedding: WeightMatrix
    private let decoderPositions: Tensor
    private let decoderBlocks: [TransformerBlock]
    private let decoderNorm: LayerNorm

    /// `computeType` says how the matrices are stored (see `WhisperComputeType`).
    public init(weights w: WhisperWeights, computeType: WhisperComputeType = .default) {
        dims = w.dims
        conv1 = w.conv1
        conv2 = w.conv2
        encoderPositions = w.encoderPositions
        let half: (Linear) -> Linear = { $0.halfPrecisionIfExact() }
        let int8: (Linear) -> Linear = { Linear($0.matrix.quantizedToInt8(), bias: $0.bias) }
        let keep: (Linear) -> Linear = { $0 }
        let (encoder, step, cross): ((Linear) -> Linear, (Linear) -> Linear, (Linear) -> Linear)
        let embedding = WeightMatrix(w.tokenEmbedding)
        switch computeType {
        case .default:
            // Half precision where a decoding step reads the whole matrix, if the weights are
            // half floats to begin with (judged by the token embedding).
            tokenEmbedding = embedding.halfPrecisionIfExact()
            (encoder, step, cross) = (keep, tokenEmbedding.precision == .float16 ? half : keep, keep)
        case .float32:
            tokenEmbedding = embedding
            (encoder, step, cross) = (keep, keep, keep)
        case .float16:
            tokenEmbedding = embedding.halfPrecisionIfExact()
            (encoder, step, cross) = (half, half, half)
        case .int8:
            tokenEmbedding = embedding.quantizedToInt8()
            (encoder, step, cross) = (int8, int8, int8)
        }
        encoderBlocks = w.encoderLayers.map { $0.block(heads: w.dims.nAudioHead, store: encoder) }
        encoderNorm = w.encoderNorm
        decoderPositions = w.decoderPositions
        decoderBlocks = w.decoderLayers.map { $0.block(heads: w.dims.nTextHead, step: step, cross: cross) }
        decoderNorm = w.decoderNorm
        self.computeType = computeType
    }

    /// How the matrices are stored.
    public let computeType: WhisperComputeType

    /// How the token embedding (and with it the decoder's matrices) is stored.
    public var decoderPrecision: WeightMatrix.Precision { tokenEmbedding.precision }

    // MARK: encoder

    /// mel `[B, nMels, frames]` (frames = 2 * nAudioCtx) → `[B, nAudioCtx, d]`.
    public func encode(_ mel: Tensor) -> Tensor {
        precondition(mel.rank == 3 && mel.shape[1] == dims.nMels, "encode: mel \(mel.shape), expected [B, \(dims.nMels), frames]")
        var x = Tensor.conv1d(mel, weight: conv1.weight, bias: conv1.bias, stride: 1, padding: 1).gelu()
        x = Tensor.conv1d(x, weight: conv2.weight, bias: conv2.bias, stride: 2, padding: 1).gelu()
        let n = x.shape[2]
        precondition(n <= dims.nAudioCtx, "encode: \(n) positions > \(dims.nAudioCtx)")
        x = x.permuted([0, 2, 1]) + encoderPositions.slice(axis: 0, 0..<n)     // [B, n, d]
        for block in encoderBlocks { x = block(x) }
        return encoderNorm(x)
    }

    // MARK: decoder

    /// Cross-attention keys and values of every decoder layer for B windows' audio
    /// features, `[B, H, nAudioCtx, Dh]` each; computed once per window. Decoding rows
    /// (beams) read them in groups: with R rows per step, rows `b * R / B ..< (b + 1) * R / B`
    /// read window `b` (see `Tensor.attention`), so beams share their audio's keys uncopied.
    /// Keys are stored transposed (`Tensor.keysForFewQueries`).
    public struct CrossKV: @unchecked Sendable {
        /// Each decoder layer's cross-attention keys and values.
        public let layers: [AttentionMemory]
        public var batch: Int { layers.first?.groups ?? 0 }

        /// The windows `rows`, in that order (copies): finished windows dropped from a batch.
        public func rows(_ rows: [Int]) -> CrossKV { CrossKV(layers: layers.map { $0.rows(rows) }) }
    }

    /// The cross-attention keys and values of `audio` `[B, nAudioCtx, nAudioState]`, each
    /// layer's computed once per window. With int8 (`--compute-type int8`) they are kept in
    /// half precision where the CPU's kernels read it (`AttentionMemory`): every decoding
    /// step streams all of them.
    public func crossKV(_ audio: Tensor) -> CrossKV {
        CrossKV(layers: decoderBlocks.map { block in
            let (k, v) = block.crossAttention!.attention.keysAndValues(audio)
            return AttentionMemory(key: k, value: v, halfPrecision: computeType == .int8)
        })
    }

    /// Self-attention caches for `batch` decoding rows.
    /// `positions`: the most a row will hold (at most, and by default, the text context).
    public func makeCaches(batch: Int, positions: Int? = nil) -> [KVCache] {
        let capacity = min(dims.nTextCtx, positions ?? dims.nTextCtx)
        return decoderBlocks.map { _ in
            KVCache(batch: batch, heads: dims.nTextHead, capacity: capacity, headDim: dims.nTextState / dims.nTextHead)
        }
    }

    /// Runs the decoder over `tokens` (`[B][T]`, the same T for every row), appending to
    /// `caches`, and returns logits of the last position `[B, nVocab]`.
    public func decode(_ tokens: [[Int]], cross: CrossKV, caches: [KVCache]) -> Tensor {
        let t = tokens[0].count
        return decode(tokens, cross: cross, caches: caches, positions: [t - 1]).reshaped([tokens.count, dims.nVocab])
    }

    /// As above, with logits only for the given new positions: `[B, positions.count, nVocab]`.
    /// (The vocabulary projection is the decoder's largest product: a prompt of 200 tokens
    /// needs two of its rows, not 200.)
    /// `crossQueries`, when given, sees each layer's cross-attention queries `[B, H, T, Dh]`
    /// (word-level alignment reads the alignment heads' attention from them).
    public func decode(_ tokens: [[Int]], cross: CrossKV, caches: [KVCache], positions: [Int],
                       crossQueries: ((_ layer: Int, _ query: Tensor) -> Void)? = nil) -> Tensor {
        let b = tokens.count, t = tokens[0].count
        let d = dims.nTextState
        let offset = caches[0].length
        precondition(offset + t <= dims.nTextCtx, "decode: \(offset + t) tokens > context \(dims.nTextCtx)")
        // Token + position embeddings.
        let embedded = tokenEmbedding.gather(tokens.flatMap { $0 })
        var x = Tensor(shape: [b, t, d]) { out in
            let emb = embedded.pointer, pos = decoderPositions.contiguous()
            for r in 0..<(b * t) {
                let dst = out.baseAddress! + r * d
                let e = emb + r * d, p = pos.pointer + (offset + r % t) * d
                for j in 0..<d { dst[j] = e[j] + p[j] }
            }
        }
        for (l, block) in decoderBlocks.enumerated() {
            x = block(x, cache: caches[l], memory: cross.layers[l],
                      crossQueries: crossQueries.map { f in { f(l, $0) } })
        }
        precondition(positions.allSatisfy { $0 >= 0 && $0 < t }, "decode: positions \(positions) outside 0..<\(t)")
        let picked = positions == [t - 1] ? x.slice(axis: 1, (t - 1)..<t)
            : Tensor.concat(positions.map { x.slice(axis: 1, $0..<($0 + 1)) }, axis: 1)
        return Tensor.linear(decoderNorm(picked), weight: tokenEmbedding)
    }
}
