import ArgumentParser
import Foundation
import Media
import Models
import Engine
import TensorCore

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Extract image features (embeddings) and write them to disk.",
        discussion: """
            One float32 row per image (per sampled frame for a video) in shards \
            DIR/features-00000.npy (N x D, at most --shard-rows rows each) and \
            DIR/manifest.jsonl, one line per row: row, shard, path, size, mtime_us, model \
            (and time for a video frame), or path and error for an input that failed. \
            Interrupted (Ctrl-C) or not, what is done is saved; the same command again \
            skips inputs already in the manifest and starts a new shard.

            Load in numpy:  x = np.load("DIR/features-00000.npy")   # row i = manifest line with "row": i, "shard": "features-00000.npy"

            Models: efficientnet-lite0 (real ImageNet weights, fetched by scripts/fetch-models); \
            resnet18 ... resnet152, vit-ti-16, vit-s-16, vit-b-16, vit-b-32, vit-l-16 with \
            --weights (a Hugging Face folder or a .safetensors state dict). Text (--text, \
            --text-file): all-minilm-l6-v2 (real sentence-transformers weights, fetched), \
            L2-normalised sentence embeddings; manifest lines carry the text and where it came \
            from (--text #N or FILE:LINE).

            Examples:
              mmpipe embed Samples/ --model efficientnet-lite0 --output /tmp/feats
              mmpipe embed photos/ --model resnet50 --weights ~/hf/resnet-50 --output feats --format safetensors
              mmpipe embed clip.mp4 --model efficientnet-lite0 --fps 0.5 --output feats
              mmpipe embed --text "a cat on a sofa" --text-file sentences.txt --output text-feats
            """)

    @Argument(help: "Image or video files, directories, or - for a list of paths on stdin.")
    var inputs: [String] = []

    @Option(help: "Model name (see above; default efficientnet-lite0 for images, all-minilm-l6-v2 for text).")
    var model: String?

    @Option(help: "Embed this text (repeatable) instead of images.")
    var text: [String] = []

    @Option(help: "Embed each non-empty line of this file (- for stdin; repeatable).")
    var textFile: [String] = []

    @Option(name: .shortAndLong, help: "Output folder for the shards and manifest.jsonl.")
    var output: String

    @Option(help: "Shard format: npy or safetensors (one tensor named 'features').")
    var format: String = "npy"

    @Option(help: "pooled (the embedding) or logits (class scores; models with a classifier).")
    var layer: String = "pooled"

    @Option(help: "Rows per shard file.")
    var shardRows: Int = 50_000

    @Flag(help: "Start the output folder afresh instead of resuming.")
    var overwrite = false

    @OptionGroup var vision: VisionInputOptions
    @OptionGroup var runOptions: RunOptions

    func validate() throws {
        let textMode = !text.isEmpty || !textFile.isEmpty
        if textMode && !inputs.isEmpty { throw ValidationError("give either files to embed or --text / --text-file, not both") }
        if !textMode && inputs.isEmpty { throw ValidationError("give at least one file, directory or - (or --text / --text-file)") }
        guard FeatureShardWriter.Format(rawValue: format) != nil else { throw ValidationError("--format must be npy or safetensors") }
        guard layer == "pooled" || layer == "logits" else { throw ValidationError("--layer must be pooled or logits") }
        if shardRows < 1 { throw ValidationError("--shard-rows must be positive") }
    }

    func run() throws {
        if !text.isEmpty || !textFile.isEmpty { return try runText() }
        let model = self.model ?? VisionSession.defaultModel
        _ = runOptions.applyThreads()
        let session: VisionSession
        do {
            session = try VisionSession(model: model, weights: vision.weights, store: try ModelStore())
        } catch {
            throw jobFailure(error)
        }
        if layer == "logits" && !session.encoder.hasClassifier {
            throw ValidationError("\(model): these weights have no classifier head; use --layer pooled")
        }
        let writer: FeatureShardWriter
        do {
            writer = try FeatureShardWriter(directory: URL(fileURLWithPath: output), format: FeatureShardWriter.Format(rawValue: format)!,
                                            shardRows: shardRows, model: session.modelName + (layer == "logits" ? ":logits" : ""),
                                            overwrite: overwrite)
        } catch {
            throw jobFailure(error)
        }
        let job = Job(window: vision.window, progress: .automatic(quiet: runOptions.quiet))
        Interrupts.cancel(job)
        let logits = layer == "logits"
        let summary = vision.encode(job, inputs: inputs, session: session) { writer.isDone($0) }
            .sink { e in
                do {
                    switch e.value {
                    case .success(let (prepared, features)):
                        let rows = logits ? features.logits! : features.pooled
                        let extra = prepared.times.map { $0.map { ["time": $0] as [String: Any] } } ?? []
                        try writer.append(e.source, features: rows, extra: extra)
                    case .failure(let f):
                        try writer.appendError(e.source, message: f.reason)
                    }
                } catch {
                    job.progress.failed(ItemFailure(path: e.source.path, error: error))
                }
            }
        do {
            try writer.commit()
        } catch {
            throw jobFailure(error)
        }
        if !runOptions.quiet {
            FileHandle.standardError.write(Data("mmpipe: \(writer.rowsWritten) rows written to \(output) (model \(session.modelName), \(layer))\n".utf8))
        }
        runOptions.report(summary)
        let status = exitStatus(summary)
        if status != .success { throw status }
    }

    /// Sentence embeddings of texts, through the same shard writer.
    func runText() throws {
        let model = self.model ?? "all-minilm-l6-v2"
        _ = runOptions.applyThreads()
        guard TextSession.isTextModel(model) || VisionSession.isCLIP(model) else {
            throw ValidationError("\(model) is not a text model; text models: \((TextSession.models.sorted() + CLIPConfig.standardNames).joined(separator: ", "))")
        }
        let encode: @Sendable ([String]) -> Tensor
        let modelName: String, dimension: Int
        let values: [(SourceItem, String)]
        let writer: FeatureShardWriter
        do {
            if VisionSession.isCLIP(model) {
                // CLIP's text tower: projected, not normalised (as open_clip's encode_text).
                let clip = try VisionSession.loadCLIP(model: model, weights: vision.weights, store: try ModelStore())
                encode = { clip.encodeTexts($0) }
                (modelName, dimension) = (clip.name + ":text", clip.embeddingDimension)
            } else {
                let session = try TextSession(model: model, weights: vision.weights, store: try ModelStore())
                encode = { session.embed($0) }
                (modelName, dimension) = (session.modelName, session.encoder.dimension)
            }
            values = try TextInputs.collect(texts: text, files: textFile)
            writer = try FeatureShardWriter(directory: URL(fileURLWithPath: output), format: FeatureShardWriter.Format(rawValue: format)!,
                                            shardRows: shardRows, model: modelName, overwrite: overwrite)
        } catch {
            throw jobFailure(error)
        }
        let job = Job(window: 256, progress: .automatic(quiet: runOptions.quiet))
        Interrupts.cancel(job)
        let texts = Dictionary(values.map { ($0.0.path, $0.1) }, uniquingKeysWith: { a, _ in a })
        let summary = job.source(values: values.filter { !writer.isDone($0.0) })
            .batch(TextEncodeStage(maxBatch: 64) { encode($0) })
            .sink { e in
                do {
                    switch e.value {
                    case .success(let row): try writer.append(e.source, features: row, extra: [["text": texts[e.source.path] ?? ""]])
                    case .failure(let f): try writer.appendError(e.source, message: f.reason)
                    }
                } catch {
                    job.progress.failed(ItemFailure(path: e.source.path, error: error))
                }
            }
        do { try writer.commit() } catch {
            throw jobFailure(error)
        }
        if !runOptions.quiet {
            FileHandle.standardError.write(Data("mmpipe: \(writer.rowsWritten) rows written to \(output) (model \(modelName), \(dimension) floats)\n".utf8))
        }
        runOptions.report(summary)
        let status = exitStatus(summary)
        if status != .success { throw status }
    }
}
