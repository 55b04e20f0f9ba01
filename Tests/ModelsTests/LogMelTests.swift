import Foundation
import Testing
import Media
@testable import Models
import TensorCore

// Fixtures: Tests/ModelsTests/Fixtures/logmel/, made by scripts/gen-logmel-fixtures.py
// (openai-whisper's log_mel_spectrogram in numpy float32, plus a copy of mel_filters.npz).

enum LogMelFixture {
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        let name: String
        let input: String
        let samples: Int
        let input_sum: Double
        let n_mels: Int
        let mode: String
        let frames: Int
        let head: Int
        let row_max: [Float]
        let row_min: [Float]
        let max: Float
        var testDescription: String { name }
    }
    struct Manifest: Decodable { let cases: [Case] }

    static func url(_ name: String, _ ext: String) -> URL {
        Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures/logmel")!
    }

    static let cases: [Case] = try! JSONDecoder().decode(Manifest.self, from: Data(contentsOf: url("cases", "json"))).cases

    static let filters80 = try! WhisperMelFilterLoader.load(url("mel_filters", "npz"), nMels: 80)
    static let filters128 = try! WhisperMelFilterLoader.load(url("mel_filters", "npz"), nMels: 128)

    static func speech() throws -> [Float] {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Samples/speech.wav").path
        return try decodeAudio(path: path)
    }

    /// The generator's chirp: 0.5 sin of a linear 20 -> 7900 Hz sweep over 5 s, the last
    /// 0.5 s at 0.001; float64 per sample, rounded to float32.
    static func chirp(seconds: Double = 5, rate: Int = 16_000, f0: Double = 20, f1: Double = 7900) -> [Float] {
        let count = Int(seconds * Double(rate))
        return (0..<count).map { n in
            let t = Double(n) / Double(rate)
            let phase = 2 * Double.pi * (f0 * t + (f1 - f0) * t * t / (2 * seconds))
            let amplitude = n < count - rate / 2 ? 0.5 : 0.001
            return Float(amplitude * sin(phase))
        }
    }
}

@Suite("LogMelSpectrogram")
struct LogMelTests {
    static let tolerance: Float = 1e-4

    /// Max abs error and cosine of two equally shaped tensors.
    static func compare(_ a: Tensor, _ b: Tensor) -> (maxAbs: Float, cosine: Double) {
        let x = a.scalars, y = b.scalars
        var m: Float = 0, dot = 0.0, nx = 0.0, ny = 0.0
        for i in 0..<x.count {
            m = max(m, abs(x[i] - y[i]))
            dot += Double(x[i]) * Double(y[i]); nx += Double(x[i] * x[i]); ny += Double(y[i] * y[i])
        }
        return (m, dot / (nx.squareRoot() * ny.squareRoot()))
    }

    @Test(arguments: LogMelFixture.cases)
    func parity(_ c: LogMelFixture.Case) throws {
        let samples = c.input == "speech.wav" ? try LogMelFixture.speech() : LogMelFixture.chirp()
        #expect(samples.count == c.samples)
        let sum = samples.reduce(0.0) { $0 + Double($1) }
        #expect(abs(sum - c.input_sum) < 1e-6, "input samples differ from the generator's: sum \(sum) vs \(c.input_sum)")

        let mel = LogMelSpectrogram(filters: c.n_mels == 80 ? LogMelFixture.filters80 : LogMelFixture.filters128)
        let spec = c.mode == "long" ? mel.longForm(samples) : mel(samples)
        #expect(spec.shape == [c.n_mels, c.frames])

        let expected = try NPY.read(LogMelFixture.url(c.name, "npy")).tensor
        let head = spec.slice(axis: 1, 0..<c.head)
        let (err, cosine) = Self.compare(head, expected)
        #expect(err <= Self.tolerance, "\(c.name): max abs error \(err) over the first \(c.head) frames, cosine \(cosine)")

        // Every frame, through per-mel extremes.
        let rows = spec.contiguous()
        var rowErr: Float = 0
        for m in 0..<c.n_mels {
            let row = Array(UnsafeBufferPointer(start: rows.pointer + m * c.frames, count: c.frames))
            rowErr = max(rowErr, abs(row.max()! - c.row_max[m]), abs(row.min()! - c.row_min[m]))
        }
        #expect(rowErr <= Self.tolerance, "\(c.name): per-mel max/min differ by up to \(rowErr)")
        print("LogMel parity \(c.name): max abs error \(err) (first \(c.head) frames), per-mel extremes \(rowErr), cosine \(cosine)")
    }

