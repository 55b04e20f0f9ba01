import Foundation

/// SIGINT / SIGTERM stop a job gracefully: the first one cancels (the source stops, items in
/// flight finish, outputs are committed), a second one exits at once with status 130.
public enum Interrupts {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []
    nonisolated(unsafe) private static var count = 0
    private static let lock = NSLock()
    /// A queue of its own: the global queues' threads can all be busy with compute, and a
    /// signal then waited for one (a server's second Ctrl-C took seconds to act).
    private static let queue = DispatchQueue(label: "mmpipe.signals", qos: .userInteractive)

    public static func cancel(_ job: Job, note: String? = nil, onFirst: @escaping @Sendable () -> Void = {}) {
        watch {
            job.progress.warn(note ?? "interrupted: finishing the items in flight and saving results (press Ctrl-C again to quit at once)")
            job.cancel()
            onFirst()
        }
    }

    /// The first SIGINT / SIGTERM runs `first`; a second one exits at once with status 130.
    /// (A server drains on the first through swift-service-lifecycle; this says so and makes
    /// the second one quit.)
    public static func watch(_ first: @escaping @Sendable () -> Void) {
        lock.lock(); defer { lock.unlock() }
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: queue)
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
                first()
            }
            s.resume()
            sources.append(s)
        }
    }
}
