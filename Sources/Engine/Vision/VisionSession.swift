import Foundation
import Media
import Models
import TensorCore

/// The pixels of one input, ready for an encoder: one row for an image, one per sampled
/// frame for a video (with its time in seconds).
public struct PreparedPixels: Sendable {
    public var pixels: Tensor              // [n, 3, H, W]
    public var times: [Double]?            // video frames only
    public var rows: Int { pixels.shape[0] }
}

/// A loaded image encoder and the preprocessing its reference uses: decode → resize/crop/
/// normalise (Media, Pillow-exact) → batched forward passes.
public final class VisionSession: @unchecked Sendable {
    public let encoder: any VisionEncoder
    public let preprocess: ImagePreprocess
    /// The whole CLIP model when `encoder` is CLIP's image tower (its text tower serves labels).
    public let clip: CLIPModel?

    public static func isCLIP(_ name: String) -> Bool { name == "clip" || CLIPConfig.standardNames.contains(name) }

    /// CLIP weights: `--weights`, else `<models dir>/<name>/` (written by `mmpipe models fetch <name>`).
    public static func loadCLIP(model: String, weights: String?, store: ModelStore) throws -> CLIPModel {
        let url: URL
        if let weights {
            url = URL(fileURLWithPath: weights)
        } else {
            url = store.directory.appendingPathComponent(model)
            guard FileManager.default.fileExists(atPath: url.appendingPathComponent("model.safetensors").path) else {
                throw ItemFailure(path: model, reason: "no CLIP weights here: fetch them with `mmpipe models fetch \(model)` (Hugging Face \(HubDownloader.knownRepositories[model] ?? "openai/clip-*")) or pass --weights with a Hugging Face folder or an open_clip/OpenAI state dict as .safetensors")
            }
        }
        let bpe = CLIPLoader.defaultBPE(modelsDirectory: store.directory)
        guard FileManager.default.fileExists(atPath: bpe.path) else {
            throw ItemFailure(path: bpe.path, reason: "CLIP's BPE vocabulary is missing; fetch it with: \(ModelStore.fetchCommand("clip-bpe"))")
        }
        do {
            return try CLIPLoader.load(weights: url, name: model == "clip" ? nil : model, bpe: bpe)
        } catch {
            throw ItemFailure(path: url.path, error: error)
        }
    }

    /// The first CLIP model whose weights `mmpipe models fetch` installed, if any.
    public static func installedCLIP(store: ModelStore) -> String? {
        CLIPConfig.standardNames.first {
            FileManager.default.fileExists(atPath: store.directory.appendingPathComponent("\($0)/model.safetensors").path)
        }
    }

    static func loadVision(model: String, weights: String?, store: ModelStore) throws -> any VisionEncoder {
        guard VisionModelRegistry.family(of: model) != nil else {
            throw ItemFailure(path: model, reason: "unknown model; image models: \((VisionModelRegistry.names + CLIPConfig.standardNames).joined(separator: ", "))")
        }
        let url: URL
        if let weights {
            guard FileManager.default.fileExists(atPath: weights) else {
                throw ItemFailure(path: weights, reason: "no such file or folder (--weights takes a .safetensors file or a Hugging Face model folder with config.json and model.safetensors)")
            }
            url = URL(fileURLWithPath: weights)
        } else if let fetched = VisionModelRegistry.fetchedWeights(name: model, modelsDirectory: store.directory) {
            guard FileManager.default.fileExists(atPath: fetched.path) else {
                throw ItemFailure(path: fetched.path, reason: "the \(model) weights are not here; fetch them with: \(ModelStore.fetchCommand(model))")
            }
            url = fetched
        } else if FileManager.default.fileExists(atPath: store.directory.appendingPathComponent("\(model)/model.safetensors").path) {
            url = store.directory.appendingPathComponent(model)          // from `mmpipe models fetch`
        } else {
            throw ItemFailure(path: model, reason: VisionSession.whereWeightsComeFrom(model))
        }
        do {
            return try VisionModelRegistry.load(name: model, weights: url)
        } catch let e as VisionError {
            throw ItemFailure(path: url.path, reason: e.description)
        }
    }

    public var modelName: String { encoder.name }

    /// The model names `--model` takes for image encoders.
    public static var modelNames: [String] { VisionModelRegistry.names }
    public static let defaultModel = "efficientnet-lite0"

