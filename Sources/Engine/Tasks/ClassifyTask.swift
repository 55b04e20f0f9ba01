import Foundation
import Models
import TensorCore

/// What to classify and against what: the model's own classes (ImageNet), or free-text
/// labels (zero-shot: CLIP, or the offline lite0-minilm).
public struct ClassifyRequest: Sendable {
    public var images: ImageInputs
    /// nil: the default (efficientnet-lite0; zero-shot: an installed CLIP, else lite0-minilm).
    public var model: String?
    public var weights: String?
    /// Zero-shot labels; nil for the model's own classes.
    public var labels: [String]?
    /// Prompt templates: `default`, `imagenet` (CLIP's 80) or a file of lines with `{}`.
    public var templates = "default"
    /// The templates themselves (each with `{}`), instead of `templates` (a server's request).
    public var templateList: [String]?
    /// A head made by `mmpipe train`: its classes, with probabilities, instead of ImageNet's.
    public var head: String?
    /// Texts to classify, with where each came from (`--text #N`, `FILE:LINE`), instead of
    /// images: with a head trained on a text model's embeddings.
    public var texts: [(SourceItem, String)]?
    public var multiLabel = false
    public var threshold: Float?
    /// lite0-minilm: the ImageNet classes behind each label's score.
    public var explain = false
    /// Labels or classes per image; nil: every label for zero-shot (as Hugging Face's
    /// zero-shot pipeline), 5 otherwise.
    public var topK: Int?
    /// `topK` as it applies to this request.
    public var k: Int { topK ?? labels?.count ?? 5 }

    public init(images: ImageInputs) { self.images = images }
}

/// One classified image or video frame. JSON: `path`, `model`, `time` (frames), and
/// `predictions` (ImageNet: label, class_index, probability) or `labels` + `multi_label`
/// (zero-shot: label, score, and with --explain `imagenet_classes`).
public struct ClassifyRecord: Sendable, Encodable, TableRecord, CSVRecord {
    public typealias Prediction = VisionPrediction
    public struct Label: Sendable {
        public let label: String, score: Float
        public let classes: [(className: String, share: Float)]?
    }

    public let path: String
    public let model: String
    public let time: Double?
    /// The text classified (a text head's record).
    var text: String? = nil
    public let predictions: [Prediction]?
    public let labels: [Label]?
    public let multiLabel: Bool
    /// The multi-label threshold, for the table's "no label" line.
    let threshold: Float

    public static let imageNetCSVHeader = ["path", "time", "rank", "label", "class_index", "probability"]
    public static let zeroShotCSVHeader = ["path", "time", "rank", "label", "score", "model"]

    enum Keys: String, CodingKey {
        case path, model, time, text, predictions, labels, multiLabel = "multi_label"
        case label, classIndex = "class_index", probability, score, imagenetClasses = "imagenet_classes", `class`, share
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(path, forKey: .path)
        try c.encode(model, forKey: .model)
        try c.encodeIfPresent(time, forKey: .time)
        try c.encodeIfPresent(text, forKey: .text)
        if let predictions {
            var list = c.nestedUnkeyedContainer(forKey: .predictions)
            for p in predictions {
                var o = list.nestedContainer(keyedBy: Keys.self)
                try o.encode(p.label, forKey: .label)
                try o.encode(p.index, forKey: .classIndex)
                try o.encode(JSONValue.decimal(p.probability), forKey: .probability)
            }
        }
        if let labels {
            try c.encode(multiLabel, forKey: .multiLabel)
            var list = c.nestedUnkeyedContainer(forKey: .labels)
            for l in labels {
                var o = list.nestedContainer(keyedBy: Keys.self)
                try o.encode(l.label, forKey: .label)
                try o.encode(JSONValue.decimal(l.score), forKey: .score)
                if let classes = l.classes {
                    var cl = o.nestedUnkeyedContainer(forKey: .imagenetClasses)
                    for k in classes {
                        var co = cl.nestedContainer(keyedBy: Keys.self)
                        try co.encode(k.className, forKey: .class)
                        try co.encode(JSONValue.decimal(k.share), forKey: .share)
                    }
                }
            }
        }
    }

