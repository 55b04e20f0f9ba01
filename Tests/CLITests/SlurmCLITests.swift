import Foundation
import Testing

/// A real scheduler: scripts/slurm-check.py starts a one-node Slurm (Debian's slurm-wlm and
/// munge, installed and started by scripts/slurm-local; root, as CI runs), submits the
/// documented docs/slurm/embed.sbatch as a 2-task array, merges the parts and compares them
/// with one process's rows. The Kubernetes Indexed Job's contract (JOB_COMPLETION_INDEX,
/// MMPIPE_SHARDS) is run here too, as the pods would.
@Suite("sharded runs on Slurm and as a Kubernetes Indexed Job")
struct SlurmCLITests {
    @Test func slurmArrayThenMergeEqualsOneProcess() throws {
        guard getuid() == 0 else {
            Issue.record("needs root to install and start Slurm (scripts/slurm-local); CI runs as root")
            return
        }
        let script = CLI.repoRoot.appendingPathComponent("scripts/slurm-check.py").path
        let r = try CLI.run([script, CLI.binary.path], executable: URL(fileURLWithPath: "/usr/bin/python3"))
        #expect(r.status == 0 && r.stdout.contains("ok   Slurm array"), "\(r.stdout)\n\(r.stderr)")
    }

    @Test func kubernetesIndexedJobContract() throws {
        let dir = try ShardCLITests.folder("k8s")
        defer { try? FileManager.default.removeItem(at: dir) }
        let media = dir.appendingPathComponent("audio")
        try FileManager.default.createDirectory(at: media, withIntermediateDirectories: true)
        for i in 0..<6 {
            try FileManager.default.copyItem(atPath: CLI.sample("speech.wav"), toPath: media.appendingPathComponent("clip-\(i).wav").path)
        }
        let out = dir.appendingPathComponent("out"), single = dir.appendingPathComponent("single.jsonl")
        #expect(try CLI.run(["vad", media.path, "--output", single.path, "--quiet"]).status == 0)
        for index in 0..<3 {   // the three pods of `completions: 3`
            let r = try CLI.run(["vad", media.path, "--output", out.appendingPathComponent("speech.jsonl").path, "--shard", "auto", "--quiet"],
                                environment: ["JOB_COMPLETION_INDEX": "\(index)", "MMPIPE_SHARDS": "3"],
                                unset: ["SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let merge = try CLI.run(["merge", out.path])
        #expect(merge.status == 0 && merge.stdout.contains("6 inputs from 3 of 3 parts"), "\(merge.stdout)\(merge.stderr)")
        let lines = { (url: URL) -> [String] in
            ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init).sorted()
        }
        #expect(lines(out.appendingPathComponent("speech.jsonl")) == lines(single))
    }
}
