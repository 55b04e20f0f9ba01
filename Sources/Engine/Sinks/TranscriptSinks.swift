import Foundation
import Media
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
    /// How srt and vtt cues are cut.
    public var subtitles = SubtitleOptions()

    public init(formats: [TranscriptFormat], headers: Bool, output: TextOutput = StandardOutput.shared) {
        self.output = output
        self.formats = formats
        self.headers = headers
    }

    public func write(_ t: TranscriptRecord, for source: SourceItem) throws {
        if headers { output.write("==> \(source.path) <==\n") }
        for f in formats { output.write(f.render(t, subtitles: subtitles)) }
    }
}

/// Transcripts as files in `directory`, each written atomically, and a manifest
/// `.mmpipe-transcribe.jsonl` that makes a second run skip inputs already transcribed.
///
/// Naming: an input found in a folder (or by a pattern) mirrors its path below that folder
/// (`coll/a/x.wav` → `<dir>/a/x.<format>`); a file named directly is `<dir>/x.<format>`.
/// No input's output replaces another's: when its folder holds another audio or video file
/// of the same stem (`x.wav` and `x.mp3`), each keeps its extension (`x.wav.txt`,
/// `x.mp3.txt`); when the name is still another input's (files of one name named from two
/// folders, in this run or an earlier one, as the manifest records), a number is added in
/// the order transcribed (`x-2.txt`). An input keeps the name an earlier run gave it.
///
/// Resume: an input is done when the manifest has it (same path, size and modification
/// time) made by the same request (`RequestIdentity`: model, weights, options) and every
/// asked format's file is there; otherwise it is transcribed again and its files replaced.
public final class TranscriptFiles: ResultSink {
    public let directory: URL
    let formats: [TranscriptFormat]
    let manifest: JSONLinesOutput
    let request: RequestIdentity?
    /// How srt and vtt cues are cut (part of `request` when set: see `SubtitleOptions.fields`).
    public var subtitles = SubtitleOptions()
    /// The latest manifest entry of each input path (earlier runs).
    let kept: [String: Kept]
    /// Output names (without the format's extension, relative to `directory`) → the input
    /// path that owns it.
    private var owners: [String: String] = [:]
    private let lock = NSLock()

    struct Entry: Encodable {
        let outputs: [String]
        let language: String
        let name: String
        let formats: [String]
    }

    struct Kept: Decodable {
        let path: String, size: Int64, mtime_us: Int64
        let name: String?, request: String?, formats: [String]?, outputs: [String]?
    }

    /// `part`: one part of a sharded job (`--shard`) keeps its own listing
    /// (`.mmpipe-transcribe.shard-0003-of-0008.jsonl`) beside the other parts'.
    public init(directory: URL, formats: [TranscriptFormat], overwrite: Bool, request: RequestIdentity? = nil, part: Shard? = nil) throws {
        self.directory = directory
        self.formats = formats
        self.request = request
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDir), !isDir.boolValue {
            throw ItemFailure(path: directory.path, reason: "is a file, not a folder")
        }
        let listing = ".mmpipe-transcribe.jsonl"
        manifest = try JSONLinesOutput(url: directory.appendingPathComponent(part?.name(listing) ?? listing), overwrite: overwrite)
        var kept: [String: Kept] = [:]
        let decoder = JSONDecoder()
        for line in manifest.keptLines {
            guard var k = try? decoder.decode(Kept.self, from: line) else { continue }
            if k.name == nil, let first = k.outputs?.first {
                // A manifest of an earlier version: the name from its first output file.
                let rel = first.hasPrefix(directory.path + "/") ? String(first.dropFirst(directory.path.count + 1)) : first
                k = Kept(path: k.path, size: k.size, mtime_us: k.mtime_us, name: (rel as NSString).deletingPathExtension,
                         request: k.request, formats: k.formats, outputs: k.outputs)
            }
            kept[k.path] = k
        }
        self.kept = kept
        for k in kept.values { if let n = k.name { owners[n] = k.path } }
    }

    public func isDone(_ item: SourceItem) -> Bool {
        guard let k = kept[item.path], k.size == item.size, k.mtime_us == item.mtimeMicros,
              k.request == request?.digest, let name = k.name else { return false }
        return formats.allSatisfy { FileManager.default.fileExists(atPath: url(name, $0).path) }
    }

    func url(_ name: String, _ format: TranscriptFormat) -> URL {
        directory.appendingPathComponent("\(name).\(format.rawValue)")
    }

    /// The output name of an input (see the naming rule above), claimed for it.
    func name(for source: SourceItem) -> String {
        lock.lock(); defer { lock.unlock() }
        if let n = kept[source.path]?.name, owners[n] == source.path { return n }
        let relative = source.relative ?? (source.path as NSString).lastPathComponent
        let stem = (relative as NSString).deletingPathExtension
        let base = stem.isEmpty || sharesStem(source.path) ? relative : stem
        let free = ([base] + (2...10_000).lazy.map { "\(base)-\($0)" }).first { owners[$0] == nil || owners[$0] == source.path }
            ?? base + "-" + UUID().uuidString
        owners[free] = source.path
        return free
    }

    /// Stems of the audio and video files in each folder seen so far, with their count.
    private var stems: [String: [String: Int]] = [:]

    /// True when `path`'s folder holds another audio or video file of the same stem.
    func sharesStem(_ path: String) -> Bool {
        let folder = (path as NSString).deletingLastPathComponent
        if stems[folder] == nil {
            var counts: [String: Int] = [:]
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder)) ?? []
            where !name.hasPrefix(".") && MediaFormat.hasExtension(name, of: [.audio, .video]) {
                counts[(name as NSString).deletingPathExtension, default: 0] += 1
            }
            stems[folder] = counts
        }
        let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        return (stems[folder]?[stem] ?? 0) > 1
    }

    public func write(_ t: TranscriptRecord, for source: SourceItem) throws {
        let name = name(for: source)
        let written = try formats.map { f -> String in
            let url = url(name, f)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try AtomicFile.write(Data(f.render(t, subtitles: subtitles).utf8), to: url)
            return url.path
        }
        try manifest.append(Stamped(record: Entry(outputs: written, language: t.language, name: name, formats: formats.map(\.rawValue)),
                                    source: source, request: request))
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
