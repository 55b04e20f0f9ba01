import ArgumentParser
import Foundation
import Media
import Models
import Engine
import TensorCore

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify images (and video frames): ImageNet classes, or your own labels (zero-shot, CLIP or lite0-minilm).",
        discussion: """
            Without --labels: the model's own classes (ImageNet-1k for efficientnet-lite0, \
            the default, whose weights scripts/fetch-models installs), top-k with \
            probabilities. With --labels or --labels-file (zero-shot): scores for your own \
            labels, from a CLIP model (clip-vit-b-32 ...: `mmpipe models fetch NAME` or \
            --weights) or, without CLIP weights, the offline lite0-minilm (ImageNet classes \
            mapped to the labels by all-MiniLM-L6-v2); --multi-label keeps every label above \
            --threshold. A labels file holds one label per line; blank lines and lines \
            starting with # are skipped. Output: a table, or --format json (one object per image or frame) \
            or csv. With --output FILE the JSON lines go to FILE and a second run skips \
            inputs already there. --head HEAD classifies into the classes of a head made by \
            `mmpipe train`, with probabilities: images, or with a head trained on a text model \
            (sentiment, topics...), texts given by --text or --text-file.

            Examples:
              mmpipe classify Samples/cat.jpg
              mmpipe classify Samples/ --top-k 3 --format csv
              mmpipe classify clip.mp4 --fps 0.5 --format json
              mmpipe classify photos/ --labels cat,dog,car --format json
              mmpipe classify photos/ --head pets.head.safetensors
              mmpipe classify --head sentiment.head.safetensors --text "what a waste of two hours"
            """)

    @Argument(help: "Image or video files, directories, or - for a list of paths on stdin.")
    var inputs: [String] = []

    @Option(help: "Model name: efficientnet-lite0, or a ResNet / ViT with --weights; with --labels: lite0-minilm or a CLIP model.")
    var model: String?

    @Option(help: "Zero-shot: comma-separated labels to choose from (repeatable: --labels cat --labels dog).")
    var labels: [String] = []

    @Option(help: "Zero-shot: a file with one label per line (blank lines and lines starting with # are skipped).")
    var labelsFile: String?

    @Option(help: "A head made by `mmpipe train`: classify into its classes (with probabilities) on the embedding model it was trained on.")
    var head: String?

    @Option(help: "With a --head trained on texts: classify this text (repeatable) instead of images.")
    var text: [String] = []

    @Option(help: "With a --head trained on texts: classify each line of this file (blank lines skipped).")
    var textFile: [String] = []

    @Option(help: "Zero-shot prompt templates: default (\"a photo of a {}.\"), imagenet (CLIP's 80), or a file of lines with {}.")
    var templates: String = "default"

    @Flag(help: "Zero-shot or --head: report every label whose score reaches --threshold instead of the top k.")
    var multiLabel = false

    @Option(parsing: .unconditional, help: "--multi-label threshold, -1...1 (CLIP: cosine similarity, default 0.25; lite0-minilm: probability mass, 0.3; --head: probability, 0.5).")
    var threshold: Float?

    @Flag(help: "lite0-minilm: show the ImageNet classes behind each label's score.")
    var explain = false

    @Option(parsing: .unconditional, help: "Classes or labels to show per image (1...1000; default 5, and every label for zero-shot).")
    var topK: Int?

    @Option(help: "table, json or csv.")
    var format: RecordFormat = .table

    @OptionGroup var vision: VisionInputOptions
    @OptionGroup var runOptions: RunOptions
    @OptionGroup var out: OutputOptions
    @OptionGroup var sharding: ShardOptions

    func validate() throws {
        let textMode = !text.isEmpty || !textFile.isEmpty
        if textMode && !inputs.isEmpty { throw ValidationError("give either files to classify or --text / --text-file, not both") }
        if textMode && head == nil { throw ValidationError("--text and --text-file are classified by a head trained on texts: give --head (see mmpipe train)") }
        if textMode && sharding.shard != nil { throw ValidationError("--shard splits files among machines: classify texts in one process") }
        if !textMode && inputs.isEmpty { throw ValidationError("give at least one file, directory or - (or, with a text --head, --text / --text-file)") }
        if sharding.shard != nil && out.output == nil { throw ValidationError("--shard writes each part to a file: give --output") }
    }

    func request() throws -> ClassifyRequest {
        var r = ClassifyRequest(images: vision.images(inputs))
        r.images.shard = try sharding.resolve()
        r.model = model
        r.weights = vision.weights
        r.head = head
        if !text.isEmpty || !textFile.isEmpty { r.texts = try TextInputs.collect(texts: text, files: textFile) }
        if !labels.isEmpty || labelsFile != nil {
            r.labels = try ZeroShotLabels.parse(list: labels.isEmpty ? nil : labels.joined(separator: ","), file: labelsFile)
        }
        r.templates = templates
        r.multiLabel = multiLabel
        r.threshold = threshold
        r.explain = explain
        r.topK = topK
        return r
    }

    func run() throws {
        try runOptions.execute(load: { () throws -> ClassifyTask in
            let r = try request()
            try r.check(format: out.output == nil ? format : .json)
            return try ClassifyTask(r, store: try ModelStore())
        }) { task in
            let file = try out.resultsFile(request: task.identity, shard: task.request.images.shard)
            let sink = format.sink(of: ClassifyRecord.self, file: file, csvHeader: task.csvHeader)
            return try task.run(into: sink, progress: runOptions.progress(quiet: file == nil))
        }
    }
}
