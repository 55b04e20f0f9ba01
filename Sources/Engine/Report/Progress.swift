import Foundation
import Logging

/// Progress on stderr: a one-line bar redrawn in place on a terminal, a plain line every few
/// seconds otherwise, or nothing (`--quiet`). Failures are always printed, one line each.
public final class Progress: @unchecked Sendable {
    public enum Mode: Sendable { case terminal, lines, quiet }

    public let mode: Mode
    /// Whether the job's last line is its summary (`3 done, ...`); without it the progress
    /// line is cleared at the end (one input whose result stands alone on stdout).
    public let summary: Bool
    private let lock = NSLock()
    private var lastDraw = DispatchTime.now().uptimeNanoseconds
    private let interval: UInt64
    private let console: Console
    private let log: Logger
    private var lastDone = 0, lastFailed = 0
    private var working: String?

    public init(mode: Mode, interval: Double? = nil, summary: Bool = true, console: Console = .standardError, log: Logger = Report.log) {
        self.mode = mode
        self.summary = summary
        self.interval = UInt64((interval ?? (mode == .terminal ? 0.2 : 10)) * 1e9)
        self.console = console
        self.log = log
    }

    /// `.terminal` when stderr is a terminal, `.lines` otherwise, `.quiet` when asked.
    public static func automatic(quiet: Bool, summary: Bool = true) -> Progress {
        if quiet { return Progress(mode: .quiet) }
        return Progress(mode: isatty(STDERR_FILENO) == 1 ? .terminal : .lines, summary: summary)
    }

    /// One line for one failed item (always shown, also with --quiet: it is the result).
    public func failed(_ f: ItemFailure) { log.error("\(f.description)") }

    public func warn(_ message: String) { log.warning("\(message)") }

    /// A step of the job worth saying (not with --quiet).
    public func note(_ message: String) { if mode != .quiet { log.info("\(message)") } }

    /// Where the item in work is (a transcription's position in its audio), shown after the
    /// counts; drawn at the same pace as they are.
    public func working(_ text: String?, job: Job) {
        lock.lock()
        working = text
        let (done, failed) = (lastDone, lastFailed)
        lock.unlock()
        update(done: done, failed: failed, job: job)
    }

    func update(done: Int, failed: Int, job: Job) {
        guard mode != .quiet else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        lock.lock(); defer { lock.unlock() }
        lastDone = done; lastFailed = failed
        guard now - lastDraw >= interval else { return }
        lastDraw = now
        let elapsed = Double(now - job.startTime) * 1e-9
        let counts = job.sourceCounts
        let rate = elapsed > 0 ? Double(done + failed) / elapsed : 0
        var text = "\(done + failed)"
        if let total = job.total {
            // The share done: by seconds of audio where the items say them, else by items.
            let fraction = job.workFraction(completed: done + failed) ?? Double(done + failed) / Double(max(total, 1))
            text += "/\(total) " + Progress.bar(fraction)
            if job.hasWork {
                text += String(format: " %.0f%%", fraction * 100)
            } else {
                text += String(format: " %.1f items/s", rate)
            }
            // ETA once there is something to go by.
            if fraction > 0.001 && elapsed > 1 {
                text += ", ETA " + Progress.duration(elapsed / fraction * (1 - fraction))
            } else {
                text += ", ETA --:--"
            }
        } else {
            text += String(format: " (%d found so far) %.1f items/s", counts.found, rate)
        }
        if failed > 0 { text += ", \(failed) failed" }
        if counts.skipped > 0 { text += ", \(counts.skipped) skipped" }
        if let working { text += "; " + working }
        if mode == .terminal {
            console.bar(text)
        } else {
            console.line("mmpipe: " + text)
        }
    }

    func finish(_ summary: JobSummary) {
        lock.lock(); defer { lock.unlock() }
        guard mode != .quiet else { return }
        if self.summary { console.line("mmpipe: " + summary.line) } else { console.clearBar() }
    }

    static func bar(_ fraction: Double, width: Int = 24) -> String {
        let filled = Int((min(max(fraction, 0), 1) * Double(width)).rounded())
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
    }

    static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}

/// Process resource figures for summaries and memory tests.
public enum ResourceUsage {
    /// Peak resident set size of this process so far, in MB (getrusage; KB on Linux).
    public static var peakRSSMegabytes: Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    /// Current resident set size in MB (from /proc/self/statm), or 0 where unavailable.
    public static var currentRSSMegabytes: Double {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Double(fields[1]) else { return 0 }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
    }
}
