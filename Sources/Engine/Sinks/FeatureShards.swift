import Foundation
import TensorCore

/// Feature rows on disk, as `mmpipe embed` writes them: shards `features-00000.npy` (or
/// `.safetensors`, one tensor `features`) of at most `shardRows` float32 rows each, and
/// `manifest.jsonl`, one line per row (`row`, `shard`, the input's `path`, `size`,
/// `mtime_us`, `model`, `request` (see `RequestIdentity`), and e.g. `time` for a video
/// frame) or per failed input (`error`).
///
/// - Important: nothing is lost and nothing refers to rows that are not on disk: a shard is
///   written atomically before the manifest lines of its rows are appended, and the manifest
///   itself goes through `JSONLinesOutput` (a `.partial` file renamed at the end). A later run
///   over the same inputs skips inputs already in the manifest and starts a new shard, so
///   shards of a resumed job may hold fewer than `shardRows` rows.
///
/// Checkpoints: the rows so far are committed (their shard written, their manifest lines on
/// disk) at least every `checkpointSeconds` and every `checkpointRows` rows, so a run killed
/// outright (SIGKILL, the OOM killer, a preempted node) loses at most that much work; the
/// rerun does the rest, each input exactly once. A checkpoint closes the shard early.
public final class FeatureShardWriter: @unchecked Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case npy, safetensors
    }

    public let directory: URL
    public let format: Format
    public let shardRows: Int
    public let model: String
    let manifest: JSONLinesOutput
    private var nextShard: Int
    private var dimension: Int?
    private var rows: [Float] = []
    private var pending: [ManifestLine] = []
    private let lock = NSLock()
    public private(set) var rowsWritten = 0
    /// Commit at least this often (seconds), and every this many rows.
    let checkpointSeconds: Double
    let checkpointRows: Int
    private var lastCheckpoint = DispatchTime.now().uptimeNanoseconds

    public var resumedCount: Int { manifest.resumedCount }

    /// Opens `directory` for a job (created if needed). Unless `overwrite`, rows of earlier
    /// runs stay and their inputs are skipped; their shards must still be there.
    /// With `request`, the kept rows must be that request's (model, weights, options).
    /// `features-` (or `features-shard-0003-of-0008-` for a part of a sharded job).
    let prefix: String

    /// `part`: this process writes one part of a sharded job (`--shard`): its own manifest
    /// (`manifest.shard-0003-of-0008.jsonl`) and feature files, beside the other parts'.
    /// `advice`: what to do when the folder cannot be continued (`mmpipe embed`'s options by default).
    public init(directory: URL, format: Format, shardRows: Int, model: String, request: RequestIdentity? = nil,
                overwrite: Bool, checkpointSeconds: Double = 30, checkpointRows: Int? = nil, part: Shard? = nil,
                advice: String? = nil) throws {
        prefix = part.map { "features-\($0.tag)-" } ?? "features-"
        guard shardRows > 0 else { throw RequestError("rows per shard must be at least 1, not \(shardRows)") }
        guard checkpointSeconds > 0, checkpointSeconds.isFinite else {
            throw RequestError("--checkpoint-seconds must be above 0, not \(checkpointSeconds)")
        }
        if let r = checkpointRows, r < 1 { throw RequestError("--checkpoint-rows must be at least 1, not \(r)") }
        self.checkpointSeconds = checkpointSeconds
        self.checkpointRows = min(checkpointRows ?? shardRows, shardRows)
        self.directory = directory
        self.format = format
        self.shardRows = shardRows
        self.model = model
        let fm = FileManager.default
        do { try fm.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            // Name the part of the path that is in the way: a file where a folder should be.
            var above = directory
            var isDir: ObjCBool = false
            while above.path != "/" && !fm.fileExists(atPath: above.path) { above.deleteLastPathComponent() }
            if fm.fileExists(atPath: above.path, isDirectory: &isDir), !isDir.boolValue {
                throw ItemFailure(path: above.path, reason: "exists and is not a folder")
            }
            throw error
        }
        if overwrite {
            for name in (try? fm.contentsOfDirectory(atPath: directory.path)) ?? []
            where FeatureShardWriter.shardIndex(name, prefix: prefix) != nil {
                try? fm.removeItem(at: directory.appendingPathComponent(name))
            }
        }
        manifest = try JSONLinesOutput(url: directory.appendingPathComponent(part?.name("manifest.jsonl") ?? "manifest.jsonl"), overwrite: overwrite)
        // Resume: every shard the kept lines name must exist, written by the same model.
        var highest = -1
        struct Kept: Decodable { let shard: String?, model: String?, dim: Int? }
        for data in manifest.keptLines {
            guard let line = try? JSONDecoder().decode(Kept.self, from: data), let shard = line.shard else { continue }
            if let m = line.model, m != model {
                throw ItemFailure(path: directory.path, reason: "holds features of model \(m), not \(model): \(advice ?? "use another --output or --overwrite")")
            }
            guard fm.fileExists(atPath: directory.appendingPathComponent(shard).path) else {
                throw ItemFailure(path: directory.appendingPathComponent(shard).path,
                                  reason: "is named in manifest.jsonl but missing: \(advice ?? "use --overwrite to start again")")
            }
            if let d = line.dim { dimension = d }
            highest = max(highest, FeatureShardWriter.shardIndex(shard, prefix: prefix) ?? -1)
        }
        if let request {
            do { try manifest.verify(request, holds: "features") } catch let e as ItemFailure where advice != nil {
                throw ItemFailure(path: e.path, reason: "holds features of another request (other model, weights or options): \(advice!)")
            }
        }
        // Never reuse a shard name, not even one a crashed run left without manifest lines.
        for name in (try? fm.contentsOfDirectory(atPath: directory.path)) ?? [] {
            if let i = FeatureShardWriter.shardIndex(name, prefix: prefix) { highest = max(highest, i) }
        }
        nextShard = highest + 1
    }

    static func shardIndex(_ name: String, prefix: String = "features-") -> Int? {
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), ["npy", "safetensors"].contains(String(rest[rest.index(after: dot)...])) else { return nil }
        return Int(rest[..<dot])
    }

    public func shardName(_ i: Int) -> String { prefix + String(format: "%05d.", i) + format.rawValue }

    public func isDone(_ item: SourceItem) -> Bool { manifest.isDone(item) }

    /// The rows earlier runs kept (resume), read back from their shards: each input's rows in
    /// manifest order, by the input's path, size and modification time.
    func keptRows() throws -> [JSONLinesOutput.ResumeKey: [[Float]]] {
        struct Line: Decodable { let path: String?, size: Int64?, mtime_us: Int64?, sha256: String?, row: Int?, shard: String? }
        var shards: [String: (rows: [Float], n: Int, d: Int)] = [:]
        var out: [JSONLinesOutput.ResumeKey: [[Float]]] = [:]
        let decoder = JSONDecoder()
        for data in manifest.keptLines {
            guard let l = try? decoder.decode(Line.self, from: data), let path = l.path, let size = l.size, let mtime = l.mtime_us,
                  let row = l.row, let shard = l.shard else { continue }
            if shards[shard] == nil {
                let url = directory.appendingPathComponent(shard)
                let t: Tensor
                do {
                    t = shard.hasSuffix(".npy") ? try NPY.read(url).tensor : try SafeTensorsFile(path: url.path).tensor("features")
                } catch {
                    throw ItemFailure(path: url.path, reason: "cannot be read back (\(ErrorText.describe(error))): remove \(directory.path) to start afresh")
                }
                guard t.rank == 2 else { throw ItemFailure(path: url.path, reason: "holds a tensor of shape \(t.shape), not rows of features") }
                shards[shard] = (t.contiguous().scalars, t.shape[0], t.shape[1])
            }
            let s = shards[shard]!
            guard row >= 0, row < s.n else {
                throw ItemFailure(path: directory.appendingPathComponent(shard).path, reason: "has \(s.n) rows, but manifest.jsonl names row \(row)")
            }
            let key = l.sha256.map { JSONLinesOutput.ResumeKey(digest: $0) } ?? JSONLinesOutput.ResumeKey(path: path, size: size, mtimeMicros: mtime)
            out[key, default: []].append(Array(s.rows[(row * s.d)..<((row + 1) * s.d)]))
        }
        return out
    }

    /// Adds the feature rows of one input (`[n, D]`, or `[D]` for one row); `extra[i]` adds
    /// fields to row i's manifest line (e.g. a frame's time).
    public func append(_ item: SourceItem, features: Tensor, extra: [RowFields] = []) throws {
        let f = features.rank == 1 ? features.unsqueezed(0) : features
        precondition(f.rank == 2, "features must be [n, D]")
        let n = f.shape[0], d = f.shape[1]
        lock.lock(); defer { lock.unlock() }
        if let dimension, dimension != d {
            throw ItemFailure(path: item.path, reason: "features of dimension \(d), but this output holds \(dimension)")
        }
        dimension = d
        let c = f.contiguous()
        for r in 0..<n {
            if rows.count / d == shardRows { try writeShardLocked() }
            let row = rows.count / d
            rows.append(contentsOf: UnsafeBufferPointer(start: c.pointer + r * d, count: d))
            pending.append(ManifestLine(source: item, row: row, shard: shardName(nextShard), model: model, dim: d,
                                        request: manifest.request?.digest,
                                        extra: r < extra.count ? extra[r] : RowFields(time: nil, text: nil)))
        }
        let due = DispatchTime.now().uptimeNanoseconds - lastCheckpoint >= UInt64(checkpointSeconds * 1e9)
        if rows.count / d >= checkpointRows || due { try writeShardLocked() }
    }

    /// Records a failed input (tried again by a later run).
    public func appendError(_ item: SourceItem, message: String) throws {
        lock.lock(); defer { lock.unlock() }
        pending.append(ManifestLine(source: item, request: manifest.request?.digest, error: message))
    }

    private func writeShardLocked() throws {
        lastCheckpoint = DispatchTime.now().uptimeNanoseconds
        guard let d = dimension, !rows.isEmpty else {
            for line in pending { try manifest.append(line) }
            try manifest.flush()
            pending.removeAll()
            return
        }
        let n = rows.count / d
        let t = Tensor(shape: [n, d], scalars: rows)
        let url = directory.appendingPathComponent(shardName(nextShard))
        switch format {
        case .npy: try NPY.write(t, to: url)
        case .safetensors:
            try SafeTensorsWriter.write([(name: "features", tensor: t)], metadata: ["model": model], to: url)
        }
        for line in pending { try manifest.append(line) }
        try manifest.flush()
        pending.removeAll()
        rows.removeAll(keepingCapacity: true)
        rowsWritten += n
        nextShard += 1
    }

    /// Writes the last (partial) shard and puts the manifest in place; call once at the end,
    /// after an interruption too.
    public func commit() throws {
        lock.lock()
        defer { lock.unlock() }
        try writeShardLocked()
        try manifest.commit()
    }
}

