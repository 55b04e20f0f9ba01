import Foundation
import Testing
import TestAudio

/// `mmpipe vad` and `transcribe --vad` end to end, against faster-whisper 1.2.1 with
/// `vad_filter=True` on the same recordings (scripts/gen-whisper-vad-fixtures.py).
@Suite("mmpipe vad and transcribe --vad, end to end")
struct VADCLITests {
    static let fixture = RecordingFixture("whisper-vad", generator: "scripts/gen-whisper-vad-fixtures.py")

    static func input(_ name: String) throws -> [String: Any] { try fixture.input(name) }

    /// The recording of a fixture input, written as a WAV into `dir`.
    static func recording(_ name: String, in dir: URL) throws -> String { try fixture.recording(name, in: dir) }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
    }

    static func seconds(_ v: Any?) -> Double { (v as? NSNumber)?.doubleValue ?? .nan }

    @Test func vadFindsFasterWhispersRegions() throws {
        let dir = try TranscribeCLITests.temporaryDirectory("vad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let gaps = try Self.recording("gaps", in: dir), silence = try Self.recording("silence", in: dir)
        let r = try CLI.run(["vad", gaps, silence])
        #expect(r.status == 0, "\(r.stderr)")
        try #require(r.lines.count == 2, "\(r.stdout)")
        let first = try Self.json(r.lines[0])
        #expect(first["path"] as? String == gaps)
        #expect(Self.seconds(first["duration"]) == 990_240.0 / 16_000)
        let expected = try #require(try Self.input("gaps")["speech_regions"] as? [[String: NSNumber]])
        let got = try #require(first["speech"] as? [[String: NSNumber]])
        #expect(got.map { [$0["start"]!.doubleValue, $0["end"]!.doubleValue] }
                == expected.map { [$0["start"]!.doubleValue / 16_000, $0["end"]!.doubleValue / 16_000] })
        let second = try Self.json(r.lines[1])
        #expect((second["speech"] as? [Any])?.isEmpty == true)

        let tsv = try CLI.run(["vad", gaps, "--format", "tsv"])
        #expect(tsv.status == 0)
        #expect(tsv.lines == ["path\tstart\tend", "\(gaps)\t2.896\t10.224", "\(gaps)\t50.0\t59.088"], "\(tsv.stdout)")

        // Every option is a flag: a shorter silence splits the second region at its 0.5 s gap.
        let tight = try CLI.run(["vad", gaps, "--min-silence-duration-ms", "300", "--speech-pad-ms", "100"])
        #expect(tight.status == 0)
        #expect(((try Self.json(tight.stdout))["speech"] as? [Any])?.count == 3, "\(tight.stdout)")
    }

    @Test func vadReportsBadInputsAndDoesTheRest() throws {
        let dir = try TranscribeCLITests.temporaryDirectory("vadbad")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("not audio".utf8).write(to: dir.appendingPathComponent("a-bad.wav"))
        try Data().write(to: dir.appendingPathComponent("b-empty.wav"))
        try FileManager.default.copyItem(atPath: CLI.sample("speech.wav"), toPath: dir.appendingPathComponent("c-good.wav").path)
        let r = try CLI.run(["vad", "--quiet", dir.path])
        #expect(r.status == 1)
        #expect(r.errorLines.count == 2, "\(r.errorLines)")
        #expect(r.errorLines.first { $0.contains("a-bad.wav:") } != nil && r.errorLines.first { $0.contains("b-empty.wav:") } != nil, "\(r.stderr)")
        #expect(r.lines.count == 1 && r.stdout.contains("c-good.wav") && r.stdout.contains("\"speech\":[{\"end\":7.1,\"start\":0}]"), "\(r.stdout)")

        let missing = try CLI.run(["vad", dir.appendingPathComponent("nope.wav").path])
        #expect(missing.status == 1 && missing.stderr.contains("nope.wav"), "\(missing.stderr)")
        let range = try CLI.run(["vad", CLI.sample("speech.wav"), "--vad-threshold", "2"])
        #expect(range.status == 2 && range.stderr.contains("VAD threshold 2.0 is out of range: use 0 to 1"), "\(range.stderr)")
        let kind = try CLI.run(["vad", CLI.sample("speech.wav"), "--model", "tiny.en"])
        #expect(kind.status == 2 && kind.stderr.contains("not a voice-activity model"), "\(kind.stderr)")
    }

    @Test func vadResultsFileResumes() throws {
        let dir = try TranscribeCLITests.temporaryDirectory("vadresume")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(atPath: CLI.sample("speech.wav"), toPath: dir.appendingPathComponent("a.wav").path)
        let out = dir.appendingPathComponent("speech.jsonl").path
        let first = try CLI.run(["vad", dir.path, "--output", out])
        #expect(first.status == 0, "\(first.stderr)")
        try FileManager.default.copyItem(atPath: CLI.sample("speech.wav"), toPath: dir.appendingPathComponent("b.wav").path)
        let second = try CLI.run(["vad", dir.path, "--output", out])
        #expect(second.status == 0, "\(second.stderr)")
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2 && lines[0].contains("a.wav") && lines[1].contains("b.wav"), "\(lines)")
        // Other options are another request: refused, not mixed in.
        let other = try CLI.run(["vad", dir.path, "--output", out, "--speech-pad-ms", "0"])
        #expect(other.status != 0, "\(other.stdout)")
    }

    /// The segments of faster-whisper's transcript with vad_filter=True.
    static func reference(_ name: String, words: Bool) throws -> [[String: Any]] {
        let run = try #require(try input(name)[words ? "with_words" : "without_words"] as? [String: Any])
        return try #require(run["segments"] as? [[String: Any]])
    }

    static func expectSameSegments(_ got: [[String: Any]], _ want: [[String: Any]], words: Bool) {
        #expect(got.count == want.count, "\(got.count) segments, faster-whisper \(want.count)")
        for (g, w) in zip(got, want) {
            #expect(g["text"] as? String == w["text"] as? String)
            #expect(abs(seconds(g["start"]) - seconds(w["start"])) <= 0.011 && abs(seconds(g["end"]) - seconds(w["end"])) <= 0.011,
                    "\(g["text"] ?? ""): \(seconds(g["start"]))-\(seconds(g["end"])), faster-whisper \(seconds(w["start"]))-\(seconds(w["end"]))")
            guard words else { continue }
            let gw = g["words"] as? [[String: Any]] ?? [], ww = w["words"] as? [[String: Any]] ?? []
            #expect(gw.map { $0["word"] as? String } == ww.map { $0["word"] as? String })
            for (a, b) in zip(gw, ww) {
                #expect(abs(seconds(a["start"]) - seconds(b["start"])) <= 0.011 && abs(seconds(a["end"]) - seconds(b["end"])) <= 0.011,
                        "\(a["word"] ?? ""): \(seconds(a["start"]))-\(seconds(a["end"])), faster-whisper \(seconds(b["start"]))-\(seconds(b["end"]))")
            }
        }
    }

    @Test(arguments: [false, true])
    func transcribeVADKeepsTheWordsOfSpeechWithLongGaps(_ words: Bool) throws {
        let dir = try TranscribeCLITests.temporaryDirectory("tvad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let gaps = try Self.recording("gaps", in: dir)
        let r = try CLI.run(["transcribe", gaps, "--vad", "--format", "json"] + (words ? ["--word-timestamps"] : []))
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try Self.json(r.stdout)
        #expect(Self.seconds(doc["duration"]) == 61.89)
        let segments = try #require(doc["segments"] as? [[String: Any]])
        Self.expectSameSegments(segments, try Self.reference("gaps", words: words), words: words)
        // Word times lie inside the speech regions (none in the 40 s gap).
        let regions = try #require(try Self.input("gaps")["speech_regions"] as? [[String: NSNumber]])
            .map { ($0["start"]!.doubleValue / 16_000, $0["end"]!.doubleValue / 16_000) }
        for w in segments.flatMap({ $0["words"] as? [[String: Any]] ?? [] }) {
            let s = Self.seconds(w["start"]), e = Self.seconds(w["end"])
            #expect(regions.contains { $0.0 - 0.01 <= s && e <= $0.1 + 0.01 }, "\(w)")
        }
    }

    @Test func transcribeVADOnStandardInputIsTheFilesTranscript() throws {
        let dir = try TranscribeCLITests.temporaryDirectory("tvadstdin")
        defer { try? FileManager.default.removeItem(at: dir) }
        let gaps = try Self.recording("gaps", in: dir)
        for format in ["srt", "tsv"] {
            let file = try CLI.run(["transcribe", gaps, "--vad", "--word-timestamps", "--format", format])
            #expect(file.status == 0, "\(file.stderr)")
            let live = try CLI.run(["transcribe", "--audio-stdin", "--vad", "--word-timestamps", "--format", format],
                                   stdinData: try Data(contentsOf: URL(fileURLWithPath: gaps)))
            #expect(live.status == 0, "\(live.stderr)")
            #expect(live.stdout == file.stdout, "\(format): \(live.stdout)")
        }
    }

    @Test func silenceNoiseAndMusicGiveAnEmptyTranscriptWithVAD() throws {
        let dir = try TranscribeCLITests.temporaryDirectory("tvadempty")
        defer { try? FileManager.default.removeItem(at: dir) }
        let recipes: [(String, [Int16])] = [
            ("silence", try TestAudio.build([["silence": 20]])),
            ("pink-noise", TestAudio.pink(seconds: 60, seed: 7, amplitude: 0.5)),
            ("melody", TestAudio.melody(seconds: 72, amplitude: 0.5)),
        ]
        for (name, pcm) in recipes {
            let url = dir.appendingPathComponent("\(name).wav")
            try TestAudio.writeWAV(pcm, to: url)
            let r = try CLI.run(["transcribe", url.path, "--vad", "--format", "json"])
            #expect(r.status == 0, "\(name): \(r.stderr)")
            let doc = try Self.json(r.stdout)
            #expect((doc["segments"] as? [Any])?.isEmpty == true, "\(name): \(r.stdout)")
            #expect(doc["text"] as? String == "", "\(name): \(r.stdout)")
        }
        // The reference agrees on silence.
        #expect(try Self.reference("silence", words: false).isEmpty)
    }

    @Test func vadFlagsNeedVAD() throws {
        let r = try CLI.run(["transcribe", CLI.sample("speech.wav"), "--min-silence-duration-ms", "500"])
        #expect(r.status == 2 && r.stderr.contains("add --vad"), "\(r.stderr)")
        let ok = try CLI.run(["transcribe", CLI.sample("speech.wav"), "--vad", "--min-silence-duration-ms", "500"])
        #expect(ok.status == 0 && ok.stdout.contains("And Mr. John Dashwood had then leisure to consider"), "\(ok.stderr)")
    }
}
