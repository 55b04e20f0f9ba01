import Foundation
import Media
import Testing
import TensorCore
@testable import Models

/// The stage protocols of `WhisperTranscriber`: each stage can be replaced on its own, the
/// loop uses what it is given, and the standard composition still gives openai-whisper's
/// tokens (Fixtures/whisper/words.json, scripts/gen-whisper-word-fixtures.py).
@Suite("Whisper stages: swapped one at a time")
struct WhisperStagesTests {
    // MARK: doubles

    /// Records what the loop asks of the stages it wraps.
    final class Recorder: @unchecked Sendable {
        private let lock = NSLock()
        private var _windows: [WhisperWindow] = []
        private var _encoded: [[Int]] = []
        private var _prompts: [[Int]] = []
        var windows: [WhisperWindow] { lock.withLock { _windows } }
        var encoded: [[Int]] { lock.withLock { _encoded } }
        var prompts: [[Int]] { lock.withLock { _prompts } }
        func window(_ w: WhisperWindow) { lock.withLock { _windows.append(w) } }
        func encode(_ shape: [Int]) { lock.withLock { _encoded.append(shape) } }
        func prompt(_ p: [Int]) { lock.withLock { _prompts.append(p) } }
    }

    struct RecordingFeatures: WhisperFeatureExtracting {
        let inner: any WhisperFeatureExtracting
        let recorder: Recorder
        func stream(maximum: Float?) -> any WhisperFeatureStream { Stream(inner: inner.stream(maximum: maximum), recorder: recorder) }

        final class Stream: WhisperFeatureStream {
            let inner: any WhisperFeatureStream
            let recorder: Recorder
            init(inner: any WhisperFeatureStream, recorder: Recorder) { self.inner = inner; self.recorder = recorder }
            func append(_ samples: UnsafeBufferPointer<Float>) throws { try inner.append(samples) }
            func finish() throws { try inner.finish() }
            var readyFrames: Int { inner.readyFrames }
            var maximum: Float { inner.maximum }
            func discard(before frame: Int) { inner.discard(before: frame) }
            func window(_ window: WhisperWindow) throws -> Tensor {
                recorder.window(window)
                return try inner.window(window)
            }
        }
    }

    struct CountingEncoder: WhisperAudioEncoding {
        let inner: any WhisperAudioEncoding
        let recorder: Recorder
        func encode(windows mel: Tensor) throws -> Tensor {
            recorder.encode(mel.shape)
            return try inner.encode(windows: mel)
        }
    }

    /// Speech only where the test says (a stand-in for voice-activity detection).
    struct FixedRegions: WhisperSpeechDetecting {
        let regions: [Range<Int>]
        func detector() -> any WhisperSpeechDetector { Detector(regions: regions) }

        final class Detector: WhisperSpeechDetector {
            let regions: [Range<Int>]
            var samples = 0
            init(regions: [Range<Int>]) { self.regions = regions }
            func append(_ samples: UnsafeBufferPointer<Float>) throws { self.samples += samples.count }
            func finish() throws {}
            var decidedFrames: Int { samples / LogMelSpectrogram.hopLength }
        }
    }

    /// No model at all: silent features of the right length, an encoder of zeros, and a
    /// decoder that plays back a script.
    struct SilentFeatures: WhisperFeatureExtracting {
        let recorder: Recorder
        func stream(maximum: Float?) -> any WhisperFeatureStream { Stream(recorder: recorder) }

        final class Stream: WhisperFeatureStream {
            let recorder: Recorder
            var samples = 0
            init(recorder: Recorder) { self.recorder = recorder }
            func append(_ samples: UnsafeBufferPointer<Float>) throws { self.samples += samples.count }
            func finish() throws {}
            var readyFrames: Int { samples / LogMelSpectrogram.hopLength }
            var maximum: Float { 0 }
            func discard(before frame: Int) {}
            func window(_ window: WhisperWindow) throws -> Tensor {
                recorder.window(window)
                return Tensor(zeros: [2, 3000])
            }
        }
    }

    struct ZeroEncoder: WhisperAudioEncoding {
        func encode(windows mel: Tensor) throws -> Tensor { Tensor(zeros: [mel.shape[0], 4, 2]) }
    }

    final class ScriptedDecoder: WhisperTextDecoding, @unchecked Sendable {
        let recorder: Recorder
        private let lock = NSLock()
        private var script: [WhisperDecodingResult]
        init(_ script: [WhisperDecodingResult], recorder: Recorder) {
            self.script = script
            self.recorder = recorder
        }
        func decode(audio: Tensor, prompt: [Int], options: WhisperTranscribeOptions) throws -> WhisperDecodedWindow {
            recorder.prompt(prompt)
            let result = lock.withLock { script.removeFirst() }
            return WhisperDecodedWindow(result: result, temperature: 0, compressionRatio: 1)
        }
    }

