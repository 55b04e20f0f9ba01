import ArgumentParser
import Engine
import Foundation

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fit a classification head on embeddings of your labelled examples (a linear probe); classify with it by --head.",
        discussion: """
            DATA: a folder with one subfolder of images per class (torchvision's ImageFolder), or a \\
            CSV, TSV or JSONL of path and label (paths below the file's folder); with a text \\
            model (all-minilm-l6-v2, a CLIP model's text tower), a TSV or JSONL of text and label. \\
            The examples are embedded by the embed task (unreadable ones are reported and \\
            skipped); a logistic regression is fitted as scikit-learn's LogisticRegression \\
            (lbfgs, multinomial, L2 with --c, standardised features) on all but --held-out of each \\
            class, and judged on that part: per-class precision, recall, F1 and a confusion matrix. \\
            HEAD is one .safetensors file (weights, standardisation, and the classes, the \\
            embedding model with the sha256 of its weights, C and the metrics as JSON in its \\
            metadata), written atomically, with a readable HEAD.json beside it.

            Examples:
              mmpipe train photos/ --output pets.head.safetensors
              mmpipe classify new-photos/ --head pets.head.safetensors
              mmpipe train reviews.tsv --model all-minilm-l6-v2 --output sentiment.head.safetensors
            """)

    @Argument(help: "A folder of class subfolders, or a CSV / TSV / JSONL of path (or text) and label.")
    var data: String

    @Option(help: "The embedding model (default efficientnet-lite0; a text model trains on texts).")
    var model: String?

    @Option(name: .shortAndLong, help: "Where to write the head (.safetensors).")
    var output: String

    @Option(name: .customLong("c"), parsing: .unconditional, help: "Inverse L2 strength, scikit-learn's C.")
    var c: Double = 1

    @Flag(help: "Weigh classes by n / (K n_k) (scikit-learn's class_weight=\"balanced\"), for imbalanced data.")
    var balanced = false

    @Option(parsing: .unconditional, help: "Share of each class held out to judge the head.")
    var heldOut: Double = 0.2

    @OptionGroup var runOptions: RunOptions

    func run() throws {
        try runOptions.execute(load: { () throws -> TrainTask in
            var r = TrainRequest(data: data)
            r.model = model
            r.c = c
            r.balanced = balanced
            r.heldOut = heldOut
            return try TrainTask(r, store: try ModelStore())
        }) { task in
            let result = try task.run(progress: runOptions.progress(quiet: true))
            if !result.skipped.isEmpty {
                Report.log.warning("\(result.skipped.count) unreadable example\(result.skipped.count == 1 ? "" : "s") skipped (each said above)")
            }
            try result.head.write(to: output)
            let m = result.metrics
            let width = max(5, task.classes.map(\.count).max() ?? 5)
            print("fitted on \(result.trainCount) examples (\(result.fit.iterations) L-BFGS iterations, \(String(format: "%.2f", result.fitSeconds)) s), judged on \(result.heldOutCount) held out:")
            print("  " + "class".padding(toLength: width, withPad: " ", startingAt: 0) + "  precision  recall     f1  support")
            for k in task.classes.indices {
                print("  " + task.classes[k].padding(toLength: width, withPad: " ", startingAt: 0)
                      + String(format: "  %9.3f  %6.3f  %5.3f  %7d", m.precision(k), m.recall(k), m.f1(k), m.support(k)))
            }
            print(String(format: "  accuracy %.3f", m.accuracy))
            print("  confusion (rows: true class, columns: predicted):")
            for k in task.classes.indices { print("    " + m.confusion[k].map { String(format: "%5d", $0) }.joined()) }
            print("head written to \(output) (and \(output).json)")
            var summary = JobSummary()
            summary.done = result.trainCount + result.heldOutCount
            summary.failed = result.skipped.count
            return summary
        }
    }
}
