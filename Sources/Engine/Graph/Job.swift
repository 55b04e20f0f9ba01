import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import TensorCore

/// One input of a job as the source found it. `path + size + mtime` identify a file for
/// resume; a text is identified by its content alone (`digest`), wherever it came from.
public struct SourceItem: Sendable, Hashable, Codable {
    public let path: String
    public let size: Int64
    /// Modification time, seconds since 1970 (sub-second precision kept).
    public let mtime: Double
    /// The path below the folder (or the fixed part of the pattern) it was found under,
    /// e.g. `a/x.wav` for `coll/a/x.wav` found in `coll`; nil for a file named directly.
    /// Output files mirror it.
    public let relative: String?
    /// A text's SHA-256 (hex): its identity for resume (records carry it as `sha256`); nil
    /// for a file.
    public let digest: String?

    public init(path: String, size: Int64, mtime: Double, relative: String? = nil, digest: String? = nil) {
        self.path = path
        self.size = size
        self.mtime = mtime
        self.relative = relative
        self.digest = digest
    }

    /// A text given at `place` (`--text #N`, `FILE:LINE`), identified by its content.
    public static func text(_ text: String, at place: String) -> SourceItem {
        let digest = SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
        return SourceItem(path: place, size: Int64(text.utf8.count), mtime: 0, digest: digest)
    }

    /// The modification time in whole microseconds (what resume compares).
    public var mtimeMicros: Int64 { Int64((mtime * 1_000_000).rounded()) }

    /// Reads size and modification time; nil when the path cannot be stat'ed.
    public static func stat(_ path: String, relative: String? = nil) -> SourceItem? {
        guard let a = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
        let size = (a[.size] as? NSNumber)?.int64Value ?? 0
        let mtime = (a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        return SourceItem(path: path, size: size, mtime: mtime, relative: relative)
    }
}

/// Why one item failed, as one line: `path: reason`.
public struct ItemFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let reason: String
    /// The item stopped because the job was cancelled (Ctrl-C): not a failure, and no record
    /// (a later run does it again).
    public let interrupted: Bool

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason.split(whereSeparator: \.isNewline).joined(separator: " ")
        interrupted = false
    }

    init(interrupted path: String) {
        self.path = path
        reason = "interrupted"
        interrupted = true
    }

    /// Wraps any error thrown while processing `path` (errors that already name the file
    /// keep only their reason, so the path is not said twice).
    public init(path: String, error: Error) {
        switch error {
        case is CancellationError: self.init(interrupted: path)
        case let e as ItemFailure: self = e
        case let e as ItemReasonError: self.init(path: path, reason: e.itemReason)
        default: self.init(path: path, reason: ErrorText.reason(error, path: path))
        }
    }

    public var description: String { "\(path): \(reason)" }
}

/// An item on its way through the graph: its place in input order, where it came from,
/// and the value so far or the failure that stopped it.
public struct Envelope<T: Sendable>: Sendable {
    public let seq: Int
    public let source: SourceItem
    public let value: Result<T, ItemFailure>
}

/// What the job did, for the final summary line.
public struct JobSummary: Sendable {
    public var done = 0
    public var failed = 0
    public var skipped = 0
    public var seconds = 0.0
    public var cancelled = false
    /// (stage name, workers, share of wall time its workers were busy, 0...1).
    public var utilisation: [(name: String, workers: Int, busy: Double)] = []
    public var peakRSSMegabytes: Double = 0
    /// The most threads busy at once (stage workers at work + compute pool threads), and the
    /// cores they share: the first never exceeds the second (see `Compute`).
    public var peakBusyThreads = 0
    public var cores = 0

    public init() {}

    public var line: String {
        var s = "\(done) done, \(skipped) skipped, \(failed) failed in \(String(format: "%.2f", seconds)) s"
        if seconds > 0 && done + failed > 0 {
            s += String(format: " (%.1f items/s)", Double(done + failed) / seconds)
        }
        if cancelled { s += "; interrupted (run again to resume)" }
        return s
    }

