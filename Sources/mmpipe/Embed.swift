import ArgumentParser
import Foundation
import Media
import Models
import Engine
import TensorCore

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Extract image or text features (embeddings) and write them to disk.",
        discussion: """
            One float32 row per image (per sampled frame for a video) in shards \
            DIR/features-00000.npy (N x D, at most --shard-rows rows each) and \
            DIR/manifest.jsonl, one line per row: row, shard, path, size, mtime_us, model \
            (and time for a video frame), or path and error for an input that failed. \
            Interrupted (Ctrl-C) or not, what is done is saved; the same command again \
            skips inputs already in the manifest and starts a new shard.

            Row i of a shard belongs to the manifest line with that "shard" and "row": i. \
            All rows in manifest order, in numpy (several shards after a resume or 50 000 rows):
              rows = [r for r in map(json.loads, open("DIR/manifest.jsonl")) if "shard" in r]
              shards = {s: np.load("DIR/" + s, mmap_mode="r") for s in {r["shard"] for r in rows}}
              x = np.stack([shards[r["shard"]][r["row"]] for r in rows])

            Models: efficientnet-lite0 (real ImageNet weights, fetched by scripts/fetch-models); \
            CLIP clip-vit-b-32, clip-vit-b-16, clip-vit-l-14, clip-vit-l-14-336 (projected image \
            embeddings; `mmpipe models fetch NAME` or --weights); resnet18 ... resnet152, \
            vit-ti-16, vit-s-16, vit-b-16, vit-b-32, vit-l-16 with --weights (a Hugging Face \
            folder or a .safetensors state dict). Text (--text, --text-file): all-minilm-l6-v2 \
            (real sentence-transformers weights, fetched), L2-normalised sentence embeddings, or \
            a CLIP model's text tower; manifest lines carry the text and where it came from \
            (--text #N or FILE:LINE).

            Examples:
              mmpipe embed Samples/ --model efficientnet-lite0 --output /tmp/feats
              mmpipe embed photos/ --model resnet50 --weights ~/hf/resnet-50 --output feats --format safetensors
              mmpipe embed clip.mp4 --model efficientnet-lite0 --fps 0.5 --output feats
              mmpipe embed --text "a cat on a sofa" --text-file sentences.txt --output text-feats
              mmpipe embed photos/ --model clip-vit-b-32 --output clip-feats
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
    var format: FeatureShardWriter.Format = .npy

    @Option(help: "pooled (the embedding) or logits (class scores; models with a classifier).")
    var layer: EmbedRequest.Layer = .pooled

    @Option(parsing: .unconditional, help: "Rows per shard file.")
    var shardRows: Int = 50_000

    @Flag(help: "Start the output folder afresh instead of resuming.")
    var overwrite = false

    @Option(help: "Commit the rows so far at least this often (a killed run loses at most this much work; each checkpoint closes a shard).")
    var checkpointSeconds: Double = 30

    @Option(help: "Commit the rows so far every this many rows too (default: --shard-rows).")
    var checkpointRows: Int?

    @OptionGroup var vision: VisionInputOptions
    @OptionGroup var runOptions: RunOptions
    @OptionGroup var sharding: ShardOptions

    func validate() throws {
        let textMode = !text.isEmpty || !textFile.isEmpty
        if textMode && !inputs.isEmpty { throw ValidationError("give either files to embed or --text / --text-file, not both") }
        if !textMode && inputs.isEmpty { throw ValidationError("give at least one file, directory or - (or --text / --text-file)") }
        if shardRows < 1 { throw ValidationError("--shard-rows must be positive") }
        if textMode && sharding.shard != nil { throw ValidationError("--shard splits files among machines: embed texts in one process") }
    }

    func request() throws -> EmbedRequest {
        let textMode = !text.isEmpty || !textFile.isEmpty
        var images = vision.images(inputs)
        images.shard = try sharding.resolve()
        var r = EmbedRequest(input: textMode ? .texts(try TextInputs.collect(texts: text, files: textFile)) : .images(images))
        r.model = model
        r.weights = vision.weights
        r.layer = layer
        return r
    }

    func run() throws {
        try runOptions.execute(load: { try EmbedTask(try request(), store: try ModelStore()) }) { task in
            let writer = try FeatureShardWriter(directory: URL(fileURLWithPath: output), format: format, shardRows: shardRows,
                                                model: task.modelName, request: task.identity, overwrite: overwrite,
                                                checkpointSeconds: checkpointSeconds, checkpointRows: checkpointRows,
                                                part: try sharding.resolve())
            let summary = try task.run(into: FeatureShardSink(writer), progress: runOptions.progress())
            if !runOptions.quiet {
                let what = task.dimension.map { "model \(task.modelName), \($0) floats" }
                    ?? "model \(task.modelName.replacingOccurrences(of: ":logits", with: "")), \(layer.rawValue)"
                Report.log.info("\(writer.rowsWritten) rows written to \(output) (\(what))")
            }
            return summary
        }
    }
}