    public var tableLines: [String] {
        var lines = [path + (time.map { String(format: " @ %.2f s", $0) } ?? "") + (text.map { "  \"\($0.count > 70 ? $0.prefix(67) + "..." : $0)\"" } ?? "") + "  (\(model))"]
        if let predictions {
            for (rank, p) in predictions.enumerated() {
                lines.append(String(format: "  %d  %6.2f%%  ", rank + 1, p.probability * 100) + p.label)
            }
        }
        if let labels {
            if labels.isEmpty { lines.append("  (no label reaches \(threshold))") }
            for (rank, l) in labels.enumerated() {
                lines.append(String(format: "  %d  %6.2f%%  ", rank + 1, l.score * 100) + l.label)
                if let c = l.classes {
                    lines.append("       from: " + c.map { String(format: "%@ %.1f%%", $0.className, $0.share * 100) }.joined(separator: ", "))
                }
            }
        }
        return lines
    }

    public var csvRows: [[String]] {
        let t = time.map { String(format: "%.3f", $0) } ?? ""
        if let predictions {
            return predictions.enumerated().map { rank, p in
                [path, t, "\(rank + 1)", p.label, "\(p.index)", String(format: "%.6f", p.probability)]
            }
        }
        return (labels ?? []).enumerated().map { rank, l in
            [path, t, "\(rank + 1)", l.label, String(format: "%.6f", l.score), model]
        }
    }
}

/// Image classification: one entry point for ImageNet classes and zero-shot labels.
public final class ClassifyTask: @unchecked Sendable {
    public let request: ClassifyRequest
    /// The image encoder (nil when texts are classified).
    public let session: VisionSession?
    /// The text encoder of a head on text embeddings.
    let encodeTexts: (@Sendable ([String]) -> Tensor)?
    /// The model named in every record (the zero-shot model, not its image tower).
    public let modelName: String
    /// The multi-label threshold in use (zero-shot).
    let threshold: Float
    /// The model, weights and options behind every record (resume checks it).
    public let identity: RequestIdentity
    let score: @Sendable (VisionFeatures, Double?) -> [[ClassifyRecordPart]]
    /// A head's labels for embeddings `[n, D]`.
    let headScore: (@Sendable (Tensor) -> [[ClassifyRecordPart]])?

    /// What a record holds besides path and time.
    enum ClassifyRecordPart: Sendable {
        case predictions([ClassifyRecord.Prediction])
        case labels([ClassifyRecord.Label])
    }

    public static let defaultModel = "efficientnet-lite0"

    public var csvHeader: [String] { request.labels == nil && request.head == nil ? ClassifyRecord.imageNetCSVHeader : ClassifyRecord.zeroShotCSVHeader }

    /// Loads the model (and, zero-shot, the label embeddings) for the request.
    public convenience init(_ request: ClassifyRequest, store: ModelStore, catalog: ModelCatalog = .standard) throws {
        try request.validate()
        try request.images.checkStandardInput()
        if let head = request.head {
            try self.init(request, models: try ClassifierModels.head(head, model: request.model, store: store, catalog: catalog))
            return
        }
        if request.texts != nil { throw RequestError("texts are classified by a head trained on a text model's embeddings: give --head (made by mmpipe train on a TSV of text and label)") }
        try self.init(request, models: try ClassifierModels.load(model: request.model, weights: request.weights,
                                                                  zeroShot: request.labels != nil, store: store, catalog: catalog))
    }

