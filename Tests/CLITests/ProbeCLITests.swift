import Foundation
import Testing

@Suite("mmpipe probe and help, end to end")
struct ProbeCLITests {
    @Test func helpListsTheSubcommands() throws {
        let r = try CLI.run(["--help"])
        #expect(r.status == 0)
        for command in ["transcribe", "classify", "embed", "probe", "models"] {
            #expect(r.stdout.contains("  \(command)"), "help does not list \(command)")
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

        let r = try CLI.run(["probe", "--quiet", dir.path])
        #expect(r.status == 1)
        #expect(r.lines.count == 1 && r.lines[0].contains("a.jpg"))
        #expect(r.errorLines.count == 2, "\(r.errorLines)")
        #expect(r.errorLines.contains { $0.contains("b.png:") } && r.errorLines.contains { $0.contains("empty.wav:") })

        let viaStdin = try CLI.run(["probe", "-"], stdin: CLI.sample("cat.jpg") + "\n\n" + CLI.sample("rocket.jpg") + "\n")
        #expect(viaStdin.status == 0 && viaStdin.lines.count == 2)

        let missing = try CLI.run(["probe", "-q", dir.appendingPathComponent("nope.jpg").path])
        #expect(missing.status == 1 && missing.errorLines.count == 1)
    }

    /// Writes `n` tiny distinct PNGs (copies of one file with a changing trailing comment
    /// chunk would change nothing a decoder sees; plain copies are enough for the graph).
    static func manyImages(_ n: Int) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("many-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let png = try Data(contentsOf: URL(fileURLWithPath: CLI.repoRoot.appendingPathComponent("Tests/MediaTests/Fixtures/images/gray.png").path))
        for i in 0..<n {
            let sub = dir.appendingPathComponent(String(format: "d%03d", i / 1000))
            if i % 1000 == 0 { try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true) }
            try png.write(to: sub.appendingPathComponent("i\(i).png"))
        }
        return dir
    }

    static func peakRSS(_ stderr: String) -> Double? {
        guard let r = stderr.range(of: "peak RSS ") else { return nil }
        return Double(stderr[r.upperBound...].prefix { $0.isNumber || $0 == "." })
    }

    /// Memory does not grow with the number of inputs: 20 000 files cost about what 2 000 do.
    @Test func memoryIsFlatOverManyInputs() throws {
        let dir = try Self.manyImages(20_000)
        defer { try? FileManager.default.removeItem(at: dir) }
        let small = try CLI.run(["probe", "--quiet", "--stats", "--json", dir.appendingPathComponent("d000").path,
                                 dir.appendingPathComponent("d001").path])
        let large = try CLI.run(["probe", "--quiet", "--stats", "--json", dir.path])
        #expect(small.status == 0 && large.status == 0, "\(large.stderr.prefix(300))")
        #expect(small.lines.count == 2_000 && large.lines.count == 20_000)
        let a = try #require(Self.peakRSS(small.stderr)), b = try #require(Self.peakRSS(large.stderr))
        // Bound: 16 MB of growth for 10x the inputs (allocator noise; a leak of even 1 KB
        // per item would add 18 MB).
        #expect(b - a < 16, "peak RSS \(a) MB for 2 000 inputs, \(b) MB for 20 000")
    }

    /// Ctrl-C part way: exit 130, results so far saved; the same command again finishes the
    /// rest, and every input is in the results exactly once.
    @Test func interruptThenResume() throws {
        let dir = try Self.manyImages(6_000)
        defer { try? FileManager.default.removeItem(at: dir) }
        let results = dir.appendingPathComponent("probe.jsonl").path
        let partial = dir.appendingPathComponent(".probe.jsonl.partial").path

        let p = Process()
        p.executableURL = CLI.binary
        p.arguments = ["probe", "--quiet", "--threads", "1", dir.path, "--output", results]
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Interrupt once some results have reached the disk.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, ((try? FileManager.default.attributesOfItem(atPath: partial)[.size] as? Int) ?? 0) ?? 0 == 0 {
            usleep(20_000)
        }
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        #expect(p.terminationStatus == 130)
        let firstLines = try String(contentsOfFile: results, encoding: .utf8).split(separator: "\n").count
        #expect(firstLines > 0 && firstLines < 6_000, "first run saved \(firstLines)")
        #expect(!FileManager.default.fileExists(atPath: partial))

        let again = try CLI.run(["probe", dir.path, "--output", results])
        #expect(again.status == 0)
        #expect(again.stderr.contains("\(firstLines) skipped"), "\(again.stderr)")
        let paths = try String(contentsOfFile: results, encoding: .utf8).split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["path"] as? String
        }
        #expect(paths.count == 6_000 && Set(paths).count == 6_000)
    }
}
