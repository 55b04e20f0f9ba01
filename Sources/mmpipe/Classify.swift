import ArgumentParser
import Foundation
import Media
import Models
import Engine
import TensorCore

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify images (and video frames): ImageNet classes.",
        discussion: """
            Without --labels: the model's own classes (ImageNet-1k for efficientnet-lite0, \
            the default, whose weights scripts/fetch-models installs), top-k with \
            probabilities. Output: a table, or --format json (one object per image or frame) \
            or csv. With --output FILE the JSON lines go to FILE and a second run skips \
            inputs already there.

            Examples:
              mmpipe classify Samples/cat.jpg
              mmpipe classify Samples/ --top-k 3 --format csv
              mmpipe classify clip.mp4 --fps 0.5 --format json
            """)

    @Argument(help: "Image or video files, directories, or - for a list of paths on stdin.")
    var inputs: [String] = []

    @Option(help: "Model name: efficientnet-lite0, or a ResNet / ViT with --weights; with --labels: lite0-minilm or a CLIP model.")
    var model: String?

    @Option(help: "Zero-shot: comma-separated labels to choose from.")
    var labels: String?

    @Option(help: "Zero-shot: a file with one label per line.")
    var labelsFile: String?

    @Option(help: "Zero-shot prompt templates: default (\"a photo of a {}.\"), imagenet (CLIP's 80), or a file of lines with {}.")
    var templates: String = "default"

    @Flag(help: "Zero-shot: report every label whose score reaches --threshold instead of a distribution over the labels.")
    var multiLabel = false

    @Option(help: "Zero-shot --multi-label threshold (CLIP: cosine similarity; lite0-minilm: probability mass).")
    var threshold: Float?

    @Flag(help: "lite0-minilm: show the ImageNet classes behind each label's score.")
    var explain = false

    @Option(help: "Classes to show per image.")
    var topK: Int = 5

    @Option(help: "table, json or csv.")
    var format: String = "table"

    @OptionGroup var vision: VisionInputOptions
    @OptionGroup var runOptions: RunOptions
    @OptionGroup var out: OutputOptions

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("give at least one file, directory or -") }
        guard ["table", "json", "csv"].contains(format) else { throw ValidationError("--format must be table, json or csv") }
        if labels != nil || labelsFile != nil {
            if try ZeroShotLabels.parse(list: labels, file: labelsFile).count < (multiLabel ? 1 : 2) {
                throw ValidationError("give at least two labels (or one with --multi-label)")
            }
        } else if multiLabel || explain || threshold != nil {
            throw ValidationError("--multi-label, --threshold and --explain need --labels or --labels-file")
        }
        if topK < 1 { throw ValidationError("--top-k must be positive") }
    }

    func run() throws {
        if labels != nil || labelsFile != nil { return try runZeroShot() }
        let model = self.model ?? VisionSession.defaultModel
        _ = runOptions.applyThreads()
        let session: VisionSession
        do {
            session = try VisionSession(model: model, weights: vision.weights, store: try ModelStore())
        } catch {
            throw jobFailure(error)
        }
        guard let labels = session.encoder.labels else {
            throw ValidationError("\(model): these weights have no classifier head (use embed, or give --labels)")
        }
        let output = try out.output.map { try JSONLinesOutput(url: URL(fileURLWithPath: $0), overwrite: out.overwrite) }
        let job = Job(window: vision.window, progress: .automatic(quiet: runOptions.quiet || output == nil))
        Interrupts.cancel(job)
        let (k, format, modelName) = (topK, self.format, session.modelName)
        if output == nil && format == "csv" { print("path,time,rank,label,class_index,probability") }
        let summary = vision.encode(job, inputs: inputs, session: session) { output?.isDone($0) ?? false }
            .sink { e in
                guard case .success(let (prepared, features)) = e.value, let logits = features.logits else {
                    if case .failure(let f) = e.value { ClassifyOutput.failure(f, for: e.source, in: output) }
                    return
                }
                let top = ImageNetTop.top(logits, k: k, labels: labels)
                for (row, predictions) in top.enumerated() {
                    let time = prepared.times?[row]
                    var record: [String: Any] = ["path": e.source.path, "model": modelName,
                                                 "predictions": predictions.map { ["label": $0.label, "class_index": $0.index, "probability": Double($0.probability)] }]
                    if let time { record["time"] = time }
                    if ClassifyOutput.store(record, for: e.source, in: output) { continue }
                    switch format {
                    case "json":
                        ClassifyOutput.printJSON(record)
                    case "csv":
                        for (rank, p) in predictions.enumerated() {
                            print([CSV.field(e.source.path), time.map { String(format: "%.3f", $0) } ?? "", "\(rank + 1)",
                                   CSV.field(p.label), "\(p.index)", String(format: "%.6f", p.probability)].joined(separator: ","))
                        }
                    default:
                        print(e.source.path + (time.map { String(format: " @ %.2f s", $0) } ?? "") + "  (\(modelName))")
                        for (rank, p) in predictions.enumerated() {
                            print(String(format: "  %d  %6.2f%%  ", rank + 1, p.probability * 100) + p.label)
                        }
                    }
                }
            }
        try output?.commit()
        runOptions.report(summary)
        let status = exitStatus(summary)
        if status != .success { throw status }
    }
}

