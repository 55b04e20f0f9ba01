import Foundation
import Media
import Testing
import TensorCore
import Models

/// Greedy decoding against CTranslate2 on the same weights and audio
/// (scripts/gen-whisper-fixtures.py): token ids must be identical, with and without
/// timestamps, and the no-speech probability within 1e-3.
@Suite("Whisper greedy decoding: identical token ids to CTranslate2")
struct WhisperParityTests {
    struct Case: Sendable, CustomStringConvertible {
        let model: String, clip: String, timestamps: Bool
        var description: String { "\(model) \(clip)\(timestamps ? " timestamps" : "")" }
    }

    static let reference: [String: Any] = {
        guard let url = Bundle.module.url(forResource: "reference", withExtension: "json", subdirectory: "Fixtures/whisper"),
              let data = try? Data(contentsOf: url),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return obj
    }()

    static let cases: [Case] = {
        var out: [Case] = []
        for model in ["whisper-tiny.en", "whisper-base"] {
            // base is optional (scripts/fetch-models whisper-base); tiny.en is always checked.
            if model == "whisper-base" && !WhisperWeightsTests.modelPresent(model) { continue }
            for clip in ["speech", "librivox-0890", "librivox-0920"] {
                out.append(Case(model: model, clip: clip, timestamps: false))
                out.append(Case(model: model, clip: clip, timestamps: true))
            }
        }
        return out
    }()

    final class Loaded: @unchecked Sendable {
        let model: WhisperModel, extras: WhisperExtras, tokenizer: WhisperTokenizer, mel: LogMelSpectrogram
        init(_ name: String) throws {
            let dir = try WhisperWeightsTests.requiredModel(name)
            let (w, e) = try WhisperLoader.load(directory: dir)
            model = WhisperModel(weights: w)
            extras = e
            tokenizer = try WhisperTokenizerLoader.load(folder: dir)
            let filters = try WhisperMelFilterLoader.load(
                WhisperWeightsTests.modelsDir.appendingPathComponent("whisper-assets/mel_filters.npz"), nMels: w.dims.nMels)
            mel = LogMelSpectrogram(filters: filters)
        }
    }

    static let lock = NSLock()
    nonisolated(unsafe) static var loaded: [String: Loaded] = [:]
    static func load(_ name: String) throws -> Loaded {
        lock.lock(); defer { lock.unlock() }
        if let l = loaded[name] { return l }
        let l = try Loaded(name)
        loaded[name] = l
        return l
    }

    @Test func tinyEnIsChecked() {
        #expect(Self.cases.filter { $0.model == "whisper-tiny.en" }.count == 6)
        #expect(!Self.reference.isEmpty, "reference.json missing")
    }

    @Test(arguments: cases)
    func greedyTokensMatch(_ c: Case) throws {
        let models = try #require(Self.reference["models"] as? [String: Any])
        let clips = try #require((models[c.model] as? [String: Any])?["clips"] as? [String: Any])
        let ref = try #require((clips[c.clip] as? [String: Any])?[c.timestamps ? "greedy_timestamps" : "greedy"] as? [String: Any])
        let prompt = try #require(ref["prompt"] as? [Int])
        let want = try #require(ref["tokens"] as? [Int])
        let wantNoSpeech = try #require(ref["no_speech_prob"] as? Double)
        let clipInfo = try #require((Self.reference["clips"] as? [[String: Any]])?.first { $0["name"] as? String == c.clip })
        var file = try #require(clipInfo["file"] as? String)
        if !file.hasPrefix("/") { file = WhisperWeightsTests.repoRoot.appendingPathComponent(file).path }

        let m = try Self.load(c.model)
        let samples = try decodeAudio(path: file, sampleRate: 16_000)
        let audio = m.model.encode(m.mel(samples).unsqueezed(0))
        var options = WhisperDecodingOptions()
        options.withoutTimestamps = !c.timestamps
        options.suppressTokens = m.extras.suppressIDs          // what CTranslate2 suppresses
        let result = WhisperDecoder(model: m.model, special: m.tokenizer.specialTokens, options: options)
            .decode(audio: audio, prompt: prompt)
        #expect(result.tokens == want, "\(c): got \(m.tokenizer.decodeWithTimestamps(result.tokens))")
        #expect(abs(Double(result.noSpeechProb) - wantNoSpeech) < 1e-3, "\(c): no-speech \(result.noSpeechProb) vs \(wantNoSpeech)")
    }
}
