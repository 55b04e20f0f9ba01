import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Ends every stream read from a pipe or socket (`--audio-stdin`) from outside: after `end()`,
/// reads return what the pipe already holds, then end of input, also a read that was waiting
/// for data (the first Ctrl-C on a live stream: transcribe what arrived). One per process.
public enum InputStreamEnd {
    nonisolated(unsafe) private static var wake: (read: Int32, write: Int32) = {
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) != 0 { return (-1, -1) }
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        return (fds[0], fds[1])
    }()
    nonisolated(unsafe) private static var ended = false
    private static let lock = NSLock()

    /// Ends the streams (safe from any thread, more than once).
    public static func end() {
        let fd = wake.write
        lock.lock(); ended = true; lock.unlock()
        var byte: UInt8 = 1
        if fd >= 0 { _ = write(fd, &byte, 1) }
    }

    public static var hasEnded: Bool {
        lock.lock(); defer { lock.unlock() }
        return ended
    }

    /// `read(2)` of `fd` that returns 0 (end of input) once `end()` was called and the
    /// bytes already waiting are read; -1 with errno on failure.
    static func read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
        let wakeFd = wake.read
        while true {
            if hasEnded {
                // What already arrived, without waiting for more.
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let r = poll(&p, 1, 0)
                if r < 0 && errno == EINTR { continue }
                if r <= 0 || p.revents & Int16(POLLIN | POLLHUP) == 0 { return 0 }
                return Glibc.read(fd, buffer, count)
            }
            guard wakeFd >= 0 else { return Glibc.read(fd, buffer, count) }
            var p = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFd, events: Int16(POLLIN), revents: 0)]
            let r = poll(&p, 2, -1)
            if r < 0 {
                if errno == EINTR { continue }
                return Glibc.read(fd, buffer, count)      // cannot poll (not a pollable fd): read plainly
            }
            if p[0].revents != 0 { return Glibc.read(fd, buffer, count) }
            // Woken: loop to the ended branch.
        }
    }
}
