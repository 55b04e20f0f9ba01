import Foundation
import TensorCore

/// Loads a Whisper checkpoint folder into `WhisperWeights` (float32) and `WhisperExtras`.
///
/// Two layouts are recognised:
/// - **CTranslate2** (faster-whisper): `model.bin` + `config.json` (`alignment_heads`,
///   `lang_ids`, `suppress_ids`, `suppress_ids_begin`). Fused projections are split: the
///   self-attention `linear_0` holds Q, K, V stacked by rows, the cross-attention `linear_1`
///   holds K, V; the key rows' bias is dropped (Whisper's key has none; CTranslate2 stores
///   zeros there, and a per-row constant added to every key logit leaves softmax unchanged
///   anyway). Head counts come from the scalar variables `encoder/num_heads` and
///   `decoder/num_heads`.
/// - **Hugging Face** (`WhisperForConditionalGeneration`): `model.safetensors` + `config.json`
///   (`d_model`, `encoder_layers`, `encoder_attention_heads`, ...), keys with or without the
///   `model.` prefix; extras from `generation_config.json` when present, else from
///   `config.json`.
///
/// When a folder holds both `model.bin` and `model.safetensors`, `model.bin` is used.
///
/// - Important: loading is strict. Every expected tensor must be present with the expected
///   shape, and tensors the layout does not use are an error too; every error is one line
///   naming the file and the tensor. fp16 / bf16 data is widened to fp32 once, here.
public enum WhisperLoader {
    public enum Layout: String, Sendable {
        case ctranslate2, huggingFace
    }

    /// Which layout `directory` holds, or nil when it holds neither weight file.
    public static func layout(of directory: URL) -> Layout? {
        let fm = FileManager.default
        if fm.fileExists(atPath: directory.appendingPathComponent("model.bin").path) { return .ctranslate2 }
        if fm.fileExists(atPath: directory.appendingPathComponent("model.safetensors").path) { return .huggingFace }
        return nil
    }

