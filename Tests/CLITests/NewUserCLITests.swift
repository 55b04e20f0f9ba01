import Foundation
import Testing

/// What a new user hit (issue 31): each test failed before its change.
@Suite("What a new user hit")
struct NewUserCLITests {
    static func temporary(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func manifest(_ dir: URL) throws -> [[String: Any]] {
        try String(contentsOf: dir.appendingPathComponent("manifest.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }

    /// A text is its content: another text at the same place is embedded, not skipped as done;
    /// an edited text file's changed line too; the same text from another place is done.
    @Test func textResumeKeysOnContent() throws {
        let dir = try Self.temporary("text-resume")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("D")
        let a = try CLI.run(["embed", "--text", "red car", "--output", out.path])
        #expect(a.status == 0, "\(a.stderr)")
        let b = try CLI.run(["embed", "--text", "big dog", "--output", out.path])
        #expect(b.status == 0 && b.stderr.contains("1 done, 0 skipped"), "\(b.stderr)")
        var lines = try Self.manifest(out)
        #expect(lines.compactMap { $0["text"] as? String } == ["red car", "big dog"])
        #expect(Set(lines.compactMap { $0["sha256"] as? String }).count == 2)

        // An edited text file: the changed line is new, the unchanged one is done.
        let file = dir.appendingPathComponent("t.txt")
        try Data("hello world\nsame line\n".utf8).write(to: file)
        let c = try CLI.run(["embed", "--text-file", file.path, "--output", out.path])
        #expect(c.stderr.contains("2 done, 0 skipped"), "\(c.stderr)")
        try Data("HELLO WORLD\nsame line\n".utf8).write(to: file)
        let d = try CLI.run(["embed", "--text-file", file.path, "--output", out.path])
        #expect(d.stderr.contains("1 done, 1 skipped"), "\(d.stderr)")
        // Standard input: a text at the place of another is new; "red car" from stdin is done.
        let e = try CLI.run(["embed", "--text-file", "-", "--output", out.path], stdin: "Hello World\nred car\n")
        #expect(e.stderr.contains("1 done, 1 skipped"), "\(e.stderr)")
        lines = try Self.manifest(out)
        #expect(lines.compactMap { $0["text"] as? String } == ["red car", "big dog", "hello world", "same line", "HELLO WORLD", "Hello World"])
    }

    /// The same file by two paths (or twice, or inside a folder also given) is one item, said in
    /// one note; the same text twice is one row.
    @Test func repeatedInputsAreDoneOnce() throws {
        let dir = try Self.temporary("repeats")
        defer { try? FileManager.default.removeItem(at: dir) }
        let photos = dir.appendingPathComponent("photos")
        try FileManager.default.createDirectory(at: photos, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: CLI.sample("cat.jpg"), toPath: photos.appendingPathComponent("cat.jpg").path)
        try FileManager.default.copyItem(atPath: CLI.sample("coffee.jpg"), toPath: photos.appendingPathComponent("coffee.jpg").path)
        let cat = photos.appendingPathComponent("cat.jpg").path
        let out = dir.appendingPathComponent("F")
        let r = try CLI.run(["embed", cat, cat, photos.path + "/../photos/cat.jpg", photos.path, "--output", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("2 done"), "\(r.stderr)")
        #expect(r.errorLines.filter { $0.contains("done once") }.count == 1, "\(r.stderr)")
        #expect(try Self.manifest(out).count == 2)

        let t = try CLI.run(["embed", "--text", "a", "--text", "b", "--text", "a", "--output", dir.appendingPathComponent("T").path])
        #expect(t.stderr.contains("2 done") && t.stderr.contains("--text #3 (the text of --text #1)"), "\(t.stderr)")
        #expect(try Self.manifest(dir.appendingPathComponent("T")).count == 2)

        let audio = dir.appendingPathComponent("audio")
        try FileManager.default.createDirectory(at: audio, withIntermediateDirectories: true)
        let wav = audio.appendingPathComponent("a.wav").path
        try FileManager.default.copyItem(atPath: CLI.sample("speech.wav"), toPath: wav)
        let tr = try CLI.run(["transcribe", wav, audio.path + "/../audio/a.wav", "-o", dir.appendingPathComponent("O").path])
        #expect(tr.status == 0 && tr.stderr.contains("1 done"), "\(tr.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("O").path).filter { !$0.hasPrefix(".") } == ["a.txt"])
    }

    static func json(_ line: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    /// Zero-shot answers with every label unless --top-k says how many; the ImageNet
    /// templates change lite0-minilm's scores (they are used, not ignored).
    @Test func zeroShotGivesEveryLabel() throws {
        let labels = "cat,dog,car,tree,house,bird,fish"
        let all = try CLI.run(["classify", CLI.sample("cat.jpg"), "--model", "lite0-minilm", "--labels", labels, "--format", "json", "--quiet"])
        #expect(all.status == 0, "\(all.stderr)")
        let scores = try #require(try Self.json(all.stdout)["labels"] as? [[String: Any]])
        #expect(scores.count == 7 && scores.first?["label"] as? String == "cat", "\(all.stdout)")
        let two = try CLI.run(["classify", CLI.sample("cat.jpg"), "--model", "lite0-minilm", "--labels", labels, "--top-k", "2", "--format", "json", "--quiet"])
        #expect((try Self.json(two.stdout)["labels"] as? [[String: Any]])?.count == 2, "\(two.stdout)")
        let imagenet = try CLI.run(["classify", CLI.sample("cat.jpg"), "--model", "lite0-minilm", "--labels", labels, "--templates", "imagenet",
                                    "--format", "json", "--quiet"])
        let other = try #require(try Self.json(imagenet.stdout)["labels"] as? [[String: Any]])
        #expect(other.count == 7 && (other[0]["score"] as? Double) != (scores[0]["score"] as? Double), "\(imagenet.stdout)")
        // ImageNet classes stay at 5 by default.
        let classes = try CLI.run(["classify", CLI.sample("cat.jpg"), "--format", "json", "--quiet"])
        #expect((try Self.json(classes.stdout)["predictions"] as? [[String: Any]])?.count == 5)
    }

    /// `--held-out 0` fits on every example; the head's metadata names the held-out inputs.
    @Test func trainHeldOutZeroAndTheHeldOutList() throws {
        let dir = try Self.temporary("heldout")
        defer { try? FileManager.default.removeItem(at: dir) }
        let tsv = dir.appendingPathComponent("t.tsv")
        let rows = ["a wonderful film\tpositive", "I loved it\tpositive", "brilliant and warm\tpositive", "a delight\tpositive",
                    "a dull mess\tnegative", "I hated it\tnegative", "boring and cold\tnegative", "a waste of time\tnegative"]
        try (["text\tlabel"] + rows).joined(separator: "\n").write(to: tsv, atomically: true, encoding: .utf8)
        let head = dir.appendingPathComponent("h.head.safetensors").path
        let none = try CLI.run(["train", tsv.path, "--model", "all-minilm-l6-v2", "--held-out", "0", "--output", head, "--quiet"])
        #expect(none.status == 0 && none.stdout.contains("fitted on 8 examples") && none.stdout.contains("none held out"), "\(none.stdout) \(none.stderr)")
        var info = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: head + ".json"))) as? [String: Any])
        #expect(info["train_examples"] as? Int == 8 && (info["held_out_inputs"] as? [String]) == [] && info["metrics"] == nil, "\(info)")
        let some = try CLI.run(["train", tsv.path, "--model", "all-minilm-l6-v2", "--held-out", "0.25", "--output", head, "--quiet"])
        #expect(some.status == 0, "\(some.stderr)")
        info = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: head + ".json"))) as? [String: Any])
        let held = try #require(info["held_out_inputs"] as? [String])
        #expect(held.count == 2 && Set(held).isSubset(of: Set(rows.map { String($0.split(separator: "\t")[0]) })), "\(held)")
        #expect(try CLI.run(["train", tsv.path, "--model", "all-minilm-l6-v2", "--held-out", "1", "--output", head]).status == 2)
    }

    /// Usage errors are exit status 2, with one line: an unknown model, --format all to
    /// standard output, empty templates and labels files. `mmpipe models` alone lists.
    @Test func usageErrorsAreStatusTwo() throws {
        let speech = CLI.sample("speech.wav"), cat = CLI.sample("cat.jpg")
        let cases: [([String], String)] = [
            (["transcribe", speech, "--model", "large-v3"], "large-v3: unknown Whisper model"),
            (["transcribe", speech, "--model", "/nonexistent/whisper"], "/nonexistent/whisper: no such folder"),
            (["classify", cat, "--model", "nope"], "unknown model 'nope'"),
            (["embed", cat, "--model", "whisper-base", "--output", "/tmp/never"], "whisper-base is a speech model"),
            (["transcribe", speech, "--format", "all"], "--format all writes a file per format: give --output-dir"),
            (["classify", cat, "--labels", "a,b", "--templates", "/dev/null"], "/dev/null: the templates file is empty"),
            (["classify", cat, "--labels-file", "/dev/null"], "/dev/null: the labels file is empty"),
            (["classify", cat, "--labels", "a,b", "--templates", "/nonexistent.txt"], "/nonexistent.txt: no such templates file"),
            (["classify", cat, "--labels", "a,b", "--model", "efficientnet-lite0"], "efficientnet-lite0 is not a zero-shot model"),
            (["classify", cat, "--head", "/nonexistent.head.safetensors"], "/nonexistent.head.safetensors: no such head file"),
            (["classify", cat, "--model", "resnet50", "--weights", "/nonexistent.safetensors"], "/nonexistent.safetensors: no such file or folder"),
        ]
        for (args, message) in cases {
            let r = try CLI.run(args)
            #expect(r.status == 2 && r.stderr.contains(message), "\(args): \(r.status) \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(args): \(r.stdout)")
        }
        let models = try CLI.run(["models"]), list = try CLI.run(["models", "list"])
        #expect(models.status == 0 && models.stdout.contains("whisper-tiny.en") && models.stdout == list.stdout)
    }

    /// A pattern that matches nothing says so (not "no such file").
    @Test func anUnmatchedPatternSaysSo() throws {
        let r = try CLI.run(["classify", "/nonexistent-folder-mmpipe/*.png"])
        #expect(r.status == 1 && r.stderr.contains("/nonexistent-folder-mmpipe/*.png: no file matches this pattern"), "\(r.stderr)")
    }

    /// `probe` names a video's audio track: codec, rate, channels, length.
    @Test func probeShowsAVideosAudio() throws {
        let dir = try Self.temporary("probeav")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = dir.appendingPathComponent("clip.mp4").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-i", CLI.sample("speech.wav"),
                       "-t", "2", "-c:v", "mpeg4", "-c:a", "aac", "-ar", "22050", "-ac", "2", "-shortest", clip]
        try p.run()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0, "ffmpeg could not make the clip")
        let r = try CLI.run(["probe", clip, "--json", "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        let audio = try #require(try Self.json(r.stdout)["audio"] as? [String: Any], "\(r.stdout)")
        #expect(audio["codec"] as? String == "aac" && audio["sample_rate"] as? Int == 22_050 && audio["channels"] as? Int == 2, "\(audio)")
        #expect(abs((audio["duration"] as? Double ?? 0) - 2) < 0.2, "\(audio)")
        let line = try CLI.run(["probe", clip, "--quiet"])
        #expect(line.stdout.contains("audio aac  22050 Hz  stereo"), "\(line.stdout)")
    }

    /// JSON numbers are the values they are: a float32 by its shortest decimal, times to the
    /// millisecond; and two runs give the same bytes.
    @Test func jsonNumbersAreTheirValues() throws {
        let t = try CLI.run(["transcribe", CLI.sample("speech.wav"), "--format", "json", "--word-timestamps", "--vad"])
        #expect(t.status == 0, "\(t.stderr)")
        let numbers = t.stdout.matches(of: try Regex("-?[0-9]+\\.[0-9]+(e-?[0-9]+)?")).map { String(t.stdout[$0.range]) }
        #expect(!numbers.isEmpty)
        // float32 values have at most 9 significant digits; the only doubles are the
        // compression ratios (a quotient of integers), so allow 17 digits only there.
        let long = numbers.filter { $0.replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ".", with: "").count > 10 }
        let ratios = try #require(try Self.json(t.stdout)["segments"] as? [[String: Any]]).map { "\($0["compression_ratio"]!)" }
        #expect(long.allSatisfy { n in ratios.contains { $0.hasPrefix(String(n.prefix(8))) } }, "\(long)")
        #expect(!t.stdout.contains("0000000") && !t.stdout.contains("9999999"), "\(t.stdout.prefix(400))")
        let again = try CLI.run(["transcribe", CLI.sample("speech.wav"), "--format", "json", "--word-timestamps", "--vad"])
        #expect(t.stdout == again.stdout)
        let c = try CLI.run(["classify", CLI.sample("cat.jpg"), "--format", "json", "--quiet"])
        let probabilities = c.stdout.matches(of: try Regex("\"probability\":[0-9.e-]+")).map { String(c.stdout[$0.range].dropFirst(14)) }
        #expect(probabilities.count == 5 && probabilities.allSatisfy { Float($0)!.description == $0 }, "\(probabilities)")
    }

    /// Subtitles shaped as openai-whisper's writers shape them (its WriteSRT / WriteVTT on the
    /// same transcript: scripts/subtitle-check.py); the options need --word-timestamps.
    @Test func subtitlesAreShapedAsOpenAIWhispersWriters() throws {
        try CLI.pythonChecks("subtitle-check.py", imports: "json", atLeast: 30)
        let r = try CLI.run(["transcribe", CLI.sample("speech.wav"), "--format", "srt", "--max-line-width", "42"])
        #expect(r.status == 2 && r.stderr.contains("add --word-timestamps"), "\(r.stderr)")
        let zero = try CLI.run(["transcribe", CLI.sample("speech.wav"), "--format", "srt", "--word-timestamps", "--max-line-width", "0"])
        #expect(zero.status == 2 && zero.stderr.contains("--max-line-width must be at least 1"), "\(zero.stderr)")
    }

    /// openai-whisper's decoding thresholds and --suppress-tokens; JSON's language_probability.
    @Test func whisperOptionsOfThePeers() throws {
        let speech = CLI.sample("speech.wav")
        let plain = try CLI.run(["transcribe", speech, "--format", "json", "--beam-size", "1"])
        let json = try Self.json(plain.stdout)
        #expect(json["language_probability"] as? Double == 1, "tiny.en: the language is not detected: \(plain.stdout.prefix(200))")
        #expect((json["text"] as? String)?.contains(" John ") == true)
        // " John" is token 1757 of the English-only vocabulary: suppressed, it cannot be written.
        let suppressed = try CLI.run(["transcribe", speech, "--format", "json", "--beam-size", "1", "--suppress-tokens", "-1,1757"])
        let tokens = try #require(try Self.json(suppressed.stdout)["segments"] as? [[String: Any]]).flatMap { $0["tokens"] as? [Int] ?? [] }
        #expect(suppressed.status == 0 && !tokens.contains(1757) && !tokens.isEmpty, "\(suppressed.stdout.prefix(300))")
        let off = try CLI.run(["transcribe", speech, "--compression-ratio-threshold", "none", "--logprob-threshold", "none",
                               "--no-speech-threshold", "none", "--beam-size", "1"])
        #expect(off.status == 0 && off.stdout.contains("Dashwood"), "\(off.stderr)")
        for (args, message) in [(["--logprob-threshold", "1"], "log-probability threshold 1.0 is out of range"),
                                (["--suppress-tokens", "x"], "--suppress-tokens takes comma-separated token ids"),
                                (["--suppress-tokens", "99999"], "suppress token 99999 is not in this model's vocabulary"),
                                (["--compression-ratio-threshold", "high"], "--compression-ratio-threshold takes a number or none")] {
            let r = try CLI.run(["transcribe", speech] + args)
            #expect(r.status == 2 && r.stderr.contains(message), "\(args): \(r.status) \(r.stderr)")
        }
        let base = try CLI.run(["transcribe", speech, "--model", "base", "--format", "json", "--beam-size", "1"])
        let p = try #require(try Self.json(base.stdout)["language_probability"] as? Double)
        #expect(p > 0.5 && p < 1, "base detects English: \(p)")
    }
}
