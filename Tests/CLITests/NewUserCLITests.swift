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
}
