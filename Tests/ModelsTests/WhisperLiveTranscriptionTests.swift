import Foundation
import Media
import Testing
import TensorCore
@testable import Models

/// `WhisperLiveTranscription` gives the segments `mmpipe transcribe --audio-stdin` printed
/// before it existed (its loop in Sources/mmpipe/Transcribe.swift, kept below as the oracle,
/// and its output recorded with `--format vtt`), however the audio is cut into pushes.
@Suite("Whisper live transcription: the --audio-stdin segments", .serialized)
struct WhisperLiveTranscriptionTests {
    static let librivox = "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-"

    /// 43.12 s: speech.wav and four LibriVox clips, speech.wav again and two clips, with 1 s
    /// silences between some (three live windows, one of them cut mid-word).
    static func long() throws -> [Float] {
        let speech = try decodeAudio(path: WhisperWeightsTests.repoRoot.appendingPathComponent("Samples/speech.wav").path, sampleRate: 16_000)
        func clip(_ n: String) throws -> [Float] { try decodeAudio(path: librivox + n + ".wav", sampleRate: 16_000) }
        let second = [Float](repeating: 0, count: 16_000)
        var out = speech + second + (try clip("0880")) + (try clip("0890")) + second + (try clip("0920")) + (try clip("0930"))
        out += speech + second + (try clip("0890")) + (try clip("0880"))
        return out
    }

    /// The loop `transcribe --audio-stdin` ran (Transcribe.streamStdin at commit dccbe95),
    /// reading `readSize` samples at a time: 30 s windows, each transcribed alone; audio after
    /// the last segment's end goes to the next window.
    static func oracle(_ whisper: Whisper, _ audio: [Float], readSize: Int, options: WhisperOptions) throws -> [WhisperSegment] {
        var pending: [Float] = []
        var offset = 0.0
        var segmentID = 0
        let window = 30 * 16_000
        var out: [WhisperSegment] = []
        func flush(final: Bool) throws {
            while pending.count >= window || (final && !pending.isEmpty) {
                let take = min(window, pending.count)
                let chunk = Array(pending.prefix(take))
                let t = try whisper.transcribe(samples: chunk, options: options)
                var consumed = take
                if !final, take == window, let last = t.segments.last, last.end < 29 {
                    consumed = max(16_000, Int(last.end * 16_000))
                }
                for s in t.segments where final || s.end * 16_000 <= Double(consumed) + 1 {
                    var s = s
                    s.id = segmentID; segmentID += 1
                    s.start += offset; s.end += offset
                    out.append(s)
                }
                pending.removeFirst(consumed)
                offset += Double(consumed) / 16_000
                if final && pending.count < 1600 { pending.removeAll() }
            }
        }
        var i = 0
        while i < audio.count {
            pending.append(contentsOf: audio[i..<min(i + readSize, audio.count)])
            i += readSize
            try flush(final: false)
        }
        try flush(final: true)
        return out
    }

