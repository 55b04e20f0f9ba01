import Foundation
import Models
import TensorCore

/// One input's transcript.
public typealias TranscriptRecord = WhisperSession.Transcript

/// Transcripts printed on a text output, in every asked format; with `headers`, each input
/// under a `==> path <==` line (several inputs).
public final class TranscriptPrinter: ResultSink {
    let output: TextOutput
    let formats: [TranscriptFormat]
    let headers: Bool

    public init(formats: [TranscriptFormat], headers: Bool, output: TextOutput = StandardOutput.shared) {
        self.output = output
        self.formats = formats
        self.headers = headers
    }

    public func write(_ t: TranscriptRecord, for source: SourceItem) throws {
        if headers { output.write("==> \(source.path) <==\n") }
        for f in formats { output.write(f.render(t)) }
    }
}

/// Transcripts as files `<dir>/<name>.<format>` (each written atomically) and a manifest
/// `.mmpipe-transcribe.jsonl` that makes a second run skip inputs already transcribed.
public final class TranscriptFiles: ResultSink {
    public let directory: URL
    let formats: [TranscriptFormat]
    let manifest: JSONLinesOutput

    struct Entry: Encodable {
        let outputs: [String]
        let language: String
    }

    public init(directory: URL, formats: [TranscriptFormat], overwrite: Bool) throws {
        self.directory = directory
        self.formats = formats
        manifest = try JSONLinesOutput(url: directory.appendingPathComponent(".mmpipe-transcribe.jsonl"), overwrite: overwrite)
    }

    public func isDone(_ item: SourceItem) -> Bool { manifest.isDone(item) }

    public func write(_ t: TranscriptRecord, for source: SourceItem) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let stem = ((source.path as NSString).lastPathComponent as NSString).deletingPathExtension
        let written = try formats.map { f -> String in
            let url = directory.appendingPathComponent("\(stem).\(f.rawValue)")
            try AtomicFile.write(Data(f.render(t).utf8), to: url)
            return url.path
        }
        try manifest.append(Stamped(record: Entry(outputs: written, language: t.language), source: source))
    }

    public func finish() throws { try manifest.commit() }
}

/// Live segments, one line each as soon as it is final: the text (`txt`), or
/// `[HH:MM:SS.mmm --> HH:MM:SS.mmm] text`.
public final class LiveSegmentPrinter: ResultSink {
    let output: TextOutput
    let timestamps: Bool

    public init(timestamps: Bool, output: TextOutput = StandardOutput.shared) {
        self.output = output
        self.timestamps = timestamps
    }

    public func write(_ s: WhisperSegment, for source: SourceItem) throws {
        let text = s.text.trimmingCharacters(in: .whitespaces)
        output.write(timestamps
            ? "[\(TranscriptFormat.clock(s.start, comma: false)) --> \(TranscriptFormat.clock(s.end, comma: false))] \(text)\n"
            : text + "\n")
        output.flush()
    }
}
