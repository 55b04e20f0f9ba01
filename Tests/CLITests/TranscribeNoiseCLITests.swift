import Foundation
import Testing
import TestAudio

/// `mmpipe transcribe` on recordings without speech (60 s of pink noise, 72 s of a tune),
/// without and with `--vad`, against faster-whisper 1.2.1 on the same samples
/// (scripts/gen-whisper-vad-fixtures.py: `without_vad` is vad_filter=False, `without_words`
/// vad_filter=True). On the noise every window is decoded at temperature 0 only: its
/// no-speech probability (0.954, 0.948) is above 0.6 and its text unlikely (average
/// log-probability -1.39 < -1), so both skip it as silence and print nothing.
@Suite("mmpipe transcribe on noise and music, against faster-whisper")
struct TranscribeNoiseCLITests {
    static func segments(_ name: String, vad: Bool) throws -> (got: [[String: Any]], want: [[String: Any]], duration: Double) {
        let dir = try TranscribeCLITests.temporaryDirectory("tnoise")
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = try VADCLITests.recording(name, in: dir)
        let r = try CLI.run(["transcribe", wav, "--format", "json"] + (vad ? ["--vad"] : []))
        #expect(r.status == 0, "\(name): \(r.stderr)")
        let doc = try VADCLITests.json(r.stdout)
        let got = try #require(doc["segments"] as? [[String: Any]], "\(name): \(r.stdout)")
        let input = try VADCLITests.input(name)
        let run = try #require(input[vad ? "without_words" : "without_vad"] as? [String: Any],
                               "\(name): run scripts/gen-whisper-vad-fixtures.py")
        let want = try #require(run["segments"] as? [[String: Any]])
        #expect(VADCLITests.seconds(doc["duration"]) == VADCLITests.seconds(run["duration"]))
        return (got, want, VADCLITests.seconds(doc["duration"]))
    }

    /// Same segments: the same texts, start and end within 0.02 s.
    static func expectSame(_ name: String, _ got: [[String: Any]], _ want: [[String: Any]]) {
        #expect(got.count == want.count, "\(name): \(got.count) segments (\(got.map { $0["text"] ?? "" })), faster-whisper \(want.count)")
        for (g, w) in zip(got, want) {
            let s = VADCLITests.seconds(g["start"]), e = VADCLITests.seconds(g["end"])
            let ws = VADCLITests.seconds(w["start"]), we = VADCLITests.seconds(w["end"])
            #expect(g["text"] as? String == w["text"] as? String, "\(name): \(g["text"] ?? "") at \(s)")
            #expect(abs(s - ws) <= 0.02 && abs(e - we) <= 0.02, "\(name): \(g["text"] ?? ""): \(s)-\(e), faster-whisper \(ws)-\(we)")
        }
    }

    @Test(arguments: ["noise", "melody"])
    func withoutVADTheSegmentsAreFasterWhispers(_ name: String) throws {
        let (got, want, _) = try Self.segments(name, vad: false)
        Self.expectSame(name, got, want)
    }

    @Test(arguments: ["noise", "melody"])
    func withVADTheSegmentsAreFasterWhispers(_ name: String) throws {
        let (got, want, _) = try Self.segments(name, vad: true)
        Self.expectSame(name, got, want)
    }
}
