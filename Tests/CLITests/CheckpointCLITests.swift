import Foundation
import Testing

/// `mmpipe embed` killed outright (SIGKILL: the OOM killer, a preempted node) at several
/// points and run again until it finishes: every input ends up in the manifest exactly once,
/// with the rows an uninterrupted run gives, and the killed runs' checkpointed rows are kept.
@Suite("embed checkpoints: SIGKILL and resume")
struct CheckpointCLITests {
    /// 192 photos (the four samples under 48 names each) in a folder of their own.
    static func photos(_ dir: URL) throws -> URL {
        let folder = dir.appendingPathComponent("photos")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for i in 0..<48 {
            for name in ["cat", "coffee", "astronaut", "rocket"] {
                try FileManager.default.copyItem(atPath: CLI.sample("\(name).jpg"), toPath: folder.appendingPathComponent("\(name)-\(i).jpg").path)
            }
        }
        return folder
    }

    /// Each input's rows, read through the manifest (every line that names a shard).
    static func rows(_ out: URL) throws -> [String: [[Float]]] {
        let text = try String(contentsOf: out.appendingPathComponent("manifest.jsonl"), encoding: .utf8)
        var shards: [String: (dim: Int, data: [Float])] = [:]
        var byPath: [String: [[Float]]] = [:]
        for line in text.split(separator: "\n") {
            let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            guard let shard = o["shard"] as? String, let row = o["row"] as? Int, let path = o["path"] as? String else { continue }
            if shards[shard] == nil {
                let data = try Data(contentsOf: out.appendingPathComponent(shard))
                let headerLength = Int(data[8]) | Int(data[9]) << 8
                let floats = data[(10 + headerLength)...].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                shards[shard] = (try #require(o["dim"] as? Int), floats)
            }
            let (d, floats) = shards[shard]!
            #expect((row + 1) * d <= floats.count, "\(shard) has no row \(row)")
            byPath[path, default: []].append(Array(floats[(row * d)..<((row + 1) * d)]))
        }
        return byPath
    }

    @Test func killedRunsResumeToExactlyOnce() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("checkpoint-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let photos = try Self.photos(dir)
        let reference = dir.appendingPathComponent("reference"), resumed = dir.appendingPathComponent("resumed")
        let whole = try CLI.run(["embed", photos.path, "--output", reference.path, "--quiet"])
        #expect(whole.status == 0, "\(whole.stderr)")
        let want = try Self.rows(reference)
        #expect(want.count == 192 && want.values.allSatisfy { $0.count == 1 })

        // Killed at several points: each run once the manifest has at least this many rows
        // committed, plus a little (so the kill lands between checkpoints too); waiting on the
        // rows rather than the clock keeps the points the same on a loaded machine.
        // Checkpoints every 8 rows or 0.5 s.
        let args = ["embed", photos.path, "--output", resumed.path, "--quiet", "--checkpoint-rows", "8", "--checkpoint-seconds", "0.5"]
        let partial = resumed.appendingPathComponent(".manifest.jsonl.partial")
        func committedRows() -> Int {
            ((try? String(contentsOf: partial, encoding: .utf8)) ?? "").split(separator: "\n").filter { $0.contains("\"shard\"") }.count
        }
        var killed = 0, keptBeforeLastRun = 0
        for (rows, extra) in [(8, 0.0), (40, 0.13), (72, 0.05), (120, 0.21), (150, 0.02)] {
            let p = Process()
            p.executableURL = CLI.binary
            p.arguments = args
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            let deadline = Date().addingTimeInterval(300)
            while p.isRunning && committedRows() < rows && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
            Thread.sleep(forTimeInterval: extra)
            if p.isRunning {
                kill(p.processIdentifier, SIGKILL)
                killed += 1
            }
            p.waitUntilExit()
        }
        // What the killed runs committed (complete manifest lines in the leftover partial).
        keptBeforeLastRun = committedRows()
        let last = try CLI.run(args)
        #expect(last.status == 0, "\(last.stderr)")
        #expect(killed >= 3, "the runs ended before they could be killed; make the job longer")
        #expect(keptBeforeLastRun > 0, "the killed runs kept nothing")
        let got = try Self.rows(resumed)
        #expect(Set(got.keys) == Set(want.keys), "inputs missing: \(Set(want.keys).subtracting(got.keys).count)")
        let twice = got.filter { $0.value.count != 1 }.map(\.key)
        #expect(twice.isEmpty, "inputs present more than once: \(twice.prefix(5))")
        // The same rows as the uninterrupted run (paths differ only in the output folder).
        var worst: Float = 0
        for (path, rows) in got { if let w = want[path]?.first, let r = rows.first { worst = max(worst, zip(w, r).map { abs($0 - $1) }.max() ?? 0) } }
        #expect(worst == 0, "rows differ from the uninterrupted run by up to \(worst)")
        print("embed checkpoints: killed \(killed) times, \(keptBeforeLastRun) rows kept before the last run, 192 inputs exactly once, rows identical")
    }
}