    @Test func windowPadsAndTrims() {
        let mel = LogMelSpectrogram(filters: LogMelFixture.filters80)
        let chirp = LogMelFixture.chirp()
        // 35 s is trimmed to 30 s.
        let long = chirp + [Float](repeating: 0.1, count: 480_000 - chirp.count) + chirp
        let trimmed = Array(long.prefix(480_000))
        #expect(Self.compare(mel(long), mel(trimmed)).maxAbs == 0)
        // Silence: log10(1e-10) everywhere, (-10 + 4) / 4.
        let silent = mel([])
        #expect(silent.shape == [80, 3000] && silent.scalars.allSatisfy { $0 == -1.5 })
        // Shorter windows and empty spectrograms.
        #expect(mel(chirp, frames: 10).shape == [80, 10])
        #expect(mel(chirp, frames: 0).shape == [80, 0])
        #expect(mel.longForm([], padding: 0).shape == [80, 0])
        // A signal shorter than the reflect padding still works (numpy's repeated reflection).
        let tiny = mel(Array(chirp[1000..<1100]), frames: 1)
        #expect(tiny.shape == [80, 1] && tiny.scalars.allSatisfy(\.isFinite))
    }

    @Test func segmentsOfLongForm() {
        let mel = LogMelSpectrogram(filters: LogMelFixture.filters80)
        let spec = mel.longForm(LogMelFixture.chirp())                  // 5 s + 30 s padding = 3500 frames
        #expect(spec.shape == [80, 3500])
        let first = LogMelSpectrogram.segment(spec, start: 0)
        #expect(Self.compare(first, spec.slice(axis: 1, 0..<3000)).maxAbs == 0)
        // Past the end: the rest is zero (pad_or_trim pads log-mel with 0, not the floor).
        let tail = LogMelSpectrogram.segment(spec, start: 3400)
        #expect(Self.compare(tail.slice(axis: 1, 0..<100), spec.slice(axis: 1, 3400..<3500)).maxAbs == 0)
        #expect(tail.slice(axis: 1, 100..<3000).scalars.allSatisfy { $0 == 0 })
        // An explicit count (openai-whisper's segment_size) pads sooner.
        let part = LogMelSpectrogram.segment(spec, start: 100, count: 500)
        #expect(Self.compare(part.slice(axis: 1, 0..<500), spec.slice(axis: 1, 100..<600)).maxAbs == 0)
        #expect(part.slice(axis: 1, 500..<3000).scalars.allSatisfy { $0 == 0 })
    }

    /// Pushes `samples` into a stream in pieces of the given sizes (cycled), then finishes it.
    static func streamed(_ mel: LogMelSpectrogram, _ samples: [Float], pieces: [Int], maximum: Float? = nil,
                         discardAfterEach: Bool = false) throws -> LogMelStream {
        let stream = LogMelStream(mel, knownMaximum: maximum)
        var i = 0, k = 0
        while i < samples.count {
            let n = min(max(1, pieces[k % pieces.count]), samples.count - i)
            try samples[i..<i + n].withUnsafeBufferPointer { try stream.append($0) }
            if discardAfterEach { stream.discard(before: stream.readyFrames) }
            i += n
            k += 1
        }
        try stream.finish()
        return stream
    }

