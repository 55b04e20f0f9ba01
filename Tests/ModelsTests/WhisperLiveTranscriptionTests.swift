import Foundation
import Media
import Testing
import TensorCore
@testable import Models

/// Live input (`Whisper.live`, what `mmpipe transcribe --audio-stdin` runs) goes through the
/// file path's loop and seeking: the same segments as `transcribe(samples:)` of the whole
/// recording, however the audio is cut into pushes (issue 14: fixed 30 s windows split a word
/// at 30.00 s, invented text and dropped the last words).
@Suite("Whisper live transcription: the file path's segments", .serialized)
struct WhisperLiveTranscriptionTests {
    static let librivox = "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-"

    /// 43.12 s: speech.wav and four LibriVox clips, speech.wav again and two clips, with 1 s
    /// silences between some (the old live loop cut a word at 30 s here).
    static func long() throws -> [Float] {
        let speech = try decodeAudio(path: WhisperWeightsTests.repoRoot.appendingPathComponent("Samples/speech.wav").path, sampleRate: 16_000)
        func clip(_ n: String) throws -> [Float] { try decodeAudio(path: librivox + n + ".wav", sampleRate: 16_000) }
        let second = [Float](repeating: 0, count: 16_000)
        var out = speech + second + (try clip("0880")) + (try clip("0890")) + second + (try clip("0920")) + (try clip("0930"))
        out += speech + second + (try clip("0890")) + (try clip("0880"))
        return out
    }

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
        -> (pushed: [WhisperSegment], finished: [WhisperSegment], language: String?) {
        let live = try whisper.live(options: options)
        var pushed: [WhisperSegment] = []
        var i = 0, k = 0
        while i < audio.count {
            let n = pieces[k % pieces.count]
            pushed += try live.push(Array(audio[i..<min(i + n, audio.count)]))
            i += n
            k += 1
        }
        let finished = try live.finish()
        #expect(live.segments == pushed + finished)
        return (pushed, finished, live.language)
    }

    /// The old live loop's output on `long()` (fixed 30 s windows, at dccbe95): "her how much"
    /// at 30.00 s is a word cut in two.
    static let oldTinyEn = [
        "[00:00:30.000 --> 00:00:35.120] her how much there might be prudently in his power to do for them.",
    ]

    @Test func longInputGivesTheFilePathsSegmentsInAnyPieces() throws {
        let whisper = try WhisperStagesTests.tinyEn()
        let audio = try Self.long()
        #expect(audio.count == 689_920)
        let options = WhisperOptions()
        let file = try whisper.transcribe(samples: audio, options: options).segments
        #expect(file.count >= 8)
        #expect(!file.map(Self.line).contains(Self.oldTinyEn[0]))

        // Reads of one second, as the CLI does: the first windows' segments come out of pushes.
        let bySecond = try Self.live(whisper, audio, pieces: [16_000], options: options)
        #expect(bySecond.pushed + bySecond.finished == file, "\((bySecond.pushed + bySecond.finished).map(Self.line))\nvs\n\(file.map(Self.line))")
        #expect(!bySecond.pushed.isEmpty && !bySecond.finished.isEmpty)
        // Odd pieces, and one push larger than a window.
        let odd = try Self.live(whisper, audio, pieces: [7_919, 500_000, 1, 33_333], options: options)
        #expect(odd.pushed + odd.finished == file)
    }

    @Test func aShortInputIsFinalAtTheEnd() throws {
        let whisper = try WhisperStagesTests.tinyEn()
        let audio = try decodeAudio(path: WhisperWeightsTests.repoRoot.appendingPathComponent("Samples/speech.wav").path, sampleRate: 16_000)
        let got = try Self.live(whisper, audio, pieces: [16_000], options: WhisperOptions())
        #expect(got.pushed.isEmpty)
        #expect(got.finished.map(Self.line) == [
            "[00:00:00.000 --> 00:00:07.000] And Mr. John Dashwood had then leisure to consider how much there might be prudently in his power to do for them.",
        ])
        #expect(got.finished == (try whisper.transcribe(samples: audio).segments))
    }

    /// The live floor: the maximum up to each window's end. A loud burst after the first
    /// window raises the file's floor for every window, the live one only from its window on;
    /// whatever the pieces, live input gives the same.
    @Test func theLiveFloorDependsOnlyOnTheAudio() throws {
        let mel = LogMelSpectrogram(filters: LogMelFixture.filters80)
        var audio = LogMelFixture.chirp(seconds: 5).map { $0 * 0.001 }
        audio += [Float](repeating: 0, count: 16_000 * 40) + LogMelFixture.chirp(seconds: 5)
        let window = WhisperWindow(start: 0, frames: 3000)
        func first(_ pieces: [Int]) throws -> Tensor {
            let stream = LogMelStream(mel)
            var i = 0, k = 0
            while i < audio.count {
                let n = min(pieces[k % pieces.count], audio.count - i)
                try audio[i..<i + n].withUnsafeBufferPointer { try stream.append($0) }
                i += n
                k += 1
                if stream.readyFrames >= window.end { break }
            }
            return try stream.window(window)
        }
        let a = try first([16_000]), b = try first([1_000, 77_777, 3])
        #expect(a.scalars == b.scalars)
        let whole = LogMelSpectrogram.segment(mel.longForm(audio), start: 0, count: 3000)
        #expect(a.scalars != whole.scalars, "the burst at 45 s floors the file's first window higher")
    }

    /// A multilingual model detects the language on the first window, as for a file.
    @Test(.enabled(if: WhisperWeightsTests.modelPresent("whisper-base")))
    func multilingualModelGivesTheFilePathsSegments() throws {
        let m = try WhisperParityTests.load("whisper-base")
        let whisper = Whisper(model: m.model, tokenizer: m.tokenizer, alignmentHeads: m.extras.alignmentHeads,
                              melFilters: m.mel.filters, compressionRatio: { TextCompression.ratio($0) })
        let audio = try Self.long()
        let file = try whisper.transcribe(samples: audio)
        let got = try Self.live(whisper, audio, pieces: [16_000], options: WhisperOptions())
        #expect(got.pushed + got.finished == file.segments)
        #expect(got.language == "en" && file.language == "en")
    }
}
