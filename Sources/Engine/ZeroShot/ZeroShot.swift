import Crypto
import Foundation
import Models
import TensorCore

/// Labels and the prompt templates that turn each into text (`{}` is the label).
public struct ZeroShotLabels: Sendable, Equatable {
    public var labels: [String]
    public var templates: [String]

    public init(labels: [String], templates: [String]) {
        self.labels = labels
        self.templates = templates
    }

    /// `--templates default|imagenet|FILE` (a file: one template per line, with `{}`).
    public static func templates(_ spec: String, default fallback: [String]) throws -> [String] {
        switch spec {
        case "default": return fallback
        case "imagenet": return CLIPPrompts.imagenetTemplates
        default:
            let text = try ZeroShotLabels.read(spec, what: "templates file")
            let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !lines.isEmpty else {
                throw RequestError("\(spec): the templates file is empty: give one template per line with {} where the label goes (or use --templates default or imagenet)")
            }
            guard lines.allSatisfy({ $0.contains("{}") }) else {
                throw RequestError("\(spec): every template line needs {} where the label goes")
            }
            return lines
        }
    }

    /// `--labels "a,b,c"` or the lines of `--labels-file` (blank lines and lines starting
    /// with `#` skipped).
    public static func parse(list: String?, file: String?) throws -> [String] {
        var out: [String] = []
        if let list { out += list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        if let file {
            let text = try ZeroShotLabels.read(file, what: "labels file")
            let before = out.count
            out += text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.hasPrefix("#") && !$0.isEmpty }
            if out.count == before { throw RequestError("\(file): the labels file is empty: give one label per line") }
        }
        out = out.filter { !$0.isEmpty }
        var seen = Set<String>()
        return out.filter { seen.insert($0).inserted }
    }

    /// A small text file an option names (character devices and pipes too), as UTF-8.
    static func read(_ path: String, what: String) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw RequestError("\(path): no such \(what)") }
        guard !isDir.boolValue, let handle = FileHandle(forReadingAtPath: path) else { throw RequestError("\(path): cannot read the \(what)") }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: 16 << 20) ?? Data() else { throw RequestError("\(path): cannot read the \(what)") }
        guard let text = String(data: data, encoding: .utf8) else { throw RequestError("\(path): the \(what) is not UTF-8 text") }
        return text
    }

    /// Each label's prompts.
    func prompts(_ label: String) -> [String] { templates.map { $0.replacingOccurrences(of: "{}", with: label) } }
}

/// Text embeddings kept on disk, keyed by the model and the exact texts, so a job (and the
/// next one) embeds its labels and prompts once: `<models dir>/cache/text-embeddings/*.npy`.
public struct TextEmbeddingCache: Sendable {
    public let directory: URL

    public init(store: ModelStore) {
        directory = store.directory.appendingPathComponent("cache/text-embeddings")
    }

    public func embeddings(model: String, texts: [String], compute: ([String]) throws -> Tensor) throws -> Tensor {
        let key = SHA256.hash(data: Data(([model] + texts).joined(separator: "\n").utf8)).hex
        let url = directory.appendingPathComponent("\(model)-\(key.prefix(24)).npy")
        if let cached = try? NPY.read(url).tensor, cached.rank == 2, cached.shape[0] == texts.count { return cached }
        let t = try compute(texts)
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try? NPY.write(t.contiguous(), to: url)            // a cache: failing to write is not an error
        return t
    }
}

/// Mean of L2-normalised rows in groups of `per` consecutive rows, normalised again (CLIP's
/// prompt ensembling): `[G * per, D]` → `[G, D]`.
func ensemble(_ rows: Tensor, per: Int) -> Tensor {
    let unit = rows.l2Normalized().contiguous()
    let n = unit.shape[0] / per, d = unit.shape[1]
    let sums = Tensor(shape: [n, d]) { out in
        for g in 0..<n {
            let o = out.baseAddress! + g * d
            o.initialize(repeating: 0, count: d)
            for r in 0..<per {
                let p = unit.pointer + (g * per + r) * d
                for j in 0..<d { o[j] += p[j] }
            }
        }
    }
    return sums.l2Normalized()
}

/// One image's zero-shot result: a score per label, and (lite0-minilm) the ImageNet classes
/// behind each label.
public struct ZeroShotResult: Sendable {
    public var scores: [Float]
    public var contributions: [[(className: String, share: Float)]]?
}

/// The offline zero-shot model: EfficientNet-Lite0's ImageNet-1k probabilities p(c), and
/// each class's affinity to each label from all-MiniLM-L6-v2: a(c, ·) = softmax over labels
/// of cos(prompt(c), prompt(label)) / T. A label's score is Σ_c p(c) a(c, label): the
/// probability mass of the classes that point to it. It knows only what ImageNet's 1000
/// classes can see.
public final class Lite0MiniLM: @unchecked Sendable {
    public static let name = "lite0-minilm"
    /// Chosen on 46 labelled real photos (scripts/zeroshot-set.py, scripts/zeroshot-eval.py):
    /// 80.4% top-1 for T in 0.016...0.05 with "a photo of a {}." on both sides; 0.025 is the
    /// middle of that flat stretch (0.063 already loses an image, 0.1 four).
    public static let defaultTemperature: Float = 0.025
    public static let defaultTemplates = ["a photo of a {}."]