    /// The same on models already loaded (a server's, shared by its requests): `models` must
    /// be what `ClassifierModels.load` gives for the request's model and labels.
    public init(_ request: ClassifyRequest, models: ClassifierModels) throws {
        self.request = request
        try request.validate()
        let k = request.k
        switch models {
        case .head(let vision, let head):
            if request.texts != nil {
                throw RequestError("\(request.head ?? "the head") is a head on image embeddings (\(head.embeddingModel)): classify images, not --text")
            }
            let headScore = try ClassifyTask.headScore(head, request)
            (session, encodeTexts, self.headScore, modelName) = (vision, nil, headScore, vision.modelName)
            score = { f, _ in headScore(f.pooled) }
            threshold = request.threshold ?? 0.5
            identity = ClassifyTask.identity(request, model: modelName, weights: [vision.weights, URL(fileURLWithPath: request.head ?? "")],
                                             templates: nil, threshold: threshold)
            return
        case .textHead(let encoder, let head):
            guard request.texts != nil else {
                throw RequestError("\(request.head ?? "the head") is a head on text embeddings (\(head.embeddingModel)): classify texts with --text or --text-file, not images")
            }
            let headScore = try ClassifyTask.headScore(head, request)
            (session, encodeTexts, self.headScore, modelName) = (nil, encoder.encode, headScore, encoder.name)
            score = { f, _ in headScore(f.pooled) }
            threshold = request.threshold ?? 0.5
            identity = ClassifyTask.identity(request, model: modelName, weights: [encoder.weights, URL(fileURLWithPath: request.head ?? "")],
                                             templates: nil, threshold: threshold)
            return
        default:
            if request.texts != nil { throw RequestError("texts are classified by a head trained on a text model's embeddings: give --head") }
            encodeTexts = nil
            headScore = nil
        }
        guard let labelList = request.labels else {
            guard case .imageNet(let session) = models else {
                throw RequestError("\(models.name) is a zero-shot model: give labels")
            }
            self.session = session
            guard let classes = session.encoder.labels else {
                throw RequestError("\(session.modelName): these weights have no classifier head (use embed, or give --labels)")
            }
            modelName = session.modelName
            threshold = 0
            identity = ClassifyTask.identity(request, model: modelName, weights: [session.weights], templates: nil, threshold: nil)
            score = { f, _ in
                VisionClassifier.top(f.logits!, k: k, labels: classes).map { [.predictions($0)] }
            }
            return
        }
        let multi = request.multiLabel
        let explainTop = request.explain ? 3 : 0
        switch models {
        case .imageNet(let session):
            throw RequestError("\(session.modelName) classifies into its own classes: drop the labels, or use a zero-shot model")
        case .head, .textHead:
            throw RequestError("--head classifies into the head's classes: drop --labels")
        case .lite0MiniLM(let zs):
            let set = ZeroShotLabels(labels: labelList, templates: try request.templateList ?? ZeroShotLabels.templates(request.templates, default: Lite0MiniLM.defaultTemplates))
            let affinity = try zs.affinity(set)
            session = zs.vision
            modelName = Lite0MiniLM.name
            let threshold = request.threshold ?? 0.3
            self.threshold = threshold
            identity = ClassifyTask.identity(request, model: modelName, weights: [zs.vision.weights, zs.text.weights],
                                             templates: set.templates, threshold: threshold)
            score = { f, _ in
                zs.classify(logits: f.logits!, affinity: affinity, explainTop: explainTop).map {
                    [.labels(ClassifyTask.order($0, labels: labelList, multi: multi, threshold: threshold, k: k))]
                }
            }
        case .clip(let vision, let zs):
            if request.explain { throw RequestError("--explain is for lite0-minilm (CLIP has no classes to show)") }
            session = vision
            let set = ZeroShotLabels(labels: labelList, templates: try request.templateList ?? ZeroShotLabels.templates(request.templates, default: CLIPZeroShot.defaultTemplates))
            let labelRows = try zs.labelEmbeddings(set)
            modelName = vision.modelName
            let threshold = request.threshold ?? 0.25
            self.threshold = threshold
            identity = ClassifyTask.identity(request, model: modelName, weights: [vision.weights], templates: set.templates, threshold: threshold)
            score = { f, _ in
                zs.classify(imageEmbeddings: f.pooled, labels: labelRows, multiLabel: multi).map {
                    [.labels(ClassifyTask.order($0, labels: labelList, multi: multi, threshold: threshold, k: k))]
                }
            }
        }
    }