    /// The stream gives longForm's values bit for bit whatever the pieces: the first pass's
    /// maximum is longForm's (before the floor), and every window equals `segment` of longForm.
    @Test(arguments: [[16_000], [1], [399, 401, 160, 100_003], [1_000_000]])
    func streamEqualsLongForm(_ pieces: [Int]) throws {
        let mel = LogMelSpectrogram(filters: LogMelFixture.filters80)
        let speech = try LogMelFixture.speech()
        let samples = pieces == [1] ? Array(speech.prefix(9_000)) : speech + LogMelFixture.chirp() + speech
        let long = mel.longForm(samples)
        let frames = samples.count / 160
        #expect(long.shape[1] == frames + 3000)

        let scan = try Self.streamed(mel, samples, pieces: pieces, discardAfterEach: true)
        #expect(scan.readyFrames == frames)
        // longForm's floor is its maximum - 8: the smallest value it holds is floor-clamped.
        let raw = mel.logMelMaximum(samples)
        #expect(scan.maximum == raw, "stream maximum \(scan.maximum), longForm \(raw)")

        let second = try Self.streamed(mel, samples, pieces: pieces, maximum: scan.maximum)
        for start in [0, 1, 255, 256, frames / 2, max(0, frames - 3000), frames - 1] where start >= 0 && start < frames {
            let count = min(3000, frames - start)
            let got = try second.window(WhisperWindow(start: start, frames: count))
            let want = LogMelSpectrogram.segment(long, start: start, count: count)
            #expect(got.scalars == want.scalars, "window at \(start): max abs \(Self.compare(got, want).maxAbs)")
        }
    }

    /// Only the frames from the last discard on are kept, and the samples the next block needs:
    /// ten minutes keep what one minute keeps.
    @Test func streamMemoryDoesNotGrow() throws {
        let mel = LogMelSpectrogram(filters: LogMelFixture.filters80)
        let chirp = LogMelFixture.chirp()
        let stream = LogMelStream(mel, knownMaximum: 0)
        var kept: [Int] = []
        for second in stride(from: 0, to: 600, by: 5) {
            try chirp.withUnsafeBufferPointer { try stream.append($0) }
            // The loop's pattern: read the window at the seek, then seek 25 s further.
            let seek = max(0, stream.readyFrames - 3000)
            if stream.readyFrames >= seek + 3000 { _ = try stream.window(WhisperWindow(start: seek, frames: 3000)) }
            stream.discard(before: seek)
            if second == 60 || second == 595 { kept.append(stream.keptValues) }
        }
        #expect(kept.count == 2 && kept[1] <= kept[0] + 2 * LogMelStream.blockFrames * 80, "\(kept)")
        #expect(kept[1] * 4 < 3 << 20, "\(kept[1]) floats kept")
    }

    @Test func filterLoaderChecks() throws {
        #expect(LogMelFixture.filters80.shape == [80, 201] && LogMelFixture.filters128.shape == [128, 201])
        #expect(throws: WeightFileError.self) { try WhisperMelFilterLoader.load(LogMelFixture.url("mel_filters", "npz"), nMels: 64) }
        #expect(throws: WeightFileError.self) { try WhisperMelFilterLoader.load(LogMelFixture.url("cases", "json")) }
    }

    /// Set MMPIPE_LOGMEL_BENCH=1 (best in a release build) to time 30 s of audio.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["MMPIPE_LOGMEL_BENCH"] != nil))
    func timing() throws {
        let mel = LogMelSpectrogram(filters: LogMelFixture.filters80)
        let audio = Array((LogMelFixture.chirp() + (try LogMelFixture.speech())).prefix(480_000))
        _ = mel(audio)
        let clock = ContinuousClock()
        var best = Duration.seconds(100)
        for _ in 0..<20 { best = min(best, clock.measure { _ = mel(audio) }) }
        let hour = [Float](repeating: 0.01, count: 16_000 * 600)
        let long = clock.measure { _ = mel.longForm(hour) }
        print("LogMel timing: 30 s window best of 20: \(best); 10 min long form: \(long); threads \(Compute.threads)")
    }
}
