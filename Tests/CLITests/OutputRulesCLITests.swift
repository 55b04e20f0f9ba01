import Foundation
import Testing

/// Issue 14 as the user met it: transcripts that overwrote each other, and resume that
/// skipped what a changed request needed.
@Suite("output naming and resume, end to end")
struct OutputRulesCLITests {
    static let librivox = TranscribeCLITests.librivox

    static func temporary() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rules-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func text(_ url: URL) -> String? { try? String(contentsOf: url, encoding: .utf8) }

    @Test func transcriptsOfSameNamedInputsDoNotOverwriteEachOther() throws {
        let dir = try Self.temporary()
        defer { try? FileManager.default.removeItem(at: dir) }
        let coll = dir.appendingPathComponent("coll")
        for sub in ["a", "b"] { try FileManager.default.createDirectory(at: coll.appendingPathComponent(sub), withIntermediateDirectories: true) }
        try FileManager.default.copyItem(atPath: CLI.sample("speech.wav"), toPath: coll.appendingPathComponent("a/x.wav").path)
        try FileManager.default.copyItem(atPath: Self.librivox + "/sense_and_sensibility_01_austen_64kb-0880.wav",
                                         toPath: coll.appendingPathComponent("b/x.wav").path)
        let ffmpeg = Process()
        ffmpeg.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        ffmpeg.arguments = ["-loglevel", "error", "-y", "-i", Self.librivox + "/sense_and_sensibility_01_austen_64kb-0890.wav",
                            coll.appendingPathComponent("a/x.mp3").path]
        try ffmpeg.run()
        ffmpeg.waitUntilExit()
        let out = dir.appendingPathComponent("out")
        let r = try CLI.run(["transcribe", "--quiet", coll.path, "--output-dir", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        let wav = Self.text(out.appendingPathComponent("a/x.wav.txt")), mp3 = Self.text(out.appendingPathComponent("a/x.mp3.txt"))
        let other = Self.text(out.appendingPathComponent("b/x.txt"))
        #expect(wav?.contains("John Dashwood") == true, "\(wav ?? "missing")")
        #expect(mp3?.contains("cold-hearted") == true, "\(mp3 ?? "missing")")
        #expect(other?.contains("young man") == true, "\(other ?? "missing")")
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("x.txt").path))
    }

    @Test func resumeRedoesAnotherFormatMoreOptionsAndDeletedFiles() throws {
        let dir = try Self.temporary()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("o"), input = CLI.sample("speech.wav")
        let json = out.appendingPathComponent("speech.json"), vtt = out.appendingPathComponent("speech.vtt")
        var r = try CLI.run(["transcribe", input, "--format", "json", "--output-dir", out.path])
        #expect(r.status == 0 && FileManager.default.fileExists(atPath: json.path), "\(r.stderr)")
        r = try CLI.run(["transcribe", input, "--format", "json", "--output-dir", out.path])
        #expect(r.stderr.contains("0 done, 1 skipped"), "\(r.stderr)")
        r = try CLI.run(["transcribe", input, "--format", "vtt", "--output-dir", out.path])
        #expect(r.stderr.contains("1 done, 0 skipped") && Self.text(vtt)?.hasPrefix("WEBVTT") == true, "\(r.stderr)")
        r = try CLI.run(["transcribe", input, "--format", "json", "--word-timestamps", "--output-dir", out.path])
        #expect(r.stderr.contains("1 done, 0 skipped"), "\(r.stderr)")
        #expect(Self.text(json)?.contains(#""words":[{"#) == true)
        try FileManager.default.removeItem(at: json)
        r = try CLI.run(["transcribe", input, "--format", "json", "--word-timestamps", "--output-dir", out.path])
        #expect(r.stderr.contains("1 done, 0 skipped") && FileManager.default.fileExists(atPath: json.path), "\(r.stderr)")
    }

    @Test func aResultsFileOfAnotherRequestIsNotPassedOff() throws {
        let dir = try Self.temporary()
        defer { try? FileManager.default.removeItem(at: dir) }
        let results = dir.appendingPathComponent("r.jsonl").path
        var r = try CLI.run(["classify", "--quiet", CLI.sample("cat.jpg"), CLI.sample("coffee.jpg"), "--output", results])
        #expect(r.status == 0, "\(r.stderr)")
        let before = Self.text(URL(fileURLWithPath: results))
        r = try CLI.run(["classify", "--quiet", CLI.sample("cat.jpg"), CLI.sample("coffee.jpg"), "--labels", "cat,dog", "--output", results])
        #expect(r.status != 0)
        #expect(r.errorLines.count == 1 && r.stderr.contains(results) && r.stderr.contains("another request")
                && r.stderr.contains("--overwrite"), "\(r.stderr)")
        #expect(Self.text(URL(fileURLWithPath: results)) == before)
        r = try CLI.run(["classify", "--quiet", CLI.sample("cat.jpg"), "--labels", "cat,dog", "--output", results, "--overwrite"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(Self.text(URL(fileURLWithPath: results))?.contains(#""label":"cat""#) == true)
    }
}