    public var utilisationLine: String {
        "stages busy: " + utilisation.map { "\($0.name) \(Int(($0.busy * 100).rounded()))% x\($0.workers)" }.joined(separator: ", ")
            + String(format: "; peak RSS %.0f MB", peakRSSMegabytes)
            + "; busy threads at most \(peakBusyThreads) of \(cores) cores"
    }
}

/// Counters one stage's workers add to.
final class StageStats: @unchecked Sendable {
    let name: String
    let workers: Int
    private let lock = NSLock()
    private var busyNanos: UInt64 = 0

    init(name: String, workers: Int) {
        self.name = name
        self.workers = workers
    }

    func addBusy(_ ns: UInt64) {
        lock.lock(); busyNanos &+= ns; lock.unlock()
    }

    var busySeconds: Double {
        lock.lock(); defer { lock.unlock() }
        return Double(busyNanos) * 1e-9
    }
}

/// A running stage graph: a source thread, worker threads per stage, bounded queues between
/// them, and an in-flight window that bounds the items between source and sink (so memory
/// does not grow with the number of inputs, and the ordered sink's reorder buffer is bounded).
///
/// - Important: stages run on plain threads, not the Swift concurrency pool: decoders and
///   BLAS block, and a blocked cooperative pool would stall everything.
/// Stops a job from outside when Ctrl-C does not: a server's request whose client went away
/// or whose time ran out. `Runner.run(control:)` attaches the job; a cancel that comes first
/// stops it as soon as it starts.
public final class JobControl: @unchecked Sendable {
    private let lock = NSLock()
    private var job: Job?
    private var stopped = false
    private var isExpress = false

    public init() {}

    /// The job is short and should not wait for a core behind a long one (`Job.express`);
    /// set before the job starts.
    public var express: Bool {
        get { lock.lock(); defer { lock.unlock() }; return isExpress }
        set { lock.lock(); isExpress = newValue; lock.unlock() }
    }

    public func cancel() {
        lock.lock()
        stopped = true
        let j = job
        lock.unlock()
        j?.cancel()
    }

    public var isCancelled: Bool {
        lock.lock(); defer { lock.unlock() }
        return stopped
    }

    func attach(_ job: Job) {
        job.express = express
        lock.lock()
        self.job = job
        let s = stopped
        lock.unlock()
        if s { job.cancel() }
    }
}

public final class Job: @unchecked Sendable {
    let window: Window
    let windowSize: Int
    private let lock = NSLock()
    private var isCancelled = false
    private var stats: [StageStats] = []
    private let group = DispatchGroup()
    let startTime = DispatchTime.now().uptimeNanoseconds
    public let progress: Progress
    /// Its stage workers take a core without waiting (`Compute.occupyingCore(express:)`):
    /// a server's short text jobs beside a long transcription.
    var express = false

    // Source counters (read by the progress line).
    private var found = 0
    private var skippedCount = 0
    private var enumerationFinished = false
    /// The inputs to do (not skipped), counted by a walk of their own ahead of the source;
    /// nil until that walk ends (or without one: a list on standard input).
    private var counted: Int?
    // Work in seconds of audio (transcription, VAD): the items in work and those finished.
    private var workInFlight: [String: (done: Double, total: Double)] = [:]
    private var workFinished = 0.0, workFinishedItems = 0

    public init(window: Int = 64, progress: Progress = Progress(mode: .quiet)) {
        precondition(window > 0, "window must be positive")
        self.window = Window(window)
        self.windowSize = window
        self.progress = progress
        Compute.resetPeakBusy()
    }

    /// Stops the source; items already in flight finish (or fail) and reach the sink.
    public func cancel() {
        lock.lock()
        isCancelled = true
        lock.unlock()
    }

    public var cancelled: Bool {
        lock.lock(); defer { lock.unlock() }
        return isCancelled
    }

