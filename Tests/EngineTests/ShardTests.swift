import Foundation
import Testing
import TensorCore
@testable import Engine

/// `--shard I/N|auto` (which inputs a part owns, and the environment contract of Slurm arrays
/// and Kubernetes Indexed Jobs) and `mmpipe merge` (ShardMerge).
@Suite("Sharded runs: parts and merge")
struct ShardTests {
    @Test func everyInputHasExactlyOneOwnerAndTheSplitIsEven() throws {
        let keys = (0..<4000).map { "photos/\($0 % 7)/img-\($0).jpg" }
        for n in [1, 2, 3, 8] {
            let parts = try (0..<n).map { try Shard(index: $0, count: n) }
            var sizes = [Int](repeating: 0, count: n)
            for k in keys {
                let owners = parts.filter { $0.owns(k) }
                #expect(owners.count == 1, "\(k) has \(owners.count) owners of \(n)")
                sizes[owners[0].index] += 1
            }
            // FNV-1a spreads paths: no part is more than 15% off an even share.
            let even = Double(keys.count) / Double(n)
            #expect(sizes.allSatisfy { abs(Double($0) - even) / even < 0.15 }, "\(n) parts: \(sizes)")
        }
    }

    /// The hash is a fixed function of the bytes (64-bit FNV-1a), so parts agree across
    /// machines, runs and versions; and adding files does not move the others.
    @Test func ownershipIsStable() throws {
        #expect(Shard.bucket("", 1 << 30) == Int(0xcbf2_9ce4_8422_2325 % UInt64(1 << 30)))
        #expect(Shard.bucket("a", 1_000_003) == Int(0xaf63_dc4c_8601_ec8c % UInt64(1_000_003)))
        let before = (0..<100).map { "x/\($0).wav" }.map { Shard.bucket($0, 4) }
        let after = (0..<100).map { "x/\($0).wav" }.map { Shard.bucket($0, 4) }
        #expect(before == after)
    }

    @Test func parseIndexOverCount() throws {
        #expect(try Shard.parse("3/8", environment: [:]) == Shard(index: 3, count: 8))
        #expect(try Shard.parse("0/1", environment: [:]).tag == "shard-0000-of-0001")
        #expect(try Shard(index: 3, count: 8).name("results.jsonl") == "results.shard-0003-of-0008.jsonl")
        #expect(try Shard(index: 3, count: 8).name(".mmpipe-transcribe.jsonl") == ".mmpipe-transcribe.shard-0003-of-0008.jsonl")
        for bad in ["8/8", "-1/4", "1/0", "1", "a/b", "1/2/3", ""] {
            #expect(throws: RequestError.self, "'\(bad)'") { try Shard.parse(bad, environment: [:]) }
        }
    }

