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
            (vision, encodeTexts, modelName, dimension, identity) = try EmbedTask.images(request, images, session: session)
        case .texts:
            let encoder = try EmbedTask.textEncoder(request.model ?? EmbedTask.defaultTextModel, weights: request.weights,
                                                    store: store, catalog: catalog)
            vision = nil
            (encodeTexts, modelName, dimension, identity) = (encoder.encode, encoder.name, encoder.dimension, encoder.identity)
        }
    }

    /// Images with an image encoder already loaded (a server's, shared by its requests).
    public init(images: ImageInputs, session: VisionSession, layer: EmbedRequest.Layer = .pooled) throws {
        var r = EmbedRequest(input: .images(images))
        r.model = session.modelName
        r.layer = layer
        request = r
        try r.validate()
        (vision, encodeTexts, modelName, dimension, identity) = try EmbedTask.images(r, images, session: session)
    }

    private static func images(_ request: EmbedRequest, _ images: ImageInputs, session: VisionSession) throws
        -> (VisionSession?, (@Sendable ([String]) -> Tensor)?, String, Int?, RequestIdentity) {
        if request.layer == .logits && !session.encoder.hasClassifier {
            throw RequestError("\(session.modelName): these weights have no classifier head; use --layer pooled")
        }
        let name = session.modelName + (request.layer == .logits ? ":logits" : "")
        return (session, nil, name, nil,
                RequestIdentity([("task", "embed"), ("model", name), ("weights", RequestIdentity.weightsStamp(session.weights)),
                                 ("layer", request.layer.rawValue), ("video_fps", "\(images.fps)"), ("max_frames", "\(images.maxFrames)")]))
    }

    /// Texts with an encoder already loaded (a server's, shared by its requests).
    public init(texts: [(SourceItem, String)], encoder: TextEncoder) {
        var r = EmbedRequest(input: .texts(texts))
        r.model = encoder.model
        request = r
        vision = nil
        (encodeTexts, modelName, dimension, identity) = (encoder.encode, encoder.name, encoder.dimension, encoder.identity)
    }

    /// A loaded text encoder: a sentence encoder (all-minilm-l6-v2) or CLIP's text tower.
    public struct TextEncoder: Sendable {
        /// Rows `[n, dimension]`, one per text.
        public let encode: @Sendable ([String]) -> Tensor
        /// As the manifest names it (`clip-vit-b-32:text` for CLIP's text tower).
        public let name: String
        /// The registered model it was loaded as.
        public let model: String
        public let dimension: Int
        /// Tokens of a text as the encoder reads it (its special tokens included, cut to its
        /// longest input): what OpenAI's `usage` counts.
        public let tokenCount: @Sendable (String) -> Int
        /// The weights it was loaded from (a file or a model folder).
        public let weights: URL
        let identity: RequestIdentity
    }

    /// Loads the text encoder `model` (a text model, or a CLIP model's text tower).
    public static func textEncoder(_ model: String, weights given: String? = nil, store: ModelStore,
                                   catalog: ModelCatalog = .standard) throws -> TextEncoder {
        let textModels = catalog.cards.filter { $0.kind == .text || $0.family == "clip" }.map(\.name)
        guard let card = catalog.card(model), card.kind == .text || card.family == "clip" else {
            throw RequestError("\(model) is not a text model; text models: \(textModels.joined(separator: ", "))")
        }
        let weights: URL, encode: @Sendable ([String]) -> Tensor, name: String, dimension: Int, count: @Sendable (String) -> Int
        if card.family == "clip" {
            // CLIP's text tower: projected, not normalised (as open_clip's encode_text).
            let clip = try VisionSession.loadCLIP(model: model, weights: given, store: store, catalog: catalog)
            encode = { clip.encodeTexts($0) }
            count = { clip.tokenizer.encode($0, contextLength: clip.contextLength).count }
            (name, dimension) = (clip.name + ":text", clip.embeddingDimension)
            weights = try catalog.weights(for: card, given: given, store: store)
        } else {
            let session = try TextSession(model: card.name, weights: given, store: store, catalog: catalog)
            encode = { session.embed($0) }
            count = { session.encoder.encode($0).ids.count }
            (name, dimension) = (session.modelName, session.encoder.dimension)
            weights = session.weights
        }
        return TextEncoder(encode: encode, name: name, model: card.name, dimension: dimension, tokenCount: count, weights: weights,
                           identity: RequestIdentity([("task", "embed"), ("model", name), ("weights", RequestIdentity.weightsStamp(weights))]))
    }

    /// Embeds every input into `sink` (in input order).
    public func run(into sink: any ResultSink<EmbeddingRecord>, progress: Progress, control: JobControl? = nil) throws -> JobSummary {
        switch request.input {
        case .images(let images):
            let (session, logits) = (vision!, request.layer == .logits)
            return try Runner.run(into: sink, window: images.window, progress: progress, control: control) { job, skip in
                images.encode(job, session: session, skip: skip).map("rows", workers: 1) { value, _ in
                    let (prepared, features) = value
                    return EmbeddingRecord(rows: logits ? features.logits! : features.pooled,
                                           fields: prepared.times.map { $0.map { RowFields(time: $0) } } ?? [])
                }
            }
        case .texts(let values):
            let encode = encodeTexts!
            let texts = Dictionary(values.map { ($0.0.path, $0.1) }, uniquingKeysWith: { a, _ in a })
            return try Runner.run(into: sink, window: 256, progress: progress, control: control) { job, skip in
                job.source(values: values, skip: skip)
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