    /// Token ids of the scripted runs: text below 100, timestamps from 107 (0.02 s each).
    static let special = WhisperSpecialTokens(eot: 100, sot: 101, transcribe: 103, translate: 102, sotPrev: 104, noSpeech: 105,
                                              noTimestamps: 106, timestampBegin: 107, firstLanguage: nil)
    static let tb = special.timestampBegin
    static func text(_ tokens: [Int]) -> String { tokens.map { " w\($0)" }.joined() }
    static func result(_ tokens: [Int], noSpeech: Float = 0.1, avgLogprob: Float = -0.1) -> WhisperDecodingResult {
        WhisperDecodingResult(tokens: tokens, sumLogprob: avgLogprob * Float(tokens.count + 1), avgLogprob: avgLogprob,
                              noSpeechProb: noSpeech)
    }

    static func scripted(_ script: [WhisperDecodingResult], recorder: Recorder) -> WhisperTranscriber {
        let stages = WhisperStages(features: SilentFeatures(recorder: recorder), encoder: ZeroEncoder(),
                                   decoder: ScriptedDecoder(script, recorder: recorder),
                                   seeker: WhisperSeeker(special: special, decodeText: { WhisperStagesTests.text($0) }))
        return WhisperTranscriber(stages: stages, special: special, textContext: 448)
    }

    /// A feed that holds `seconds` of silence, read as a file (whole-recording regions).
    static func feed(_ transcriber: WhisperTranscriber, seconds: Int) throws -> WhisperAudioFeed {
        let samples = [Float](repeating: 0, count: seconds * 16_000)
        let feed = WhisperAudioFeed(stages: transcriber.stages,
                                    scan: WhisperScan(samples: samples.count, maximum: 0, regions: [0..<samples.count / 160]))
        try feed.append(samples)
        return feed
    }

    // MARK: window planning

    struct PlanCase: Sendable, CustomStringConvertible {
        let regions: [Range<Int>], contentFrames: Int, seek: Int, want: WhisperWindow?
        var description: String { "\(regions) content \(contentFrames) seek \(seek)" }
    }

    static let planCases: [PlanCase] = [
        // The whole recording: consecutive 30 s windows, the last one shorter.
        PlanCase(regions: [0..<5000], contentFrames: 5000, seek: 0, want: WhisperWindow(start: 0, frames: 3000)),
        PlanCase(regions: [0..<5000], contentFrames: 5000, seek: 2422, want: WhisperWindow(start: 2422, frames: 2578)),
        PlanCase(regions: [0..<5000], contentFrames: 5000, seek: 3000, want: WhisperWindow(start: 3000, frames: 2000)),
        PlanCase(regions: [0..<5000], contentFrames: 5000, seek: 5000, want: nil),
        PlanCase(regions: [0..<0], contentFrames: 0, seek: 0, want: nil),
        // Regions: a window never leaves its region; a seek before a region jumps to it.
        PlanCase(regions: [100..<400, 500..<4000], contentFrames: 5000, seek: 0, want: WhisperWindow(start: 100, frames: 300)),
        PlanCase(regions: [100..<400, 500..<4000], contentFrames: 5000, seek: 250, want: WhisperWindow(start: 250, frames: 150)),
        PlanCase(regions: [100..<400, 500..<4000], contentFrames: 5000, seek: 400, want: WhisperWindow(start: 500, frames: 3000)),
        PlanCase(regions: [100..<400, 500..<4000], contentFrames: 5000, seek: 3600, want: WhisperWindow(start: 3600, frames: 400)),
        PlanCase(regions: [100..<400, 500..<4000], contentFrames: 5000, seek: 4000, want: nil),
        // A region past the audio is cut at its end.
        PlanCase(regions: [4000..<9000], contentFrames: 5000, seek: 0, want: WhisperWindow(start: 4000, frames: 1000)),
        PlanCase(regions: [], contentFrames: 5000, seek: 0, want: nil),
    ]

    @Test(arguments: planCases)
    func seekerPlansWindowsInsideRegions(_ c: PlanCase) throws {
        let seeker = WhisperSeeker(special: Self.special, decodeText: { Self.text($0) })
        #expect(try seeker.window(seek: c.seek, regions: c.regions, contentFrames: c.contentFrames) == c.want)
    }

    // MARK: the loop with doubles

