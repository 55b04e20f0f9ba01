import Foundation
import TensorCore

/// A results file of one JSON object per line, written so that nothing is lost:
/// lines go to a hidden temporary file beside the target (`.NAME.partial`), flushed to
/// disk every second, and the temporary file is renamed over the target when the job ends
/// or is interrupted. Each record names its input with `path`, `size` and `mtime`, which is
/// how a later run over the same inputs skips what is done (resume), and `request`, the
/// digest of the model, weights and options that made it (`RequestIdentity`): a file made
/// by another request is not continued. Records with an `error` key are not kept on
/// resume: failed inputs are tried again.
///
/// - Important: a run killed outright (SIGKILL, power loss) leaves the `.partial` file; the
///   next run reads its complete lines too, so at most the last second of work is redone.
public final class JSONLinesOutput: @unchecked Sendable {
    public let url: URL
    let partialURL: URL
    private let writer: AtomicFile.Writer
    private var done: Set<ResumeKey> = []
    private let lock = NSLock()
    private var buffer = Data()
    private var lastFlush = DispatchTime.now().uptimeNanoseconds
    public private(set) var resumedCount = 0
    /// The records kept from earlier runs (resume), in file order, as JSON lines.
    public private(set) var keptLines: [Data] = []
    /// The request every record of this file belongs to (nil: not checked).
    public private(set) var request: RequestIdentity?
    /// The `request` digests of the kept records ("" for none).
    private var keptRequests: Set<String> = []

    /// What identifies an input for resume: a file by path, size and modification time; a
    /// text by its content's digest alone (an edited text is a new input, the same text from
    /// another place is not).
    struct ResumeKey: Hashable {
        let path: String, size: Int64, mtimeMicros: Int64

        init(path: String, size: Int64, mtimeMicros: Int64) {
            (self.path, self.size, self.mtimeMicros) = (path, size, mtimeMicros)
        }

        init(_ item: SourceItem) {
            if let d = item.digest { self.init(digest: d) } else { self.init(path: item.path, size: item.size, mtimeMicros: item.mtimeMicros) }
        }

        init(digest: String) { self.init(path: "sha256:" + digest, size: -1, mtimeMicros: -1) }
    }

    /// Opens `url` for a job. Unless `overwrite`, results already in `url` (and in a
    /// leftover `.partial`) are kept and their inputs will be skipped; with `request`, they
    /// must be that request's (else `ItemFailure`: the file is left as it is).
    public init(url: URL, overwrite: Bool, request: RequestIdentity? = nil) throws {
        try AtomicFile.checkTarget(url)
        self.url = url
        self.request = request
        partialURL = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial")
        let fm = FileManager.default
        var kept = Data()
        if !overwrite {
            // An input may have several records (e.g. one per video frame); a record seen in
            // both the target and a leftover partial is kept once.
            var seen = Set<ResumeKey>()
            let decoder = JSONDecoder()
            var lines = Set<Data>()
            for source in [url, partialURL] where fm.fileExists(atPath: source.path) {
                var isDir: ObjCBool = false
                if fm.fileExists(atPath: source.path, isDirectory: &isDir), isDir.boolValue {
                    throw ItemFailure(path: source.path, reason: "is a folder, not a results file")
                }
                guard let data = fm.contents(atPath: source.path) else {
                    throw ItemFailure(path: source.path, reason: "cannot read the existing results file")
                }
                for line in data.split(separator: UInt8(ascii: "\n")) {
                    let bytes = Data(line)
                    guard !lines.contains(bytes), let fields = try? decoder.decode(ResumeFields.self, from: bytes),
                          fields.error == nil, let key = fields.key else { continue }
                    keptRequests.insert(fields.request ?? "")
                    lines.insert(bytes)
                    seen.insert(key)
                    keptLines.append(bytes)
                    kept.append(bytes)
                    kept.append(UInt8(ascii: "\n"))
                }
            }
            done = seen
            resumedCount = seen.count
        }
        if let request, keptRequests.contains(where: { $0 != request.digest }) {
            throw request.mismatch(url.path, holds: "results")        // before the partial file is touched
        }
        let dir = url.deletingLastPathComponent()
        if !fm.fileExists(atPath: dir.path) {
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        }
        do {
            // The leftover partial's complete lines are in `kept`: it is replaced atomically,
            // then continued, and renamed over the target at `commit`.
            try AtomicFile.write(kept, to: partialURL)
            writer = try AtomicFile.Writer(target: url, temporary: partialURL)
        } catch let e as WeightFileError {
            throw ItemFailure(path: url.path, reason: e.problem)
        }
    }

    /// What resume reads of a record: which input it is for, and whether it failed.
    struct ResumeFields: Decodable {
        let path: String?, size: Int64?, mtime_us: Int64?, sha256: String?, error: String?, request: String?
        var key: ResumeKey? {
            if let sha256 { return ResumeKey(digest: sha256) }
            guard let path, let size, let mtime_us else { return nil }
            return ResumeKey(path: path, size: size, mtimeMicros: mtime_us)
        }
    }

    /// Refuses (`ItemFailure` naming the file) to continue records of another request;
    /// then every record appended belongs to `request`.
    public func verify(_ request: RequestIdentity, holds what: String) throws {
        if keptRequests.contains(where: { $0 != request.digest }) { throw request.mismatch(url.path, holds: what) }
        self.request = request
    }

    /// True when a previous run already has a result for this exact input.
    public func isDone(_ item: SourceItem) -> Bool {
        lock.lock(); defer { lock.unlock() }
        return done.contains(ResumeKey(item))
    }

    /// Appends one record (a JSON object; `Stamped` adds the resume fields).
    public func append<R: Encodable>(_ record: R) throws {
        let data = try RecordJSON.encoder().encode(record)
        lock.lock(); defer { lock.unlock() }
        buffer.append(data)
        buffer.append(UInt8(ascii: "\n"))
        let now = DispatchTime.now().uptimeNanoseconds
        if now - lastFlush > 1_000_000_000 || buffer.count > 1 << 20 {
            try flushLocked()
            lastFlush = now
        }
    }

    /// Writes buffered records to disk now.
    public func flush() throws {
        lock.lock(); defer { lock.unlock() }
        try flushLocked()
    }

    private func flushLocked() throws {
        if buffer.isEmpty { return }
        try writer.append(buffer)
        try writer.synchronize()
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes and renames the partial file over the target. Call once, at the end (also
    /// after an interruption).
    public func commit() throws {
        lock.lock(); defer { lock.unlock() }
        try flushLocked()
        do { try writer.commit() } catch let e as WeightFileError {
            throw ItemFailure(path: url.path, reason: "cannot put results into place: \(e.problem)")
        }
    }
}