extension Classify {
    /// Zero-shot by free-text labels: CLIP when its weights are given or installed, else the
    /// offline lite0-minilm model. The answering model is named in every output.
    func runZeroShot() throws {
        _ = runOptions.applyThreads()
        let store = try ModelStore()
        let labelList = try ZeroShotLabels.parse(list: labels, file: labelsFile)
        // The answering model: --model, else CLIP when --weights or installed CLIP weights say
        // so, else the offline lite0-minilm.
        let chosen = model ?? (vision.weights != nil ? "clip" : VisionSession.installedCLIP(store: store) ?? Lite0MiniLM.name)
        let session: VisionSession
        let modelName: String
        let score: @Sendable (VisionFeatures) -> [ZeroShotResult]
        let multi = multiLabel, explainTop = explain ? 3 : 0
        let threshold: Float
        do {
            if chosen == Lite0MiniLM.name {
                let zs = try Lite0MiniLM(store: store)
                let set = ZeroShotLabels(labels: labelList, templates: try ZeroShotLabels.templates(templates, default: Lite0MiniLM.defaultTemplates))
                let affinity = try zs.affinity(set)
                session = zs.vision
                modelName = Lite0MiniLM.name
                threshold = self.threshold ?? 0.3
                score = { f in zs.classify(logits: f.logits!, affinity: affinity, explainTop: explainTop) }
            } else if VisionSession.isCLIP(chosen) {
                if explain { throw ValidationError("--explain is for lite0-minilm (CLIP has no classes to show)") }
                session = try VisionSession(model: chosen, weights: vision.weights, store: store)
                let identity = vision.weights.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? store.directory.appendingPathComponent(chosen).path
                let zs = try CLIPZeroShot(vision: session, store: store, weightsIdentity: identity)
                let labelRows = try zs.labelEmbeddings(ZeroShotLabels(labels: labelList, templates: try ZeroShotLabels.templates(templates, default: CLIPZeroShot.defaultTemplates)))
                modelName = session.modelName
                threshold = self.threshold ?? 0.25
                score = { f in zs.classify(imageEmbeddings: f.pooled, labels: labelRows, multiLabel: multi) }
            } else {
                throw ItemFailure(path: chosen, reason: "zero-shot models: \(Lite0MiniLM.name), \(CLIPConfig.standardNames.joined(separator: ", "))")
            }
        } catch let e as ValidationError {
            throw e
        } catch {
            throw jobFailure(error)
        }
        let output = try out.output.map { try JSONLinesOutput(url: URL(fileURLWithPath: $0), overwrite: out.overwrite) }
        let job = Job(window: vision.window, progress: .automatic(quiet: runOptions.quiet || output == nil))
        Interrupts.cancel(job)
        let (k, format) = (min(topK, labelList.count), self.format)
        if output == nil && format == "csv" { print("path,time,rank,label,score,model") }
        let summary = vision.encode(job, inputs: inputs, session: session) { output?.isDone($0) ?? false }
            .sink { e in
                guard case .success(let (prepared, features)) = e.value else {
                    if case .failure(let f) = e.value { ClassifyOutput.failure(f, for: e.source, in: output) }
                    return
                }
                for (row, r) in score(features).enumerated() {
                    let time = prepared.times?[row]
                    var order = r.scores.indices.sorted { r.scores[$0] != r.scores[$1] ? r.scores[$0] > r.scores[$1] : $0 < $1 }
                    order = multi ? order.filter { r.scores[$0] >= threshold } : Array(order.prefix(k))
                    var record: [String: Any] = [
                        "path": e.source.path, "model": modelName, "multi_label": multi,
                        "labels": order.map { i -> [String: Any] in
                            var l: [String: Any] = ["label": labelList[i], "score": Double(r.scores[i])]
                            if let c = r.contributions?[i] { l["imagenet_classes"] = c.map { ["class": $0.className, "share": Double($0.share)] } }
                            return l
                        },
                    ]
                    if let time { record["time"] = time }
                    if ClassifyOutput.store(record, for: e.source, in: output) { continue }
                    switch format {
                    case "json":
                        ClassifyOutput.printJSON(record)
                    case "csv":
                        for (rank, i) in order.enumerated() {
                            print([CSV.field(e.source.path), time.map { String(format: "%.3f", $0) } ?? "", "\(rank + 1)",
                                   CSV.field(labelList[i]), String(format: "%.6f", r.scores[i]), modelName].joined(separator: ","))
                        }
                    default:
                        print(e.source.path + (time.map { String(format: " @ %.2f s", $0) } ?? "") + "  (\(modelName))")
                        if order.isEmpty { print("  (no label reaches \(threshold))") }
                        for (rank, i) in order.enumerated() {
                            print(String(format: "  %d  %6.2f%%  ", rank + 1, r.scores[i] * 100) + labelList[i])
                            if let c = r.contributions?[i] {
                                print("       from: " + c.map { String(format: "%@ %.1f%%", $0.className, $0.share * 100) }.joined(separator: ", "))
                            }
                        }
                    }
                }
            }
        try output?.commit()
        runOptions.report(summary)
        let status = exitStatus(summary)
        if status != .success { throw status }
    }
}

