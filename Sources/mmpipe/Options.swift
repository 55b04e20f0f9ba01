import ArgumentParser
import Foundation
import Pipeline
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

/// Exit status for a finished job: 130 interrupted, 1 when some items failed.
func exitStatus(_ summary: JobSummary) -> ExitCode {
    if summary.cancelled { return ExitCode(130) }
    return summary.failed > 0 ? ExitCode(1) : .success
}
