import ArgumentParser
import Foundation
import Media
import Pipeline

struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Identify media files and check that they decode.",
        discussion: """
            One row per file: kind (image, audio, video), format, and size, duration, sample \
            rate, channels or frame rate. The format is found from the bytes, not the name. \
            Images are decoded whole; audio and video have their first second / first frame \
            decoded. Directories are searched recursively for media files; `-` reads \
            newline-separated paths from standard input.

            Exit status: 0 when every file decoded, 1 when some failed (one line each on \
            stderr: path and reason), 2 on usage errors.

            Examples:
              mmpipe probe Samples/cat.jpg Samples/speech.wav
              mmpipe probe --json Samples/
              find /data -name '*.mp4' | mmpipe probe -
            """)

    @Argument(help: "Files, directories, or - for a list of paths on stdin.")
    var inputs: [String]

    @Flag(help: "Print one JSON object per line instead of a table.")
    var json = false

    @Option(help: "Refuse images with more pixels than this.")
    var maxPixels: Int = DecodeLimits.default.maxPixels

    @Option(help: "Refuse audio longer than this many seconds (default: no limit).")
    var maxDuration: Double?

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("give at least one file, directory or -") }
        if maxPixels <= 0 { throw ValidationError("--max-pixels must be positive") }
        if let d = maxDuration, d <= 0 { throw ValidationError("--max-duration must be positive") }
    }

    func run() throws {
        let limits = DecodeLimits(maxPixels: maxPixels, maxAudioSeconds: maxDuration)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var failed = 0
        let inputs = InputPaths(inputs) { MediaFormat.hasExtension($0, of: [.image, .audio, .video]) }
        for entry in inputs {
            switch entry {
            case .missing(let p):
                failed += 1
                Output.error("\(p): no such file or directory")
            case .emptyDirectory(let p):
                Output.error("\(p): directory holds no image, audio or video files")
            case .file(let p):
                do {
                    let r = try MediaProbe.probe(path: p, limits: limits)
                    if json {
                        Output.line(String(decoding: try encoder.encode(r), as: UTF8.self))
                    } else {
                        Output.line("\(p)  \(r.summary)")
                    }
                } catch let e as MediaError {
                    failed += 1
                    Output.error(e.description)
                } catch {
                    failed += 1
                    Output.error("\(p): \(error)")
                }
            }
        }
        if failed > 0 { throw ExitCode(1) }
    }
}

/// Line-buffered stdout and stderr.
enum Output {
    static func line(_ s: String) { print(s) }
    static func error(_ s: String) { FileHandle.standardError.write(Data(("mmpipe: " + s + "\n").utf8)) }
}