    func register(_ name: String, workers: Int) -> StageStats {
        let s = StageStats(name: name, workers: workers)
        lock.lock(); stats.append(s); lock.unlock()
        return s
    }

    /// Starts `body` on a new thread that the job waits for at the end.
    func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) {
        group.enter()
        let t = Thread { [group] in
            body()
            group.leave()
        }
        t.name = name
        t.stackSize = 8 << 20
        t.start()
    }

    var sourceCounts: (found: Int, skipped: Int, finished: Bool) {
        lock.lock(); defer { lock.unlock() }
        return (found, skippedCount, enumerationFinished)
    }

    /// The inputs this job does, when known: every one found once the source is done, or
    /// earlier what the counting walk found.
    var total: Int? {
        lock.lock(); defer { lock.unlock() }
        return enumerationFinished ? found : counted
    }

    /// Says how far the item at `path` is, in seconds of audio (`total`: its length, when
    /// known). The progress line then follows seconds, not items.
    public func reportWork(_ path: String, done: Double, total: Double) {
        guard total > 0 else { return }
        lock.lock(); workInFlight[path] = (min(done, total), total); lock.unlock()
    }

    /// Whether items report their work in seconds.
    var hasWork: Bool {
        lock.lock(); defer { lock.unlock() }
        return workFinishedItems + workInFlight.count > 0
    }

    /// The item is finished (or failed): its seconds count as done.
    func completeWork(_ path: String) {
        lock.lock()
        if let w = workInFlight.removeValue(forKey: path) { workFinished += w.total; workFinishedItems += 1 }
        lock.unlock()
    }

    /// The share of the job done, by seconds of audio where items report them: items not
    /// started yet are reckoned at the mean length of those seen. nil when no item reported
    /// seconds, or the number of items is not known yet.
    func workFraction(completed: Int) -> Double? {
        lock.lock(); defer { lock.unlock() }
        guard let total = enumerationFinished ? found : counted, total > 0, workFinishedItems + workInFlight.count > 0 else { return nil }
        let seen = workFinishedItems + workInFlight.count
        let seenSeconds = workFinished + workInFlight.values.reduce(0) { $0 + $1.total }
        let doneSeconds = workFinished + workInFlight.values.reduce(0) { $0 + $1.done }
        // Items finished without reporting seconds (failures) count as the mean, done; items
        // not started as the mean, to do.
        let mean = seenSeconds / Double(seen)
        let silent = max(0, completed - workFinishedItems)
        let unseen = max(0, total - seen - silent)
        let whole = seenSeconds + mean * Double(unseen + silent)
        return whole > 0 ? min(1, (doneSeconds + mean * Double(silent)) / whole) : nil
    }

    /// Counts the inputs to do on a thread of its own (the same walk, resume check and
    /// repeats as the source), so the progress line has a total and an ETA long before the
    /// source reaches the last input. Not for a list on standard input.
    private func count(_ inputs: InputPaths, skip: @escaping @Sendable (SourceItem) -> Bool) {
        guard !inputs.arguments.contains("-") else { return }
        let t = Thread { [self] in
            var n = 0
            var repeats = Repeats()
            var iterator = inputs.makeIterator()
            while !cancelled, let entry = iterator.next() {
                switch entry {
                case .emptyDirectory: continue
                case .missing, .unmatched: n += 1
                case .file(let p), .found(let p, _):
                    guard repeats.first(file: p) else { continue }
                    let relative: String? = if case .found(_, let r) = entry { r } else { nil }
                    if let item = SourceItem.stat(p, relative: relative), skip(item) { continue }
                    n += 1
                }
            }
            lock.lock(); if !isCancelled { counted = n }; lock.unlock()
        }
        t.name = "mmpipe.count"
        t.start()
    }

    /// The source: walks `inputs` lazily on its own thread. Items for which `skip` says yes
    /// (already done, for resume) are counted and not processed. Missing paths become
    /// failure records; empty directories a warning.
    public func source(_ inputs: InputPaths, skip: @escaping @Sendable (SourceItem) -> Bool = { _ in false }) -> Flow<SourceItem> {
        let out = BoundedQueue<Envelope<SourceItem>>(capacity: 16)
        let stats = register("enumerate", workers: 1)
        if progress.mode != .quiet { count(inputs, skip: skip) }
        spawn("mmpipe.source") { [self] in
            var seq = 0
            var iterator = inputs.makeIterator()
            var repeats = Repeats()
            defer { repeats.report(progress) }
            while !cancelled {
                let t0 = DispatchTime.now().uptimeNanoseconds
                guard let entry = iterator.next() else { break }
                stats.addBusy(DispatchTime.now().uptimeNanoseconds - t0)
                let envelope: Envelope<SourceItem>
                switch entry {
                case .emptyDirectory(let p):
                    progress.warn("\(p): directory holds no files this command reads")
                    continue
                case .missing(let p), .unmatched(let p):
                    let reason = if case .unmatched = entry { "no file matches this pattern" } else { "no such file or directory" }
                    envelope = Envelope(seq: seq, source: SourceItem(path: p, size: 0, mtime: 0),
                                        value: .failure(ItemFailure(path: p, reason: reason)))
                case .file(let p), .found(let p, _):
                    if !repeats.first(file: p) { continue }
                    let relative: String? = if case .found(_, let r) = entry { r } else { nil }
                    let item = SourceItem.stat(p, relative: relative) ?? SourceItem(path: p, size: 0, mtime: 0, relative: relative)
                    if skip(item) {
                        lock.lock(); skippedCount += 1; lock.unlock()
                        continue
                    }
                    envelope = Envelope(seq: seq, source: item, value: .success(item))
                }
                guard window.acquire() else { break }
                lock.lock(); found += 1; lock.unlock()
                seq += 1
                if !out.put(envelope) { break }
            }
            lock.lock(); enumerationFinished = true; lock.unlock()
            out.close()
        }
        return Flow(job: self, queue: out)
    }

    /// A source over values already in memory (tests, `--text` inputs); items for which `skip`
    /// says yes (already done, for resume) are counted and not processed.
    public func source<T: Sendable>(values: [(SourceItem, T)], skip: @escaping @Sendable (SourceItem) -> Bool = { _ in false }) -> Flow<T> {
        let out = BoundedQueue<Envelope<T>>(capacity: 16)
        spawn("mmpipe.source") { [self] in
            var seq = 0
            var repeats = Repeats()
            defer { repeats.report(progress) }
            for (item, value) in values {
                if let d = item.digest, !repeats.first(text: d, at: item.path) { continue }
                if skip(item) {
                    lock.lock(); skippedCount += 1; lock.unlock()
                    continue
                }
                if cancelled || !window.acquire() { break }
                lock.lock(); found += 1; lock.unlock()
                if !out.put(Envelope(seq: seq, source: item, value: .success(value))) { break }
                seq += 1
            }
            lock.lock(); enumerationFinished = true; lock.unlock()
            out.close()
        }
        return Flow(job: self, queue: out)
    }

    /// Waits for every thread, then fills in the timing and utilisation of the summary.
    func finish(_ summary: inout JobSummary) {
        group.wait()
        let wall = Double(DispatchTime.now().uptimeNanoseconds - startTime) * 1e-9
        summary.seconds = wall
        summary.skipped = sourceCounts.skipped
        summary.cancelled = cancelled
        lock.lock()
        summary.utilisation = stats.map { ($0.name, $0.workers, wall > 0 ? min(1, $0.busySeconds / (wall * Double($0.workers))) : 0) }
        lock.unlock()
        summary.peakRSSMegabytes = ResourceUsage.peakRSSMegabytes
        summary.peakBusyThreads = Compute.peakBusyThreads
        summary.cores = Compute.cores
    }
}

