import Foundation
import TensorCore

/// How a job runs, whatever the front end: the compute threads, and whether progress is
/// drawn (failures are always reported).
public struct RunSettings: Sendable {
    public var threads: Int?
    public var quiet: Bool

    public init(threads: Int? = nil, quiet: Bool = false) {
        self.threads = threads
        self.quiet = quiet
    }

    /// Applies the thread budget (before models load) and returns it.
    @discardableResult
    public func apply() -> Int {
        if let threads { Compute.setThreads(threads) }
        return Compute.threads
    }
}

/// A request the task cannot run as asked (a usage error: HTTP 400, CLI exit status 2).
public struct RequestError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Runs a task's stage graph into a sink: the one place where a job is started, stopped by
/// Ctrl-C, delivered in input order and committed, for every task and front end.
public enum Runner {
    /// `graph` builds the flow from the job and the sink's resume check. `control`: the job is
    /// stopped through it (a server's request) instead of by SIGINT / SIGTERM (the CLI).
    /// `interruptNote`: what the first Ctrl-C says (default: the items in flight finish);
    /// `onInterrupt` runs then too.
    public static func run<R: Sendable>(into sink: any ResultSink<R>, window: Int, progress: Progress, control: JobControl? = nil,
                                        interruptNote: String? = nil, onInterrupt: @escaping @Sendable () -> Void = {},
                                        graph: (Job, @escaping @Sendable (SourceItem) -> Bool) -> Flow<R>) throws -> JobSummary {
        let job = Job(window: window, progress: progress)
        if let control { control.attach(job) } else { Interrupts.cancel(job, note: interruptNote, onFirst: onInterrupt) }
        let box = UncheckedBox(sink)
        try sink.begin()
        let summary = graph(job) { box.value.isDone($0) }.sink { e in
            do {
                switch e.value {
                case .success(let r): try sink.write(r, for: e.source)
                case .failure(let f): try sink.failed(f, for: e.source)
                }
            } catch {
                job.progress.failed(ItemFailure(path: e.source.path, error: error))
            }
        }
        try sink.finish()
        return summary
    }
}

/// A value handed to a stage thread that only reads it (a sink's resume set is locked inside).
final class UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
