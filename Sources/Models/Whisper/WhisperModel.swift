import TensorCore

/// Whisper's encoder and decoder as pure functions of `WhisperWeights` and tensors.
///
/// Shapes: mel `[B, nMels, 3000]` → audio features `[B, 1500, d]`; the decoder runs
/// incrementally over token ids with a key/value cache per layer, and computes each
/// layer's cross-attention keys/values from the audio features once per window.
public final class WhisperModel: @unchecked Sendable {
    public let weights: WhisperWeights
    public var dims: WhisperDimensions { weights.dims }

    /// `halfPrecisionDecoder`: keep half-precision copies of the decoder's matrices when
    /// the weights allow it exactly (see `WhisperWeights.addDecoderHalfPrecisionCopies`).
    public init(weights: WhisperWeights, halfPrecisionDecoder: Bool = true) {
        var w = weights
        if halfPrecisionDecoder { w.addDecoderHalfPrecisionCopies() }
        self.weights = w
    }

    // MARK: encoder

    /// mel `[B, nMels, frames]` (frames = 2 * nAudioCtx) → `[B, nAudioCtx, d]`.
    public func encode(_ mel: Tensor) -> Tensor {
        let w = weights
        precondition(mel.rank == 3 && mel.shape[1] == dims.nMels, "encode: mel \(mel.shape), expected [B, \(dims.nMels), frames]")
        var x = Tensor.conv1d(mel, weight: w.conv1.weight, bias: w.conv1.bias, stride: 1, padding: 1).gelu()
        x = Tensor.conv1d(x, weight: w.conv2.weight, bias: w.conv2.bias, stride: 2, padding: 1).gelu()
        let n = x.shape[2]
        precondition(n <= dims.nAudioCtx, "encode: \(n) positions > \(dims.nAudioCtx)")
        x = x.permuted([0, 2, 1]) + w.encoderPositions.slice(axis: 0, 0..<n)     // [B, n, d]
        for layer in w.encoderLayers {
            x = x + selfAttention(layer.attention, layer.attentionNorm(x), cache: nil)
            x = x + layer.fc2(layer.fc1(layer.mlpNorm(x)).gelu())
        }
        return w.encoderNorm(x)
    }

    /// `[B, L, d]` → `[B, H, L, Dh]` view (no copy when x is contiguous).
    func splitHeads(_ x: Tensor, heads: Int) -> Tensor {
        let b = x.shape[0], l = x.shape[1], d = x.shape[2]
        return x.reshaped([b, l, heads, d / heads]).permuted([0, 2, 1, 3])
    }

    /// `[B, H, L, Dh]` → `[B, L, H * Dh]`.
    func mergeHeads(_ x: Tensor) -> Tensor {
        let b = x.shape[0], h = x.shape[1], l = x.shape[2], dh = x.shape[3]
        return x.permuted([0, 2, 1, 3]).reshaped([b, l, h * dh])
    }

    /// Self-attention; with a cache, the new keys/values are appended and attention is
    /// causal over everything cached (decoder), without one it is full (encoder).
    func selfAttention(_ a: WhisperAttention, _ x: Tensor, cache: KVCache?) -> Tensor {
        let heads = cache == nil ? dims.nAudioHead : dims.nTextHead
        let q = splitHeads(a.query(x), heads: heads)
        let k = splitHeads(a.key(x), heads: heads)
        let v = splitHeads(a.value(x), heads: heads)
        let out: Tensor
        if let cache {
            cache.append(key: k, value: v)
            out = Tensor.attention(query: q, key: cache.key, value: cache.value, causal: true)
        } else {
            out = Tensor.attention(query: q, key: k, value: v)
        }
        return a.out(mergeHeads(out))
    }

    // MARK: decoder

    /// Cross-attention keys and values of every decoder layer for one window's audio
    /// features, `[B, H, nAudioCtx, Dh]` each; computed once per window.
    public struct CrossKV: @unchecked Sendable {
        public let keys: [Tensor]
        public let values: [Tensor]
        public var batch: Int { keys.first?.shape[0] ?? 0 }

        /// The same audio for `n` decoding rows (beams): a broadcast view, no copy.
        public func repeated(_ n: Int) -> CrossKV {
            precondition(batch == 1, "repeat needs a single audio row")
            return CrossKV(keys: keys.map { $0.broadcast(to: [n] + $0.shape.dropFirst()) },
                           values: values.map { $0.broadcast(to: [n] + $0.shape.dropFirst()) })
        }
    }

    public func crossKV(_ audio: Tensor) -> CrossKV {
        var ks: [Tensor] = [], vs: [Tensor] = []
        for layer in weights.decoderLayers {
            ks.append(splitHeads(layer.crossAttention.key(audio), heads: dims.nTextHead).contiguous())
            vs.append(splitHeads(layer.crossAttention.value(audio), heads: dims.nTextHead).contiguous())
        }
        return CrossKV(keys: ks, values: vs)
    }

    /// Self-attention caches for `batch` decoding rows.
    public func makeCaches(batch: Int) -> [KVCache] {
        weights.decoderLayers.map { _ in
            KVCache(batch: batch, heads: dims.nTextHead, capacity: dims.nTextCtx, headDim: dims.nTextState / dims.nTextHead)
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
        let w = weights
        let b = tokens.count, t = tokens[0].count
        let d = dims.nTextState
        let offset = caches[0].length
        precondition(offset + t <= dims.nTextCtx, "decode: \(offset + t) tokens > context \(dims.nTextCtx)")
        // Token + position embeddings.
        var x = Tensor(shape: [b, t, d]) { out in
            let emb = w.tokenEmbedding.contiguous(), pos = w.decoderPositions.contiguous()
            for (bi, row) in tokens.enumerated() {
                for (ti, id) in row.enumerated() {
                    let dst = out.baseAddress! + (bi * t + ti) * d
                    let e = emb.pointer + id * d, p = pos.pointer + (offset + ti) * d
                    for j in 0..<d { dst[j] = e[j] + p[j] }
                }
            }
        }
        for (l, layer) in w.decoderLayers.enumerated() {
            x = x + selfAttention(layer.selfAttention, layer.selfAttentionNorm(x), cache: caches[l])
            let q = splitHeads(layer.crossAttention.query(layer.crossAttentionNorm(x)), heads: dims.nTextHead)
            crossQueries?(l, q)
            let a = Tensor.attention(query: q, key: cross.keys[l], value: cross.values[l])
            x = x + layer.crossAttention.out(mergeHeads(a))
            x = x + layer.fc2(layer.fc1(layer.mlpNorm(x)).gelu())
        }
        precondition(positions.allSatisfy { $0 >= 0 && $0 < t }, "decode: positions \(positions) outside 0..<\(t)")
        let picked = positions == [t - 1] ? x.slice(axis: 1, (t - 1)..<t)
            : Tensor.concat(positions.map { x.slice(axis: 1, $0..<($0 + 1)) }, axis: 1)
        return Tensor.linear(w.decoderNorm(picked), weight: w.tokenEmbedding, half: w.tokenEmbeddingHalf)
    }
}
