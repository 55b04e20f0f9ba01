import Foundation
import Media
import TensorCore

/// `mmpipe merge DIR`: the parts of a sharded job (`--shard I/N`) joined into the files one
/// process would have written: `manifest.shard-0003-of-0008.jsonl` (embed),
/// `results.shard-….jsonl` (classify, vad `--output`), `.mmpipe-transcribe.shard-….jsonl`
/// (transcribe's listing) → `manifest.jsonl`, `results.jsonl`, `.mmpipe-transcribe.jsonl`.
/// Lines keep their part's order, parts go in index order; embed's feature files stay where
/// they are (the lines name them). Atomic (each target is written whole, then renamed) and
/// idempotent (the target is made from the parts alone). A part that has not finished (only
/// its `.partial` file, from a killed or running process) gives the lines it has committed.
public enum ShardMerge {
    public struct Group: Sendable {
        /// The merged file's name (`manifest.jsonl`).
        public let target: String
        public let parts: Int
        /// Parts with no file at all (never ran, or ran elsewhere).
        public let missing: [Int]
        /// Parts with only a `.partial` file: killed, or still running.
        public let unfinished: [Int]
        public let lines: Int
        /// Distinct inputs (`path`) in the merged file.
        public let inputs: Int
        /// Inputs found in more than one part (a changed `--shard` count, or copied files).
        public let duplicates: [String]
        /// The inputs (`path`) the merged file has a line for.
        public let paths: Set<String>

        public var complete: Bool { missing.isEmpty && unfinished.isEmpty && duplicates.isEmpty }
    }

    /// The inputs `arguments` name (walked as the jobs walk them) that `group` has no line
    /// for: not done yet, or done by no part. The same arguments as the jobs', or the paths
    /// will not match.
    public static func inputsMissing(from group: Group, arguments: [String]) -> [String] {
        InputPaths(arguments) { MediaFormat.hasExtension($0, of: [.image, .audio, .video]) }.compactMap { entry in
            switch entry {
            case .file(let p), .found(let p, _): return group.paths.contains(p) ? nil : p
            case .missing, .unmatched, .emptyDirectory: return nil
            }
        }
    }

    /// `NAME.shard-IIII-of-NNNN.EXT` → (NAME.EXT, I, N).
    static func parse(_ file: String) -> (target: String, index: Int, count: Int)? {
        guard let r = file.range(of: #"\.shard-([0-9]{4,})-of-([0-9]{4,})"#, options: .regularExpression) else { return nil }
        let tag = file[r].dropFirst(".shard-".count)
        let numbers = tag.components(separatedBy: "-of-")
        guard numbers.count == 2, let i = Int(numbers[0]), let n = Int(numbers[1]), n > 0, i < n else { return nil }
        return (String(file[..<r.lowerBound]) + String(file[r.upperBound...]), i, n)
    }

    /// Merges every sharded file in `directory`. Throws when there is none, or when parts of
    /// one file disagree on the count (two different `--shard N`).
    public static func merge(directory: URL) throws -> [Group] {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDir), isDir.boolValue else {
            throw ItemFailure(path: directory.path, reason: "no such folder")
        }
        let names = try fm.contentsOfDirectory(atPath: directory.path)
        // target → count → index → (committed file?, partial file?)
        var found: [String: [Int: [Int: (committed: String?, partial: String?)]]] = [:]
        for name in names {
            let isPartial = name.hasPrefix(".") && name.hasSuffix(".partial")
            let inner = isPartial ? String(name.dropFirst().dropLast(".partial".count)) : name
            guard let (target, i, n) = parse(inner) else { continue }
            var entry = found[target, default: [:]][n, default: [:]][i] ?? (nil, nil)
            if isPartial { entry.partial = name } else { entry.committed = name }
            found[target, default: [:]][n, default: [:]][i] = entry
        }
        guard !found.isEmpty else {
            throw ItemFailure(path: directory.path, reason: "holds no parts of a sharded run (files named NAME.shard-I-of-N.jsonl)")
        }
        var groups: [Group] = []
        for target in found.keys.sorted() {
            let byCount = found[target]!
            guard byCount.count == 1, let (count, parts) = byCount.first else {
                throw ItemFailure(path: directory.appendingPathComponent(target).path,
                                  reason: "has parts of runs with different shard counts (\(byCount.keys.sorted().map(String.init).joined(separator: ", "))): merge one run's parts")
            }
            var merged = Data(), lines = 0
            var owner: [String: Int] = [:], duplicates = Set<String>()
            var missing: [Int] = [], unfinished: [Int] = []
            for i in 0..<count {
                guard let files = parts[i] else { missing.append(i); continue }
                // A committed file holds everything its part did; a partial is read when the part
                // has not finished (its complete lines only).
                guard let name = files.committed ?? files.partial else { missing.append(i); continue }
                if files.committed == nil { unfinished.append(i) }
                guard let data = fm.contents(atPath: directory.appendingPathComponent(name).path) else {
                    throw ItemFailure(path: directory.appendingPathComponent(name).path, reason: "cannot be read")
                }
                var seenHere = Set<String>()
                for line in data.split(separator: UInt8(ascii: "\n")) {
                    guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { continue }
                    if let path = object["path"] as? String {
                        if let o = owner[path], o != i { duplicates.insert(path) }
                        if !seenHere.contains(path) { seenHere.insert(path); owner[path] = owner[path] ?? i }
                    }
                    merged.append(contentsOf: line)
                    merged.append(UInt8(ascii: "\n"))
                    lines += 1
                }
            }
            try AtomicFile.write(merged, to: directory.appendingPathComponent(target))
            groups.append(Group(target: target, parts: count, missing: missing, unfinished: unfinished, lines: lines,
                                inputs: owner.count, duplicates: duplicates.sorted(), paths: Set(owner.keys)))
        }
        return groups
    }
}
