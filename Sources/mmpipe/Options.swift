import ArgumentParser
import Engine
import Foundation
import Media
import Models

/// Options every job command shares.
struct RunOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Compute threads (BLAS and worker threads together; default: MMPIPE_THREADS or all cores).")
    var threads: Int?

    @Flag(name: .shortAndLong, help: "No progress output (failures are still reported).")
    var quiet = false

    @Flag(help: "After the summary, print each stage's busy share and the peak memory.")
    var stats = false

    var settings: RunSettings { RunSettings(threads: threads, quiet: quiet) }

    /// Progress on stderr unless --quiet (or `quiet`: output that stands alone on stdout).
    func progress(quiet alsoQuiet: Bool = false) -> Engine.Progress { .automatic(quiet: quiet || alsoQuiet) }

    /// Progress without the summary line: one input whose result stands alone on stdout
    /// (a long transcription still shows where it is).
    func progressWithoutSummary() -> Engine.Progress { .automatic(quiet: quiet, summary: false) }

    /// Runs a job: applies the thread budget, loads (`load`), runs, reports; maps what went
    /// wrong onto the exit status (2 usage, 1 failed job or items, 130 interrupted).
    func execute<T>(load: () throws -> T, run: (T) throws -> JobSummary) throws {
        do { try settings.validate() } catch { throw commandError(error) }
        settings.apply()
        let task: T
        do { task = try load() } catch { throw commandError(error) }
        let summary: JobSummary
        do { summary = try run(task) } catch { throw commandError(error) }
        if stats { Report.log.info("\(summary.utilisationLine)") }
        if summary.cancelled { throw ExitCode(130) }
        if summary.failed > 0 { throw ExitCode(1) }
    }
}

/// A request the engine refused is a usage error (exit 2); anything else stops the job with
/// one `mmpipe: ...` line (exit 1).
func commandError(_ error: Error) -> Error {
    switch error {
    case let e as RequestError: return ValidationError(e.description)
    case is ValidationError, is ExitCode: return error
    default:
        Report.log.error("\(ErrorText.describe(error))")
        return ExitCode(1)
    }
}

/// Where results go and whether an earlier run's results are kept (resume).
struct OutputOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Write results to this file (JSON lines) instead of standard output; a second run over the same inputs skips those already in it.")
    var output: String?

    @Flag(help: "Start --output afresh instead of resuming.")
    var overwrite = false

    /// The results file, continued only when its records are `request`'s; a part of a
    /// sharded job writes its own (`results.shard-0003-of-0008.jsonl`).
    func resultsFile(request: RequestIdentity? = nil, shard: Shard? = nil) throws -> JSONLinesOutput? {
        try output.map { path in
            let url = URL(fileURLWithPath: path)
            let named = shard.map { url.deletingLastPathComponent().appendingPathComponent($0.name(url.lastPathComponent)) } ?? url
            return try JSONLinesOutput(url: named, overwrite: overwrite, request: request)
        }
    }
}

/// `--shard I/N|auto`: this process does one part of the inputs (many machines, one output
/// folder on shared storage; `mmpipe merge` joins the parts).
struct ShardOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Do part I of N of the inputs (0-based, e.g. 3/8), or auto: the part of a Slurm array task or a Kubernetes Indexed Job (MMPIPE_SHARDS). Each part writes shard-named files into the same output; `mmpipe merge` joins them.", valueName: "I/N|auto"))
    var shard: String?

    func resolve() throws -> Shard? {
        guard let shard else { return nil }
        do { return try Shard.parse(shard) } catch let e as RequestError { throw ValidationError(e.description) }
    }
}

/// Options of the commands that run an image encoder over images and video frames.
struct VisionInputOptions: ParsableArguments {
    @Option(help: "Weights: a .safetensors file or a model folder (needed for ResNet, ViT and CLIP).")
    var weights: String?

    @Option(parsing: .unconditional, help: "Images per forward pass (1...1024).")
    var batchSize: Int = 8

    @Option(parsing: .unconditional, help: "Video frames sampled per second (above 0, at most 1000).")
    var fps: Double = 1

    @Option(parsing: .unconditional, help: "At most this many frames per video.")
    var maxFrames: Int = 300

    func images(_ paths: [String]) -> ImageInputs {
        var i = ImageInputs(paths: paths)
        i.batchSize = batchSize
        i.fps = fps
        i.maxFrames = maxFrames
        return i
    }
}

extension RecordFormat: ExpressibleByArgument {}
extension FeatureShardWriter.Format: ExpressibleByArgument {}
extension EmbedRequest.Layer: ExpressibleByArgument {}
