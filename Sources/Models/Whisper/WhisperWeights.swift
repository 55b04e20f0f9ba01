import TensorCore

/// Whisper's dimensions (the names of openai-whisper's `ModelDimensions`).
public struct WhisperDimensions: Sendable, Equatable, Codable {
    public var nMels: Int            // 80 (128 for large-v3)
    public var nAudioCtx: Int        // 1500 encoder positions (30 s)
    public var nAudioState: Int      // model width
    public var nAudioHead: Int
    public var nAudioLayer: Int
    public var nVocab: Int           // 51864 English-only, 51865 multilingual (51866 large-v3)
    public var nTextCtx: Int         // 448 decoder positions
    public var nTextState: Int
    public var nTextHead: Int
    public var nTextLayer: Int

    public init(nMels: Int, nAudioCtx: Int, nAudioState: Int, nAudioHead: Int, nAudioLayer: Int,
                nVocab: Int, nTextCtx: Int, nTextState: Int, nTextHead: Int, nTextLayer: Int) {
        self.nMels = nMels; self.nAudioCtx = nAudioCtx; self.nAudioState = nAudioState
        self.nAudioHead = nAudioHead; self.nAudioLayer = nAudioLayer; self.nVocab = nVocab
        self.nTextCtx = nTextCtx; self.nTextState = nTextState; self.nTextHead = nTextHead; self.nTextLayer = nTextLayer
    }

    public var isMultilingual: Bool { nVocab >= 51865 }
}

/// Attention projections; Whisper's key projection has no bias.
public struct WhisperAttention: Sendable {
    public var query: Linear
    public var key: Linear
    public var value: Linear
    public var out: Linear
}

public struct WhisperEncoderLayer: Sendable {
    public var attentionNorm: LayerNorm
    public var attention: WhisperAttention
    public var mlpNorm: LayerNorm
    public var fc1: Linear
    public var fc2: Linear
}

public struct WhisperDecoderLayer: Sendable {
    public var selfAttentionNorm: LayerNorm
    public var selfAttention: WhisperAttention
    public var crossAttentionNorm: LayerNorm
    public var crossAttention: WhisperAttention
    public var mlpNorm: LayerNorm
    public var fc1: Linear
    public var fc2: Linear
}

/// Every weight of a Whisper model, in float32, in openai-whisper's / PyTorch's layouts:
/// linear weights `[out, in]`, conv weights `[out, in, kernel]`.
public struct WhisperWeights: Sendable {
    public var dims: WhisperDimensions
    public var conv1: (weight: Tensor, bias: Tensor)        // [d, nMels, 3], stride 1, padding 1
    public var conv2: (weight: Tensor, bias: Tensor)        // [d, d, 3], stride 2, padding 1
    public var encoderPositions: Tensor                     // [nAudioCtx, d] (sinusoids)
    public var encoderLayers: [WhisperEncoderLayer]
    public var encoderNorm: LayerNorm                       // ln_post
    public var tokenEmbedding: Tensor                       // [nVocab, d]; also the output projection
    public var decoderPositions: Tensor                     // [nTextCtx, d] (learned)
    public var decoderLayers: [WhisperDecoderLayer]
    public var decoderNorm: LayerNorm                       // decoder.ln
}

extension WhisperAttention {
    /// The projections as the shared attention layer with `heads` heads, each matrix stored by `store`.
    func multiHead(heads: Int, store: (Linear) -> Linear = { $0 }) -> MultiHeadAttention {
        MultiHeadAttention(query: store(query), key: store(key), value: store(value), out: store(out), heads: heads)
    }
}

extension WhisperEncoderLayer {
    /// The layer as a pre-norm transformer block (GELU MLP), each matrix stored by `store`.
    func block(heads: Int, store: (Linear) -> Linear = { $0 }) -> TransformerBlock {
        TransformerBlock(attentionNorm: attentionNorm, attention: attention.multiHead(heads: heads, store: store),
                         mlpNorm: mlpNorm, mlp: MLP(fc1: store(fc1), fc2: store(fc2), activation: .gelu))
    }
}

extension WhisperDecoderLayer {
    /// The layer as a pre-norm transformer block with cross-attention. `step` stores the
    /// matrices a decoding step reads in full, `cross` the cross-attention keys and values
    /// (which run once per window over the audio).
    func block(heads: Int, step: (Linear) -> Linear, cross: (Linear) -> Linear) -> TransformerBlock {
        let s = selfAttention, c = crossAttention
        return TransformerBlock(
            attentionNorm: selfAttentionNorm,
            attention: MultiHeadAttention(query: step(s.query), key: step(s.key), value: step(s.value), out: step(s.out), heads: heads),
            crossAttention: .init(norm: crossAttentionNorm,
                                  attention: MultiHeadAttention(query: step(c.query), key: cross(c.key), value: cross(c.value),
                                                                out: step(c.out), heads: heads)),
            mlpNorm: mlpNorm, mlp: MLP(fc1: step(fc1), fc2: step(fc2), activation: .gelu))
    }
}

/// What the checkpoint's `config.json` adds (CTranslate2 / faster-whisper layout).
public struct WhisperExtras: Sendable, Equatable {
    /// (decoder layer, head) pairs whose cross-attention follows the audio (word timestamps).
    public var alignmentHeads: [(layer: Int, head: Int)]
    public var languageIDs: [Int]
    public var suppressIDs: [Int]
    public var suppressIDsBegin: [Int]

    public init(alignmentHeads: [(layer: Int, head: Int)], languageIDs: [Int], suppressIDs: [Int], suppressIDsBegin: [Int]) {
        self.alignmentHeads = alignmentHeads
        self.languageIDs = languageIDs
        self.suppressIDs = suppressIDs
        self.suppressIDsBegin = suppressIDsBegin
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.alignmentHeads.map { [$0.layer, $0.head] } == b.alignmentHeads.map { [$0.layer, $0.head] }
            && a.languageIDs == b.languageIDs && a.suppressIDs == b.suppressIDs && a.suppressIDsBegin == b.suppressIDsBegin
    }
}
