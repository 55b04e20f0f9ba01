import Foundation
import Testing

@Suite("mmpipe probe and help, end to end")
struct ProbeCLITests {
    @Test func helpListsOnlyRealSubcommands() throws {
        let r = try CLI.run(["--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("probe"))
        for notYet in ["transcribe", "classify", "embed"] {
            #expect(!r.stdout.contains("  \(notYet)"), "help lists \(notYet), which is not built yet")
        }
    }

    @Test func usageErrorsExitTwo() throws {
        #expect(try CLI.run(["probe"]).status == 2)
        #expect(try CLI.run(["probe", "--max-pixels", "0", CLI.sample("cat.jpg")]).status == 2)
        #expect(try CLI.run(["no-such-command"]).status == 2)
    }

    @Test func probesSamples() throws {
        let r = try CLI.run(["probe", CLI.sample("cat.jpg"), CLI.sample("speech.wav")])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.lines.count == 2)
        #expect(r.lines.first?.contains("image  jpeg  451x300") == true, "\(r.lines)")
        #expect(r.lines.last?.contains("audio  wav") == true && r.lines.last?.contains("16000 Hz") == true, "\(r.lines)")
    }

    @Test func jsonLines() throws {
        let r = try CLI.run(["probe", "--json", CLI.sample("speech.wav")])
        #expect(r.status == 0)
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect(obj?["kind"] as? String == "audio")
        #expect(obj?["sample_rate"] as? Int == 16000)
        #expect(obj?["channels"] as? Int == 1)
        let d = obj?["duration"] as? Double ?? 0
        #expect(abs(d - 7.1) < 0.01)
    }

    @Test func directoriesAndStdinAndFailures() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("probe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(atPath: CLI.sample("cat.jpg"), toPath: dir.appendingPathComponent("a.jpg").path)
        try Data("not an image".utf8).write(to: dir.appendingPathComponent("b.png"))
        try Data().write(to: dir.appendingPathComponent("empty.wav"))
        try Data("ignored: not a media name".utf8).write(to: dir.appendingPathComponent("notes.txt"))

        let r = try CLI.run(["probe", dir.path])
        #expect(r.status == 1)
        #expect(r.lines.count == 1 && r.lines[0].contains("a.jpg"))
        #expect(r.errorLines.count == 2, "\(r.errorLines)")
        #expect(r.errorLines.contains { $0.contains("b.png:") } && r.errorLines.contains { $0.contains("empty.wav:") })

        let viaStdin = try CLI.run(["probe", "-"], stdin: CLI.sample("cat.jpg") + "\n\n" + CLI.sample("rocket.jpg") + "\n")
        #expect(viaStdin.status == 0 && viaStdin.lines.count == 2)

        let missing = try CLI.run(["probe", dir.appendingPathComponent("nope.jpg").path])
        #expect(missing.status == 1 && missing.errorLines.count == 1)
    }
}
