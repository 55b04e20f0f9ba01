import Foundation
import Logging

/// Standard error as mmpipe writes it: the progress line (redrawn in place on a terminal)
/// and messages, one line each, which clear a drawn progress line first.
public final class Console: @unchecked Sendable {
    public static let standardError = Console { FileHandle.standardError.write(Data($0.utf8)) }

    private let lock = NSLock()
    private var barShown = false
    private let write: @Sendable (String) -> Void

    public init(write: @escaping @Sendable (String) -> Void) { self.write = write }

    /// One whole line (a message, a summary).
    public func line(_ text: String) {
        lock.lock(); defer { lock.unlock() }
        write((barShown ? "\r\u{1B}[K" : "") + text + "\n")
        barShown = false
    }

    /// Removes the progress line (a terminal), if one is shown.
    public func clearBar() {
        lock.lock(); defer { lock.unlock() }
        if barShown { write("\r\u{1B}[K") }
        barShown = false
    }

    /// The progress line, redrawn in place (a terminal).
    public func bar(_ text: String) {
        lock.lock(); defer { lock.unlock() }
        write("\r\u{1B}[K" + text)
        barShown = true
    }
}

/// Every message mmpipe says (errors, warnings, notes) goes through swift-log with this
/// handler: `mmpipe: message`, `mmpipe: warning: message`; debug and trace only when
/// `MMPIPE_LOG=debug` (or `trace`).
public struct ConsoleLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let console: Console

    public init(console: Console = .standardError, level: Logger.Level? = nil) {
        self.console = console
        logLevel = level ?? ProcessInfo.processInfo.environment["MMPIPE_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .info
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?,
                    source: String, file: String, function: String, line: UInt) {
        let prefix = level == .warning ? "mmpipe: warning: " : "mmpipe: "
        console.line(prefix + message.description)
    }
}

/// The logger every layer reports through.
public enum Report {
    public static let log = Logger(label: "mmpipe") { _ in ConsoleLogHandler() }
}
