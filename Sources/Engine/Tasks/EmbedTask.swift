import Foundation
import Models
import TensorCore

/// What to embed: images and video frames, or texts.
public struct EmbedRequest: Sendable {
    public enum Input: Sendable {
        case images(ImageInputs)
        /// Texts with where each came from (`--text #N`, `FILE:LINE`).
        case texts([(SourceItem, String)])
    }
    public enum Layer: String, Sendable, CaseIterable {
        /// The embedding.
        case pooled
        /// Class scores (models with a classifier).
        case logits
    }

    public var input: Input
    /// nil: efficientnet-lite0 for images, all-minilm-l6-v2 for texts.
    public var model: String?
    public var weights: String?
    public var layer = Layer.pooled

    public init(input: Input) { self.input = input }
}

/// One input's feature rows (`[n, D]`: a row per image, per sampled frame), with the fields
/// each row's manifest line carries (a frame's time, a text).
public struct EmbeddingRecord: Sendable {
    public let rows: Tensor
    public let fields: [RowFields]
}

/// Embeddings of images, video frames or texts: one entry point whatever the modality.
public final class EmbedTask: @unchecked Sendable {
    public let request: EmbedRequest
    /// The name written in each manifest line (`...:logits`, `...:text` for CLIP's text tower).
    public let modelName: String
    public let dimension: Int?
    /// The model, weights and options behind every row (resume checks it).
    public let identity: RequestIdentity
    let vision: VisionSession?
    let encodeTexts: (@Sendable ([String]) -> Tensor)?

    public static let defaultImageModel = "efficientnet-lite0"
    public static let defaultTextModel = "all-minilm-l6-v2"

    public init(_ request: EmbedRequest, store: ModelStore, catalog: ModelCatalog = .standard) throws {
        self.request = request
        try request.validate()
        switch request.input {
        case .images(let images):
            try images.checkStandardInput()
            let model = request.model ?? EmbedTask.defaultImageModel
            if let card = catalog.card(model), card.kind == .text {
                let imageModels = catalog.cards(.image).map(\.name)
                throw RequestError("\(model) is a text model: embed texts with --text or --text-file, or images with an image model (\(imageModels.joined(separator: ", ")))")
            }
            let session = try VisionSession(model: model, weights: request.weights, store: store, catalog: catalog)
            if request.layer == .logits && !session.encoder.hasClassifier {
                throw RequestError("\(model): these weights have no classifier head; use --layer pooled")
            }
            vision = session
            encodeTexts = nil
            modelName = session.modelName + (request.layer == .logits ? ":logits" : "")
            dimension = nil
            identity = RequestIdentity([("task", "embed"), ("model", modelName), ("weights", RequestIdentity.weightsStamp(session.weights)),
                                        ("layer", request.layer.rawValue), ("video_fps", "\(images.fps)"), ("max_frames", "\(images.maxFrames)")])
        case .texts:
            let model = request.model ?? EmbedTask.defaultTextModel
            let textModels = catalog.cards.filter { $0.kind == .text || $0.family == "clip" }.map(\.name)
            guard let card = catalog.card(model), card.kind == .text || card.family == "clip" else {
                throw RequestError("\(model) is not a text model; text models: \(textModels.joined(separator: ", "))")
            }
            vision = nil
            let weights: URL
            if card.family == "clip" {
                // CLIP's text tower: projected, not normalised (as open_clip's encode_text).
                let clip = try VisionSession.loadCLIP(model: model, weights: request.weights, store: store, catalog: catalog)
                encodeTexts = { clip.encodeTexts($0) }
                (modelName, dimension) = (clip.name + ":text", clip.embeddingDimension)
                weights = try catalog.weights(for: card, given: request.weights, store: store)
            } else {
                let session = try TextSession(model: card.name, weights: request.weights, store: store, catalog: catalog)
                encodeTexts = { session.embed($0) }
                (modelName, dimension) = (session.modelName, session.encoder.dimension)
                weights = session.weights
            }
            identity = RequestIdentity([("task", "embed"), ("model", modelName), ("weights", RequestIdentity.weightsStamp(weights))])
        }
    }

    /// Embeds every input into `sink` (in input order).
    public func run(into sink: any ResultSink<EmbeddingRecord>, progress: Progress) throws -> JobSummary {
        switch request.input {
        case .images(let images):
            let (session, logits) = (vision!, request.layer == .logits)
            return try Runner.run(into: sink, window: images.window, progress: progress) { job, skip in
                images.encode(job, session: session, skip: skip).map("rows", workers: 1) { value, _ in
                    let (prepared, features) = value
                    return EmbeddingRecord(rows: logits ? features.logits! : features.pooled,
                                           fields: prepared.times.map { $0.map { RowFields(time: $0) } } ?? [])
                }
            }
        case .texts(let values):
            let encode = encodeTexts!
            let texts = Dictionary(values.map { ($0.0.path, $0.1) }, uniquingKeysWith: { a, _ in a })
            return try Runner.run(into: sink, window: 256, progress: progress) { job, skip in
                job.source(values: values.filter { !skip($0.0) })
                    .batch(TextEncodeStage(maxBatch: 64) { encode($0) })
                    .map("rows", workers: 1) { row, item in EmbeddingRecord(rows: row, fields: [RowFields(text: texts[item.path] ?? "")]) }
            }
        }
    }
}

/// Feature rows into shards and a manifest (`FeatureShardWriter`).
public final class FeatureShardSink: ResultSink {
    public let writer: FeatureShardWriter
    public init(_ writer: FeatureShardWriter) { self.writer = writer }
    public func isDone(_ item: SourceItem) -> Bool { writer.isDone(item) }
    public func write(_ r: EmbeddingRecord, for source: SourceItem) throws {
        try writer.append(source, features: r.rows, extra: r.fields)
    }
    public func failed(_ f: ItemFailure, for source: SourceItem) throws { try writer.appendError(source, message: f.reason) }
    public func finish() throws { try writer.commit() }
}
