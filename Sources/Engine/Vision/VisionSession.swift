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
    /// The weights file or folder loaded.
    public let weights: URL

    public static func isCLIP(_ name: String) -> Bool { ModelCatalog.standard.card(name)?.family == "clip" }

    /// CLIP weights: `--weights`, else `<models dir>/<name>/` (written by `mmpipe models fetch <name>`).
    public static func loadCLIP(model: String, weights: String?, store: ModelStore,
                                catalog: ModelCatalog = .standard) throws -> CLIPModel {
        let card = try catalog.card(model, for: [.zeroShot])
        guard card.family == "clip" else { throw CatalogError("\(model) is not a CLIP model") }
        let url = try catalog.weights(for: card, given: weights, store: store)
        let bpe = try catalog.asset("clip-bpe", file: clipBPEFile, store: store, purpose: "CLIP's BPE vocabulary is")
        do {
            return try CLIPLoader.load(weights: url, name: card.name == "clip" ? nil : card.name, bpe: bpe)
        } catch {
            throw ItemFailure(path: url.path, error: error)
        }
    }

    /// Where `scripts/fetch-models clip-bpe` puts CLIP's BPE merges in a models folder.
    public static func clipBPE(modelsDirectory: URL) -> URL {
        modelsDirectory.appendingPathComponent("clip-bpe").appendingPathComponent(clipBPEFile)
    }

    static let clipBPEFile = "bpe_simple_vocab_16e6.txt.gz"

    /// The first CLIP model whose weights `mmpipe models fetch` installed, if any.
    public static func installedCLIP(store: ModelStore, catalog: ModelCatalog = .standard) -> String? {
        catalog.cards.first { $0.family == "clip" && catalog.isPresent($0, store: store) }?.name
    }

    public var modelName: String { encoder.name }

    public static let defaultModel = "efficientnet-lite0"

    /// Loads `model` (a registered image model or CLIP) from `weights` (a `.safetensors` file
    /// or a Hugging Face folder), or from the model store where the catalog says its weights go.
    public init(model: String, weights: String?, store: ModelStore, catalog: ModelCatalog = .standard) throws {
        let card = try catalog.card(model, for: [.image, .zeroShot])
        self.weights = try catalog.weights(for: card, given: weights, store: store)
        if card.family == "clip" {
            let clip = try VisionSession.loadCLIP(model: model, weights: weights, store: store, catalog: catalog)
            encoder = CLIPImageEncoder(clip)
            self.clip = clip
        } else if card.kind == .image {
            let url = self.weights
            do {
                encoder = try VisionModelRegistry.load(name: card.name, weights: url)
            } catch let e as VisionError {
                throw ItemFailure(path: url.path, reason: e.description)
            }
            clip = nil
        } else {
            throw CatalogError("\(model) is not an image model")
        }
        preprocess = encoder.preprocessing
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