/// Inputs named more than once (the same file by another path, a folder and a file in it,
/// the same text twice): done once, and said in one note at the end of the enumeration.
struct Repeats {
    private var files: Set<FileIdentity> = []
    private var texts: [String: String] = [:]
    private var said: [String] = []
    private var count = 0

    struct FileIdentity: Hashable { let device: UInt64, inode: UInt64 }

    /// True the first time the real file behind `path` is seen (device and inode: symbolic
    /// links, `..` and hard links lead to the same one). A path that cannot be stat'ed is
    /// passed on (its failure is reported where it is read).
    mutating func first(file path: String) -> Bool {
        var st = stat()
        guard fstatat(AT_FDCWD, path, &st, 0) == 0 else { return true }
        if files.insert(FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))).inserted { return true }
        note(path)
        return false
    }

    /// True the first time the text with this digest is seen.
    mutating func first(text digest: String, at place: String) -> Bool {
        if let earlier = texts[digest] { note("\(place) (the text of \(earlier))"); return false }
        texts[digest] = place
        return true
    }

    private mutating func note(_ what: String) {
        count += 1
        if said.count < 5 { said.append(what) }
    }

    func report(_ progress: Progress) {
        guard count > 0 else { return }
        let more = count > said.count ? " and \(count - said.count) more" : ""
        progress.note("given more than once, done once: \(said.joined(separator: ", "))\(more)")
    }
}

