import Foundation
import TensorCore

/// Opens vision weights for `VisionModelRegistry.load`: the only place the vision models'
/// files are read.
///
/// `weights` is a `.safetensors` file or a folder with `model.safetensors`; beside a
/// `model.safetensors`, `config.json` (Hugging Face `ResNetConfig` / `ViTConfig`, or timm's
/// hub config with `pretrained_cfg`) and `preprocessor_config.json` (Hugging Face image
/// processor) are read when present. A file under another name stands alone.
public enum VisionLoader {
    public static func open(_ weights: URL) throws -> VisionCheckpoint {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: weights.path, isDirectory: &isDir) else {
            throw WeightFileError(path: weights.path, "no such file or folder (pass a .safetensors file or a folder with model.safetensors)")
        }
        let file: URL, folder: URL
        if isDir.boolValue {
            folder = weights
            file = weights.appendingPathComponent("model.safetensors")
            guard fm.fileExists(atPath: file.path) else {
                if fm.fileExists(atPath: weights.appendingPathComponent("model.safetensors.index.json").path) {
                    throw WeightFileError(path: weights.path, "sharded safetensors checkpoints are not supported; merge the shards into one model.safetensors")
                }
                let pth = (try? fm.contentsOfDirectory(atPath: weights.path))?.first { $0.hasSuffix(".pth") || $0.hasSuffix(".bin") || $0.hasSuffix(".pt") }
                let hint = pth.map { " (found \($0): convert it with scripts/torch_legacy.py \($0) model.safetensors)" } ?? ""
                throw WeightFileError(path: weights.path, "no model.safetensors in this folder\(hint)")
            }
        } else {
            file = weights
            folder = weights.deletingLastPathComponent()
            if weights.pathExtension != "safetensors" {
                let hint = ["pth", "pt", "bin", "ckpt"].contains(weights.pathExtension)
                    ? ": a PyTorch checkpoint; convert it first with scripts/torch_legacy.py \(weights.lastPathComponent) model.safetensors"
                    : ": expected a .safetensors file or a folder with model.safetensors"
                throw WeightFileError(path: weights.path, "not a safetensors file\(hint)")
            }
        }
        let st = try SafeTensorsFile(path: file.path)
        // The JSON files belong to a checkpoint folder's model.safetensors; a file under any
        // other name stands alone (an unrelated config.json beside it is not read).
        guard file.lastPathComponent == "model.safetensors" else {
            return VisionCheckpoint(file: st, config: nil, preprocessorConfig: nil)
        }
        return VisionCheckpoint(
            file: st,
            config: try readJSON(folder.appendingPathComponent("config.json")),
            preprocessorConfig: try readJSON(folder.appendingPathComponent("preprocessor_config.json")))
    }

    static func readJSON(_ url: URL) throws -> VisionCheckpoint.JSONFile? {
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw WeightFileError(path: url.path, "not a JSON object")
        }
        return VisionCheckpoint.JSONFile(path: url.path, data: data, object: object)
    }
}

/// An opened vision checkpoint: the tensors (by name and shape) and the JSON files beside them.
public struct VisionCheckpoint: @unchecked Sendable {
    public struct JSONFile: @unchecked Sendable {
        public let path: String
        public let data: Data
        public let object: [String: Any]

        /// Decodes a `Codable` config; a missing or mistyped key becomes an error naming this file.
        func decode<T: Decodable>(_ type: T.Type, what: String) throws -> T {
            do {
                return try JSONDecoder().decode(T.self, from: data)
            } catch DecodingError.keyNotFound(let key, _) {
                throw WeightFileError(path: path, "not a \(what) config: no '\(key.stringValue)'")
            } catch DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c), DecodingError.dataCorrupted(let c) {
                let at = c.codingPath.map(\.stringValue).joined(separator: ".")
                throw WeightFileError(path: path, "not a \(what) config: '\(at)': \(c.debugDescription)")
            }
        }
    }

    public let file: SafeTensorsFile
    public let config: JSONFile?
    public let preprocessorConfig: JSONFile?

    public var path: String { file.path }
    public var tensorNames: [String] { Array(file.entries.keys) }

    /// What the tensor names look like, for "these weights are not a ..." errors.
    var layoutGuess: String {
        let keys = Set(file.entries.keys)
        func has(_ k: String) -> Bool { keys.contains(k) }
        func hasPrefix(_ p: String) -> Bool { keys.contains { $0.hasPrefix(p) } }
        if has("_conv_stem.weight") { return "an EfficientNet (EfficientNet-PyTorch layout)" }
        if hasPrefix("resnet.embedder.") || hasPrefix("embedder.embedder.") { return "a ResNet (Hugging Face layout)" }
        if has("conv1.weight") && hasPrefix("layer1.") { return "a ResNet (torchvision layout)" }
        if hasPrefix("vit.embeddings.") || hasPrefix("embeddings.patch_embeddings.") { return "a ViT (Hugging Face layout)" }
        if has("patch_embed.proj.weight") { return "a ViT (timm layout)" }
        if hasPrefix("vision_model.") || hasPrefix("visual.") { return "a CLIP model" }
        if hasPrefix("encoder.layer.") || hasPrefix("bert.") { return "a BERT-style text encoder" }
        let sample = keys.sorted().prefix(3).map { "'\($0)'" }.joined(separator: ", ")
        return "an unknown model (tensors like \(sample))"
    }
}

