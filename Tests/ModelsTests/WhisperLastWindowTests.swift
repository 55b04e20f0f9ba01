import Foundation
import Media
import Testing
import TensorCore
@testable import Models

/// The end of a recording against faster-whisper 1.2.1 on the same weights
/// (scripts/gen-whisper-fw-fixtures.py wrote Fixtures/whisper/faster-whisper.json): the
/// segments of its deterministic windows, with the same text and times, ends clamped to the
/// audio, and nothing decoded from the 0.12 s leftover after the last closed segment
/// (faster-whisper samples that window and keeps a repeat of the prompt by chance).
@Suite("Whisper last window and clamped ends vs faster-whisper", .serialized)
struct WhisperLastWindowTests {
    static let fixture = WhisperStagesTests.fixture("faster-whisper.json")

    static func samples(_ input: String) throws -> [Float] { try WhisperStagesTests.input(input, of: fixture) }

    @Test(arguments: ["clip-1.095s", "librivox-60s"])
    func matchesFasterWhisperWithClampedEnds(_ input: String) throws {
        let run = try #require(((((Self.fixture["models"] as? [String: Any])?["whisper-tiny.en"] as? [String: Any])?["runs"]
            as? [String: Any])?[input] as? [String: Any]))
        let want = try #require(run["segments"] as? [[String: Any]])
        let audio = try Self.samples(input)
        let whisper = try WhisperStagesTests.tinyEn()
        var options = WhisperOptions()
        options.language = "en"
        let got = try whisper.transcribe(samples: audio, options: options).segments
        let end = Double(audio.count) / 16_000               // the end of the audio
        try #require(got.count == want.count, "\(input): \(got.map { "\($0.start) \($0.end)\($0.text)" })")
        for (g, w) in zip(got, want) {
            let start = try #require(w["start"] as? Double), wEnd = try #require(w["end"] as? Double)
            #expect(g.text == w["text"] as? String, "\(input)")
            #expect(g.tokens == w["tokens"] as? [Int], "\(input): \(g.text)")
            #expect(abs(g.start - min(start, end)) < 1e-6, "\(input): start \(g.start) vs \(start)")
            #expect(abs(g.end - min(wEnd, end)) < 1e-6, "\(input): end \(g.end) vs \(wEnd), audio \(end) s")
            #expect(g.end <= Double(audio.count) / 16_000)
        }
    }

    /// The fixture shows why the leftover is not decoded: faster-whisper's own outcome is a draw.
    @Test func fasterWhisperKeepsTheLeftoverOnlyByChance() throws {
        let run = try #require(((((Self.fixture["models"] as? [String: Any])?["whisper-tiny.en"] as? [String: Any])?["runs"]
            as? [String: Any])?["librivox-60s"] as? [String: Any]))
        let outcomes = try #require((run["sampled_windows"] as? [[String: Any]])?.first?["outcomes"] as? [[String: Any]])
        let kept = outcomes.filter { $0["kept"] as? Bool == true }, dropped = outcomes.filter { $0["kept"] as? Bool == false }
        #expect(!kept.isEmpty && !dropped.isEmpty)
        #expect(outcomes.allSatisfy { ($0["no_speech_prob"] as? Double ?? 0) > 0.9 })
    }

    // MARK: a stop inside one window's decoding (issue 14 item 4)

    final class Counter: @unchecked Sendable {
        let lock = NSLock()
        var calls = 0, stopAt: Int, stoppedAt: Date? = nil
        init(stopAt: Int) { self.stopAt = stopAt }
        func ask() -> Bool {
            lock.lock(); defer { lock.unlock() }
            calls += 1
            if calls >= stopAt, stoppedAt == nil { stoppedAt = Date() }
            return calls >= stopAt
        }
    }

    /// A stop that turns true during a window's beam search (or sampling) ends it at the
    /// next token step: the decoder asks before each step and throws `CancellationError`.
    @Test(arguments: zip([1, 5], [5, 1]))
    func aStopEndsTheDecodingWithinOneStep(beams: Int, bestOf: Int) throws {
        let whisper = try WhisperStagesTests.tinyEn()
        let samples = try decodeAudio(path: WhisperWeightsTests.repoRoot.appendingPathComponent("Samples/speech.wav").path,
                                      sampleRate: 16_000)
        let features = whisper.stages.features.stream(maximum: nil)
        try samples.withUnsafeBufferPointer { try features.append($0) }
        try features.finish()
        let mel = try features.window(WhisperWindow(start: 0, frames: features.readyFrames))
        let audio = try whisper.stages.encoder.encode(windows: mel.unsqueezed(0))
        var request = WhisperOptions()
        request.beamSize = beams
        request.bestOf = bestOf
        if beams == 1 { request.temperatures = [0.4] }          // sampling bestOf rows
        var options = whisper.transcribeOptions(request, language: "en")
        let counter = Counter(stopAt: 8)
        options.shouldStop = { counter.ask() }
        #expect(throws: CancellationError.self) {
            _ = try whisper.stages.decoder.decode(audio: audio, prompt: [whisper.tokenizer.sot], options: options)
        }
        // The check that said stop was the last: no step ran after it.
        #expect(counter.calls == 8)
        let stopped = try #require(counter.stoppedAt)
        #expect(Date().timeIntervalSince(stopped) < 1)
    }

    // MARK: option ranges (issue 14 item 3)

    struct Bad: Sendable, CustomStringConvertible {
        let description: String, names: String
        let apply: @Sendable (inout WhisperOptions) -> Void
    }

    static let bad: [Bad] = [
        Bad(description: "beam 0", names: "beam size") { $0.beamSize = 0 },
        Bad(description: "beam 65", names: "beam size") { $0.beamSize = 65 },
        Bad(description: "best-of 0", names: "best-of") { $0.bestOf = 0 },
        Bad(description: "best-of 1000", names: "best-of") { $0.bestOf = 1000 },
        Bad(description: "patience 0", names: "patience") { $0.patience = 0 },
        Bad(description: "patience -1", names: "patience") { $0.patience = -1 },
        Bad(description: "patience nan", names: "patience") { $0.patience = .nan },
        Bad(description: "patience 11", names: "patience") { $0.patience = 11 },
        Bad(description: "length penalty -0.5", names: "length penalty") { $0.lengthPenalty = -0.5 },
        Bad(description: "length penalty 2", names: "length penalty") { $0.lengthPenalty = 2 },
        Bad(description: "no temperature", names: "temperature") { $0.temperatures = [] },
        Bad(description: "temperature -1", names: "temperature") { $0.temperatures = [-1] },
        Bad(description: "temperature 1.5", names: "temperature") { $0.temperatures = [0, 1.5] },
        Bad(description: "temperature inf", names: "temperature") { $0.temperatures = [.infinity] },
        Bad(description: "compression 0", names: "compression ratio threshold") { $0.compressionRatioThreshold = 0 },
        Bad(description: "logprob 1", names: "log-probability threshold") { $0.logprobThreshold = 1 },
        Bad(description: "no-speech 1.5", names: "no-speech threshold") { $0.noSpeechThreshold = 1.5 },
        Bad(description: "no-speech -0.1", names: "no-speech threshold") { $0.noSpeechThreshold = -0.1 },
        Bad(description: "silence 0", names: "hallucination silence threshold") { $0.hallucinationSilenceThreshold = 0 },
        Bad(description: "silence 31", names: "hallucination silence threshold") { $0.hallucinationSilenceThreshold = 31 },
    ]

    @Test(arguments: bad)
    func anOptionOutOfRangeIsNamed(_ c: Bad) throws {
        var o = WhisperOptions()
        c.apply(&o)
        do {
            try o.validate()
            Issue.record("\(c) accepted")
        } catch let e as WhisperError {
            #expect(e.description.contains(c.names), "\(e)")
            #expect(e.description.contains("range") || e.description.contains("at least one"), "\(e)")
        }
        // Whisper.transcribe refuses it before any work.
        let whisper = try WhisperStagesTests.tinyEn()
        #expect(throws: WhisperError.self) { try whisper.transcribe(samples: [Float](repeating: 0, count: 1600), options: o) }
    }

    @Test func theBoundsAreAccepted() throws {
        var o = WhisperOptions()
        try o.validate()                                    // the defaults
        o.beamSize = 64; o.bestOf = 1; o.patience = 10; o.lengthPenalty = 0
        o.temperatures = [0, 1]; o.compressionRatioThreshold = 0.1; o.logprobThreshold = 0
        o.noSpeechThreshold = 1; o.hallucinationSilenceThreshold = 30
        try o.validate()
        o = WhisperOptions()
        o.beamSize = nil; o.bestOf = nil; o.compressionRatioThreshold = nil; o.logprobThreshold = nil; o.noSpeechThreshold = nil
        try o.validate()
    }
}
