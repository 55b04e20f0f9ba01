import Crypto
import Foundation
import SwiftCSV
import Media
import Models
import TensorCore

/// A classification head fitted on frozen embeddings (a linear probe): the examples embedded
/// by the embed task, a logistic regression fitted (`LogisticRegression`: scikit-learn's, on
/// standardised features), judged on a held-out part, and written as one `.safetensors` file
/// (weights, standardisation, and everything else as JSON in its metadata; a `.json` copy
/// beside it for people).
public struct ClassificationHead: @unchecked Sendable {   // immutable; `info` is JSON values
    public let classes: [String]
    public let regression: LogisticRegression
    /// The embedding the head reads: the model as its records name it, its registered name,
    /// the sha256 of its weights, and the layer.
    public let embeddingModel: String
    public let embeddingCard: String
    public let weightsSHA256: String
    public let text: Bool
    /// What the fit was told and found (C, class weights, held-out metrics).
    public let info: [String: Any]

    static let metadataKey = "mmpipe_head"

    /// Reads a head written by `write`.
    public init(path: String) throws {
        let file = try SafeTensorsFile(path: path)
        guard let json = file.metadata[Self.metadataKey] else {
            throw ItemFailure(path: path, reason: "is not a classification head made by mmpipe train (no \(Self.metadataKey) metadata)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let classes = object["classes"] as? [String], let model = object["embedding_model"] as? String,
              let card = object["embedding_card"] as? String, let sha = object["embedding_weights_sha256"] as? String else {
            throw ItemFailure(path: path, reason: "has \(Self.metadataKey) metadata without classes, embedding model and weights sha256 (not made by mmpipe train, or damaged)")
        }
        let w = try file.tensor("weight"), b = try file.tensor("bias"), mean = try file.tensor("mean"), scale = try file.tensor("scale")
        guard w.rank == 2, w.shape[0] == classes.count, b.count == classes.count, mean.count == w.shape[1], scale.count == w.shape[1] else {
            throw ItemFailure(path: path, reason: "its tensors do not fit together (weight \(w.shape), bias \(b.shape), mean \(mean.shape), scale \(scale.shape) for \(classes.count) classes)")
        }
        self.classes = classes
        regression = LogisticRegression(weights: w.scalars.map(Double.init), intercepts: b.scalars.map(Double.init),
                                        mean: mean.scalars.map(Double.init), scale: scale.scalars.map(Double.init))
        embeddingModel = model
        embeddingCard = card
        weightsSHA256 = sha
        text = object["text"] as? Bool ?? false
        info = object
    }

    init(classes: [String], regression: LogisticRegression, embeddingModel: String, embeddingCard: String, weightsSHA256: String,
         text: Bool, info: [String: Any]) {
        self.classes = classes
        self.regression = regression
        self.embeddingModel = embeddingModel
        self.embeddingCard = embeddingCard
        self.weightsSHA256 = weightsSHA256
        self.text = text
        self.info = info
    }

    /// Writes `path` (a `.safetensors` file) and `path.json`, each atomically.
    public func write(to path: String) throws {
        var object = info
        object["classes"] = classes
        object["embedding_model"] = embeddingModel
        object["embedding_card"] = embeddingCard
        object["embedding_weights_sha256"] = weightsSHA256
        object["text"] = text
        object["preprocessing"] = "standardise: (x - mean) / scale, scale the population standard deviation (1 where 0), as scikit-learn's StandardScaler"
        let json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        let k = classes.count, d = regression.dimension
        let url = URL(fileURLWithPath: path)
        try SafeTensorsWriter.write([
            ("weight", Tensor(shape: [k, d], scalars: regression.weights.map { Float($0) })),
            ("bias", Tensor(shape: [k], scalars: regression.intercepts.map { Float($0) })),
            ("mean", Tensor(shape: [d], scalars: regression.mean.map { Float($0) })),
            ("scale", Tensor(shape: [d], scalars: regression.scale.map { Float($0) })),
        ], metadata: [Self.metadataKey: String(decoding: json, as: UTF8.self)], to: url)
        let pretty = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        try AtomicFile.write(pretty, to: URL(fileURLWithPath: path + ".json"))
    }

    /// The sha256 of a model's weights: a file's bytes, or a folder's files' names and bytes in
    /// name order.
    public static func sha256(of url: URL) throws -> String {
        var hasher = SHA256()
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw ItemFailure(path: url.path, reason: "no such weights file")
        }
        // A folder: its regular files at any depth, by their path below it.
        let files: [(name: String, url: URL)] = isDir.boolValue
            ? (FileManager.default.enumerator(atPath: url.path)?.compactMap { $0 as? String } ?? []).sorted()
                .filter { rel in
                    !rel.split(separator: "/").contains { $0.hasPrefix(".") }
                        && (try? FileManager.default.attributesOfItem(atPath: url.appendingPathComponent(rel).path)[.type] as? FileAttributeType) == .typeRegular
                }
                .map { ($0, url.appendingPathComponent($0)) }
            : [(url.lastPathComponent, url)]
        for (name, f) in files {
            if isDir.boolValue { hasher.update(data: Data(name.utf8)) }
            let handle = try FileHandle(forReadingFrom: f)
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 1 << 22), !chunk.isEmpty { hasher.update(data: chunk) }
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Refuses an embedding model other than the head's, in one line.
    public func check(model: String, weights: URL, headPath: String) throws {
        let sha = try Self.sha256(of: weights)
        if model == embeddingModel && sha != weightsSHA256 {
            throw ItemFailure(path: headPath, reason: "was trained on other \(model) weights (sha256 \(weightsSHA256.prefix(12))...) than the ones here (\(sha.prefix(12))...): train the head again on these")
        }
        if model != embeddingModel {
            throw RequestError("\(headPath) was trained on \(embeddingModel) embeddings (weights sha256 \(weightsSHA256.prefix(12))...), not \(model) (\(sha.prefix(12))...): classify with --model \(embeddingCard), or train a head for \(model)")
        }
    }
}

/// `mmpipe train`: what to learn from.
public struct TrainRequest: Sendable {
    /// A folder with one subfolder per class (ImageFolder), or a CSV / TSV / JSONL of path and
    /// label (for a text model: a TSV of text and label).
    public var data: String
    /// The embedding model (default efficientnet-lite0; a text model trains on texts).
    public var model: String?
    public var c: Double = 1
    /// Choose C by stratified K-fold cross-validation on the training part (nil: use `c`).
    public var cvFolds: Int?
    /// The values of C cross-validation tries (nil: scikit-learn's `LogisticRegressionCV` grid).
    public var grid: [Double]?
    public var balanced = false
    /// Share of each class held out to judge the head.
    public var heldOut = 0.2
    /// Keep the embeddings in this folder (`mmpipe embed`'s shards and manifest): a later run
    /// embeds only examples that are new or changed, and an interrupted one resumes. nil: none kept.
    public var features: String?

    public init(data: String) { self.data = data }
}

/// Per-class precision, recall and F1, and the confusion matrix, on the held-out examples.
public struct HeadMetrics: Sendable {
    public let classes: [String]
    /// `confusion[true][predicted]`.
    public let confusion: [[Int]]
    public var accuracy: Double {
        let total = confusion.joined().reduce(0, +)
        return total == 0 ? 0 : Double(confusion.indices.reduce(0) { $0 + confusion[$1][$1] }) / Double(total)
    }
    public func precision(_ k: Int) -> Double { let p = confusion.reduce(0) { $0 + $1[k] }; return p == 0 ? 0 : Double(confusion[k][k]) / Double(p) }
    public func recall(_ k: Int) -> Double { let s = confusion[k].reduce(0, +); return s == 0 ? 0 : Double(confusion[k][k]) / Double(s) }
    public func f1(_ k: Int) -> Double { let p = precision(k), r = recall(k); return p + r == 0 ? 0 : 2 * p * r / (p + r) }
    public func support(_ k: Int) -> Int { confusion[k].reduce(0, +) }

    var json: [String: Any] {
        ["accuracy": accuracy, "confusion": confusion,
         "per_class": classes.indices.map { ["class": classes[$0], "precision": precision($0), "recall": recall($0), "f1": f1($0), "support": support($0)] as [String: Any] }]
    }
}

public final class TrainTask: @unchecked Sendable {
    public let request: TrainRequest
    /// (input, class index) for images; (text, class index) for texts.
    let examples: [(String, Int)]
    public let classes: [String]
    let text: Bool
    let store: ModelStore
    let catalog: ModelCatalog

    /// Reads the data and checks it (before any model loads).
    public init(_ request: TrainRequest, store: ModelStore, catalog: ModelCatalog = .standard) throws {
        self.request = request
        self.store = store
        self.catalog = catalog
        guard request.c.isFinite, request.c > 0 else { throw RequestError("--c must be above 0, not \(request.c)") }
        guard request.heldOut >= 0, request.heldOut < 1 else { throw RequestError("--held-out must be at least 0 and below 1, not \(request.heldOut)") }
        if let k = request.cvFolds, k < 2 { throw RequestError("--cv must be at least 2 folds, not \(k)") }
        if let g = request.grid, g.isEmpty || g.contains(where: { !$0.isFinite || $0 <= 0 }) {
            throw RequestError("--c-grid must be values of C above 0, not \(g.map { "\($0)" }.joined(separator: ","))")
        }
        let model = request.model ?? EmbedTask.defaultImageModel
        guard let card = catalog.card(model) else { throw RequestError("unknown model \(model)") }
        text = card.kind == .text
        let url = URL(fileURLWithPath: request.data)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw ItemFailure(path: request.data, reason: "no such file or folder")
        }
        var pairs: [(String, String)] = []
        if isDir.boolValue {
            if text { throw RequestError("\(model) is a text model: give a TSV of text and label, not a folder") }
            let subfolders = try FileManager.default.contentsOfDirectory(atPath: url.path).sorted().filter { name in
                var d: ObjCBool = false
                return !name.hasPrefix(".") && FileManager.default.fileExists(atPath: url.appendingPathComponent(name).path, isDirectory: &d) && d.boolValue
            }
            for label in subfolders {
                for case .found(let p, _) in InputPaths([url.appendingPathComponent(label).path], accept: { MediaFormat.hasExtension($0, of: [.image, .video]) }) {
                    pairs.append((p, label))
                }
            }
            if subfolders.isEmpty { throw ItemFailure(path: request.data, reason: "has no class subfolders (one folder of images per class)") }
        } else {
            pairs = try TrainTask.table(url, text: text)
        }
        var names = Array(Set(pairs.map(\.1))).sorted()
        var counts: [String: Int] = [:]
        for p in pairs { counts[p.1, default: 0] += 1 }
        if names.count < 2 {
            throw RequestError("\(request.data): \(names.count == 1 ? "only one class (\(names[0]))" : "no examples"); a head needs at least two classes")
        }
        let few = names.filter { counts[$0]! < 2 }
        if !few.isEmpty {
            throw RequestError("\(request.data): class\(few.count == 1 ? "" : "es") \(few.prefix(5).joined(separator: ", ")) \(few.count == 1 ? "has" : "have") a single example; each class needs at least two (one to fit, one to judge)")
        }
        if !text {
            let missing = pairs.map(\.0).filter { !FileManager.default.fileExists(atPath: $0) }
            if !missing.isEmpty {
                let hint = missing.count * 2 > pairs.count ? " (if its first column holds texts, give a text model: --model \(EmbedTask.defaultTextModel))" : ""
                throw RequestError("\(request.data) names \(missing.count) file\(missing.count == 1 ? " that does" : "s that do") not exist, e.g. \(missing.prefix(3).joined(separator: ", "))\(hint)")
            }
        }
        // Known before anything is embedded: each class's training part (all but the held-out share).
        for name in names {
            let n = counts[name]!, fit = n - TrainTask.heldOutCount(n, request.heldOut)
            if fit < 1 {
                throw RequestError("class \(name) has no example left to fit on after holding out \(Int((request.heldOut * 100).rounded()))% of its \(n): give a smaller --held-out")
            }
            if let folds = request.cvFolds, fit < folds { throw TrainTask.tooFewForFolds(folds, name, fit, heldOut: request.heldOut) }
        }
        if !text {
            let cwd = FileManager.default.currentDirectoryPath
            pairs = pairs.map { (URL(fileURLWithPath: $0.0, relativeTo: URL(fileURLWithPath: cwd, isDirectory: true)).standardizedFileURL.path, $0.1) }
        }
        names.sort()
        classes = names
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        examples = pairs.map { ($0.0, index[$0.1]!) }
    }

    /// How many of a class's `n` examples are held out: the share rounded, at least one (none
    /// with `--held-out 0`).
    static func heldOutCount(_ n: Int, _ share: Double) -> Int {
        share == 0 ? 0 : max(1, Int((Double(n) * share).rounded()))
    }

    static func tooFewForFolds(_ folds: Int, _ name: String, _ count: Int, heldOut: Double) -> RequestError {
        RequestError("--cv \(folds) needs at least \(folds) training examples of every class; \(name) has \(count) (after holding out \(Int((heldOut * 100).rounded()))%): use fewer folds, or give more examples")
    }

    /// A CSV, TSV or JSONL of (path or text, label); relative paths are below the table's folder.
    /// A CSV is RFC 4180 (fields in double quotes may hold commas, quotes and line breaks); a
    /// TSV's last tab ends the first field (no quoting: a text may hold quotes); a header line
    /// (`path,label` or `text<TAB>label`), a byte-order mark, CRLF line ends and blank lines are
    /// taken.
    static func table(_ url: URL, text: Bool) throws -> [(String, String)] {
        guard var content = try? String(contentsOf: url, encoding: .utf8) else {
            throw ItemFailure(path: url.path, reason: "cannot be read as UTF-8 text (a CSV, TSV or JSONL of path and label)")
        }
        if content.hasPrefix("\u{FEFF}") { content.removeFirst() }
        let base = url.deletingLastPathComponent()
        let key = text ? "text" : "path"
        let kind = url.pathExtension.lowercased()
        let textsHint = "give a text model, e.g. --model \(EmbedTask.defaultTextModel)"
        // (line or row number, first field, label)
        var rows: [(Int, String, String)] = []
        if kind == "csv" {
            let csv: SwiftCSV.CSV<Enumerated>
            do { csv = try SwiftCSV.CSV<Enumerated>(string: content, delimiter: .comma, loadColumns: false) } catch {
                throw ItemFailure(path: url.path, reason: "is not a valid CSV (\(error)); quote fields that hold commas or quotes, doubling the quotes inside")
            }
            for (r, fields) in ([csv.header] + csv.rows).enumerated() {
                var f = fields.map { $0.trimmingCharacters(in: .whitespaces) }
                while f.count > 2 && f.last == "" { f.removeLast() }
                if f.allSatisfy(\.isEmpty) { continue }
                guard f.count == 2 else {
                    throw ItemFailure(path: url.path, reason: "row \(r + 1) has \(f.count) field\(f.count == 1 ? "" : "s"), not two (\(key), label): quote a field that holds a comma")
                }
                rows.append((r + 1, f[0], f[1]))
            }
        } else {
            for (n, raw) in content.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
                let line = String(raw)
                if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
                if kind == "jsonl" {
                    let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                    if !text, let o, o["path"] == nil, o["text"] != nil {
                        throw RequestError("\(url.path) holds texts (\"text\" and \"label\"): \(textsHint)")
                    }
                    guard let o, let f = o[key] as? String, let l = (o["label"] as? String) ?? (o["label"] as? NSNumber)?.stringValue else {
                        throw ItemFailure(path: url.path, reason: "line \(n + 1) is not a JSON object with \"\(key)\" and \"label\"")
                    }
                    rows.append((-1, f, l))
                } else {
                    guard let cut = line.lastIndex(of: "\t") else {
                        throw ItemFailure(path: url.path, reason: "line \(n + 1) has no tab between the \(key) and the label")
                    }
                    rows.append((n + 1, String(line[..<cut]), String(line[line.index(after: cut)...]).trimmingCharacters(in: .whitespaces)))
                }
            }
        }
        var out: [(String, String)] = []
        for (i, row) in rows.enumerated() {
            var (_, first, label) = row
            if i == 0 && kind != "jsonl" && label.lowercased() == "label" {                           // a header
                if !text && first.lowercased() == "text" { throw RequestError("\(url.path) holds texts (its header: text, label): \(textsHint)") }
                if first.lowercased() == key { continue }
            }
            if !text && !first.hasPrefix("/") { first = base.appendingPathComponent(first).path }
            out.append((first, label))
        }
        return out
    }