extension CheckedTensors {
    /// The tensors of a vision checkpoint under sanitised names, worded for `model`.
    /// `rename` maps a file name to the model's name, nil to drop the tensor; `inverse` maps
    /// a model name back to the file's naming, for tensors the file does not have.
    ///
    /// - Important: BatchNorm `num_batches_tracked` counters are dropped (training state);
    ///   everything else must be used by the model.
    init(_ checkpoint: VisionCheckpoint, model: String, rename: (String) -> String?,
         inverse: @escaping (String) -> String = { $0 }) throws {
        try self.init(checkpoint.file, rename: { $0.hasSuffix("num_batches_tracked") ? nil : rename($0) }, inverse: inverse,
                      wording: Wording(
                        owner: model,
                        missing: " for \(model): the file is incomplete or holds a different variant of the model",
                        absent: " (not a \(model) checkpoint?)",
                        expected: { "\(model) expects \($0): the weights are for a different size or variant (check --model and config.json)" },
                        unexpected: ": the weights hold parts this loader does not know (a different variant of the architecture, or a training checkpoint with extra state)"))
    }
}

/// Preprocessing named by a Hugging Face `preprocessor_config.json` (`ViTImageProcessor`,
/// `ConvNextImageProcessor`) or timm's `config.json` `pretrained_cfg`; nil when there is none.
enum PreprocessorConfig {
    static func filter(pil resample: Int?) -> VisionPreprocessing.Filter? {
        switch resample {
        case 0: return .nearest
        case 2: return .bilinear
        case 3: return .bicubic
        default: return nil
        }
    }

    static func floats(_ v: Any?) -> [Float]? {
        guard let a = v as? [Any], a.count == 3 else { return nil }
        let f = a.compactMap { ($0 as? NSNumber)?.floatValue }
        return f.count == 3 ? f : nil
    }

    /// Hugging Face image processor config; nil when absent.
    static func huggingFace(_ file: VisionCheckpoint.JSONFile?) throws -> VisionPreprocessing? {
        guard let file else { return nil }
        let o = file.object
        let mean = floats(o["image_mean"]) ?? [0.5, 0.5, 0.5]
        let std = floats(o["image_std"]) ?? [0.5, 0.5, 0.5]
        let resample = (o["resample"] as? NSNumber)?.intValue ?? 2
        guard let filter = filter(pil: resample) else {
            throw WeightFileError(path: file.path, "resample \(resample) is not supported (0 nearest, 2 bilinear, 3 bicubic)")
        }
        if let doNormalize = o["do_normalize"] as? Bool, !doNormalize {
            throw WeightFileError(path: file.path, "do_normalize false is not supported")
        }
        let size = o["size"]
        if let s = size as? [String: Any], let shortest = (s["shortest_edge"] as? NSNumber)?.intValue {
            // ConvNextImageProcessor: below 384, shorter side to int(shortest / crop_pct), crop.
            let cropPct = (o["crop_pct"] as? NSNumber)?.doubleValue ?? (224.0 / 256.0)
            if shortest >= 384 {
                return VisionPreprocessing(resizeShorterSide: shortest, filter: filter, cropWidth: shortest, cropHeight: shortest,
                                           mean: mean, std: std, resizeExact: true)
            }
            return .centerCrop(size: shortest, cropFraction: cropPct, filter: filter, mean: mean, std: std)
        }
        var height = 224, width = 224
        if let s = size as? [String: Any], let h = (s["height"] as? NSNumber)?.intValue, let w = (s["width"] as? NSNumber)?.intValue {
            (height, width) = (h, w)
        } else if let s = (size as? NSNumber)?.intValue {
            (height, width) = (s, s)
        } else if size != nil {
            throw WeightFileError(path: file.path, "'size' \(size!) is not {height, width}, {shortest_edge} or a number")
        }
        if o["do_center_crop"] as? Bool == true {
            throw WeightFileError(path: file.path, "do_center_crop after a {height, width} resize is not supported")
        }
        return VisionPreprocessing(resizeShorterSide: min(height, width), filter: filter, cropWidth: width, cropHeight: height,
                                   mean: mean, std: std, resizeExact: true)
    }

    /// timm `pretrained_cfg` (`input_size`, `interpolation`, `crop_pct`, `crop_mode`, `mean`, `std`).
    static func timm(_ cfg: [String: Any], path: String) throws -> VisionPreprocessing? {
        guard let input = cfg["input_size"] as? [Any], input.count == 3,
              let h = (input[1] as? NSNumber)?.intValue, let w = (input[2] as? NSNumber)?.intValue else { return nil }
        let interpolation = cfg["interpolation"] as? String ?? "bicubic"
        guard let filter = VisionPreprocessing.Filter(rawValue: interpolation) else {
            throw WeightFileError(path: path, "pretrained_cfg interpolation '\(interpolation)' is not supported")
        }
        if let mode = cfg["crop_mode"] as? String, mode != "center" {
            throw WeightFileError(path: path, "pretrained_cfg crop_mode '\(mode)' is not supported (only center)")
        }
        let pct = (cfg["crop_pct"] as? NSNumber)?.doubleValue ?? 0.875
        let mean = floats(cfg["mean"]) ?? VisionPreprocessing.imagenetMean
        let std = floats(cfg["std"]) ?? VisionPreprocessing.imagenetStd
        // timm's transforms_factory: scale_size = floor(img_size / crop_pct) for square inputs.
        let scale = Int((Double(min(h, w)) / pct).rounded(.down))
        return VisionPreprocessing(resizeShorterSide: scale, filter: filter, cropWidth: w, cropHeight: h, mean: mean, std: std)
    }
}
