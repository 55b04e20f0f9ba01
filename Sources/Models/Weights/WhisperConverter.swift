import Foundation
import TensorCore

/// Writes Whisper weights in the Hugging Face layout transformers'
/// `WhisperForConditionalGeneration.from_pretrained` reads, and `WhisperLoader` reads back.
public enum WhisperConverter {
    /// Writes `model.safetensors` (F32, `model.`-prefixed transformers keys, metadata
    /// `format: pt`; the output projection is tied to `model.decoder.embed_tokens.weight`
    /// and not stored) and `config.json` (the `WhisperConfig` fields, plus the extras:
    /// `alignment_heads`, `suppress_tokens`, `begin_suppress_tokens` and `lang_ids`) into
    /// `directory`, creating it when needed. Existing files of those names are replaced.
    public static func writeHuggingFace(_ w: WhisperWeights, extras: WhisperExtras, to directory: URL) throws {
        let dims = w.dims
        guard dims.nAudioState == dims.nTextState else {
            throw WeightFileError(path: directory.path, "the Hugging Face layout has one d_model; encoder width \(dims.nAudioState) differs from decoder width \(dims.nTextState)")
        }
        guard let encoderFFN = w.encoderLayers.first?.fc1.outFeatures, let decoderFFN = w.decoderLayers.first?.fc1.outFeatures else {
            throw WeightFileError(path: directory.path, "a Whisper model needs at least one encoder and one decoder layer")
        }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw WeightFileError(path: directory.path, "cannot create the folder: \(error.localizedDescription)")
        }

        var tensors: [(name: String, tensor: Tensor)] = []
        func add(_ name: String, _ t: Tensor) { tensors.append(("model.\(name)", t)) }
        func add(_ prefix: String, _ l: Linear) {
            add("\(prefix).weight", l.weight)
            if let b = l.bias { add("\(prefix).bias", b) }
        }
        func add(_ prefix: String, _ n: LayerNorm) {
            add("\(prefix).weight", n.weight)
            add("\(prefix).bias", n.bias)
        }
        func add(_ prefix: String, _ a: WhisperAttention) throws {
            guard a.key.bias == nil else {
                throw WeightFileError(path: directory.path, "\(prefix).k_proj has a bias; Whisper's key projection has none")
            }
            add("\(prefix).q_proj", a.query)
            add("\(prefix).k_proj", a.key)
            add("\(prefix).v_proj", a.value)
            add("\(prefix).out_proj", a.out)
        }

        add("encoder.conv1.weight", w.conv1.weight)
        add("encoder.conv1.bias", w.conv1.bias)
        add("encoder.conv2.weight", w.conv2.weight)
        add("encoder.conv2.bias", w.conv2.bias)
        add("encoder.embed_positions.weight", w.encoderPositions)
        for (i, layer) in w.encoderLayers.enumerated() {
            let p = "encoder.layers.\(i)"
            try add("\(p).self_attn", layer.attention)
            add("\(p).self_attn_layer_norm", layer.attentionNorm)
            add("\(p).fc1", layer.fc1)
            add("\(p).fc2", layer.fc2)
            add("\(p).final_layer_norm", layer.mlpNorm)
        }
        add("encoder.layer_norm", w.encoderNorm)
        add("decoder.embed_tokens.weight", w.tokenEmbedding)
        add("decoder.embed_positions.weight", w.decoderPositions)
        for (i, layer) in w.decoderLayers.enumerated() {
            let p = "decoder.layers.\(i)"
            try add("\(p).self_attn", layer.selfAttention)
            add("\(p).self_attn_layer_norm", layer.selfAttentionNorm)
            try add("\(p).encoder_attn", layer.crossAttention)
            add("\(p).encoder_attn_layer_norm", layer.crossAttentionNorm)
            add("\(p).fc1", layer.fc1)
            add("\(p).fc2", layer.fc2)
            add("\(p).final_layer_norm", layer.mlpNorm)
        }
        add("decoder.layer_norm", w.decoderNorm)
        try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"],
                                    to: directory.appendingPathComponent("model.safetensors"))

        // Special tokens: <|endoftext|> then <|startoftranscript|> open the special range,
        // one id later in multilingual vocabularies.
        let startOfTranscript = dims.isMultilingual ? 50258 : 50257
        let endOfText = startOfTranscript - 1
        let config: [String: Any] = [
            "architectures": ["WhisperForConditionalGeneration"],
            "model_type": "whisper",
            "vocab_size": dims.nVocab,
            "num_mel_bins": dims.nMels,
            "d_model": dims.nAudioState,
            "encoder_layers": dims.nAudioLayer,
            "encoder_attention_heads": dims.nAudioHead,
            "encoder_ffn_dim": encoderFFN,
            "decoder_layers": dims.nTextLayer,
            "decoder_attention_heads": dims.nTextHead,
            "decoder_ffn_dim": decoderFFN,
            "max_source_positions": dims.nAudioCtx,
            "max_target_positions": dims.nTextCtx,
            "activation_function": "gelu",
            "scale_embedding": false,
            "tie_word_embeddings": true,
            "use_cache": true,
            "torch_dtype": "float32",
            "bos_token_id": 50257,
            "eos_token_id": endOfText,
            "pad_token_id": endOfText,
            "decoder_start_token_id": startOfTranscript,
            "alignment_heads": extras.alignmentHeads.map { [$0.layer, $0.head] },
            "suppress_tokens": extras.suppressIDs,
            "begin_suppress_tokens": extras.suppressIDsBegin,
            "lang_ids": extras.languageIDs,
        ]
        let url = directory.appendingPathComponent("config.json")
        var data: Data
        do {
            data = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        } catch {
            throw WeightFileError(path: url.path, "cannot write: \(error.localizedDescription)")
        }
        data.append(0x0A)
        try AtomicFile.write(data, to: url)
    }
}