    /// What `--audio-stdin --format vtt` printed for a segment.
    static func line(_ s: WhisperSegment) -> String {
        func vtt(_ s: Double) -> String {
            let ms = Int((max(s, 0) * 1000).rounded())
            return String(format: "%02d:%02d:%02d.%03d", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
        }
        return "[\(vtt(s.start)) --> \(vtt(s.end))] \(s.text.trimmingCharacters(in: .whitespaces))"
    }

    /// Pushes `audio` in pieces of the given sizes (cycled); returns the segments of each push
    /// and of `finish`.
    static func live(_ whisper: Whisper, _ audio: [Float], pieces: [Int], options: WhisperOptions) throws
        -> (pushed: [WhisperSegment], finished: [WhisperSegment]) {
        var live = whisper.live(options: options)
        var pushed: [WhisperSegment] = []
        var i = 0, k = 0
        while i < audio.count {
            let n = pieces[k % pieces.count]
            pushed += try live.push(Array(audio[i..<min(i + n, audio.count)]))
            i += n
            k += 1
        }
        return (pushed, try live.finish())
    }

    static func same(_ a: [WhisperSegment], _ b: [WhisperSegment]) -> Bool {
        a.map { "\($0.id) \($0.start) \($0.end) \($0.text)" } == b.map { "\($0.id) \($0.start) \($0.end) \($0.text)" }
    }

    /// Recorded with `mmpipe transcribe --audio-stdin --format vtt < long.wav` (tiny.en) at dccbe95,
    /// then with segment times clamped to the audio (issue 14 item 8): the first window's last
    /// segment ended past its 30 s (so the old loop dropped it with its audio) and is now kept
    /// ending at 30.000; the last one ended at 56.400, 13 s after the input's 43.120 s.
    static let recordedTinyEn = [
        "[00:00:00.000 --> 00:00:05.560] And Mr. John Dashwood had then leisure to consider how much there might be prudently in",
        "[00:00:05.560 --> 00:00:08.400] his power to do for them.",
        "[00:00:08.400 --> 00:00:14.800] He was not an ill-disposed young man, unless to be rather cold-hearted and rather selfish,",
        "[00:00:14.800 --> 00:00:17.800] is to be ill-disposed.",
        "[00:00:17.800 --> 00:00:22.520] Had he married a more amiable woman he might have been made still more respectable than",
        "[00:00:22.520 --> 00:00:23.760] he was.",
        "[00:00:23.760 --> 00:00:27.040] He might even have been made amiable himself.",
        "[00:00:27.040 --> 00:00:30.000] And Mr. John Dashwood had then leisure to consider.",
        "[00:00:30.000 --> 00:00:35.120] her how much there might be prudently in his power to do for them.",
        "[00:00:35.120 --> 00:00:41.400] Unless to be rather cold-hearted and rather selfish is to be ill-disposed, he was not an",
        "[00:00:41.400 --> 00:00:43.120] ill-disposed young man.",
    ]

    /// The same with `--model base` (language detected in each window).
    static let recordedBase = [
        "[00:00:00.000 --> 00:00:08.000] And Mr. John Dashwood had then leisure to consider how much there might be prudently in his power to do for them.",
        "[00:00:08.000 --> 00:00:17.000] He was not an ill-disposed young man, unless to be rather cold-hearted and rather selfish, is to be ill-disposed.",
        "[00:00:17.000 --> 00:00:23.000] Had he married a more amiable woman, he might have been made still more respectable than he was.",
        "[00:00:23.000 --> 00:00:26.000] He might even have been made amiable himself.",
        "[00:00:26.000 --> 00:00:30.000] And Mr. John Dashwood had then leisure to consider...",
        "[00:00:30.000 --> 00:00:35.220] how much there might be prudently in his power to do for them.",
        "[00:00:35.220 --> 00:00:41.260] Unless to be rather cold-hearted and rather selfish is to be ill-disposed, he was not",
        "[00:00:41.260 --> 00:00:42.900] an ill-disposed young man.",
    ]

    @Test func longInputMatchesTheOldLoopInAnyPieces() throws {
        let whisper = try WhisperStagesTests.tinyEn()
        let audio = try Self.long()
        #expect(audio.count == 689_920)
        let options = WhisperOptions()
        let want = try Self.oracle(whisper, audio, readSize: 16_000, options: options)
        #expect(want.map(Self.line) == Self.recordedTinyEn)

        // Reads of one second, as the CLI does: the first window's segments come out of a push.
        let bySecond = try Self.live(whisper, audio, pieces: [16_000], options: options)
        #expect(Self.same(bySecond.pushed + bySecond.finished, want))
        #expect(bySecond.pushed.count == 8, "\(bySecond.pushed.map(Self.line))")
        // Odd pieces, and one push larger than a window.
        let odd = try Self.live(whisper, audio, pieces: [7_919, 500_000, 1, 33_333], options: options)
        #expect(Self.same(odd.pushed + odd.finished, want))
    }

    @Test func aShortInputIsFinalAtTheEnd() throws {
        let whisper = try WhisperStagesTests.tinyEn()
        let audio = try decodeAudio(path: WhisperWeightsTests.repoRoot.appendingPathComponent("Samples/speech.wav").path, sampleRate: 16_000)
        let got = try Self.live(whisper, audio, pieces: [16_000], options: WhisperOptions())
        #expect(got.pushed.isEmpty)
        #expect(got.finished.map(Self.line) == [
            "[00:00:00.000 --> 00:00:07.000] And Mr. John Dashwood had then leisure to consider how much there might be prudently in his power to do for them.",
        ])
        #expect(Self.same(got.finished, try Self.oracle(whisper, audio, readSize: 16_000, options: WhisperOptions())))
    }

    /// A multilingual model detects the language in each window (checked when base is fetched).
    @Test(.enabled(if: WhisperWeightsTests.modelPresent("whisper-base")))
    func multilingualModelMatchesTheRecordedOutput() throws {
        let m = try WhisperParityTests.load("whisper-base")
        let whisper = Whisper(model: m.model, tokenizer: m.tokenizer, alignmentHeads: m.extras.alignmentHeads,
                              melFilters: m.mel.filters, compressionRatio: { TextCompression.ratio($0) })
        var live = whisper.live()
        let audio = try Self.long()
        var got: [WhisperSegment] = []
        var i = 0
        while i < audio.count {
            got += try live.push(Array(audio[i..<min(i + 16_000, audio.count)]))
            i += 16_000
        }
        got += try live.finish()
        #expect(got.map(Self.line) == Self.recordedBase)
        #expect(live.language == "en")
    }
}