    public let vision: VisionSession
    public let text: TextSession
    public let temperature: Float
    let cache: TextEmbeddingCache

    public init(store: ModelStore, temperature: Float = Lite0MiniLM.defaultTemperature) throws {
        vision = try VisionSession(model: "efficientnet-lite0", weights: nil, store: store)
        text = try TextSession(model: "all-minilm-l6-v2", weights: nil, store: store)
        self.temperature = temperature
        cache = TextEmbeddingCache(store: store)
    }

    /// Class names used in the class prompts (OpenAI's cleaned ImageNet names).
    public static var classNames: [String] { CLIPPrompts.imagenetClassNames }

    /// a(c, l): `[1000, L]`.
    public func affinity(_ labels: ZeroShotLabels) throws -> Tensor {
        let per = labels.templates.count
        let embed: ([String]) throws -> Tensor = { [text] in text.embed($0) }
        let classTexts = Lite0MiniLM.classNames.flatMap { name in labels.templates.map { $0.replacingOccurrences(of: "{}", with: name) } }
        let classes = ensemble(try cache.embeddings(model: text.modelName, texts: classTexts, compute: embed), per: per)
        let labelRows = ensemble(try cache.embeddings(model: text.modelName, texts: labels.labels.flatMap(labels.prompts), compute: embed), per: per)
        let cos = Tensor.matmul(classes, labelRows.transposed())          // [1000, L]
        return (cos * (1 / temperature)).softmax(axis: -1)
    }

    /// Scores `[n, L]` from the encoder's logits `[n, 1000]`, with each label's top classes.
    public func classify(logits: Tensor, affinity: Tensor, explainTop: Int = 0) -> [ZeroShotResult] {
        let p = logits.softmax(axis: -1).contiguous()
        let a = affinity.contiguous()
        let s = Tensor.matmul(p, a).contiguous()                         // [n, L]
        let n = p.shape[0], c = p.shape[1], l = a.shape[1]
        return (0..<n).map { i in
            let scores = Array(UnsafeBufferPointer(start: s.pointer + i * l, count: l))
            guard explainTop > 0 else { return ZeroShotResult(scores: scores, contributions: nil) }
            let contributions = (0..<l).map { j -> [(className: String, share: Float)] in
                let shares = (0..<c).map { k in p.pointer[i * c + k] * a.pointer[k * l + j] }
                return shares.indices.sorted { shares[$0] > shares[$1] }.prefix(explainTop)
                    .map { (Lite0MiniLM.classNames[$0], shares[$0]) }
            }
            return ZeroShotResult(scores: scores, contributions: contributions)
        }
    }
}

/// CLIP zero-shot: normalised image embeddings against each label's normalised text embedding
/// (averaged over the templates, then normalised again, as CLIP's ImageNet evaluation);
/// probabilities are softmax(logit scale × cosine) over the labels, or with `multiLabel` the
/// cosines themselves.
public final class CLIPZeroShot: @unchecked Sendable {
    public let vision: VisionSession
    public let clip: CLIPModel
    let cache: TextEmbeddingCache
    let cacheKey: String

    public static let defaultTemplates = ["a photo of a {}."]

    public init(vision: VisionSession, store: ModelStore, weightsIdentity: String) throws {
        guard let clip = vision.clip else { throw ItemFailure(path: vision.modelName, reason: "not a CLIP model") }
        self.vision = vision
        self.clip = clip
        cache = TextEmbeddingCache(store: store)
        cacheKey = "clip-" + SHA256.hash(data: Data((clip.name + "\n" + weightsIdentity).utf8)).hex.prefix(12)
    }

    /// `[L, E]`, unit rows.
    public func labelEmbeddings(_ labels: ZeroShotLabels) throws -> Tensor {
        let texts = labels.labels.flatMap(labels.prompts)
        let rows = try cache.embeddings(model: cacheKey, texts: texts) { [clip] in clip.encodeTexts($0) }
        return ensemble(rows, per: labels.templates.count)
    }

    public func classify(imageEmbeddings: Tensor, labels: Tensor, multiLabel: Bool) -> [ZeroShotResult] {
        let cos = Tensor.matmul(CLIPModel.normalized(imageEmbeddings), labels.transposed()).contiguous()
        let s = multiLabel ? cos : (cos * clip.logitScale).softmax(axis: -1).contiguous()
        let n = s.shape[0], l = s.shape[1]
        return (0..<n).map { ZeroShotResult(scores: Array(UnsafeBufferPointer(start: s.pointer + $0 * l, count: l)), contributions: nil) }
    }
}
