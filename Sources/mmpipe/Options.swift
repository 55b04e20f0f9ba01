import ArgumentParser
import Foundation
import Media
import Models
import Engine
import TensorCore

/// Options every job command shares.
struct RunOptions: ParsableArguments {
    @Option(help: "Compute threads (BLAS and worker threads together; default: MMPIPE_THREADS or all cores).")
    var threads: Int?

    @Flag(name: .shortAndLong, help: "No progress output (failures are still reported).")
    var quiet = false

    @Flag(help: "After the summary, print each stage's busy share and the peak memory.")
    var stats = false

    func validate() throws {
        if let t = threads, t <= 0 { throw ValidationError("--threads must be positive") }
    }

    /// Applies --threads and returns the thread budget.
    func applyThreads() -> Int {
        if let threads { Compute.setThreads(threads) }
        return Compute.threads
    }

    func report(_ summary: JobSummary) {
        if stats { FileHandle.standardError.write(Data(("mmpipe: " + summary.utilisationLine + "\n").utf8)) }
    }
}

/// Where results go and whether an earlier run's results are kept (resume).
struct OutputOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Write results to this file (JSON lines) instead of standard output; a second run over the same inputs skips those already in it.")
    var output: String?

    @Flag(help: "Start --output afresh instead of resuming.")
    var overwrite = false
}

/// An error that stops the whole job before it starts (weights, output folder): one
/// `mmpipe: ...` line on stderr, exit status 1.
func jobFailure(_ error: Error) -> ExitCode {
    FileHandle.standardError.write(Data("mmpipe: \(error)\n".utf8))
    return ExitCode(1)
}

/// Exit status for a finished job: 130 interrupted, 1 when some items failed.
func exitStatus(_ summary: JobSummary) -> ExitCode {
    if summary.cancelled { return ExitCode(130) }
    return summary.failed > 0 ? ExitCode(1) : .success
}

/// Options of the commands that run an image encoder over images and video frames.
struct VisionInputOptions: ParsableArguments {
    @Option(help: "Weights: a .safetensors file or a model folder (needed for ResNet, ViT and CLIP).")
    var weights: String?

    @Option(help: "Images per forward pass.")
    var batchSize: Int = 8

    @Option(help: "Video frames sampled per second.")
    var fps: Double = 1

    @Option(help: "At most this many frames per video.")
    var maxFrames: Int = 300

    func validate() throws {
        if batchSize < 1 || maxFrames < 1 { throw ValidationError("--batch-size and --max-frames must be positive") }
        if !(fps > 0) { throw ValidationError("--fps must be positive") }
    }

    /// Bounds the items between source and sink.
    var window: Int { 4 * batchSize + 8 }

    /// Images and videos through decode workers and the batching encoder. One decoder per
    /// core: a busy decoder holds a core of the compute budget, so the forward pass then
    /// runs on the cores left (compute threads + busy decoders never exceed the cores).
    func encode(_ job: Job, inputs: [String], session: VisionSession,
                skip: @escaping @Sendable (SourceItem) -> Bool) -> Flow<(PreparedPixels, VisionFeatures)> {
        let (fps, maxFrames) = (self.fps, self.maxFrames)
        return job.source(InputPaths(inputs) { MediaFormat.hasExtension($0, of: [.image, .video]) }, skip: skip)
            .map("decode", workers: Compute.threads) { _, item in try session.prepare(path: item.path, fps: fps, maxFrames: maxFrames) }
            .batch(VisionEncodeStage(session: session, batchSize: batchSize))
    }
}
