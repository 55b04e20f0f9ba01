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

    @Option(help: "Refuse images with more pixels than this.")
    var maxPixels: Int = DecodeLimits.default.maxPixels

    @Option(help: "Refuse audio longer than this many seconds (default: no limit).")
    var maxDuration: Double?

    @OptionGroup var runOptions: RunOptions
    @OptionGroup var out: OutputOptions

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("give at least one file, directory or -") }
        if maxPixels <= 0 { throw ValidationError("--max-pixels must be positive") }
        if let d = maxDuration, d <= 0 { throw ValidationError("--max-duration must be positive") }
    }

    func run() throws {
        let limits = DecodeLimits(maxPixels: maxPixels, maxAudioSeconds: maxDuration)
        let workers = runOptions.applyThreads()
        let output = try out.output.map { try JSONLinesOutput(url: URL(fileURLWithPath: $0), overwrite: out.overwrite) }
        let job = Job(window: 4 * workers + 16, progress: .automatic(quiet: runOptions.quiet))
        Interrupts.cancel(job)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]

        let inputs = InputPaths(inputs) { MediaFormat.hasExtension($0, of: [.image, .audio, .video]) }
        let summary = job.source(inputs) { output?.isDone($0) ?? false }
            .map("decode", workers: workers) { _, item in try MediaProbe.probe(path: item.path, limits: limits) }
            .sink { e in
                switch e.value {
                case .success(let r):
                    if let output {
                        var record = (try? JSONSerialization.jsonObject(with: encoder.encode(r))) as? [String: Any] ?? [:]
                        record.merge(JSONLinesOutput.sourceFields(e.source)) { _, b in b }
                        try? output.append(record)
                    } else if json {
                        print(String(decoding: (try? encoder.encode(r)) ?? Data(), as: UTF8.self))
                    } else {
                        print("\(r.path)  \(r.summary)")
                    }
                case .failure(let f):
                    if let output {
                        var record = JSONLinesOutput.sourceFields(e.source)
                        record["error"] = f.reason
                        try? output.append(record)
                    }
                }
            }
        try output?.commit()
        runOptions.report(summary)
        let status = exitStatus(summary)
        if status != .success { throw status }
    }
}
