import Foundation
import TensorCore

/// Loads CLIP: the only place CLIP's files are read.
///
/// Weights, in either layout (detected from the tensor names):
/// - OpenAI / open_clip state dict converted to one `.safetensors` file (`visual.conv1.weight`,
///   `visual.transformer.resblocks.N.attn.in_proj_weight`, `token_embedding.weight`,
///   `text_projection`, `logit_scale`, ...). The sizes are read from the shapes, the heads are
///   width / 64 (OpenAI's rule) unless `--model` names a standard size or an open_clip
///   `open_clip_config.json` lies beside the file (then its `model_cfg` gives heads and
///   `quick_gelu`, and its `preprocess_cfg` the normalisation). Activation: QuickGELU
///   (OpenAI's), or what `open_clip_config.json` says.
/// - Hugging Face `CLIPModel` (`vision_model.*`, `text_model.*`, `visual_projection`,
///   `text_projection`, `logit_scale`): a folder with `model.safetensors` and `config.json`
///   (and optionally `preprocessor_config.json`), or a `model.safetensors` file in such a folder.
///
/// Both are renamed in one step to canonical names (`vision.layers.N.qkv` / `.q` `.k` `.v`,
/// ...), then `CLIPModel.build` takes every tensor with a shape check; any tensor left over
/// is an error naming it. Position-id buffers and OpenAI's `input_resolution`,
/// `context_length`, `vocab_size` and `attn_mask` entries are dropped.
public enum CLIPLoader {
    public enum Layout: String, Sendable {
        case openAI, huggingFace
    }

    /// `weights`: a `.safetensors` file or a folder (see the type's notes). `name`: the `--model`
    /// name the sizes must be (`clip-vit-b-32`, ...), `clip` or nil for any size (the name is
    /// then the standard one the sizes match, or `clip (custom)`). `bpe`: the
    /// `bpe_simple_vocab_16e6.txt.gz` merges (or the same text uncompressed).
    public static func load(weights: URL, name: String?, bpe: URL) throws -> CLIPModel {
        if let name, name != "clip", CLIPConfig.standard(name) == nil {
            throw VisionError("unknown CLIP model '\(name)'; known: \(CLIPConfig.standardNames.joined(separator: ", ")), or clip for any size")
        }
        let files = try open(weights)
        let checkpoint = files.checkpoint
        let keys = checkpoint.tensorNames
        let layout: Layout
        if keys.contains(where: { $0.hasPrefix("vision_model.") || $0.hasPrefix("text_model.") }) {
            layout = .huggingFace
        } else if keys.contains(where: { $0.hasPrefix("visual.") }) || keys.contains("token_embedding.weight") {
            layout = .openAI
        } else {
            throw WeightFileError(path: checkpoint.path, "not CLIP weights: they look like \(checkpoint.layoutGuess)")
        }
        let keyMap = layout == .openAI ? KeyMap.openAI : KeyMap.huggingFace
        let model = name ?? "clip"
        var w = try CheckedTensors(checkpoint, model: model, rename: keyMap.canonical, inverse: keyMap.fileName)

        // The sizes: Hugging Face's config.json, else the shapes (+ open_clip_config.json).
        var config: CLIPConfig
        var configPath = checkpoint.path
        var headsKnown = true
        var openCLIP: [String: Any]? = nil
        if layout == .openAI, let file = files.openCLIPConfig {
            guard let cfg = file.object["model_cfg"] as? [String: Any] else {
                throw WeightFileError(path: file.path, "no 'model_cfg' object (not an open_clip_config.json?)")
            }
            openCLIP = cfg
            configPath = file.path
        }
        if layout == .huggingFace {
            guard let file = checkpoint.config else {
                throw WeightFileError(path: checkpoint.path, "Hugging Face CLIP weights need their config.json beside model.safetensors (in a folder passed as the weights)")
            }
            config = try huggingFaceConfig(file)
            configPath = file.path
        } else {
            (config, headsKnown) = try inferConfig(&w, openCLIP: openCLIP, configPath: configPath)
            if let cfg = openCLIP {
                let quick = cfg["quick_gelu"] as? Bool ?? false   // open_clip's default is nn.GELU
                config.visionConfig.hiddenAct = quick ? "quick_gelu" : "gelu"
                config.textConfig.hiddenAct = config.visionConfig.hiddenAct
            }
        }

        // --model: the sizes must be the named ones (heads the file cannot tell are taken from it).
        func matches(_ candidate: CLIPConfig) -> Bool {
            var c = config
            if !headsKnown {
                c.visionConfig.numAttentionHeads = candidate.visionConfig.numAttentionHeads
                c.textConfig.numAttentionHeads = candidate.textConfig.numAttentionHeads
            }
            return candidate.sameArchitecture(c)
        }
        let lookalike = CLIPConfig.standardNames.first { matches(CLIPConfig.standard($0)!) }
        let displayName: String
        if let name, let want = CLIPConfig.standard(name) {
            guard matches(want) else {
                if let lookalike {
                    throw WeightFileError(path: checkpoint.path, "weights look like \(lookalike) but --model \(name) was given (\(config.summary)); pass --model \(lookalike)")
                }
                throw WeightFileError(path: checkpoint.path, "weights are a CLIP with \(config.summary), not \(name) (\(want.summary)); pass --model clip to load any size")
            }
            displayName = name
        } else {
            displayName = lookalike ?? "clip (custom)"
        }
        if !headsKnown, let standard = lookalike.flatMap(CLIPConfig.standard) {
            config.visionConfig.numAttentionHeads = standard.visionConfig.numAttentionHeads
            config.textConfig.numAttentionHeads = standard.textConfig.numAttentionHeads
        }

        let tokenizer = try loadTokenizer(bpe: bpe)
        guard tokenizer.vocabularySize <= config.textConfig.vocabSize else {
            throw WeightFileError(path: checkpoint.path, "the text tower embeds \(config.textConfig.vocabSize) tokens, but the tokenizer (\(bpe.path)) makes ids up to \(tokenizer.vocabularySize - 1)")
        }
        let preprocessing = try (layout == .huggingFace
            ? imageProcessor(checkpoint.preprocessorConfig)
            : openCLIPPreprocessing(files.openCLIPConfig)) ?? CLIPModel.defaultPreprocessing(imageSize: config.visionConfig.imageSize)
        let size = config.visionConfig.imageSize
        guard preprocessing.cropWidth == size, preprocessing.cropHeight == size else {
            throw WeightFileError(path: checkpoint.preprocessorConfig?.path ?? files.openCLIPConfig?.path ?? checkpoint.path,
                                  "preprocessing makes \(preprocessing.cropWidth)x\(preprocessing.cropHeight) images, the model needs \(size)x\(size)")
        }
        return try CLIPModel.build(&w, name: displayName, config: config, preprocessing: preprocessing, tokenizer: tokenizer,
                                   argmaxPooling: layout == .openAI, configPath: configPath)
    }

