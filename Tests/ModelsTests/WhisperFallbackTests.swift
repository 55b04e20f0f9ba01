import Foundation
import Media
import Testing
import TensorCore
import TestAudio
@testable import Models

/// Temperature fallback as faster-whisper's `generate_with_fallback` does it: the compression
/// ratio of the stripped text, and when every temperature fails, the likeliest attempt (not
/// the last one), reported at the last temperature.
@Suite("Whisper fallback: faster-whisper's choice when every temperature fails")
struct WhisperFallbackTests {
    /// The texts the compression ratio was asked for.
    final class Texts: @unchecked Sendable {
        private let lock = NSLock()
        private var _all: [String] = []
        var all: [String] { lock.withLock { _all } }
        func add(_ t: String) { lock.withLock { _all.append(t) } }
    }

    /// Window 0 of 30 s of loud pink noise (the model hallucinates on it), encoded.
    static func noiseWindow(_ whisper: Whisper) throws -> Tensor {
        let samples = TestAudio.floats(TestAudio.pink(seconds: 30, seed: 7, amplitude: 1.0))
        let mel = LogMelSpectrogram(filters: try WhisperParityTests.load("whisper-tiny.en").mel.filters)(samples)
        return whisper.model.encode(mel.unsqueezed(0))
    }

    static func decoder(_ whisper: Whisper, texts: Texts) -> WhisperFallbackDecoder {
        WhisperFallbackDecoder(model: whisper.model, special: whisper.tokenizer.specialTokens,
                               decodeText: { [tokenizer = whisper.tokenizer] in tokenizer.decode($0) },
                               compressionRatio: { texts.add($0); return TextCompression.ratio($0) })
    }

    @Test func everyTemperatureFailingKeepsTheLikeliestAttempt() throws {
        let whisper = try WhisperStagesTests.tinyEn()
        let audio = try Self.noiseWindow(whisper)
        let texts = Texts()
        let decoder = Self.decoder(whisper, texts: texts)
        var options = whisper.transcribeOptions(WhisperOptions(), language: "en")
        options.noSpeechThreshold = nil                   // no silence rule: every attempt is judged
        options.logprobThreshold = 0                      // every attempt is too unlikely
        let prompt = [whisper.tokenizer.sot]
        let temperatures: [Float] = [0, 0.4, 1.0]

        // Each attempt alone (sampling is seeded per decode, so they are the same attempts).
        var attempts: [WhisperDecodedWindow] = []
        for t in temperatures {
            var o = options
            o.temperatures = [t]
            attempts.append(try decoder.decode(audio: audio, prompt: prompt, options: o))
        }
        options.temperatures = temperatures
        let got = try decoder.decode(audio: audio, prompt: prompt, options: options)
        #expect(got.temperature == 1.0)                   // the last temperature, as faster-whisper reports it

        // Among those under the compression threshold when there are any, else among all.
        let under = attempts.filter { $0.compressionRatio <= 2.4 }
        let pool = under.isEmpty ? attempts : under
        let best = try #require(pool.max { $0.result.avgLogprob < $1.result.avgLogprob })
        #expect(got.result.tokens == best.result.tokens)
        #expect(got.result.avgLogprob == best.result.avgLogprob)
        #expect(got.compressionRatio == best.compressionRatio)

        // The same with no compression threshold: the likeliest of all.
        options.compressionRatioThreshold = nil
        let any = try decoder.decode(audio: audio, prompt: prompt, options: options)
        let likeliest = try #require(attempts.max { $0.result.avgLogprob < $1.result.avgLogprob })
        #expect(any.result.tokens == likeliest.result.tokens && any.temperature == 1.0)

        // The ratio is that of the text without surrounding whitespace (Python's strip()).
        #expect(!texts.all.isEmpty)
        for t in texts.all { #expect(t == t.trimmingCharacters(in: .whitespacesAndNewlines), "\(t.prefix(40).debugDescription)") }
    }
}

/// Beam search's candidate pick: the k largest logits, best first, `-inf` (suppressed
/// tokens) never, against a full sort, on a vocabulary-sized row whose block skipping
/// matters (most blocks of 8 lose to the k-th) and on short odd rows (the tail).
@Suite("WhisperDecoder.topIndices")
struct WhisperTopIndicesTests {
    @Test(arguments: [(51_864, 10), (51_864, 1), (13, 5), (7, 10), (100, 0)])
    func largestFirstAsAFullSortGivesThem(_ shape: (n: Int, k: Int)) {
        var state: UInt64 = 42
        let x: [Float] = (0..<shape.n).map { i in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            // Every third suppressed; distinct finite values otherwise.
            return i % 3 == 1 ? -.infinity : Float(Int64(bitPattern: state >> 11) % 1_000_003) / 1000 + Float(i) * 1e-7
        }
        let want = Array(x.indices.filter { x[$0] > -.infinity }.sorted { x[$0] > x[$1] }.prefix(shape.k))
        let got = x.withUnsafeBufferPointer { WhisperDecoder.topIndices($0.baseAddress!, shape.n, shape.k) }
        #expect(got == want)
    }
}