/// The items coming out of one stage, typed; `then` adds the next stage.
public struct Flow<T: Sendable>: Sendable {
    let job: Job
    let queue: BoundedQueue<Envelope<T>>

    /// Adds a stage of `workers` threads. Failed items pass through untouched.
    public func then<S: Stage>(_ stage: S, workers: Int = 1) -> Flow<S.Output> where S.Input == T {
        map(stage.name, workers: workers) { try stage.process($0, item: $1) }
    }

    /// Adds a stage given by a closure.
    public func map<U: Sendable>(_ name: String, workers: Int = 1,
                                 _ body: @escaping @Sendable (T, SourceItem) throws -> U) -> Flow<U> {
        precondition(workers > 0, "a stage needs at least one worker")
        let out = BoundedQueue<Envelope<U>>(capacity: max(2, 2 * workers))
        let stats = job.register(name, workers: workers)
        let remaining = Countdown(workers) { out.close() }
        for w in 0..<workers {
            job.spawn("mmpipe.\(name).\(w)") { [queue] in
                while let e = queue.take() {
                    let result: Result<U, ItemFailure>
                    switch e.value {
                    case .failure(let f): result = .failure(f)
                    case .success(let v):
                        let t0 = DispatchTime.now().uptimeNanoseconds
                        // Work holds a core of the compute budget (see Compute): while it
                        // runs, model stages borrow one helper thread fewer.
                        do { result = .success(try Compute.occupyingCore(express: job.express) { try body(v, e.source) }) } catch {
                            result = .failure(ItemFailure(path: e.source.path, error: error))
                        }
                        stats.addBusy(DispatchTime.now().uptimeNanoseconds - t0)
                    }
                    out.put(Envelope(seq: e.seq, source: e.source, value: result))
                }
                remaining.done()
            }
        }
        return Flow<U>(job: job, queue: out)
    }

