import TensorCore

/// Multi-head attention's projections (queries, keys, values; the output) and how they are
/// used: self-attention (full, causal, with a key mask or over a `KVCache`) and attention to
/// keys and values computed elsewhere (a decoder's cross-attention). The attention itself is
/// `Tensor.attention` (heads in parallel, blocked long sequences, one product per head when
/// every row shares its keys).
public struct MultiHeadAttention: Sendable {
    public enum Projection: Sendable {
        /// One `[3D, D]` product: rows of the queries, then the keys, then the values (ViT,
        /// CLIP, BERT; Hugging Face's three are stacked at load).
        case fused(Linear)
        /// Three products (Whisper, whose key projection has no bias).
        case separate(query: Linear, key: Linear, value: Linear)
    }

    public var projection: Projection
    public var out: Linear
    public var heads: Int

    public init(qkv: Linear, out: Linear, heads: Int) {
        self.init(.fused(qkv), out: out, heads: heads)
    }

    public init(query: Linear, key: Linear, value: Linear, out: Linear, heads: Int) {
        self.init(.separate(query: query, key: key, value: value), out: out, heads: heads)
    }

    public init(_ projection: Projection, out: Linear, heads: Int) {
        precondition(heads > 0 && out.inFeatures % heads == 0, "MultiHeadAttention: \(heads) heads for width \(out.inFeatures)")
        self.projection = projection
        self.out = out
        self.heads = heads
    }

    /// Width of the queries (heads x head width).
    public var width: Int { out.inFeatures }

    /// `[N, T, D]` -> `[N, H, T, D / H]`, a view (no copy when `x` is contiguous).
    public func splitHeads(_ x: Tensor) -> Tensor {
        let n = x.shape[0], t = x.shape[1], d = x.shape[2]
        return x.reshaped([n, t, heads, d / heads]).permuted([0, 2, 1, 3])
    }

    /// `[N, H, T, Dh]` -> `[N, T, H * Dh]`.
    public static func mergeHeads(_ x: Tensor) -> Tensor {
        let n = x.shape[0], h = x.shape[1], t = x.shape[2], dh = x.shape[3]
        return x.permuted([0, 2, 1, 3]).reshaped([n, t, h * dh])
    }

    /// Queries, keys and values of `x` `[N, T, D]`, each `[N, H, T, Dh]` (views of one
    /// product when the projection is fused).
    public func project(_ x: Tensor) -> (query: Tensor, key: Tensor, value: Tensor) {
        switch projection {
        case .fused(let qkv):
            let n = x.shape[0], t = x.shape[1], d = width
            let p = qkv(x).reshaped([n, t, 3, heads, d / heads]).permuted([2, 0, 3, 1, 4])   // [3, N, H, T, Dh]
            return (p.select(axis: 0, 0), p.select(axis: 0, 1), p.select(axis: 0, 2))
        case .separate(let q, let k, let v):
            return (splitHeads(q(x)), splitHeads(k(x)), splitHeads(v(x)))
        }
    }

    /// The queries of `x` `[N, T, D]` alone, `[N, H, T, Dh]`.
    public func queries(_ x: Tensor) -> Tensor {
        switch projection {
        case .fused(let qkv): return splitHeads(qkv.outputs(0..<width)(x))
        case .separate(let q, _, _): return splitHeads(q(x))
        }
    }

    /// The keys and values of `x` `[N, T, D]` alone, each `[N, H, T, Dh]`.
    public func keysAndValues(_ x: Tensor) -> (key: Tensor, value: Tensor) {
        switch projection {
        case .fused(let qkv):
            let n = x.shape[0], t = x.shape[1], d = width
            let kv = qkv.outputs(d..<(3 * d))(x).reshaped([n, t, 2, heads, d / heads]).permuted([2, 0, 3, 1, 4])   // [2, N, H, T, Dh]
            return (kv.select(axis: 0, 0), kv.select(axis: 0, 1))
        case .separate(_, let k, let v):
            return (splitHeads(k(x)), splitHeads(v(x)))
        }
    }

    /// Self-attention of `x` `[N, T, D]` -> `[N, T, D]`. `causal`: position `i` sees
    /// positions `<= i`; `keyMask` `[N, T]`: 0 hides a key. With a `cache`, the new keys and
    /// values are appended to it and the queries attend causally to everything cached
    /// (incremental decoding). With int8 weights (`--compute-type int8`), attention over long
    /// unmasked sequences (an encoder's) runs in low precision too (`Tensor.attention`'s
    /// `lowPrecision`: int8 scores, bfloat16 weights and values).
    public func callAsFunction(_ x: Tensor, causal: Bool = false, keyMask: Tensor? = nil, cache: KVCache? = nil) -> Tensor {
        let (q, k, v) = project(x)
        if let cache {
            cache.append(key: k, value: v)
            return attend(q, key: cache.key, value: cache.value, causal: true, keyMask: keyMask)
        }
        return attend(q, key: k, value: v, causal: causal, keyMask: keyMask, lowPrecision: out.matrix.precision == .int8)
    }