/// Where classify's per-image records go: `--output` (JSON lines with the resume fields) or
/// standard output; shared by the ImageNet and zero-shot paths.
enum ClassifyOutput {
    /// Appends `record` to `output` and returns true; false when there is no `--output`.
    static func store(_ record: [String: Any], for source: SourceItem, in output: JSONLinesOutput?) -> Bool {
        guard let output else { return false }
        var r = record
        r.merge(JSONLinesOutput.sourceFields(source)) { _, b in b }
        try? output.append(r)
        return true
    }

    /// Records a failed input in `--output` (retried on resume); stderr has its line already.
    static func failure(_ f: ItemFailure, for source: SourceItem, in output: JSONLinesOutput?) {
        guard let output else { return }
        var record = JSONLinesOutput.sourceFields(source)
        record["error"] = f.reason
        try? output.append(record)
    }

    static func printJSON(_ record: [String: Any]) {
        let data = (try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        print(String(decoding: data, as: UTF8.self))
    }
}

/// Top-k of softmax(logits) per row.
enum ImageNetTop {
    struct Prediction { let index: Int, label: String, probability: Float }

    static func top(_ logits: Tensor, k: Int, labels: [String]) -> [[Prediction]] {
        let probs = logits.softmax(axis: -1).contiguous()
        let n = probs.shape[0], c = probs.shape[1]
        return (0..<n).map { i in
            let row = Array(UnsafeBufferPointer(start: probs.pointer + i * c, count: c))
            let order = row.indices.sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }.prefix(min(k, c))
            return order.map { Prediction(index: $0, label: $0 < labels.count ? labels[$0] : "\($0)", probability: row[$0]) }
        }
    }
}

/// RFC 4180 quoting for a CSV field.
enum CSV {
    static func field(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