    /// The tokenizer of a merges file (`.gz` or plain text).
    public static func loadTokenizer(bpe: URL) throws -> CLIPTokenizer {
        let data: Data
        do { data = try Data(contentsOf: bpe) } catch {
            throw WeightFileError(path: bpe.path, "cannot read the CLIP BPE merges: \(error.localizedDescription) (run scripts/fetch-models clip-bpe)")
        }
        var bytes = [UInt8](data)
        if Deflate.isGzip(bytes) {
            do { bytes = try Deflate.gunzip(bytes, path: bpe.path) } catch let e as WeightFileError {
                throw WeightFileError(path: e.path, "\(e.problem) (fetch it again: scripts/fetch-models clip-bpe)")
            }
        }
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            throw WeightFileError(path: bpe.path, "the BPE merges are not UTF-8 text")
        }
        return try CLIPTokenizer(mergesText: text, source: bpe.path)
    }

    // MARK: files

    struct Files {
        var checkpoint: VisionCheckpoint
        var openCLIPConfig: VisionCheckpoint.JSONFile?
    }

    static func open(_ weights: URL) throws -> Files {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: weights.path, isDirectory: &isDir) else {
            throw WeightFileError(path: weights.path, "no such file or folder (pass a .safetensors file or a folder with model.safetensors)")
        }
        var file = weights
        if isDir.boolValue {
            let candidates = ["model.safetensors", "open_clip_model.safetensors"].map { weights.appendingPathComponent($0) }
            guard let found = candidates.first(where: { fm.fileExists(atPath: $0.path) }) else {
                let other = (try? fm.contentsOfDirectory(atPath: weights.path))?.first { [".bin", ".pt", ".pth"].contains(where: $0.hasSuffix) }
                let hint = other.map { " (found \($0): convert it with scripts/torch_legacy.py \($0) model.safetensors)" } ?? ""
                throw WeightFileError(path: weights.path, "no model.safetensors or open_clip_model.safetensors in this folder\(hint)")
            }
            file = found
        } else if weights.pathExtension != "safetensors" {
            let hint = ["pth", "pt", "bin", "ckpt"].contains(weights.pathExtension)
                ? ": a PyTorch checkpoint; convert it first with scripts/torch_legacy.py \(weights.lastPathComponent) model.safetensors"
                : ": expected a .safetensors file or a folder with model.safetensors"
            throw WeightFileError(path: weights.path, "not a safetensors file\(hint)")
        }
        let st = try SafeTensorsFile(path: file.path)
        let folder = file.deletingLastPathComponent()
        let openCLIP = try VisionLoader.readJSON(folder.appendingPathComponent("open_clip_config.json"))
        // config.json and preprocessor_config.json belong to a Hugging Face folder's model.safetensors.
        guard file.lastPathComponent == "model.safetensors" else {
            return Files(checkpoint: VisionCheckpoint(file: st, config: nil, preprocessorConfig: nil), openCLIPConfig: openCLIP)
        }
        return Files(checkpoint: VisionCheckpoint(
            file: st,
            config: try VisionLoader.readJSON(folder.appendingPathComponent("config.json")),
            preprocessorConfig: try VisionLoader.readJSON(folder.appendingPathComponent("preprocessor_config.json"))),
            openCLIPConfig: openCLIP)
    }

    // MARK: configs

    /// `config.json` of a transformers `CLIPModel`; the `text_config_dict` / `vision_config_dict`
    /// of older files override `text_config` / `vision_config`, as transformers does.
    static func huggingFaceConfig(_ file: VisionCheckpoint.JSONFile) throws -> CLIPConfig {
        var o = file.object
        if let t = o["model_type"] as? String, t != "clip" {
            throw WeightFileError(path: file.path, "model_type is '\(t)', not 'clip' (a full CLIPModel checkpoint is needed)")
        }
        for (key, dictKey) in [("text_config", "text_config_dict"), ("vision_config", "vision_config_dict")] {
            if let extra = o[dictKey] as? [String: Any] {
                var base = o[key] as? [String: Any] ?? [:]
                base.merge(extra) { $1 }
                o[key] = base
            }
        }
        let data = try JSONSerialization.data(withJSONObject: o)
        return try VisionCheckpoint.JSONFile(path: file.path, data: data, object: o).decode(CLIPConfig.self, what: "CLIP")
    }

    /// Sizes from the shapes (OpenAI's `build_model`), heads from `open_clip_config.json`
    /// when given, else width / 64 (reported as not known).
    static func inferConfig(_ w: inout CheckedTensors, openCLIP: [String: Any]?, configPath: String) throws -> (CLIPConfig, headsKnown: Bool) {
        let patch = try w.shape("vision.patch.weight", rank: 4)
        let d = patch[0]
        let vLayers = try w.count(under: "vision.layers.", what: "vision transformer layers")
        let vMLP = try w.shape("vision.layers.0.fc1.weight", rank: 2)[0]
        let positions = try w.shape("vision.positions", rank: 2)[0]
        let grid = Int(Double(max(positions - 1, 0)).squareRoot().rounded())
        guard grid > 0, grid * grid + 1 == positions else {
            throw WeightFileError(path: w.path, "'\(w.display("vision.positions"))' has \(positions) positions: not a class token plus a square grid")
        }
        let tokens = try w.shape("text.tokens", rank: 2)
        let dt = tokens[1]
        let context = try w.shape("text.positions", rank: 2)[0]
        let tLayers = try w.count(under: "text.layers.", what: "text transformer layers")
        let tMLP = try w.shape("text.layers.0.fc1.weight", rank: 2)[0]
        let embed = w.has("text.projectionT") ? try w.shape("text.projectionT", rank: 2)[1] : try w.shape("text.projection", rank: 2)[0]
        var vHeads = max(1, d / 64), tHeads = max(1, dt / 64)
        var known = false
        if let cfg = openCLIP {
            let vision = cfg["vision_cfg"] as? [String: Any] ?? [:], text = cfg["text_cfg"] as? [String: Any] ?? [:]
            let headWidth = (vision["head_width"] as? NSNumber)?.intValue ?? 64
            guard headWidth > 0 else { throw WeightFileError(path: configPath, "vision_cfg.head_width \(headWidth) is not positive") }
            vHeads = max(1, d / headWidth)
            tHeads = (text["heads"] as? NSNumber)?.intValue ?? 8   // open_clip's CLIPTextCfg default
            known = true
        }
        let vision = CLIPVisionConfig(hiddenSize: d, intermediateSize: vMLP, numHiddenLayers: vLayers, numAttentionHeads: vHeads,
                                      imageSize: grid * patch[2], patchSize: patch[2])
        var text = CLIPTextConfig(vocabSize: tokens[0], hiddenSize: dt, intermediateSize: tMLP, numHiddenLayers: tLayers,
                                  numAttentionHeads: tHeads, maxPositionEmbeddings: context)
        text.eosTokenId = tokens[0] - 1
        return (CLIPConfig(visionConfig: vision, textConfig: text, projectionDim: embed), known)
    }

    /// Hugging Face `CLIPImageProcessor` (`preprocessor_config.json`); nil when absent.
    static func imageProcessor(_ file: VisionCheckpoint.JSONFile?) throws -> VisionPreprocessing? {
        guard let file else { return nil }
        let o = file.object
        func size(_ v: Any?, _ key: String) throws -> (h: Int, w: Int, shortest: Bool)? {
            if let n = (v as? NSNumber)?.intValue { return (n, n, key == "size") }
            guard let d = v as? [String: Any] else { return nil }
            if let s = (d["shortest_edge"] as? NSNumber)?.intValue { return (s, s, true) }
            if let h = (d["height"] as? NSNumber)?.intValue, let w = (d["width"] as? NSNumber)?.intValue { return (h, w, false) }
            throw WeightFileError(path: file.path, "'\(key)' \(d) is not {shortest_edge}, {height, width} or a number")
        }
        let resample = (o["resample"] as? NSNumber)?.intValue ?? 3
        guard let filter = PreprocessorConfig.filter(pil: resample) else {
            throw WeightFileError(path: file.path, "resample \(resample) is not supported (0 nearest, 2 bilinear, 3 bicubic)")
        }
        if o["do_normalize"] as? Bool == false || o["do_resize"] as? Bool == false {
            throw WeightFileError(path: file.path, "do_normalize / do_resize false is not supported")
        }
        let mean = PreprocessorConfig.floats(o["image_mean"]) ?? CLIPModel.imageMean
        let std = PreprocessorConfig.floats(o["image_std"]) ?? CLIPModel.imageStd
        let resize = try size(o["size"], "size") ?? (224, 224, true)
        let crop = (o["do_center_crop"] as? Bool ?? true) ? try size(o["crop_size"], "crop_size") ?? (224, 224, false) : nil
        if resize.shortest {
            let c = crop ?? (resize.h, resize.h, false)
            return VisionPreprocessing(resizeShorterSide: resize.h, filter: filter, cropWidth: c.w, cropHeight: c.h, mean: mean, std: std)
        }
        if let crop, crop.h != resize.h || crop.w != resize.w {
            throw WeightFileError(path: file.path, "a center crop after a {height, width} resize is not supported")
        }
        return VisionPreprocessing(resizeShorterSide: min(resize.h, resize.w), filter: filter, cropWidth: resize.w,
                                   cropHeight: resize.h, mean: mean, std: std, resizeExact: true)
    }

    /// open_clip's `preprocess_cfg` (mean, std, interpolation, resize_mode) at the model's
    /// image size; nil without `open_clip_config.json`.
    static func openCLIPPreprocessing(_ file: VisionCheckpoint.JSONFile?) throws -> VisionPreprocessing? {
        guard let file else { return nil }
        let model = file.object["model_cfg"] as? [String: Any] ?? [:]
        let vision = model["vision_cfg"] as? [String: Any] ?? [:]
        let size = (vision["image_size"] as? NSNumber)?.intValue ?? 224
        let cfg = file.object["preprocess_cfg"] as? [String: Any] ?? [:]
        let interpolation = cfg["interpolation"] as? String ?? "bicubic"
        guard let filter = VisionPreprocessing.Filter(rawValue: interpolation) else {
            throw WeightFileError(path: file.path, "preprocess_cfg interpolation '\(interpolation)' is not supported")
        }
        let mode = cfg["resize_mode"] as? String ?? "shortest"
        guard mode == "shortest" || mode == "squash" else {
            throw WeightFileError(path: file.path, "preprocess_cfg resize_mode '\(mode)' is not supported (shortest, squash)")
        }
        return VisionPreprocessing(resizeShorterSide: size, filter: filter, cropWidth: size, cropHeight: size,
                                   mean: PreprocessorConfig.floats(cfg["mean"]) ?? CLIPModel.imageMean,
                                   std: PreprocessorConfig.floats(cfg["std"]) ?? CLIPModel.imageStd,
                                   resizeExact: mode == "squash")
    }

    // MARK: key names

    /// File names <-> canonical names: whole names and prefixes outside the blocks, prefixes
    /// inside a block (`<layers>.N.<inner>`).
    struct KeyMap: Sendable {
        var names: [(file: String, canonical: String)]      // exact, or prefixes ending in "."
        var layers: [(file: String, canonical: String)]     // "...resblocks." -> "vision.layers."
        var inner: [(file: String, canonical: String)]
        var dropped: @Sendable (String) -> Bool

        static let unknownMark = "?"

        func canonical(_ key: String) -> String? {
            if dropped(key) { return nil }
            for (f, c) in layers where key.hasPrefix(f) {
                let rest = key.dropFirst(f.count)
                guard let dot = rest.firstIndex(of: "."), Int(rest[..<dot]) != nil else { break }
                let inside = String(rest[rest.index(after: dot)...])
                for (fi, ci) in inner where inside == fi || (fi.hasSuffix(".") && inside.hasPrefix(fi)) {
                    return c + rest[...dot] + ci + inside.dropFirst(fi.count)
                }
                break
            }
            for (f, c) in names where key == f || (f.hasSuffix(".") && key.hasPrefix(f)) {
                return c + key.dropFirst(f.count)
            }
            return Self.unknownMark + key   // never a canonical name: reported as unexpected
        }

        func fileName(_ key: String) -> String {
            for (f, c) in layers where key.hasPrefix(c) {
                let rest = key.dropFirst(c.count)
                guard let dot = rest.firstIndex(of: ".") else { break }
                let inside = String(rest[rest.index(after: dot)...])
                for (fi, ci) in inner where inside == ci || (ci.hasSuffix(".") && inside.hasPrefix(ci)) {
                    return f + rest[...dot] + fi + inside.dropFirst(ci.count)
                }
            }
            for (f, c) in names where key == c || (c.hasSuffix(".") && key.hasPrefix(c)) {
                return f + key.dropFirst(c.count)
            }
            return key
        }

        static let openAI = KeyMap(
            names: [("visual.conv1.", "vision.patch."), ("visual.class_embedding", "vision.class"),
                    ("visual.positional_embedding", "vision.positions"), ("visual.ln_pre.", "vision.pre."),
                    ("visual.ln_post.", "vision.post."), ("visual.proj", "vision.projectionT"),
                    ("token_embedding.weight", "text.tokens"), ("positional_embedding", "text.positions"),
                    ("ln_final.", "text.final."), ("text_projection", "text.projectionT"), ("logit_scale", "logit_scale")],
            layers: [("visual.transformer.resblocks.", "vision.layers."), ("transformer.resblocks.", "text.layers.")],
            inner: [("attn.in_proj_weight", "qkv.weight"), ("attn.in_proj_bias", "qkv.bias"), ("attn.out_proj.", "out."),
                    ("ln_1.", "norm1."), ("ln_2.", "norm2."), ("mlp.c_fc.", "fc1."), ("mlp.c_proj.", "fc2.")],
            dropped: { ["input_resolution", "context_length", "vocab_size", "attn_mask"].contains($0) })

        static let huggingFace = KeyMap(
            names: [("vision_model.embeddings.patch_embedding.", "vision.patch."),
                    ("vision_model.embeddings.class_embedding", "vision.class"),
                    ("vision_model.embeddings.position_embedding.weight", "vision.positions"),
                    ("vision_model.pre_layrnorm.", "vision.pre."), ("vision_model.post_layernorm.", "vision.post."),
                    ("visual_projection.weight", "vision.projection"),
                    ("text_model.embeddings.token_embedding.weight", "text.tokens"),
                    ("text_model.embeddings.position_embedding.weight", "text.positions"),
                    ("text_model.final_layer_norm.", "text.final."), ("text_projection.weight", "text.projection"),
                    ("logit_scale", "logit_scale")],
            layers: [("vision_model.encoder.layers.", "vision.layers."), ("text_model.encoder.layers.", "text.layers.")],
            inner: [("self_attn.q_proj.", "q."), ("self_attn.k_proj.", "k."), ("self_attn.v_proj.", "v."),
                    ("self_attn.out_proj.", "out."), ("layer_norm1.", "norm1."), ("layer_norm2.", "norm2."),
                    ("mlp.fc1.", "fc1."), ("mlp.fc2.", "fc2.")],
            dropped: { $0.hasSuffix("position_ids") })
    }
}
