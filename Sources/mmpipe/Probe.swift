import ArgumentParser
import Foundation
import Media
import Engine

struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Identify media files and check that they decode.",
        discussion: """
            One row per file: kind (image, audio, video), format, and size, duration, sample \
            rate, channels or frame rate. The format is found from the bytes, not the name. \
            Images are decoded whole; audio and video have their first second / first frame \
            decoded. Directories are searched recursively for media files; `-` reads \
            newline-separated paths from standard input. Rows come out in input order.

            Exit status: 0 when every file decoded, 1 when some failed (one line each on \
            stderr: path and reason), 2 on usage errors, 130 when interrupted (Ctrl-C): \
            the results so far are saved, and running the same command again with --output \
            resumes where it stopped.

            Examples:
              mmpipe probe Samples/cat.jpg Samples/speech.wav
              mmpipe probe --json Samples/
              find /data -name '*.mp4' | mmpipe probe - --output probe.jsonl
            """)

    @Argument(help: "Files, directories, or - for a list of paths on stdin.")
    var inputs: [String]

    @Flag(help: "Print one JSON object per line instead of a table (always so with --output).")
    var json = false

    @Option(parsing: .unconditional, help: "Refuse images with more pixels than this.")
    var maxPixels: Int = DecodeLimits.default.maxPixels

    @Option(parsing: .unconditional, help: "Refuse audio longer than this many seconds (default: no limit).")
    var maxDuration: Double?

    @OptionGroup var runOptions: RunOptions
    @OptionGroup var out: OutputOptions

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("give at least one file, directory or -") }
    }

    func run() throws {
        var request = ProbeRequest(paths: inputs)
        request.limits = DecodeLimits(maxPixels: maxPixels, maxAudioSeconds: maxDuration)
        try runOptions.execute(load: { try request.validate(); return ProbeTask(request) }) { task in
            let file = try out.resultsFile()
            let sink: any ResultSink<ProbeResult> = file.map { ResultsFileSink($0) } ?? (json ? JSONSink<ProbeResult>() as any ResultSink<ProbeResult> : TableSink<ProbeResult>())
            return try task.run(into: sink, progress: runOptions.progress())
        }
    }
}