    /// 45 s: the first window ends on a single timestamp (next window after it), the second on
    /// a closed pair (seek to it), the third is silence (skipped to the end).
    @Test func theLoopRunsTheStagesItIsGiven() throws {
        let tb = Self.tb, recorder = Recorder()
        let first = [tb, 10, 11, tb + 100, tb + 100, 12, tb + 250]
        let second = [tb, 13, tb + 50, tb + 50, 14, tb + 60, tb + 60]
        let transcriber = Self.scripted([Self.result(first), Self.result(second), Self.result([tb, 15], noSpeech: 0.9, avgLogprob: -2)],
                                        recorder: recorder)
        let feed = try Self.feed(transcriber, seconds: 45)
        var seen: [Int] = []
        let segments = try transcriber.transcribe(feed, sotSequence: [Self.special.sot],
                                                  options: WhisperTranscribeOptions()) { seen.append($0.id) }

        #expect(recorder.windows == [WhisperWindow(start: 0, frames: 3000), WhisperWindow(start: 3000, frames: 1500),
                                     WhisperWindow(start: 3120, frames: 1380)])
        #expect(segments.map(\.id) == [0, 1, 2, 3] && seen == [0, 1, 2, 3])
        #expect(segments.map(\.text) == [" w10 w11", " w12", " w13", " w14"])
        #expect(segments.map(\.seek) == [0, 0, 3000, 3000])
        let times = segments.flatMap { [$0.start, $0.end] }
        for (got, want) in zip(times, [0, 2, 2, 5, 30, 31, 31, 31.2]) { #expect(abs(got - want) < 1e-9, "\(times)") }
        // Each prompt: the previous text after <|startofprev|>, then the SOT sequence.
        let sot = Self.special.sot, prev = Self.special.sotPrev
        #expect(recorder.prompts == [[sot], [prev] + first + [sot],
                                     [prev] + first + [tb, 13, tb + 50, tb + 50, 14, tb + 60] + [sot]])
    }

    @Test func aStopRequestEndsTheLoopBetweenWindows() throws {
        final class Flag: @unchecked Sendable { var value = false }
        let tb = Self.tb, recorder = Recorder(), flag = Flag()
        let transcriber = Self.scripted([Self.result([tb, 10, tb + 100]), Self.result([tb, 11, tb + 100])], recorder: recorder)
        let feed = try Self.feed(transcriber, seconds: 60)
        var options = WhisperTranscribeOptions()
        options.shouldStop = { flag.value }
        var seen = 0
        #expect(throws: CancellationError.self) {
            _ = try transcriber.transcribe(feed, sotSequence: [Self.special.sot], options: options) { _ in seen += 1; flag.value = true }
        }
        #expect(seen == 1 && recorder.prompts.count == 1, "decoded \(recorder.prompts.count) windows after the stop")
    }

    // MARK: the real model

    static let models = WhisperWeightsTests.modelsDir
    static let lock = NSLock()
    nonisolated(unsafe) static var cached: Whisper?
    static func tinyEn() throws -> Whisper {
        lock.lock(); defer { lock.unlock() }
        if let w = cached { return w }
        let m = try WhisperParityTests.load("whisper-tiny.en")
        let w = Whisper(model: m.model, tokenizer: m.tokenizer, alignmentHeads: m.extras.alignmentHeads,
                        melFilters: m.mel.filters, compressionRatio: { TextCompression.ratio($0) })
        cached = w
        return w
    }

    /// A JSON fixture of Tests/ModelsTests/Fixtures/whisper (empty when missing).
    static func fixture(_ name: String) -> [String: Any] {
        let url = WhisperWeightsTests.repoRoot.appendingPathComponent("Tests/ModelsTests/Fixtures/whisper/\(name)")
        guard let data = try? Data(contentsOf: url),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return obj
    }

    static let words = fixture("words.json")

    /// An input of a fixture's `inputs`: WAV clips (the first `samples` of each when given)
    /// and stretches of digital silence, in order.
    static func input(_ name: String, of fixture: [String: Any] = words) throws -> [Float] {
        let parts = try #require(((fixture["inputs"] as? [String: Any])?[name] as? [String: Any])?["parts"] as? [[String: Any]])
        var out: [Float] = []
        for p in parts {
            if var file = p["file"] as? String {
                if !file.hasPrefix("/") { file = WhisperWeightsTests.repoRoot.appendingPathComponent(file).path }
                let clip = try decodeAudio(path: file, sampleRate: 16_000)
                out += (p["samples"] as? Int).map { Array(clip.prefix($0)) } ?? clip
            } else {
                out += [Float](repeating: 0, count: try #require(p["silence_samples"] as? Int))
            }
        }
        return out
    }

    static func referenceTokens(_ run: String) throws -> [[Int]] {
        let segments = try #require(((((words["models"] as? [String: Any])?["whisper-tiny.en"] as? [String: Any])?["runs"]
            as? [String: Any])?[run] as? [String: Any])?["segments"] as? [[String: Any]])
        return segments.filter { !(($0["text"] as? String) ?? "").trimmingCharacters(in: .whitespaces).isEmpty }
            .compactMap { $0["tokens"] as? [Int] }
    }

    /// 36.8 s with word timestamps: two windows (the second from the first's last word), each
    /// through the swapped features and encoder; the tokens are openai-whisper's.
    @Test func swappedStagesAreUsedAndTheTokensStayTheReference() throws {
        let whisper = try Self.tinyEn(), recorder = Recorder()
        var stages = whisper.stages
        stages.features = RecordingFeatures(inner: stages.features, recorder: recorder)
        stages.encoder = CountingEncoder(inner: stages.encoder, recorder: recorder)
        let swapped = Whisper(model: whisper.model, tokenizer: whisper.tokenizer, alignmentHeads: whisper.alignmentHeads, stages: stages)
        var options = WhisperOptions()
        options.language = "en"
        options.wordTimestamps = true
        let samples = try Self.input("long")
        let want = try Self.referenceTokens("long")

        let got = try swapped.transcribe(samples: samples, options: options)
        #expect(got.segments.map(\.tokens) == want)
        #expect(recorder.windows == [WhisperWindow(start: 0, frames: 3000), WhisperWindow(start: 2422, frames: samples.count / 160 - 2422)])
        #expect(recorder.encoded == [[1, 80, 3000], [1, 80, 3000]])
        // The standard stages, untouched, give the same.
        #expect(try whisper.transcribe(samples: samples, options: options).segments.map(\.tokens) == want)
    }

    @Test func theEntryPointChecksTheRequestAndTheStop() throws {
        let whisper = try Self.tinyEn()
        let second = [Float](repeating: 0, count: 16_000)
        var stop = WhisperOptions()
        stop.shouldStop = { true }
        #expect(throws: CancellationError.self) { try whisper.transcribe(samples: second, options: stop) }
        var none = WhisperOptions()
        none.temperatures = []
        #expect(throws: WhisperError.self) { try whisper.transcribe(samples: second, options: none) }
    }

    /// Without heads in the checkpoint: every head of the second half of the decoder layers.
    @Test func alignmentHeadsDefaultToTheLaterLayers() throws {
        let whisper = try Self.tinyEn()
        let d = whisper.model.dims
        let bare = Whisper(model: whisper.model, tokenizer: whisper.tokenizer, stages: whisper.stages)
        #expect(bare.alignmentHeads.count == (d.nTextLayer - d.nTextLayer / 2) * d.nTextHead)
        #expect(bare.alignmentHeads.allSatisfy { $0.layer >= d.nTextLayer / 2 && $0.head < d.nTextHead })
        #expect(whisper.alignmentHeads.map { [$0.layer, $0.head] } == (try WhisperParityTests.load("whisper-tiny.en")).extras.alignmentHeads.map { [$0.layer, $0.head] })
    }

    /// A speech stage that gives two regions: only they are decoded, each window inside one.
    @Test func onlyTheSpeechRegionsAreDecoded() throws {
        let whisper = try Self.tinyEn(), recorder = Recorder()
        var stages = whisper.stages
        let regions = [0..<1200, 2500..<3300]
        stages.speech = FixedRegions(regions: regions)
        stages.features = RecordingFeatures(inner: stages.features, recorder: recorder)
        let swapped = Whisper(model: whisper.model, tokenizer: whisper.tokenizer, alignmentHeads: whisper.alignmentHeads, stages: stages)
        var options = WhisperOptions()
        options.language = "en"
        let got = try swapped.transcribe(samples: try Self.input("long"), options: options)

        let windows = recorder.windows
        #expect(windows.first == WhisperWindow(start: 0, frames: 1200))
        #expect(windows.contains { $0.start == 2500 }, "\(windows)")
        for w in windows { #expect(regions.contains { $0.lowerBound <= w.start && w.end <= $0.upperBound }, "\(w) outside \(regions)") }
        #expect(!got.segments.isEmpty)
        for s in got.segments {
            let region = try #require(regions.first { $0.contains(s.seek) }, "segment from frame \(s.seek)")
            #expect(s.start >= Double(region.lowerBound) / 100, "\(s.text) at \(s.start) s before its region")
        }
    }
}