    /// `--shard auto` reads what `sbatch --array` and a Kubernetes Indexed Job set.
    @Test func autoReadsSlurmAndKubernetes() throws {
        #expect(try Shard.parse("auto", environment: ["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4",
                                                      "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "3"]) == Shard(index: 2, count: 4))
        // --array=1-4 numbers the tasks from 1.
        #expect(try Shard.parse("auto", environment: ["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "4",
                                                      "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4"]) == Shard(index: 0, count: 4))
        #expect(try Shard.parse("auto", environment: ["JOB_COMPLETION_INDEX": "5", "MMPIPE_SHARDS": "6"]) == Shard(index: 5, count: 6))
        let refused: [[String: String]] = [
            [:],                                                             // neither
            ["SLURM_ARRAY_TASK_ID": "1"],                                    // no count
            ["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "2"],
            ["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "4"],   // --array=0-4:2
            ["JOB_COMPLETION_INDEX": "1"],                                   // no MMPIPE_SHARDS
            ["JOB_COMPLETION_INDEX": "x", "MMPIPE_SHARDS": "2"],
        ]
        for env in refused {
            #expect(throws: RequestError.self, "\(env)") { try Shard.parse("auto", environment: env) }
        }
    }

    @Test func inputPathsKeepOnlyTheirPart() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shard-inputs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("sub"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for i in 0..<30 { FileManager.default.createFile(atPath: dir.appendingPathComponent(i % 2 == 0 ? "\(i).wav" : "sub/\(i).wav").path, contents: Data()) }
        func files(_ shard: Shard?) -> [String] {
            InputPaths([dir.path], shard: shard).compactMap { if case .found(_, let r) = $0 { return r } else { return nil } }
        }
        let all = files(nil)
        let parts = try (0..<3).map { files(try Shard(index: $0, count: 3)) }
        #expect(all.count == 30 && parts.allSatisfy { !$0.isEmpty })
        #expect(Set(parts.flatMap { $0 }) == Set(all) && parts.map(\.count).reduce(0, +) == 30)
        // The same folder given another way (a trailing slash) gives the same parts: the key
        // is the path below the folder.
        #expect(Set(InputPaths([dir.path + "/"], shard: try Shard(index: 1, count: 3)).compactMap {
            if case .found(_, let r) = $0 { return r } else { return nil } }) == Set(parts[1]))
    }

    static func write(_ dir: URL, _ name: String, _ lines: [String]) throws {
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: dir.appendingPathComponent(name))
    }

    @Test func mergeJoinsPartsInOrderAndSaysWhatIsMissing() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shard-merge-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.write(dir, "results.shard-0000-of-0003.jsonl", [#"{"path":"a","x":1}"#, #"{"path":"b","x":2}"#])
        try Self.write(dir, "results.shard-0002-of-0003.jsonl", [#"{"path":"c","x":3}"#, #"{"path":"c","x":4}"#])
        // Part 1 was killed: only its partial, with a torn last line.
        try Data((#"{"path":"d","x":5}"# + "\n" + #"{"path":"e","#).utf8).write(to: dir.appendingPathComponent(".results.shard-0001-of-0003.jsonl.partial"))
        var groups = try ShardMerge.merge(directory: dir)
        #expect(groups.count == 1)
        var g = groups[0]
        #expect(g.target == "results.jsonl" && g.parts == 3 && g.missing.isEmpty && g.unfinished == [1] && !g.complete)
        #expect(g.lines == 5 && g.inputs == 4 && g.duplicates.isEmpty)
        let merged = try String(contentsOf: dir.appendingPathComponent("results.jsonl"), encoding: .utf8)
        #expect(merged == [#"{"path":"a","x":1}"#, #"{"path":"b","x":2}"#, #"{"path":"d","x":5}"#,
                           #"{"path":"c","x":3}"#, #"{"path":"c","x":4}"#].joined(separator: "\n") + "\n")
        // Part 1 finishes (committed), with an input that part 2 also has: a duplicate.
        try Self.write(dir, "results.shard-0001-of-0003.jsonl", [#"{"path":"d","x":5}"#, #"{"path":"c","x":9}"#])
        try FileManager.default.removeItem(at: dir.appendingPathComponent(".results.shard-0001-of-0003.jsonl.partial"))
        g = try ShardMerge.merge(directory: dir)[0]
        #expect(g.unfinished.isEmpty && g.duplicates == ["c"] && g.lines == 6)
        // Idempotent: the same parts, the same file.
        let once = try Data(contentsOf: dir.appendingPathComponent("results.jsonl"))
        _ = try ShardMerge.merge(directory: dir)
        #expect(try Data(contentsOf: dir.appendingPathComponent("results.jsonl")) == once)
        // A missing part, and parts of two counts.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("results.shard-0002-of-0003.jsonl"))
        groups = try ShardMerge.merge(directory: dir)
        #expect(groups[0].missing == [2])
        try Self.write(dir, "results.shard-0000-of-0002.jsonl", [#"{"path":"z"}"#])
        #expect(throws: ItemFailure.self) { try ShardMerge.merge(directory: dir) }
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        #expect(throws: ItemFailure.self) { try ShardMerge.merge(directory: empty) }
    }
}