    /// Adds a batching stage: it collects up to `stage.maxBatch` successful items, or as many
    /// as arrive within `stage.maxWait` seconds of the first, and processes them together.
    public func batch<S: BatchStage>(_ stage: S) -> Flow<S.Output> where S.Input == T {
        let out = BoundedQueue<Envelope<S.Output>>(capacity: max(2, 2 * stage.maxBatch))
        let stats = job.register(stage.name, workers: 1)
        job.spawn("mmpipe.\(stage.name)") { [queue] in
            var pending: [(value: T, seq: Int, source: SourceItem)] = []
            var firstArrival: UInt64 = 0
            func flush() {
                guard !pending.isEmpty else { return }
                let t0 = DispatchTime.now().uptimeNanoseconds
                let results = Compute.occupyingCore(express: job.express) { stage.process(pending.map(\.value), items: pending.map(\.source)) }
                stats.addBusy(DispatchTime.now().uptimeNanoseconds - t0)
                for (i, p) in pending.enumerated() {
                    let r: Result<S.Output, ItemFailure>
                    if i < results.count {
                        r = results[i].mapError { ItemFailure(path: p.source.path, error: $0) }
                    } else {
                        r = .failure(ItemFailure(path: p.source.path, reason: "\(stage.name) returned no result"))
                    }
                    out.put(Envelope(seq: p.seq, source: p.source, value: r))
                }
                pending.removeAll(keepingCapacity: true)
            }
            while true {
                // Wait for the next item, but not past the batch deadline.
                let e: Envelope<T>?
                if pending.isEmpty {
                    e = queue.take()
                } else {
                    let deadline = firstArrival + UInt64(stage.maxWait * 1e9)
                    e = queue.take(until: deadline)
                    if e == nil && !queue.isClosedAndEmpty { flush(); continue }
                }
                guard let e else { break }
                switch e.value {
                case .failure(let f): out.put(Envelope(seq: e.seq, source: e.source, value: .failure(f)))
                case .success(let v):
                    if pending.isEmpty { firstArrival = DispatchTime.now().uptimeNanoseconds }
                    pending.append((v, e.seq, e.source))
                    if pending.count >= stage.maxBatch { flush() }
                }
            }
            flush()
            out.close()
        }
        return Flow<S.Output>(job: job, queue: out)
    }

    /// Consumes the results on the calling thread, in input order when `ordered` (items that
    /// finish early wait in a buffer bounded by the job's window), and waits for the job.
    public func sink(ordered: Bool = true, _ body: (Envelope<T>) -> Void) -> JobSummary {
        var summary = JobSummary()
        var buffer: [Int: Envelope<T>] = [:]
        var next = 0
        let progress = job.progress
        func deliver(_ e: Envelope<T>) {
            if case .failure(let f) = e.value, f.interrupted, job.cancelled {
                job.window.release()        // stopped by Ctrl-C: neither a result nor a failure
                return
            }
            body(e)
            job.completeWork(e.source.path)
            if case .failure(let f) = e.value {
                summary.failed += 1
                progress.failed(f)
            } else {
                summary.done += 1
            }
            progress.update(done: summary.done, failed: summary.failed, job: job)
            job.window.release()
        }
        while let e = queue.take() {
            if !ordered { deliver(e); continue }
            buffer[e.seq] = e
            while let ready = buffer.removeValue(forKey: next) {
                deliver(ready)
                next += 1
            }
        }
        // Whatever is left (gaps can only come from a cancelled source) in order.
        for seq in buffer.keys.sorted() { deliver(buffer[seq]!) }
        job.finish(&summary)
        progress.finish(summary)
        return summary
    }
}

/// Runs `action` when `done()` has been called `n` times.
final class Countdown: @unchecked Sendable {
    private var n: Int
    private let lock = NSLock()
    private let action: () -> Void
    init(_ n: Int, _ action: @escaping () -> Void) { self.n = n; self.action = action }
    func done() {
        lock.lock(); n -= 1; let fire = n == 0; lock.unlock()
        if fire { action() }
    }
}

/// One stage of a graph: a function of one item, run on `workers` threads.
public protocol Stage: Sendable {
    associatedtype Input: Sendable
    associatedtype Output: Sendable
    var name: String { get }
    func process(_ input: Input, item: SourceItem) throws -> Output
}

/// A stage that works on several items at once (encoders: one forward pass per batch).
public protocol BatchStage: Sendable {
    associatedtype Input: Sendable
    associatedtype Output: Sendable
    var name: String { get }
    var maxBatch: Int { get }
    /// Seconds to wait for more items after the first of a batch arrives.
    var maxWait: Double { get }
    /// One result per input, in order.
    func process(_ batch: [Input], items: [SourceItem]) -> [Result<Output, Error>]
}