    /// A head's labels for rows of embeddings: the top k by probability, or with --multi-label
    /// every class reaching the threshold (default 0.5).
    static func headScore(_ head: ClassificationHead, _ request: ClassifyRequest) throws -> @Sendable (Tensor) -> [[ClassifyRecordPart]] {
        if request.labels != nil { throw RequestError("--head classifies into the head's classes: drop --labels") }
        let (k, multi, threshold) = (request.k, request.multiLabel, request.threshold ?? 0.5)
        return { rows in
            head.regression.probabilities(rows).map { p in
                var order = p.indices.sorted { p[$0] != p[$1] ? p[$0] > p[$1] : $0 < $1 }
                order = multi ? order.filter { Float(p[$0]) >= threshold } : Array(order.prefix(min(k, p.count)))
                return [.labels(order.map { ClassifyRecord.Label(label: head.classes[$0], score: Float(p[$0]), classes: nil) })]
            }
        }
    }

    /// What changes a record: model and weights, labels and templates (zero-shot), how
    /// labels are chosen, how video frames are sampled.
    static func identity(_ r: ClassifyRequest, model: String, weights: [URL], templates: [String]?, threshold: Float?) -> RequestIdentity {
        var f: [(name: String, value: String)] = [("task", "classify"), ("model", model),
                                                  ("weights", weights.map(RequestIdentity.weightsStamp).joined(separator: "|"))]
        if let head = r.head {
            f.append(("classes", "head \(URL(fileURLWithPath: head).standardizedFileURL.path)"))
            if r.multiLabel, let threshold { f.append(("multi_label_threshold", "\(threshold)")) } else { f.append(("top_k", "\(r.k)")) }
            if r.texts != nil { return RequestIdentity(f) }
        } else if let labels = r.labels, let templates, let threshold {
            f.append(("labels", labels.joined(separator: ",")))
            f.append(("templates", templates.count == 1 ? templates[0] : "\(templates.count) (\(r.templates))"))
            f.append(("templates_digest", RequestIdentity([("t", templates.joined(separator: "\n"))]).digest))
            if r.multiLabel { f.append(("multi_label_threshold", "\(threshold)")) } else { f.append(("top_k", "\(r.k)")) }
            if r.explain { f.append(("explain", "true")) }
        } else {
            f.append(("classes", "ImageNet"))
            f.append(("top_k", "\(r.k)"))
        }
        f.append(("video_fps", "\(r.images.fps)"))
        f.append(("max_frames", "\(r.images.maxFrames)"))
        return RequestIdentity(f)
    }

    /// Labels best first (ties by input order): the top k, or with `multi` all that reach
    /// the threshold.
    static func order(_ r: ZeroShotResult, labels: [String], multi: Bool, threshold: Float, k: Int) -> [ClassifyRecord.Label] {
        var order = r.scores.indices.sorted { r.scores[$0] != r.scores[$1] ? r.scores[$0] > r.scores[$1] : $0 < $1 }
        order = multi ? order.filter { r.scores[$0] >= threshold } : Array(order.prefix(min(k, labels.count)))
        return order.map { ClassifyRecord.Label(label: labels[$0], score: r.scores[$0], classes: r.contributions?[$0]) }
    }

    /// Classifies every image and sampled video frame into `sink`, a record per image/frame.
    public func run(into sink: any ResultSink<ClassifyRecord>, progress: Progress, control: JobControl? = nil) throws -> JobSummary {
        if let texts = request.texts, let encode = encodeTexts, let headScore {
            let (model, multi, threshold) = (modelName, request.multiLabel, threshold)
            let byPath = Dictionary(texts.map { ($0.0.path, $0.1) }, uniquingKeysWith: { a, _ in a })
            return try Runner.run(into: sink, window: 256, progress: progress, control: control) { job, skip in
                job.source(values: texts, skip: skip)
                    .batch(TextEncodeStage(maxBatch: 64) { encode($0) })
                    .map("score", workers: 1) { row, item in
                        var labels: [ClassifyRecord.Label] = []
                        for case .labels(let x) in headScore(row).first ?? [] { labels = x }
                        return ClassifyRecord(path: item.path, model: model, time: nil, text: byPath[item.path], predictions: nil, labels: labels,
                                              multiLabel: multi, threshold: threshold)
                    }
            }
        }
        let (images, session, score, model, multi, threshold) = (request.images, session!, score, modelName, request.multiLabel, threshold)
        return try Runner.run(rowsInto: sink, window: images.window, progress: progress, control: control) { job, skip in
            images.encode(job, session: session, skip: skip).map("score", workers: 1) { value, item in
                let (prepared, features) = value
                return score(features, nil).enumerated().map { row, parts in
                    var predictions: [ClassifyRecord.Prediction]?, labels: [ClassifyRecord.Label]?
                    for p in parts {
                        switch p {
                        case .predictions(let x): predictions = x
                        case .labels(let x): labels = x
                        }
                    }
                    return ClassifyRecord(path: item.path, model: model, time: prepared.times?[row],
                                          predictions: predictions, labels: labels, multiLabel: multi, threshold: threshold)
                }
            }
        }
    }
}

