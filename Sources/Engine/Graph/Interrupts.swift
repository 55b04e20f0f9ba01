import Foundation

/// SIGINT / SIGTERM stop a job gracefully: the first one cancels (the source stops, items in
/// flight finish, outputs are committed), a second one exits at once with status 130.
public enum Interrupts {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []
    nonisolated(unsafe) private static var count = 0
    private static let lock = NSLock()

    public static func cancel(_ job: Job, onFirst: @escaping @Sendable () -> Void = {}) {
        lock.lock(); defer { lock.unlock() }
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler {
                lock.lock()
                count += 1
                let n = count
                lock.unlock()
                if n > 1 {
                    // At once: no exit handlers. Compute threads may be inside OpenBLAS, whose
                    // exit-time destructor unmaps the buffers they read (the process then died
                    // of SIGSEGV, not 130). Outputs are written atomically, so none is torn.
                    fflush(stdout)
                    _exit(130)
                }
                job.progress.warn("interrupted: finishing the items in flight and saving results (press Ctrl-C again to quit at once)")
                job.cancel()
                onFirst()
            }
            s.resume()
            sources.append(s)
        }
    }
}