    /// What `run` made: the head and its held-out metrics, and what went wrong per input.
    public struct Result {
        public let head: ClassificationHead
        public let metrics: HeadMetrics
        public let fit: LogisticRegression.Report
        public let trainCount: Int, heldOutCount: Int
        /// Rows fitted on and judged: one per example, one per sampled frame of a video.
        public let trainRows: Int, heldOutRows: Int
        /// The embedding job (its stages' use of the machine, for --stats).
        public let embedding: JobSummary
        public let skipped: [ItemFailure]
        /// Seconds of the final fit, and of cross-validation's fits (0 without `--cv`).
        public let fitSeconds: Double, crossValidationSeconds: Double
        /// Examples embedded by this run, and read back from the features folder.
        public let embedded: Int, reused: Int
        /// What cross-validation found (`--cv`).
        public let crossValidation: LogisticRegression.CrossValidation?
    }

    /// A text example's item: identified by its sha256 (so the rows of `embed --text` in the
    /// same features folder are reused too; the manifest line carries the text).
    static func textItem(_ text: String) -> SourceItem {
        let item = SourceItem.text(text, at: "")
        return SourceItem(path: "text:" + item.digest!, size: item.size, mtime: 0, digest: item.digest)
    }

    /// Embeds every example (unreadable ones reported and skipped; with `request.features`,
    /// those embedded before are read back instead), chooses C (`--cv`) and fits on the
    /// training part, and judges on the held-out part (the same share of each class, chosen by
    /// a fixed rule). nil when `control` stopped it (the embeddings so far are kept).
    public func run(progress: Progress, control: JobControl? = nil) throws -> Result? {
        let model = request.model ?? EmbedTask.defaultImageModel
        let modelName: String, weights: URL, cardName: String
        // The examples' inputs, each once: image files by path, texts by their digest.
        var items: [(item: SourceItem, value: String)] = [], key: [SourceItem] = []
        var seen: [String: SourceItem] = [:]
        for (value, _) in examples {
            let item = text ? TrainTask.textItem(value) : (SourceItem.stat(value) ?? SourceItem(path: value, size: -1, mtime: 0))
            if seen[item.path] == nil { seen[item.path] = item; items.append((item, value)) }
            key.append(seen[item.path]!)
        }
        let embed: EmbedTask
        if text {
            let encoder = try EmbedTask.textEncoder(model, store: store, catalog: catalog)
            embed = EmbedTask(texts: items, encoder: encoder)
            (modelName, cardName, weights) = (encoder.name, encoder.model, encoder.weights)
        } else {
            let session = try VisionSession(model: model, weights: nil, store: store, catalog: catalog)
            embed = try EmbedTask(images: ImageInputs(paths: items.map(\.item.path)), session: session)
            (modelName, cardName) = (session.modelName, catalog.card(model)?.name ?? model)
            weights = session.weights
        }
        let writer = try request.features.map {
            try FeatureShardWriter(directory: URL(fileURLWithPath: $0), format: .npy, shardRows: 50_000, model: embed.modelName,
                                   request: embed.identity, overwrite: false,
                                   advice: "give another --features folder, or delete this one")
        }
        var byKey: [String: [[Float]]] = [:]       // an input's rows: one per image, per sampled video frame
        var reused = 0
        if let kept = try writer?.keptRows() {
            for (item, _) in items {
                if let rows = kept[JSONLinesOutput.ResumeKey(item)], !rows.isEmpty {
                    byKey[item.path] = rows
                    reused += 1
                }
            }
        }
        let sink = TrainEmbeddingSink(writer.map(FeatureShardSink.init))
        let summary = try embed.run(into: sink, progress: progress, control: control)
        if summary.cancelled || control?.isCancelled == true { return nil }
        var skipped: [ItemFailure] = []
        var embedded = 0
        for (source, result) in sink.memory.results {
            switch result {
            case .success(let r):
                let d = r.rows.shape.last ?? 0, all = r.rows.contiguous().scalars
                byKey[source.path] = (0..<(d == 0 ? 0 : all.count / d)).map { Array(all[($0 * d)..<(($0 + 1) * d)]) }
                embedded += 1
            case .failure(let f): if !f.interrupted { skipped.append(f) }
            }
        }
        // Each example's rows (by index: a path may be listed twice; a video has a row per
        // sampled frame, each labelled as the video); a class without two examples is refused
        // below, so `d` is only read with rows there.
        let rows = Dictionary(uniqueKeysWithValues: examples.indices.compactMap { i in byKey[key[i].path].map { (i, $0) } })
        let d = rows.values.first?.first?.count ?? 0
        // Held out: every class's examples in input order, each `1/heldOut`-th one (at least one);
        // a video's frames are all on one side.
        var train: [Int] = [], test: [Int] = []
        for k in classes.indices {
            let mine = examples.indices.filter { examples[$0].1 == k && rows[$0] != nil }
            let held = TrainTask.heldOutCount(mine.count, request.heldOut)
            guard mine.count >= 2 else {
                throw RequestError("class \(classes[k]) has \(mine.count) readable example\(mine.count == 1 ? "" : "s"); each class needs at least two")
            }
            let stride = Double(mine.count) / Double(max(held, 1))
            let picked = Set((0..<held).map { Int(Double($0) * stride + stride / 2) })
            for (j, i) in mine.enumerated() { if picked.contains(j) { test.append(i) } else { train.append(i) } }
        }
        func matrix(_ ids: [Int]) -> Tensor {
            let all = ids.flatMap { rows[$0]! }
            return Tensor(shape: [all.count, d], scalars: all.flatMap { $0 })
        }
        func labels(_ ids: [Int]) -> [Int] { ids.flatMap { i in [Int](repeating: examples[i].1, count: rows[i]!.count) } }
        var options = LogisticRegression.Options()
        options.c = request.c
        options.balanced = request.balanced
        let xTrain = matrix(train), yTrain = labels(train)
        let t0 = DispatchTime.now().uptimeNanoseconds
        var crossValidation: LogisticRegression.CrossValidation?
        if let folds = request.cvFolds {
            var counts = [Int](repeating: 0, count: classes.count)
            for i in train { counts[examples[i].1] += 1 }
            if let k = counts.indices.first(where: { counts[$0] < folds }) {
                throw TrainTask.tooFewForFolds(folds, classes[k], counts[k], heldOut: request.heldOut)
            }
            progress.note("choosing C by \(folds)-fold cross-validation over \(request.grid?.count ?? LogisticRegression.defaultGrid.count) values")
            guard let found = LogisticRegression.crossValidate(xTrain, labels: yTrain, classes: classes.count, folds: folds,
                                                               grid: request.grid ?? LogisticRegression.defaultGrid, options: options,
                                                               stop: { control?.isCancelled == true }) else { return nil }
            crossValidation = found
            options.c = found.best
        }
        let t1 = DispatchTime.now().uptimeNanoseconds
        let (regression, report) = LogisticRegression.fit(xTrain, labels: yTrain, classes: classes.count, options: options)
        let fitSeconds = Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e9, cvSeconds = Double(t1 - t0) / 1e9
        if control?.isCancelled == true { return nil }
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classes.count), count: classes.count)
        for (truth, p) in zip(labels(test), regression.probabilities(matrix(test))) {
            let predicted = p.indices.max { p[$0] < p[$1] } ?? 0
            confusion[truth][predicted] += 1
        }
        let metrics = HeadMetrics(classes: classes, confusion: confusion)
        var info: [String: Any] = ["C": options.c, "class_weight": request.balanced ? "balanced" : "none", "held_out": request.heldOut,
                                   "train_examples": train.count, "held_out_examples": test.count,
                                   // Which examples were held out (paths, or texts), so the fit can be made again.
                                   "held_out_inputs": test.map { examples[$0].0 },
                                   "solver": "lbfgs, multinomial, L2 (scikit-learn's LogisticRegression)", "iterations": report.iterations]
        if !test.isEmpty { info["metrics"] = metrics.json }
        if let cv = crossValidation {
            info["cv"] = ["folds": cv.folds, "grid": cv.grid, "mean_accuracy": cv.meanAccuracy,
                          "rule": "stratified K-fold (scikit-learn's StratifiedKFold, no shuffle) on the training part, accuracy; the first best C"] as [String: Any]
        }
        let head = ClassificationHead(classes: classes, regression: regression, embeddingModel: modelName, embeddingCard: cardName,
                                      weightsSHA256: try ClassificationHead.sha256(of: weights), text: text, info: info)
        return Result(head: head, metrics: metrics, fit: report, trainCount: train.count, heldOutCount: test.count,
                      trainRows: yTrain.count, heldOutRows: labels(test).count, embedding: summary, skipped: skipped,
                      fitSeconds: fitSeconds, crossValidationSeconds: cvSeconds, embedded: embedded, reused: reused, crossValidation: crossValidation)
    }
}

/// Where train's embeddings go: kept in memory for the fit, and (with a features folder) in
/// its shards, which also say which examples an earlier run embedded.
final class TrainEmbeddingSink: ResultSink {
    let file: FeatureShardSink?
    let memory = CollectingSink<EmbeddingRecord>()
    init(_ file: FeatureShardSink?) { self.file = file }
    func isDone(_ item: SourceItem) -> Bool { file?.isDone(item) ?? false }
    func write(_ r: EmbeddingRecord, for source: SourceItem) throws {
        try memory.write(r, for: source)
        try file?.write(r, for: source)
    }
    func failed(_ f: ItemFailure, for source: SourceItem) throws {
        try memory.failed(f, for: source)
        try file?.failed(f, for: source)
    }
    func finish() throws { try file?.finish() }
}
