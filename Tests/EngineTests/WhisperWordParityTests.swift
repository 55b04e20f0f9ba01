import Foundation
import Media
import Models
import Testing
@testable import Engine

/// Long-form transcription with word timestamps against openai-whisper 20250625 itself
/// (torch, the same CTranslate2 weights; scripts/gen-whisper-word-fixtures.py wrote
/// Tests/ModelsTests/Fixtures/whisper/words.json): beam 5, temperature fallback, previous-text
/// conditioning, word alignment, and `hallucination_silence_threshold` on inputs with long
/// silences. Segments must have the same text and tokens; word texts must be identical and
/// their times within one alignment frame (0.02 s), as must segment bounds.
@Suite("Whisper words and long form vs openai-whisper", .serialized)
struct WhisperWordParityTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let fixture: [String: Any] = {
        let url = repoRoot.appendingPathComponent("Tests/ModelsTests/Fixtures/whisper/words.json")
        guard let data = try? Data(contentsOf: url),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return obj
    }()
    static var modelsDir: URL {
        if let d = ProcessInfo.processInfo.environment["MMPIPE_MODELS_DIR"], !d.isEmpty { return URL(fileURLWithPath: d) }
        return repoRoot.appendingPathComponent("Models")
    }

    struct Case: Sendable, CustomStringConvertible {
        let model: String, run: String
        var description: String { "\(model) \(run)" }
    }

    static let cases: [Case] = {
        var out: [Case] = []
        let runs = (fixture["runs"] as? [String: Any])?.keys.sorted() ?? []
        for model in ["tiny.en", "base"] {
            let folder = model == "tiny.en" ? "whisper-tiny.en" : "whisper-base"
            // base is checked when fetched (scripts/fetch-models whisper-base); tiny.en always.
            if model == "base" && !FileManager.default.fileExists(atPath: modelsDir.appendingPathComponent("\(folder)/model.bin").path) { continue }
            out += runs.map { Case(model: model, run: $0) }
        }
        return out
    }()

    nonisolated(unsafe) static var sessions: [String: WhisperSession] = [:]
    static func session(_ model: String) throws -> WhisperSession {
        if let s = sessions[model] { return s }
        let s = try WhisperSession(model: model, store: try ModelStore(directory: modelsDir))
        sessions[model] = s
        return s
    }

    /// An input of the fixture: WAV clips and stretches of digital silence, in order.
    static func samples(_ input: String) throws -> [Float] {
        let inputs = try #require(fixture["inputs"] as? [String: Any])
        let parts = try #require((inputs[input] as? [String: Any])?["parts"] as? [[String: Any]])
        var out: [Float] = []
        for p in parts {
            if let file = p["file"] as? String {
                let s = try decodeAudio(path: file)
                #expect(s.count == p["samples"] as? Int, "\(file): \(s.count) samples")
                out += s
            } else {
                out += [Float](repeating: 0, count: try #require(p["silence_samples"] as? Int))
            }
        }
        return out
    }

    @Test func fixtureIsPresent() {
        #expect(Self.cases.filter { $0.model == "tiny.en" }.count >= 9, "words.json missing or empty")
    }

    @Test(arguments: cases)
    func matchesOpenAIWhisper(_ c: Case) throws {
        let folder = c.model == "tiny.en" ? "whisper-tiny.en" : "whisper-base"
        let run = try #require((Self.fixture["runs"] as? [String: Any])?[c.run] as? [String: Any])
        let ref = try #require(((Self.fixture["models"] as? [String: Any])?[folder] as? [String: Any])
            .flatMap { ($0["runs"] as? [String: Any])?[c.run] as? [String: Any] })
        let session = try Self.session(c.model)
        var request = WhisperSession.Request()
        request.language = "en"
        request.wordTimestamps = true
        request.hallucinationSilenceThreshold = (run["extra_options"] as? [String: Any])?["hallucination_silence_threshold"] as? Double
        let got = session.transcribe(try Self.samples(try #require(run["input"] as? String)), request).segments

        // openai-whisper keeps blanked (empty or zero-length) segments; mmpipe drops them.
        let want = try #require(ref["segments"] as? [[String: Any]]).filter {
            !(($0["text"] as? String) ?? "").trimmingCharacters(in: .whitespaces).isEmpty
        }
        try #require(got.count == want.count,
                     "\(c): \(got.count) segments vs \(want.count):\n\(got.map(\.text))\n\(want.map { $0["text"] ?? "" })")
        var worst = 0.0, words = 0
        for (g, w) in zip(got, want) {
            #expect(g.text == w["text"] as? String, "\(c)")
            #expect(g.tokens == w["tokens"] as? [Int], "\(c): tokens of \(g.text)")
            #expect(abs(g.start - (w["start"] as? Double ?? -1)) <= 0.02 + 1e-6, "\(c): start \(g.start) vs \(w["start"] ?? "")")
            #expect(abs(g.end - (w["end"] as? Double ?? -1)) <= 0.02 + 1e-6, "\(c): end \(g.end) vs \(w["end"] ?? "")")
            let ww = try #require(w["words"] as? [[String: Any]])
            #expect(g.words.map(\.word) == ww.compactMap { $0["word"] as? String }, "\(c): words of \(g.text)")
            for (a, b) in zip(g.words, ww) {
                let ds = abs(a.start - (b["start"] as? Double ?? -1)), de = abs(a.end - (b["end"] as? Double ?? -1))
                worst = max(worst, ds, de)
                #expect(ds <= 0.02 + 1e-6 && de <= 0.02 + 1e-6, "\(c): \(a) vs \(b)")
                #expect(abs(Double(a.probability) - (b["probability"] as? Double ?? -1)) <= 0.01, "\(c): \(a) vs \(b)")
                words += 1
            }
        }
        print("words vs openai-whisper, \(c): \(got.count) segments, \(words) words, max time difference \(worst) s")
    }
}
