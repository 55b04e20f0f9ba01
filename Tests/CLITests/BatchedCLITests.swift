import Foundation
import Testing
import TestAudio

/// `transcribe --batch-size` end to end, against faster-whisper 1.2.1's
/// `BatchedInferencePipeline` on the same recordings (scripts/gen-whisper-batched-fixtures.py):
/// the same chunks, token ids, texts and segment times; log-probabilities within 1e-3; word
/// times within one alignment step (0.02 s).
@Suite("transcribe --batch-size against faster-whisper's batched pipeline")
struct BatchedCLITests {
    static let fixture = RecordingFixture("whisper-batched", generator: "scripts/gen-whisper-batched-fixtures.py")

    static func input(_ name: String) throws -> [String: Any] { try fixture.input(name) }

    /// The recording of a fixture input, written as a WAV into `dir`.
    static func recording(_ name: String, in dir: URL) throws -> String { try fixture.recording(name, in: dir) }

    static func number(_ v: Any?) -> Double { (v as? NSNumber)?.doubleValue ?? .nan }

    /// Our JSON transcript's segments against the fixture's run `call` of input `name`.
    static func expectSegments(_ stdout: String, _ name: String, _ call: String, words: Bool) throws {
        let got = try #require(try VADCLITests.json(stdout)["segments"] as? [[String: Any]], "\(stdout)")
        let run = try #require(try input(name)[call] as? [String: Any])
        let expected = try #require(run["segments"] as? [[String: Any]])
        try #require(got.count == expected.count, "\(name): \(got.count) segments, faster-whisper \(expected.count)")
        for (g, e) in zip(got, expected) {
            #expect((g["tokens"] as? [Int]) == (e["tokens"] as? [Int]), "\(name): \(g["text"] ?? "") vs \(e["text"] ?? "")")
            #expect(g["text"] as? String == e["text"] as? String)
            #expect(number(g["seek"]) == number(e["seek"]))
            #expect(abs(number(g["start"]) - number(e["start"])) < 1e-9 && abs(number(g["end"]) - number(e["end"])) < (words ? 0.0201 : 1e-9),
                    "\(name): \(g["start"] ?? "") - \(g["end"] ?? "") vs \(e["start"] ?? "") - \(e["end"] ?? "")")
            #expect(abs(number(g["avg_logprob"]) - number(e["avg_logprob"])) < 1e-3)
            #expect(abs(number(g["no_speech_prob"]) - number(e["no_speech_prob"])) < 1e-3)
            #expect(abs(number(g["compression_ratio"]) - number(e["compression_ratio"])) < 1e-9)
            #expect(number(g["temperature"]) == 0)
            guard words else { continue }
            let gw = try #require(g["words"] as? [[String: Any]]), ew = try #require(e["words"] as? [[String: Any]])
            #expect(gw.map { $0["word"] as? String } == ew.map { $0["word"] as? String })
            for (a, b) in zip(gw, ew) {
                #expect(abs(number(a["start"]) - number(b["start"])) < 0.0201 && abs(number(a["end"]) - number(b["end"])) < 0.0201,
                        "\(a) vs \(b)")
                #expect(abs(number(a["probability"]) - number(b["probability"])) < 2e-3)
            }
        }
    }

    @Test(arguments: ["gaps", "long", "single", "silence"])
    func segmentsAreFasterWhispersBatchedSegments(_ name: String) throws {
        let dir = try TranscribeCLITests.temporaryDirectory("batched-\(name)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = try Self.recording(name, in: dir)
        let r = try CLI.run(["transcribe", wav, "--batch-size", "8", "--format", "json", "--compute-type", "float32", "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        try Self.expectSegments(r.stdout, name, "batch8", words: false)
        if name == "long" {
            // Two chunks one at a time, as two at once.
            let one = try CLI.run(["transcribe", wav, "--batch-size", "1", "--format", "json", "--compute-type", "float32", "--quiet"])
            #expect(one.status == 0, "\(one.stderr)")
            try Self.expectSegments(one.stdout, name, "batch1", words: false)
        }
        if name != "silence" {
            let w = try CLI.run(["transcribe", wav, "--batch-size", "8", "--word-timestamps", "--format", "json",
                                 "--compute-type", "float32", "--quiet"])
            #expect(w.status == 0, "\(w.stderr)")
            try Self.expectSegments(w.stdout, name, "batch8_words", words: true)
        }
    }

    /// Several files in one run share batches (the short ones fill one together); each still
    /// gets faster-whisper's transcript of it alone, words included, and a corrupt file among
    /// them fails alone.
    @Test func filesShareBatchesAndKeepTheirOwnTranscripts() throws {
        let dir = try TranscribeCLITests.temporaryDirectory("batched-files")
        defer { try? FileManager.default.removeItem(at: dir) }
        let names = ["single", "gaps", "silence", "long"]
        var paths = try names.map { try Self.recording($0, in: dir) }
        let broken = dir.appendingPathComponent("broken.wav").path
        try Data("RIFF\u{0}\u{0}\u{0}\u{0}WAVEfmt nonsense".utf8).write(to: URL(fileURLWithPath: broken))
        paths.insert(broken, at: 1)
        let out = dir.appendingPathComponent("out")
        let r = try CLI.run(["transcribe"] + paths + ["--batch-size", "8", "--word-timestamps", "--format", "json",
                                                      "--compute-type", "float32", "--output-dir", out.path, "--quiet"])
        #expect(r.status != 0 && r.stderr.contains("broken.wav"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("broken.json").path))
        for name in names {
            let text = try String(contentsOf: out.appendingPathComponent("\(name).json"), encoding: .utf8)
            try Self.expectSegments(text, name, name == "silence" ? "batch8" : "batch8_words", words: name != "silence")
        }
    }

    /// Every format comes from the same segments, on the recording's timeline; int8 gives
    /// the same words here; resume treats batched as a request of its own.
    @Test func formatsInt8AndResume() throws {
        let dir = try TranscribeCLITests.temporaryDirectory("batched-formats")
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = try Self.recording("gaps", in: dir)
        let out = dir.appendingPathComponent("out")
        let r = try CLI.run(["transcribe", wav, "--batch-size", "4", "--compute-type", "int8", "--format", "all",
                             "--output-dir", out.path, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        let srt = try String(contentsOf: out.appendingPathComponent("gaps.srt"), encoding: .utf8)
        #expect(srt.hasPrefix("1\n00:00:02,900 --> 00:00:59,090\n"), "\(srt)")
        let expected = try #require((try Self.input("gaps")["batch8"] as? [String: Any])?["segments"] as? [[String: Any]])
        let txt = try String(contentsOf: out.appendingPathComponent("gaps.txt"), encoding: .utf8)
        #expect(txt.trimmingCharacters(in: .whitespacesAndNewlines)
                == (expected[0]["text"] as? String)?.trimmingCharacters(in: .whitespaces), "\(txt)")
        // Sequential transcription of the same file is another request: done again, not skipped.
        let again = try CLI.run(["transcribe", wav, "--format", "txt", "--output-dir", out.path])
        #expect(again.status == 0 && again.stderr.contains("1 done"), "\(again.stderr)")
    }

    @Test func optionsThatDoNotFitAreRefused() throws {
        let speech = CLI.sample("speech.wav")
        let zero = try CLI.run(["transcribe", speech, "--batch-size", "0"])
        #expect(zero.status == 2 && zero.stderr.contains("batch size 0 is out of range: use 1 to 64"), "\(zero.stderr)")
        let live = try CLI.run(["transcribe", "--audio-stdin", "--batch-size", "8"], stdin: "")
        #expect(live.status == 2 && live.stderr.contains("drop --batch-size with --audio-stdin"), "\(live.stderr)")
        let chunk = try CLI.run(["transcribe", speech, "--batch-size", "8", "--max-speech-duration-s", "10"])
        #expect(chunk.status == 2 && chunk.stderr.contains("chunks of up to 30 s"), "\(chunk.stderr)")
        let silence = try CLI.run(["transcribe", speech, "--batch-size", "8", "--hallucination-silence-threshold", "2"])
        #expect(silence.status == 2 && silence.stderr.contains("drop --hallucination-silence-threshold"), "\(silence.stderr)")
    }
}
