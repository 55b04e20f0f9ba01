import Foundation

/// One of `count` parts of a job's inputs (`--shard I/N`): every input belongs to exactly one
/// part, by a stable hash of its path below the input root it was found under (the path as
/// given for a file named directly), so the parts stay the same as files are added and every
/// machine that runs a part agrees on it. Parts write shard-named files into the same output
/// folder (no locks); `mmpipe merge` joins them.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    /// 0-based.
    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1, count <= 1_000_000 else { throw RequestError("--shard: the count must be 1 to 1000000, not \(count)") }
        guard (0..<count).contains(index) else {
            throw RequestError("--shard: the index must be 0 to \(count - 1) for \(count) shards, not \(index)")
        }
        self.index = index
        self.count = count
    }

    /// `I/N` (0-based), or `auto`: a Slurm array task (`SLURM_ARRAY_TASK_ID` from
    /// `SLURM_ARRAY_TASK_MIN`, `SLURM_ARRAY_TASK_COUNT`) or a Kubernetes Indexed Job
    /// (`JOB_COMPLETION_INDEX`, with the count in `MMPIPE_SHARDS`).
    public static func parse(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Shard {
        if text == "auto" {
            func number(_ name: String) throws -> Int? {
                guard let v = environment[name] else { return nil }
                guard let n = Int(v.trimmingCharacters(in: .whitespaces)) else {
                    throw RequestError("--shard auto: \(name)=\(v) is not a number")
                }
                return n
            }
            if let id = try number("SLURM_ARRAY_TASK_ID") {
                guard let n = try number("SLURM_ARRAY_TASK_COUNT") else {
                    throw RequestError("--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not (submit with sbatch --array)")
                }
                let first = try number("SLURM_ARRAY_TASK_MIN") ?? 0
                // `--array=1-8` numbers tasks from 1; `--array=0-15:2` has gaps, which a count of
                // tasks cannot place, so the ids must be consecutive.
                if let last = try number("SLURM_ARRAY_TASK_MAX"), last - first + 1 != n {
                    throw RequestError("--shard auto: the array's task ids \(first)-\(last) are not \(n) consecutive numbers (use --array=0-\(n - 1))")
                }
                return try Shard(index: id - first, count: n)
            }
            if let i = try number("JOB_COMPLETION_INDEX") {
                guard let n = try number("MMPIPE_SHARDS") else {
                    throw RequestError("--shard auto: JOB_COMPLETION_INDEX is set; set MMPIPE_SHARDS to the Job's completions too")
                }
                return try Shard(index: i, count: n)
            }
            throw RequestError("--shard auto: no Slurm array (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT) or Kubernetes Indexed Job (JOB_COMPLETION_INDEX, MMPIPE_SHARDS) in the environment")
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            throw RequestError("--shard '\(text)': give I/N (0-based: 0/4 ... 3/4) or auto")
        }
        return try Shard(index: i, count: n)
    }

    /// Whether the input with this key (its path below its root, or as given) is this part's.
    public func owns(_ key: String) -> Bool { Shard.bucket(key, count) == index }

    /// 64-bit FNV-1a of the key's UTF-8 bytes, modulo the count: the same on every machine
    /// and every run.
    public static func bucket(_ key: String, _ count: Int) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return Int(h % UInt64(count))
    }

    /// `shard-0003-of-0008`: in the names of this part's files.
    public var tag: String { String(format: "shard-%04d-of-%04d", index, count) }

    /// `results.jsonl` → `results.shard-0003-of-0008.jsonl` (the tag before the extension).
    public func name(_ file: String) -> String {
        let ext = (file as NSString).pathExtension
        return ext.isEmpty ? "\(file).\(tag)" : "\((file as NSString).deletingPathExtension).\(tag).\(ext)"
    }

    public var description: String { "\(index)/\(count)" }
}