/// Fields a manifest line carries for one row besides the standard ones (a frame's `time`,
/// an embedded text's `text`).
public struct RowFields: Sendable, ExpressibleByDictionaryLiteral {
    public enum Value: Sendable, Encodable, ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
        case number(Double), string(String)
        public init(floatLiteral v: Double) { self = .number(v) }
        public init(integerLiteral v: Int) { self = .number(Double(v)) }
        public init(stringLiteral v: String) { self = .string(v) }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .number(let d): try c.encode(d)
            case .string(let s): try c.encode(s)
            }
        }
    }

    public var fields: [(String, Value)]
    public init(dictionaryLiteral elements: (String, Value)...) { fields = elements }
    public init(time: Double? = nil, text: String? = nil) {
        fields = (time.map { [("time", .number($0))] } ?? []) + (text.map { [("text", .string($0))] } ?? [])
    }
}

/// One line of `manifest.jsonl`: a row (where it is, which input and model) or a failed input.
struct ManifestLine: Encodable {
    let source: SourceItem
    var row: Int? = nil
    var shard: String? = nil
    var model: String? = nil
    var dim: Int? = nil
    var request: String? = nil
    var extra = RowFields(time: nil, text: nil)
    var error: String? = nil

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        // The standard fields win over an extra field of the same name.
        let standard: Set = ["path", "size", "mtime_us", "sha256", "row", "shard", "model", "dim", "request", "error"]
        for (k, v) in extra.fields where !standard.contains(k) { try c.encode(v, forKey: Key(k)) }
        try c.encode(source.path, forKey: Key("path"))
        try c.encode(source.size, forKey: Key("size"))
        try c.encode(source.mtimeMicros, forKey: Key("mtime_us"))
        try c.encodeIfPresent(source.digest, forKey: Key("sha256"))
        try c.encodeIfPresent(row, forKey: Key("row"))
        try c.encodeIfPresent(shard, forKey: Key("shard"))
        try c.encodeIfPresent(model, forKey: Key("model"))
        try c.encodeIfPresent(dim, forKey: Key("dim"))
        try c.encodeIfPresent(request, forKey: Key("request"))
        try c.encodeIfPresent(error, forKey: Key("error"))
    }
}
