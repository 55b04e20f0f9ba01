import Foundation
import Testing

/// `--shard I/N` on embed, classify, vad and transcribe: the parts run at the same time into
/// one output folder, `mmpipe merge` joins them, and the result is the single process's.
@Suite("sharded runs and mmpipe merge, end to end")
struct ShardCLITests {
    static func folder(_ name: String) throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("shard-cli-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    /// Runs the parts `0/n ... n-1/n` of `args` at the same time; each must succeed.
    static func parts(_ n: Int, _ args: [String]) throws {
        let results = Locked<[CLI.Result]>([])
        DispatchQueue.concurrentPerform(iterations: n) { i in
            if let r = try? CLI.run(args + ["--shard", "\(i)/\(n)", "--quiet"]) { results.mutate { $0.append(r) } }
        }
        #expect(results.value.count == n && results.value.allSatisfy { $0.status == 0 }, "\(results.value.map(\.stderr))")
    }

    static func jsonLines(_ url: URL) throws -> [[String: Any]] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    @Test func embedPartsMergeIntoTheSingleRun() throws {
        let dir = try Self.folder("embed")
        defer { try? FileManager.default.removeItem(at: dir) }
        let photos = dir.appendingPathComponent("photos")
        try FileManager.default.createDirectory(at: photos.appendingPathComponent("more"), withIntermediateDirectories: true)
        for i in 0..<12 {
            for name in ["cat", "coffee"] {
                try FileManager.default.copyItem(atPath: CLI.sample("\(name).jpg"),
                                                 toPath: photos.appendingPathComponent(i % 3 == 0 ? "more/\(name)-\(i).jpg" : "\(name)-\(i).jpg").path)
            }
        }
        let single = dir.appendingPathComponent("single"), sharded = dir.appendingPathComponent("sharded")
        #expect(try CLI.run(["embed", photos.path, "--output", single.path, "--quiet"]).status == 0)
        try Self.parts(3, ["embed", photos.path, "--output", sharded.path])
        let merge = try CLI.run(["merge", sharded.path])
        #expect(merge.status == 0 && merge.stdout.contains("24 inputs from 3 of 3 parts"), "\(merge.stdout)\(merge.stderr)")
        let want = try CheckpointCLITests.rows(single), got = try CheckpointCLITests.rows(sharded)
        #expect(Set(got.keys) == Set(want.keys) && got.values.allSatisfy { $0.count == 1 })
        #expect(got.allSatisfy { want[$0.key] == $0.value }, "rows differ from the single run's")
        // Merging again changes nothing; given the inputs, none lacks a result.
        let once = try Data(contentsOf: sharded.appendingPathComponent("manifest.jsonl"))
        #expect(try CLI.run(["merge", sharded.path, photos.path]).status == 0)
        #expect(try Data(contentsOf: sharded.appendingPathComponent("manifest.jsonl")) == once)
        // A part's manifest gone: the part and its inputs are reported.
        let part1 = sharded.appendingPathComponent("manifest.shard-0001-of-0003.jsonl")
        let lines1 = try String(contentsOf: part1, encoding: .utf8).split(separator: "\n").count
        try FileManager.default.removeItem(at: part1)
        let gone = try CLI.run(["merge", sharded.path, photos.path])
        #expect(gone.status == 1 && gone.stderr.contains("parts 1 of 3 are missing")
                && gone.stderr.contains("\(lines1) inputs have no result"), "\(gone.stderr)")
    }

    @Test func classifyVADAndTranscribePartsMerge() throws {
        let dir = try Self.folder("jobs")
        defer { try? FileManager.default.removeItem(at: dir) }
        let media = dir.appendingPathComponent("media")
        try FileManager.default.createDirectory(at: media, withIntermediateDirectories: true)
        for name in ["cat", "coffee", "astronaut", "rocket"] {
            try FileManager.default.copyItem(atPath: CLI.sample("\(name).jpg"), toPath: media.appendingPathComponent("\(name).jpg").path)
        }
        for i in 0..<4 {
            try FileManager.default.copyItem(atPath: CLI.sample("speech.wav"), toPath: media.appendingPathComponent("speech-\(i).wav").path)
        }
        func byPath(_ lines: [[String: Any]]) -> [String: String] {
            Dictionary(lines.map { l in
                let data = (try? JSONSerialization.data(withJSONObject: l.filter { $0.key != "mtime_us" }, options: [.sortedKeys])) ?? Data()
                return (l["path"] as? String ?? "", String(decoding: data, as: UTF8.self))
            }, uniquingKeysWith: { a, _ in a })
        }
        for (command, extra) in [("classify", [String]()), ("vad", [])] {
            let single = dir.appendingPathComponent("\(command)-single.jsonl"), out = dir.appendingPathComponent("\(command)-parts")
            #expect(try CLI.run([command, media.path, "--output", single.path, "--quiet"] + extra).status <= 1)
            try? FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            let results = Locked<[Int32]>([])
            DispatchQueue.concurrentPerform(iterations: 2) { i in
                let r = try? CLI.run([command, media.path, "--output", out.appendingPathComponent("results.jsonl").path, "--shard", "\(i)/2", "--quiet"] + extra)
                results.mutate { $0.append(r?.status ?? -1) }
            }
            #expect(results.value.allSatisfy { $0 <= 1 }, "\(command): \(results.value)")   // the other media kind fails per file
            let merge = try CLI.run(["merge", out.path])
            #expect(merge.status == 0, "\(command): \(merge.stdout)\(merge.stderr)")
            let want = byPath(try Self.jsonLines(single)), got = byPath(try Self.jsonLines(out.appendingPathComponent("results.jsonl")))
            #expect(got == want, "\(command): merged results differ from the single run's")
        }
        let transcripts = dir.appendingPathComponent("transcripts")
        try Self.parts(2, ["transcribe", media.path, "--output-dir", transcripts.path])
        let merge = try CLI.run(["merge", transcripts.path])
        #expect(merge.status == 0 && merge.stdout.contains("4 inputs from 2 of 2 parts"), "\(merge.stdout)\(merge.stderr)")
        let listing = try Self.jsonLines(transcripts.appendingPathComponent(".mmpipe-transcribe.jsonl"))
        #expect(Set(listing.compactMap { $0["name"] as? String }) == Set((0..<4).map { "speech-\($0)" }))
        for i in 0..<4 {
            let text = try String(contentsOf: transcripts.appendingPathComponent("speech-\(i).txt"), encoding: .utf8)
            #expect(text.contains("Dashwood"))
        }
        // A sharded run needs a file output; a bad --shard is a usage error.
        #expect(try CLI.run(["classify", media.path, "--shard", "0/2"]).status == 2)
        let bad = try CLI.run(["vad", media.path, "--output", dir.appendingPathComponent("x.jsonl").path, "--shard", "2/2"])
        #expect(bad.status == 2 && bad.stderr.contains("0 to 1"), "\(bad.stderr)")
        let auto = try CLI.run(["vad", media.path, "--output", dir.appendingPathComponent("y.jsonl").path, "--shard", "auto"],
                               unset: ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"])
        #expect(auto.status == 2 && auto.stderr.contains("Slurm"), "\(auto.stderr)")
    }
}

/// A value shared by concurrent test threads.
final class Locked<T>: @unchecked Sendable {
    private var v: T
    private let lock = NSLock()
    init(_ v: T) { self.v = v }
    var value: T { lock.lock(); defer { lock.unlock() }; return v }
    func mutate(_ f: (inout T) -> Void) { lock.lock(); f(&v); lock.unlock() }
}