    /// `out(attention(query, memory))` with heads merged: query `[N, H, Tq, Dh]` -> `[N, Tq, D]`.
    public func attend(_ query: Tensor, memory: AttentionMemory) -> Tensor {
        out(MultiHeadAttention.mergeHeads(Tensor.attention(query: query, memory: memory)))
    }

    /// `out(attention(query, key, value))` with heads merged: query `[N, H, Tq, Dh]`, key and
    /// value `[N, H, Tk, Dh]` -> `[N, Tq, D]`.
    public func attend(_ query: Tensor, key: Tensor, value: Tensor, causal: Bool = false, keyMask: Tensor? = nil,
                       lowPrecision: Bool = false) -> Tensor {
        out(MultiHeadAttention.mergeHeads(Tensor.attention(query: query, key: key, value: value, causal: causal, keyMask: keyMask,
                                                           lowPrecision: lowPrecision)))
    }
}

/// A transformer layer: self-attention, an optional cross-attention (decoders) and an MLP,
/// each with its layer norm and a residual connection.
///
/// Pre-norm (ViT, CLIP, Whisper): `x += scale1 * attention(norm1(x))`, then with
/// cross-attention `x += cross(crossNorm(x), memory)`, then `x += scale2 * mlp(norm2(x))`
/// (the layer scales only where the checkpoint has them, timm's `ls1` / `ls2`).
/// Post-norm (BERT): `x = norm1(attention(x) + x)`, `x = norm2(mlp(x) + x)`.
public struct TransformerBlock: Sendable {
    public enum NormPlacement: Sendable, Equatable {
        case pre, post
    }

    /// A decoder's attention to an encoder's output, with its own norm (pre-norm only).
    public struct CrossAttention: Sendable {
        public var norm: LayerNorm
        public var attention: MultiHeadAttention

        public init(norm: LayerNorm, attention: MultiHeadAttention) {
            self.norm = norm
            self.attention = attention
        }
    }

    public var placement: NormPlacement
    public var attentionNorm: LayerNorm
    public var attention: MultiHeadAttention
    public var attentionScale: Tensor?
    public var crossAttention: CrossAttention?
    public var mlpNorm: LayerNorm
    public var mlp: MLP
    public var mlpScale: Tensor?

    public init(_ placement: NormPlacement = .pre, attentionNorm: LayerNorm, attention: MultiHeadAttention,
                attentionScale: Tensor? = nil, crossAttention: CrossAttention? = nil,
                mlpNorm: LayerNorm, mlp: MLP, mlpScale: Tensor? = nil) {
        precondition(placement == .pre || (crossAttention == nil && attentionScale == nil && mlpScale == nil),
                     "TransformerBlock: cross-attention and layer scales are pre-norm only")
        self.placement = placement
        self.attentionNorm = attentionNorm
        self.attention = attention
        self.attentionScale = attentionScale
        self.crossAttention = crossAttention
        self.mlpNorm = mlpNorm
        self.mlp = mlp
        self.mlpScale = mlpScale
    }

    /// The layer over `x` `[N, T, D]`. `causal`, `keyMask` and `cache` go to the
    /// self-attention (see `MultiHeadAttention.callAsFunction`). `memory`: the keys and values
    /// `[G, H, S, Dh]` the cross-attention reads (required when the block has one; N a
    /// multiple of G); `crossQueries` sees its queries `[N, H, T, Dh]` (word alignment reads
    /// them).
    public func callAsFunction(_ x: Tensor, causal: Bool = false, keyMask: Tensor? = nil, cache: KVCache? = nil,
                               memory: AttentionMemory? = nil,
                               crossQueries: ((Tensor) -> Void)? = nil) -> Tensor {
        if placement == .post {
            let h = attentionNorm(attention(x, causal: causal, keyMask: keyMask, cache: cache) + x)
            return mlpNorm(mlp(h) + h)
        }
        var y = attention(attentionNorm(x), causal: causal, keyMask: keyMask, cache: cache)
        if let s = attentionScale { y = y * s }
        var h = x + y
        if let crossAttention {
            guard let memory else { preconditionFailure("TransformerBlock: a cross-attention block needs its memory") }
            let q = crossAttention.attention.queries(crossAttention.norm(h))
            crossQueries?(q)
            h = h + crossAttention.attention.attend(q, memory: memory)
        }
        var z = mlp(mlpNorm(h))
        if let s = mlpScale { z = z * s }
        return h + z
    }
}