/// The models a classification runs on, loaded once: an ImageNet classifier, the offline
/// lite0-minilm, or CLIP with its zero-shot text side.
public enum ClassifierModels: @unchecked Sendable {
    case imageNet(VisionSession)
    case lite0MiniLM(Lite0MiniLM)
    case clip(VisionSession, CLIPZeroShot)
    /// A head from `mmpipe train` on its image encoder's embeddings.
    case head(VisionSession, ClassificationHead)
    /// A head from `mmpipe train` on a text encoder's embeddings.
    case textHead(EmbedTask.TextEncoder, ClassificationHead)

    /// The head at `path` and the image or text encoder it was trained on (`model`, when
    /// given, must be that one: a head made for another embedding model is refused in one line).
    public static func head(_ path: String, model: String?, store: ModelStore, catalog: ModelCatalog = .standard) throws -> ClassifierModels {
        guard FileManager.default.fileExists(atPath: path) else { throw RequestError("\(path): no such head file (--head takes a file made by mmpipe train)") }
        let head = try ClassificationHead(path: path)
        let name = model ?? head.embeddingCard
        if head.text {
            let encoder = try EmbedTask.textEncoder(name, store: store, catalog: catalog)
            try head.check(model: encoder.name, weights: encoder.weights, headPath: path)
            return .textHead(encoder, head)
        }
        let session = try VisionSession(model: name, weights: nil, store: store, catalog: catalog)
        try head.check(model: session.modelName, weights: session.weights, headPath: path)
        return .head(session, head)
    }

    /// The model a record names.
    public var name: String {
        switch self {
        case .imageNet(let s): return s.modelName
        case .lite0MiniLM: return Lite0MiniLM.name
        case .clip(let s, _): return s.modelName
        case .head(let s, _): return s.modelName
        case .textHead(let e, _): return e.name
        }
    }

    /// Loads what a request for `model` needs: the model's own classes, or (`zeroShot`, labels
    /// given) the zero-shot model: `model`, else CLIP when `weights` or installed CLIP weights
    /// say so, else the offline lite0-minilm.
    public static func load(model: String?, weights: String?, zeroShot: Bool, store: ModelStore,
                            catalog: ModelCatalog = .standard) throws -> ClassifierModels {
        guard zeroShot else {
            let model = model ?? ClassifyTask.defaultModel
            if let card = catalog.card(model), card.kind != .image {
                throw RequestError("\(model) is a zero-shot model: give --labels or --labels-file")
            }
            return .imageNet(try VisionSession(model: model, weights: weights, store: store, catalog: catalog))
        }
        let chosen = model ?? (weights != nil ? "clip" : VisionSession.installedCLIP(store: store, catalog: catalog) ?? Lite0MiniLM.name)
        guard let card = catalog.card(chosen), card.kind == .zeroShot else {
            throw RequestError("\(chosen) is not a zero-shot model (labels need one): \(catalog.cards(.zeroShot).filter { $0.name != "clip" }.map { $0.name }.joined(separator: ", "))")
        }
        if card.family == "lite0-minilm" { return .lite0MiniLM(try Lite0MiniLM(store: store)) }
        let session = try VisionSession(model: card.name, weights: weights, store: store, catalog: catalog)
        let weightsPath = weights.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
            ?? store.directory.appendingPathComponent(card.name).path
        return .clip(session, try CLIPZeroShot(vision: session, store: store, weightsIdentity: weightsPath))
    }
}
