import Foundation
@testable import Models
import Testing
@testable import Engine

/// `TranscribeTask` as a front end sees it: the position in the audio on the progress line,
/// segments to an observer as soon as they are final, and the live printer's output equal to
/// a file's.
@Suite("transcribe task: progress within a file, live printing", .serialized)
struct TranscribeTaskTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func add(_ s: String) { lock.withLock { lines.append(s) } }
        var all: [String] { lock.withLock { lines } }
    }

    final class Collect: ResultSink {
        var records: [TranscriptRecord] = []
        func write(_ r: TranscriptRecord, for source: SourceItem) throws { records.append(r) }
    }

    @Test func progressShowsThePositionInTheAudioAndSegmentsArriveAsTheyAreFinal() throws {
        let store = try ModelStore(directory: WhisperWordParityTests.modelsDir)
        let speech = Self.repoRoot.appendingPathComponent("Samples/speech.wav").path
        var request = TranscribeRequest(input: .files([speech]))
        request.options.beamSize = 1
        let task = try TranscribeTask(request, store: store)
        let console = Lines(), seen = Lines()
        let progress = Progress(mode: .lines, interval: 0, console: Console { console.add($0) })
        let sink = Collect()
        let summary = try task.run(into: sink, progress: progress) { s, item in seen.add("\(item.path) \(s.id) \(s.text)") }
        #expect(summary.done == 1)
        #expect(console.all.contains { $0.contains("; speech.wav 0:07 / 0:07") }, "\(console.all)")
        let segments = try #require(sink.records.first?.segments)
        #expect(seen.all == segments.map { "\(speech) \($0.id) \($0.text)" })
    }

    /// The bar follows seconds of audio: within one file it moves with the position (not
    /// 0/1 until the end) and the ETA is counted from it; a folder's total is known from the
    /// first line on (a walk of its own counts the inputs ahead of the source).
    @Test func progressFollowsSecondsOfAudioAndKnowsTheFolderTotal() throws {
        let store = try ModelStore(directory: WhisperWordParityTests.modelsDir)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("progress-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for name in ["a.wav", "b.wav", "c.wav"] {
            try FileManager.default.copyItem(atPath: Self.repoRoot.appendingPathComponent("Samples/speech.wav").path,
                                             toPath: folder.appendingPathComponent(name).path)
        }
        var request = TranscribeRequest(input: .files([folder.path]))
        request.options.beamSize = 1
        let task = try TranscribeTask(request, store: store)
        let console = Lines()
        let progress = Progress(mode: .lines, interval: 0, console: Console { console.add($0) })
        #expect(try task.run(into: Collect(), progress: progress).done == 3)
        let lines = console.all.filter { $0.contains("ETA") }
        #expect(!lines.isEmpty && lines.allSatisfy { $0.contains("/3 [") }, "\(console.all)")
        // Within the first file, the share is its position: 0/3 and some of the bar filled.
        let first = lines.filter { $0.contains("mmpipe: 0/3") }
        let shares = first.compactMap { line -> Int? in
            guard let end = line.range(of: "%")?.lowerBound else { return nil }
            return Int(line[..<end].split(separator: " ").last ?? "")
        }
        #expect(shares.contains { $0 > 0 && $0 < 34 }, "\(first)")
        #expect(shares == shares.sorted(), "the share only grows: \(shares)")
    }

    /// One transcription to stdout (`Progress(summary: false)`): the position in the audio is
    /// shown while it runs, and no summary line follows the result.
    @Test func progressWithoutSummaryShowsThePositionAndEndsSilently() throws {
        let store = try ModelStore(directory: WhisperWordParityTests.modelsDir)
        var request = TranscribeRequest(input: .files([Self.repoRoot.appendingPathComponent("Samples/speech.wav").path]))
        request.options.beamSize = 1
        let task = try TranscribeTask(request, store: store)
        let console = Lines()
        let progress = Progress(mode: .lines, interval: 0, summary: false, console: Console { console.add($0) })
        #expect(try task.run(into: Collect(), progress: progress).done == 1)
        #expect(console.all.contains { $0.contains("; speech.wav 0:07 / 0:07") }, "\(console.all)")
        #expect(!console.all.contains { $0.contains("done,") }, "\(console.all)")
    }

    /// Streamed formats print a piece per segment; what is printed in the end is the file
    /// printer's output for the same transcript, for every format and for several at once.
    @Test(arguments: [[TranscriptFormat.txt], [.srt], [.vtt], [.tsv], [.json], TranscriptFormat.allCases])
    func livePrinterPrintsWhatTheFilePrinterPrints(_ formats: [TranscriptFormat]) throws {
        func segment(_ id: Int, _ start: Double, _ end: Double, _ text: String) -> WhisperSegment {
            WhisperSegment(id: id, seek: 0, start: start, end: end, text: text, tokens: [1, 2], temperature: 0,
                           avgLogprob: -0.2, compressionRatio: 1.1, noSpeechProb: 0.01)
        }
        let t = WhisperTranscript(language: "en", segments: [segment(0, 0, 2.5, " One --> two."), segment(1, 2.5, 3661.25, " Three\tfour.")],
                                  duration: 3662)
        let item = SourceItem(path: "stdin", size: 0, mtime: 0)
        let live = BufferOutput(), file = BufferOutput()
        let printer = LiveTranscriptPrinter(formats: formats, output: live)
        printer.segment(t.segments[0], for: item)
        let afterOne = live.text
        printer.segment(t.segments[1], for: item)
        try printer.write(t, for: item)
        try TranscriptPrinter(formats: formats, headers: false, output: file).write(t, for: item)
        #expect(live.text == file.text)
        let streamed = formats.count == 1 && formats[0] != .json
        #expect(afterOne.isEmpty == !streamed, "after the first segment: \(afterOne)")
    }

    @Test func verboseLineIsOpenAIWhispers() {
        let s = WhisperSegment(id: 0, seek: 0, start: 3599.5, end: 3604, text: " Hello.", tokens: [], temperature: 0,
                               avgLogprob: 0, compressionRatio: 1, noSpeechProb: 0)
        #expect(verboseSegmentLine(s) == "[59:59.500 --> 01:00:04.000] Hello.")
    }
}