    /// `store` is applied to each linear layer as it is read (`WhisperComputeType.loading`:
    /// int8 quantises there, so the float32 weights never exist all at once).
    public static func load(directory: URL, store: (Linear) -> Linear = { $0 }) throws -> (WhisperWeights, WhisperExtras) {
        switch layout(of: directory) {
        case .ctranslate2: return try loadCTranslate2(directory: directory, store: store)
        case .huggingFace: return try loadHuggingFace(directory: directory)
        case nil:
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("model.safetensors.index.json").path) {
                throw WeightFileError(path: directory.path, "sharded safetensors checkpoints are not supported; merge the shards into one model.safetensors")
            }
            throw WeightFileError(path: directory.path, "no Whisper weights here: expected model.bin (CTranslate2) or model.safetensors + config.json (Hugging Face)")
        }
    }

    // MARK: CTranslate2

    /// Scalar attributes a Whisper `model.bin` may carry and the values this loader
    /// accepts (nil: any value). Other scalars are accepted only when zero (features that
    /// are off).
    static let ct2Scalars: [String: Double?] = [
        "encoder/num_heads": nil, "decoder/num_heads": nil,
        "decoder/pre_norm": 1, "decoder/scale_embeddings": 0, "decoder/activation": 3 /* GELU */,
        "decoder/alibi": 0, "decoder/start_from_zero_embedding": 0,
        // CTranslate2's generic alignment settings (Whisper's own are in config.json).
        "decoder/alignment_heads": nil, "decoder/alignment_layer": nil,
    ]

    public static func loadCTranslate2(directory: URL, store: (Linear) -> Linear = { $0 }) throws -> (WhisperWeights, WhisperExtras) {
        let file = try CTranslate2File(url: directory.appendingPathComponent("model.bin"))
        let weights = try whisperWeights(from: file, store: store)
        let configURL = directory.appendingPathComponent("config.json")
        let config = try readJSONObject(configURL, required: false) ?? [:]
        let extras = try extras(config: config, path: configURL.path, dims: weights.dims)
        return (weights, extras)
    }

    /// The weights of a CTranslate2 `WhisperSpec` file.
    public static func whisperWeights(from file: CTranslate2File, store: (Linear) -> Linear = { $0 }) throws -> WhisperWeights {
        let path = file.path
        guard file.specName == "WhisperSpec" else {
            throw WeightFileError(path: path, "CTranslate2 model of spec '\(file.specName)', not a Whisper model (WhisperSpec)")
        }
        guard file.specRevision <= 3 else {
            throw WeightFileError(path: path, "WhisperSpec revision \(file.specRevision) is newer than this loader knows (3)")
        }
        var tensors: [String: [Int]] = [:]
        var scalars: [String: CTranslate2File.Variable] = [:]
        for v in file.variables {
            if v.isScalar { scalars[v.name] = v } else { tensors[v.name] = v.shape }
        }
        var w = try CheckedTensors(path: path, shapes: tensors, wording: whisperWording) { name in try file.tensor(name) }

        // Dequantised weights: `X` int8/int16 with `X_scale`.
        func take(_ name: String, _ shape: [Int]) throws -> Tensor {
            guard let v = file.variable(name), v.dtype == .int8 || v.dtype == .int16 else { return try w.take(name, shape) }
            let raw = try w.take(name, shape)
            let scaleName = name + "_scale"
            guard let s = file.variable(scaleName) else {
                throw WeightFileError(path: path, "quantised variable '\(name)' (\(v.dtype.name)) has no '\(scaleName)'")
            }
            let scale: Tensor
            if s.isScalar {
                scale = try file.tensor(scaleName)
            } else {
                guard shape.count == 2 else {
                    throw WeightFileError(path: path, "quantised variable '\(name)' of rank \(shape.count) with per-row scales is not supported")
                }
                scale = try w.take(scaleName, [shape[0]])
            }
            return dequantize(raw, scale: scale)
        }

        func linear(_ prefix: String, _ out: Int, _ inp: Int) throws -> Linear {
            Linear(weight: try take("\(prefix)/weight", [out, inp]), bias: try w.take("\(prefix)/bias", [out]))
        }
        func norm(_ prefix: String, _ d: Int) throws -> LayerNorm {
            LayerNorm(weight: try w.take("\(prefix)/gamma", [d]), bias: try w.take("\(prefix)/beta", [d]))
        }
        func shape(_ name: String, rank: Int) throws -> [Int] { try w.shape(name, rank: rank) }
        func heads(_ name: String, width: Int) throws -> Int {
            guard let v = scalars[name] else { throw WeightFileError(path: path, "missing scalar '\(name)'") }
            let value = try file.scalar(v.name)
            guard let h = Int(exactly: value), h > 0, width % h == 0 else {
                throw WeightFileError(path: path, "'\(name)' is \(value), which does not divide the width \(width)")
            }
            return h
        }
        func layerCount(_ part: String) throws -> Int {
            let prefix = "\(part)/layer_"
            let numbers = Set(tensors.keys.compactMap { name -> Int? in
                guard name.hasPrefix(prefix) else { return nil }
                return Int(name.dropFirst(prefix.count).prefix { $0 != "/" })
            })
            let n = numbers.count
            guard n > 0, numbers == Set(0..<n) else {
                throw WeightFileError(path: path, "\(part) layers are numbered \(numbers.sorted()), expected 0 to \(max(n, 1) - 1)")
            }
            return n
        }

        // Dimensions from shapes and the head-count scalars.
        let conv1 = try shape("encoder/conv1/weight", rank: 3)
        let encPos = try shape("encoder/position_encodings/encodings", rank: 2)
        let emb = try shape("decoder/embeddings/weight", rank: 2)
        let decPos = try shape("decoder/position_encodings/encodings", rank: 2)
        let dA = conv1[0], dT = emb[1]
        let dims = WhisperDimensions(nMels: conv1[1], nAudioCtx: encPos[0], nAudioState: dA,
                                     nAudioHead: try heads("encoder/num_heads", width: dA),
                                     nAudioLayer: try layerCount("encoder"), nVocab: emb[0], nTextCtx: decPos[0],
                                     nTextState: dT, nTextHead: try heads("decoder/num_heads", width: dT),
                                     nTextLayer: try layerCount("decoder"))
        for (name, expected) in ct2Scalars {
            guard let expected, let v = scalars[name] else { continue }
            let value = try file.scalar(v.name)
            guard value == expected else {
                throw WeightFileError(path: path, "scalar '\(name)' is \(value), Whisper needs \(expected)")
            }
        }
        // Quantisation scales (`X_scale`) are used by `take`; other unknown attributes must be off.
        var unknownScalars: [String] = []
        for name in scalars.keys.sorted() where !ct2Scalars.keys.contains(name) && !name.hasSuffix("_scale") {
            if try file.scalar(name) != 0 { unknownScalars.append(name) }
        }
        guard unknownScalars.isEmpty else {
            throw WeightFileError(path: path, "unsupported attributes for a Whisper model: \(unknownScalars.map { "'\($0)'" }.joined(separator: ", "))")
        }

        let ffnA = try shape("encoder/layer_0/ffn/linear_0/weight", rank: 2)[0]
        let ffnT = try shape("decoder/layer_0/ffn/linear_0/weight", rank: 2)[0]

        func fusedAttention(_ prefix: String, _ d: Int) throws -> WhisperAttention {
            let qkv = try linear("\(prefix)/linear_0", 3 * d, d)
            let out = try linear("\(prefix)/linear_1", d, d)
            return WhisperAttention(query: store(rows(qkv, 0, d)), key: store(rows(qkv, d, d, bias: false)),
                                    value: store(rows(qkv, 2 * d, d)), out: store(out))
        }

        var encoderLayers: [WhisperEncoderLayer] = []
        for i in 0..<dims.nAudioLayer {
            let p = "encoder/layer_\(i)"
            encoderLayers.append(WhisperEncoderLayer(
                attentionNorm: try norm("\(p)/self_attention/layer_norm", dA),
                attention: try fusedAttention("\(p)/self_attention", dA),
                mlpNorm: try norm("\(p)/ffn/layer_norm", dA),
                fc1: store(try linear("\(p)/ffn/linear_0", ffnA, dA)),
                fc2: store(try linear("\(p)/ffn/linear_1", dA, ffnA))))
        }
        var decoderLayers: [WhisperDecoderLayer] = []
        for i in 0..<dims.nTextLayer {
            let p = "decoder/layer_\(i)"
            let kv = try linear("\(p)/attention/linear_1", 2 * dT, dA)
            let cross = WhisperAttention(query: store(try linear("\(p)/attention/linear_0", dT, dT)),
                                         key: store(rows(kv, 0, dT, bias: false)), value: store(rows(kv, dT, dT)),
                                         out: store(try linear("\(p)/attention/linear_2", dT, dT)))
            decoderLayers.append(WhisperDecoderLayer(
                selfAttentionNorm: try norm("\(p)/self_attention/layer_norm", dT),
                selfAttention: try fusedAttention("\(p)/self_attention", dT),
                crossAttentionNorm: try norm("\(p)/attention/layer_norm", dT),
                crossAttention: cross,
                mlpNorm: try norm("\(p)/ffn/layer_norm", dT),
                fc1: store(try linear("\(p)/ffn/linear_0", ffnT, dT)),
                fc2: store(try linear("\(p)/ffn/linear_1", dT, ffnT))))
        }

        let tokenEmbedding = try take("decoder/embeddings/weight", [dims.nVocab, dT])
        // The output projection must be the embedding (an alias, or an identical copy).
        if file.aliases["decoder/projection/weight"] != nil {
            guard file.aliases["decoder/projection/weight"] == "decoder/embeddings/weight" else {
                throw WeightFileError(path: path, "'decoder/projection/weight' aliases '\(file.aliases["decoder/projection/weight"]!)', expected the token embedding")
            }
        } else if tensors["decoder/projection/weight"] != nil {
            let projection = try take("decoder/projection/weight", [dims.nVocab, dT])
            guard projection.scalars == tokenEmbedding.scalars else {
                throw WeightFileError(path: path, "'decoder/projection/weight' differs from the token embedding; untied output projections are not supported")
            }
        }
        let unusedAliases = file.aliases.keys.filter { $0 != "decoder/projection/weight" }.sorted()
        guard unusedAliases.isEmpty else {
            throw WeightFileError(path: path, "unexpected aliases: \(unusedAliases.map { "'\($0)'" }.joined(separator: ", "))")
        }

        let weights = WhisperWeights(
            dims: dims,
            conv1: (try take("encoder/conv1/weight", [dA, dims.nMels, 3]), try w.take("encoder/conv1/bias", [dA])),
            conv2: (try take("encoder/conv2/weight", [dA, dA, 3]), try w.take("encoder/conv2/bias", [dA])),
            encoderPositions: try w.take("encoder/position_encodings/encodings", [dims.nAudioCtx, dA]),
            encoderLayers: encoderLayers,
            encoderNorm: try norm("encoder/layer_norm", dA),
            tokenEmbedding: tokenEmbedding,
            decoderPositions: try w.take("decoder/position_encodings/encodings", [dims.nTextCtx, dT]),
            decoderLayers: decoderLayers,
            decoderNorm: try norm("decoder/layer_norm", dT))
        try w.checkAllTaken()
        return weights
    }

    /// Rows `start ..< start + count` of a fused projection, as a view (no copy).
    private static func rows(_ fused: Linear, _ start: Int, _ count: Int, bias: Bool = true) -> Linear {
        Linear(weight: fused.weight.slice(axis: 0, start..<(start + count)),
               bias: bias ? fused.bias?.slice(axis: 0, start..<(start + count)) : nil)
    }

    /// CTranslate2's quantisation is `q = round(w * scale)` (scale per output row for int8,
    /// one scale for int16), so `w = q / scale`.
    private static func dequantize(_ q: Tensor, scale: Tensor) -> Tensor {
        let rows = q.shape.first ?? 1
        let perRow = scale.count == rows && scale.count > 1
        let s = scale.scalars
        let cols = q.count / max(rows, 1)
        return Tensor(shape: q.shape) { dst in
            q.withUnsafeBufferPointer { src in
                for r in 0..<rows {
                    let scale = perRow ? s[r] : s[0]
                    for c in 0..<cols { dst[r * cols + c] = src[r * cols + c] / scale }
                }
            }
        }
    }

    // MARK: Hugging Face

    /// The fields of transformers' `WhisperConfig` this loader reads.
    struct HFConfig: Decodable {
        var modelType: String?
        var dModel: Int
        var encoderLayers: Int
        var encoderAttentionHeads: Int
        var decoderLayers: Int
        var decoderAttentionHeads: Int
        var encoderFfnDim: Int?
        var decoderFfnDim: Int?
        var numMelBins: Int
        var vocabSize: Int
        var maxSourcePositions: Int
        var maxTargetPositions: Int
        var activationFunction: String?
        var scaleEmbedding: Bool?

        enum CodingKeys: String, CodingKey {
            case modelType = "model_type", dModel = "d_model", encoderLayers = "encoder_layers"
            case encoderAttentionHeads = "encoder_attention_heads", decoderLayers = "decoder_layers"
            case decoderAttentionHeads = "decoder_attention_heads", encoderFfnDim = "encoder_ffn_dim"
            case decoderFfnDim = "decoder_ffn_dim", numMelBins = "num_mel_bins", vocabSize = "vocab_size"
            case maxSourcePositions = "max_source_positions", maxTargetPositions = "max_target_positions"
            case activationFunction = "activation_function", scaleEmbedding = "scale_embedding"
        }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            modelType = try c.decodeIfPresent(String.self, forKey: .modelType)
            dModel = try c.decode(Int.self, forKey: .dModel)
            encoderLayers = try c.decode(Int.self, forKey: .encoderLayers)
            encoderAttentionHeads = try c.decode(Int.self, forKey: .encoderAttentionHeads)
            decoderLayers = try c.decode(Int.self, forKey: .decoderLayers)
            decoderAttentionHeads = try c.decode(Int.self, forKey: .decoderAttentionHeads)
            encoderFfnDim = try c.decodeIfPresent(Int.self, forKey: .encoderFfnDim)
            decoderFfnDim = try c.decodeIfPresent(Int.self, forKey: .decoderFfnDim)
            numMelBins = try c.decodeIfPresent(Int.self, forKey: .numMelBins) ?? 80
            vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? 51865
            maxSourcePositions = try c.decodeIfPresent(Int.self, forKey: .maxSourcePositions) ?? 1500
            maxTargetPositions = try c.decodeIfPresent(Int.self, forKey: .maxTargetPositions) ?? 448
            activationFunction = try c.decodeIfPresent(String.self, forKey: .activationFunction)
            scaleEmbedding = try c.decodeIfPresent(Bool.self, forKey: .scaleEmbedding)
        }
    }

    public static func loadHuggingFace(directory: URL) throws -> (WhisperWeights, WhisperExtras) {
        let configURL = directory.appendingPathComponent("config.json")
        guard let configData = FileManager.default.contents(atPath: configURL.path) else {
            throw WeightFileError(path: configURL.path, "missing: a Hugging Face Whisper checkpoint needs its config.json next to model.safetensors")
        }
        let config: HFConfig
        do {
            config = try JSONDecoder().decode(HFConfig.self, from: configData)
        } catch DecodingError.keyNotFound(let key, _) {
            throw WeightFileError(path: configURL.path, "not a Whisper config: no '\(key.stringValue)'")
        } catch {
            throw WeightFileError(path: configURL.path, "not a Whisper config: \(describe(error))")
        }
        if let t = config.modelType, t != "whisper" {
            throw WeightFileError(path: configURL.path, "model_type is '\(t)', not 'whisper'")
        }
        if let a = config.activationFunction, a != "gelu" {
            throw WeightFileError(path: configURL.path, "activation_function '\(a)' is not supported (Whisper uses 'gelu')")
        }
        if config.scaleEmbedding == true {
            throw WeightFileError(path: configURL.path, "scale_embedding true is not supported (Whisper does not scale embeddings)")
        }
        let d = config.dModel
        for (name, h) in [("encoder_attention_heads", config.encoderAttentionHeads), ("decoder_attention_heads", config.decoderAttentionHeads)]
        where h <= 0 || d % h != 0 {
            throw WeightFileError(path: configURL.path, "\(name) \(h) does not divide d_model \(d)")
        }
        let dims = WhisperDimensions(nMels: config.numMelBins, nAudioCtx: config.maxSourcePositions, nAudioState: d,
                                     nAudioHead: config.encoderAttentionHeads, nAudioLayer: config.encoderLayers,
                                     nVocab: config.vocabSize, nTextCtx: config.maxTargetPositions, nTextState: d,
                                     nTextHead: config.decoderAttentionHeads, nTextLayer: config.decoderLayers)

        let file = try SafeTensorsFile(path: directory.appendingPathComponent("model.safetensors").path)
        // Sanitise: drop the `model.` prefix of WhisperForConditionalGeneration's keys; missing
        // keys are named as the file would name them.
        let prefixed = file.entries.keys.contains { $0.hasPrefix("model.") }
        var w = try CheckedTensors(file, configPath: configURL.path,
                                   rename: { $0.hasPrefix("model.") ? String($0.dropFirst("model.".count)) : $0 },
                                   inverse: { prefixed && $0 != "proj_out.weight" ? "model.\($0)" : $0 },
                                   wording: whisperWording)
        let shapes = w.shapes
        let ffnA = config.encoderFfnDim ?? shapes["encoder.layers.0.fc1.weight"]?.first ?? 4 * d
        let ffnT = config.decoderFfnDim ?? shapes["decoder.layers.0.fc1.weight"]?.first ?? 4 * d

        func linear(_ prefix: String, _ out: Int, _ inp: Int, bias: Bool = true) throws -> Linear {
            Linear(weight: try w.take("\(prefix).weight", [out, inp]), bias: bias ? try w.take("\(prefix).bias", [out]) : nil)
        }
        func norm(_ prefix: String) throws -> LayerNorm {
            LayerNorm(weight: try w.take("\(prefix).weight", [d]), bias: try w.take("\(prefix).bias", [d]))
        }
        func attention(_ prefix: String) throws -> WhisperAttention {
            WhisperAttention(query: try linear("\(prefix).q_proj", d, d), key: try linear("\(prefix).k_proj", d, d, bias: false),
                             value: try linear("\(prefix).v_proj", d, d), out: try linear("\(prefix).out_proj", d, d))
        }

        var encoderLayers: [WhisperEncoderLayer] = []
        for i in 0..<dims.nAudioLayer {
            let p = "encoder.layers.\(i)"
            encoderLayers.append(WhisperEncoderLayer(
                attentionNorm: try norm("\(p).self_attn_layer_norm"), attention: try attention("\(p).self_attn"),
                mlpNorm: try norm("\(p).final_layer_norm"),
                fc1: try linear("\(p).fc1", ffnA, d), fc2: try linear("\(p).fc2", d, ffnA)))
        }
        var decoderLayers: [WhisperDecoderLayer] = []
        for i in 0..<dims.nTextLayer {
            let p = "decoder.layers.\(i)"
            decoderLayers.append(WhisperDecoderLayer(
                selfAttentionNorm: try norm("\(p).self_attn_layer_norm"), selfAttention: try attention("\(p).self_attn"),
                crossAttentionNorm: try norm("\(p).encoder_attn_layer_norm"), crossAttention: try attention("\(p).encoder_attn"),
                mlpNorm: try norm("\(p).final_layer_norm"),
                fc1: try linear("\(p).fc1", ffnT, d), fc2: try linear("\(p).fc2", d, ffnT)))
        }
        let tokenEmbedding = try w.take("decoder.embed_tokens.weight", [dims.nVocab, d])
        if shapes["proj_out.weight"] != nil {
            let projection = try w.take("proj_out.weight", [dims.nVocab, d])
            guard projection.scalars == tokenEmbedding.scalars else {
                throw WeightFileError(path: file.path, "'\(w.display("proj_out.weight"))' differs from the token embedding; untied output projections are not supported")
            }
        }
        let weights = WhisperWeights(
            dims: dims,
            conv1: (try w.take("encoder.conv1.weight", [d, dims.nMels, 3]), try w.take("encoder.conv1.bias", [d])),
            conv2: (try w.take("encoder.conv2.weight", [d, d, 3]), try w.take("encoder.conv2.bias", [d])),
            encoderPositions: try w.take("encoder.embed_positions.weight", [dims.nAudioCtx, d]),
            encoderLayers: encoderLayers,
            encoderNorm: try norm("encoder.layer_norm"),
            tokenEmbedding: tokenEmbedding,
            decoderPositions: try w.take("decoder.embed_positions.weight", [dims.nTextCtx, d]),
            decoderLayers: decoderLayers,
            decoderNorm: try norm("decoder.layer_norm"))
        try w.checkAllTaken()

        // Extras: config.json, overridden by generation_config.json where it has them.
        var merged = try readJSONObject(configURL, required: true) ?? [:]
        let generationURL = directory.appendingPathComponent("generation_config.json")
        var extrasPath = configURL.path
        if let generation = try readJSONObject(generationURL, required: false) {
            merged.merge(generation) { _, new in new }
            extrasPath = generationURL.path
        }
        return (weights, try extras(config: merged, path: extrasPath, dims: dims))
    }

    /// How the checked tensors of both layouts word their errors.
    static let whisperWording = CheckedTensors.Wording(owner: "a Whisper model")

    // MARK: Extras

    /// `WhisperExtras` from a CTranslate2 `config.json` or the Hugging Face config files
    /// (`suppress_tokens`, `begin_suppress_tokens`, `lang_to_id`). Without alignment heads,
    /// openai-whisper's default: every head of the second half of the decoder layers.
    static func extras(config: [String: Any], path: String, dims: WhisperDimensions) throws -> WhisperExtras {
        func ints(_ key: String) throws -> [Int]? {
            guard let value = config[key], !(value is NSNull) else { return nil }
            guard let list = value as? [Any] else { throw WeightFileError(path: path, "'\(key)' is not a list") }
            return try list.map { item in
                guard let n = item as? NSNumber else {
                    throw WeightFileError(path: path, "'\(key)' holds \(item), not a token id")
                }
                return n.intValue
            }
        }
        var heads: [(layer: Int, head: Int)] = []
        if let value = config["alignment_heads"], !(value is NSNull) {
            guard let pairs = value as? [[Any]] else {
                throw WeightFileError(path: path, "'alignment_heads' is not a list of [layer, head] pairs")
            }
            for pair in pairs {
                guard pair.count == 2, let l = (pair[0] as? NSNumber)?.intValue, let h = (pair[1] as? NSNumber)?.intValue else {
                    throw WeightFileError(path: path, "'alignment_heads' entry \(pair) is not a [layer, head] pair")
                }
                guard (0..<dims.nTextLayer).contains(l), (0..<dims.nTextHead).contains(h) else {
                    throw WeightFileError(path: path, "alignment head [\(l), \(h)] is outside the decoder's \(dims.nTextLayer) layers x \(dims.nTextHead) heads")
                }
                heads.append((l, h))
            }
        } else {
            for l in (dims.nTextLayer / 2)..<dims.nTextLayer {
                for h in 0..<dims.nTextHead { heads.append((l, h)) }
            }
        }
        var languages = try ints("lang_ids")
        if languages == nil, let map = config["lang_to_id"] {
            guard let dict = map as? [String: Any] else { throw WeightFileError(path: path, "'lang_to_id' is not an object") }
            languages = try dict.map { key, value in
                guard let n = value as? NSNumber else { throw WeightFileError(path: path, "'lang_to_id' maps '\(key)' to \(value), not a token id") }
                return n.intValue
            }.sorted()
        }
        let all = [languages ?? [], try ints("suppress_ids") ?? ints("suppress_tokens") ?? [],
                   try ints("suppress_ids_begin") ?? ints("begin_suppress_tokens") ?? []]
        for id in all.joined() where id < -1 || id >= dims.nVocab {
            throw WeightFileError(path: path, "token id \(id) is outside the vocabulary of \(dims.nVocab)")
        }
        return WhisperExtras(alignmentHeads: heads, languageIDs: all[0], suppressIDs: all[1], suppressIDsBegin: all[2])
    }

    static func readJSONObject(_ url: URL, required: Bool) throws -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            if required { throw WeightFileError(path: url.path, "missing") }
            return nil
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw WeightFileError(path: url.path, "not a JSON object")
        }
        return object
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c), DecodingError.dataCorrupted(let c):
            let at = c.codingPath.map(\.stringValue).joined(separator: ".")
            return at.isEmpty ? c.debugDescription : "'\(at)': \(c.debugDescription)"
        default:
            return "\(error)"
        }
    }
}
