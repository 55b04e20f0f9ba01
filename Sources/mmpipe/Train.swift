import ArgumentParser
import Engine
import Foundation
import TensorCore

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fit a classification head on embeddings of your labelled examples (a linear probe); classify with it by --head.",
        discussion: """
            DATA: a folder with one subfolder of images per class (torchvision's ImageFolder; a \
            video there gives a row per sampled frame, one a second, all on the same side of the \
            held-out split), or a CSV, TSV or JSONL of path and label (paths below the file's \
            folder; CSV fields may be quoted); with a text model (all-minilm-l6-v2), a TSV or \
            JSONL of text and label. \
            The examples are embedded by the embed task (unreadable ones are reported and \
            skipped); a logistic regression is fitted as scikit-learn's LogisticRegression \
            (lbfgs, multinomial, L2 with --c, standardised features) on all but --held-out of each \
            class, and judged on that part: per-class precision, recall, F1 and a confusion matrix. \
            --cv K chooses C instead, by stratified K-fold cross-validation on the training part \
            (scikit-learn's StratifiedKFold and LogisticRegressionCV's grid of C, or --c-grid). \
            HEAD is one .safetensors file (weights, standardisation, and the classes, the \
            embedding model with the sha256 of its weights, C and the metrics as JSON in its \
            metadata), written atomically, with a readable HEAD.json beside it. The embeddings \
            are kept in --features (default: HEAD's name with .features): a second run (another \
            --c, more examples) embeds only what is new or changed, and an interrupted run \
            resumes where it stopped.

            Examples:
              mmpipe train photos/ --output pets.head.safetensors
              mmpipe classify new-photos/ --head pets.head.safetensors
              mmpipe train photos/ --output pets.head.safetensors --cv 5
              mmpipe train reviews.tsv --model all-minilm-l6-v2 --output sentiment.head.safetensors
              mmpipe classify --head sentiment.head.safetensors --text "a gripping, beautifully shot film"
            """)

    @Argument(help: "A folder of class subfolders, or a CSV / TSV / JSONL of path (or text) and label.")
    var data: String

    @Option(help: "The embedding model (default efficientnet-lite0; a text model trains on texts).")
    var model: String?

    @Option(name: .shortAndLong, help: "Where to write the head (.safetensors).")
    var output: String

    @Option(name: .customLong("c"), parsing: .unconditional, help: "Inverse L2 strength, scikit-learn's C.")
    var c: Double = 1

    @Option(name: .customLong("cv"), help: ArgumentHelp("Choose C by stratified K-fold cross-validation on the training part (instead of --c).", valueName: "K"))
    var cvFolds: Int?

    @Option(name: .customLong("c-grid"), help: ArgumentHelp("The values of C --cv tries, comma-separated (default: 10 from 1e-4 to 1e4, as scikit-learn's LogisticRegressionCV).", valueName: "LIST"))
    var cGrid: String?

    @Option(help: ArgumentHelp("Keep the embeddings here (mmpipe embed's shards and manifest); default: HEAD's name with .features.", valueName: "DIR"))
    var features: String?

    @Flag(help: "Keep no embeddings (a second run embeds everything again).")
    var noFeatures = false

    @Flag(help: "Weigh classes by n / (K n_k) (scikit-learn's class_weight=\"balanced\"), for imbalanced data.")
    var balanced = false

    @Option(parsing: .unconditional, help: "Share of each class held out to judge the head (0: fit on every example, no metrics).")
    var heldOut: Double = 0.2

    @OptionGroup var runOptions: RunOptions

    /// Where the embeddings are kept: --features, else HEAD's name with `.features`.
    var featuresFolder: String? {
        if noFeatures { return nil }
        if let features { return features }
        let url = URL(fileURLWithPath: output)
        return (url.pathExtension == "safetensors" ? url.deletingPathExtension() : url).path + ".features"
    }

    func validate() throws {
        if noFeatures && features != nil { throw ValidationError("--features and --no-features: give one") }
        if cGrid != nil && cvFolds == nil { throw ValidationError("--c-grid is for --cv: give --cv K too") }
        if cvFolds != nil && c != 1 { throw ValidationError("--cv chooses C: drop --c (or give the values to try with --c-grid)") }
    }

    func run() throws {
        try runOptions.execute(load: { () throws -> TrainTask in
            var r = TrainRequest(data: data)
            r.model = model
            r.c = c
            r.cvFolds = cvFolds
            r.grid = try cGrid.map { list in
                try list.split(separator: ",", omittingEmptySubsequences: false).map { part in
                    guard let v = Double(part.trimmingCharacters(in: .whitespaces)) else {
                        throw RequestError("--c-grid: '\(part)' is not a number (give values of C separated by commas)")
                    }
                    return v
                }
            }
            r.balanced = balanced
            r.heldOut = heldOut
            r.features = featuresFolder
            // The head's place, before any work: not a folder, in a writable folder.
            for target in [output, output + ".json"] { try AtomicFile.checkTarget(URL(fileURLWithPath: target)) }
            return try TrainTask(r, store: try ModelStore())
        }) { task in
            let control = JobControl()
            let kept = featuresFolder == nil ? "no head is written" : "the embeddings so far are kept, no head is written"
            Interrupts.watch {
                Report.log.warning("interrupted: stopping (\(kept); press Ctrl-C again to quit at once)")
                control.cancel()
            }
            let progress = runOptions.progressWithoutSummary()
            guard let result = try task.run(progress: progress, control: control) else {
                var summary = JobSummary()
                summary.cancelled = true
                if let folder = featuresFolder { Report.log.warning("no head written; run the same command again to resume (embeddings kept in \(folder))") }
                return summary
            }
            if let folder = featuresFolder, !runOptions.quiet {
                Report.log.info("embedded \(result.embedded) example\(result.embedded == 1 ? "" : "s"), \(result.reused) read back from \(folder)")
            }
            if !result.skipped.isEmpty {
                Report.log.warning("\(result.skipped.count) unreadable example\(result.skipped.count == 1 ? "" : "s") skipped (each said above)")
            }
            try result.head.write(to: output)
            let m = result.metrics
            let width = max(5, task.classes.map(\.count).max() ?? 5)
            if let cv = result.crossValidation {
                print(String(format: "C chosen by %d-fold cross-validation (%d fits, %.2f s): %.4g", cv.folds, cv.folds * cv.grid.count,
                             result.crossValidationSeconds, cv.best))
                for (c, a) in zip(cv.grid, cv.meanAccuracy) {
                    print(String(format: "  C %-10.4g mean accuracy %.4f", c, a) + (c == cv.best ? "  <- best" : ""))
                }
            }
            // A video is one example and a row per sampled frame; the metrics count rows.
            func count(_ examples: Int, _ rows: Int) -> String { "\(examples) example\(examples == 1 ? "" : "s")" + (rows != examples ? " (\(rows) rows)" : "") }
            let fitted = "fitted on \(count(result.trainCount, result.trainRows)) (\(result.fit.iterations) L-BFGS iterations, \(String(format: "%.2f", result.fitSeconds)) s)"
            if result.heldOutCount == 0 {
                print(fitted + ", none held out (--held-out 0): no metrics")
                print("head written to \(output) (and \(output).json)")
                var summary = result.embedding
                summary.done = result.trainCount
                summary.failed = result.skipped.count
                return summary
            }
            print(fitted + ", judged on \(count(result.heldOutCount, result.heldOutRows)) held out (listed in \(output).json):")
            if result.trainRows + result.heldOutRows != result.trainCount + result.heldOutCount {
                print("  (a video is one example with a row per sampled frame; the figures below count rows)")
            }
            print("  " + "class".padding(toLength: width, withPad: " ", startingAt: 0) + "  precision  recall     f1  support")
            for k in task.classes.indices {
                print("  " + task.classes[k].padding(toLength: width, withPad: " ", startingAt: 0)
                      + String(format: "  %9.3f  %6.3f  %5.3f  %7d", m.precision(k), m.recall(k), m.f1(k), m.support(k)))
            }
            print(String(format: "  accuracy %.3f", m.accuracy))
            print("  confusion (rows: true class, columns: predicted):")
            for k in task.classes.indices { print("    " + m.confusion[k].map { String(format: "%5d", $0) }.joined()) }
            print("head written to \(output) (and \(output).json)")
            var summary = result.embedding          // the embedding job's stages, for --stats
            summary.done = result.trainCount + result.heldOutCount
            summary.failed = result.skipped.count
            return summary
        }
    }
}