    /// Loads `model` from `weights` (a `.safetensors` file or a Hugging Face folder), or, for
    /// a model the fetch script installs (efficientnet-lite0), from the model store.
    public init(model: String, weights: String?, store: ModelStore) throws {
        if VisionSession.isCLIP(model) {
            let clip = try VisionSession.loadCLIP(model: model, weights: weights, store: store)
            encoder = CLIPImageEncoder(clip)
            self.clip = clip
        } else {
            encoder = try VisionSession.loadVision(model: model, weights: weights, store: store)
            clip = nil
        }
        preprocess = encoder.preprocessing
    }

    /// What to tell a user who named a model whose weights do not install here.
    static func whereWeightsComeFrom(_ model: String) -> String {
        switch VisionModelRegistry.family(of: model) {
        case .resnet:
            return "\(model) needs weights: pass --weights with a Hugging Face folder (e.g. microsoft/\(model.replacingOccurrences(of: "resnet", with: "resnet-")) from huggingface.co: config.json + model.safetensors) or a torchvision \(model) state dict saved as .safetensors"
        case .vit:
            return "\(model) needs weights: pass --weights with a Hugging Face folder (google/vit-* from huggingface.co: config.json + model.safetensors) or a timm checkpoint's model.safetensors"
        default:
            return "\(model) needs weights: pass --weights with a .safetensors file or a model folder"
        }
    }

    /// Decodes and preprocesses one input: an image, or a video's frames sampled at `fps`
    /// (at most `maxFrames`).
    public func prepare(path: String, fps: Double, maxFrames: Int = 100_000, limits: DecodeLimits = .default) throws -> PreparedPixels {
        if MediaFormat.hasExtension(path, of: [.video]) {
            let reader = try VideoReader(path: path, limits: limits)
            var images: [RGBImage] = [], times: [Double] = []
            while images.count < maxFrames, let frame = try reader.next(fps: fps) {
                images.append(preprocess.crop(frame.image))
                times.append(frame.time)
            }
            guard !images.isEmpty else { throw ItemFailure(path: path, reason: "no video frame decoded") }
            return PreparedPixels(pixels: ImageTransforms.batch(images, mean: preprocess.mean, std: preprocess.std), times: times)
        }
        let image = try ImageDecoder.decode(path: path, limits: limits)
        return PreparedPixels(pixels: preprocess.apply(image).unsqueezed(0), times: nil)
    }

    /// Runs the encoder over `inputs` (rows of all of them together, `batchSize` rows per
    /// forward pass) and returns each input's features in order.
    public func encode(_ inputs: [PreparedPixels], batchSize: Int) throws -> [VisionFeatures] {
        let all = Tensor.concat(inputs.map(\.pixels), axis: 0)
        let n = all.shape[0]
        var pooled: [Tensor] = [], logits: [Tensor] = []
        var start = 0
        while start < n {
            let end = min(n, start + max(1, batchSize))
            let f = try encoder.features(all.slice(axis: 0, start..<end).contiguous())
            pooled.append(f.pooled)
            if let l = f.logits { logits.append(l) }
            start = end
        }
        let p = Tensor.concat(pooled, axis: 0)
        let l = logits.count == pooled.count && !logits.isEmpty ? Tensor.concat(logits, axis: 0) : nil
        var out: [VisionFeatures] = []
        var row = 0
        for input in inputs {
            let r = row..<(row + input.rows)
            out.append(VisionFeatures(pooled: p.slice(axis: 0, r).contiguous(), logits: l?.slice(axis: 0, r).contiguous()))
            row += input.rows
        }
        return out
    }
}

/// The batching stage that runs a vision session: up to `maxBatch` inputs per call.
public struct VisionEncodeStage: BatchStage {
    public let session: VisionSession
    public let batchSize: Int
    public var name: String { "encode" }
    public var maxBatch: Int { batchSize }
    public var maxWait: Double { 0.05 }

    public init(session: VisionSession, batchSize: Int) {
        self.session = session
        self.batchSize = batchSize
    }

    public func process(_ batch: [PreparedPixels], items: [SourceItem]) -> [Result<(PreparedPixels, VisionFeatures), Error>] {
        do {
            let f = try session.encode(batch, batchSize: batchSize)
            return zip(batch, f).map { .success(($0, $1)) }
        } catch {
            return batch.map { _ in .failure(error) }
        }
    }
}
