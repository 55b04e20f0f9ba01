import Dispatch
import Engine
import Foundation

/// Where every request's compute runs: one job at a time per lane (speech, vision, text), at
/// most `capacity` jobs waiting or running in all. A request beyond that is refused at once
/// (429 with `Retry-After`), so memory stays bounded however many clients ask.
///
/// Lanes: a one-text embedding does not wait behind a 13 s transcription. Jobs of two lanes
/// run at once on the one compute budget (`Compute`: busy threads never exceed the cores),
/// so a job alone still has every core, and a long job running beside a short one gives up
/// about the short one's compute, between its own parallel steps.
final class ComputeQueue: @unchecked Sendable {
    /// Which models a job runs: jobs of one lane queue behind each other, lanes run side by side.
    enum Lane: String, CaseIterable, Sendable { case speech, vision, text }

    let capacity: Int
    private let lanes: [Lane: DispatchQueue] = Dictionary(uniqueKeysWithValues: Lane.allCases.map {
        ($0, DispatchQueue(label: "mmpipe.compute.\($0.rawValue)"))
    })
    private let lock = NSLock()
    private var inFlight = 0
    /// Seconds of the jobs done, smoothed (for `Retry-After`).
    private var meanSeconds = 1.0
    private var finishedJobs = 0
    /// Called with the number of jobs waiting or running whenever it changes.
    var onDepth: @Sendable (Int) -> Void = { _ in }

    init(capacity: Int) {
        precondition(capacity > 0, "ComputeQueue: capacity must be positive")
        self.capacity = capacity
    }

    /// Jobs waiting or running.
    var depth: Int {
        lock.lock(); defer { lock.unlock() }
        return inFlight
    }

    /// A place in the queue, taken by `admit` before the request's body is read (so at most
    /// `capacity` bodies are held), used by `run`, and given back when its job ends or the
    /// request ends without one (`giveBack` is idempotent).
    final class Place: @unchecked Sendable {
        private let queue: ComputeQueue
        private let lock = NSLock()
        private var returned = false
        /// A streamed answer's task runs the job after the handler has returned.
        var handedOver = false

        fileprivate init(_ queue: ComputeQueue) { self.queue = queue }

        func giveBack(seconds: Double? = nil) {
            lock.lock()
            let first = !returned
            returned = true
            lock.unlock()
            if first { queue.finish(seconds: seconds) }
        }
    }

    /// Takes a place in the queue, or refuses (429 with the seconds to wait).
    func admit() throws -> Place {
        let (admitted, depth, wait) = reserve()
        guard admitted else {
            throw APIError(.tooManyRequests, "The server is busy (\(capacity) request\(capacity == 1 ? "" : "s") waiting or running); retry in \(wait) s",
                           type: "rate_limit_exceeded", code: "rate_limit_exceeded", retryAfter: wait)
        }
        onDepth(depth)
        return Place(self)
    }

    /// Runs `work` in `place`'s turn, and returns its result; the place is given back when
    /// it ends. `control` stops it: the caller's task being cancelled (its client went away)
    /// or `timeout` seconds passing cancel it, and `work` sees its job cancelled and returns
    /// early. Throws `APIError` 504 when the time ran out.
    func run<T: Sendable>(_ place: Place, lane: Lane, control: JobControl, timeout: Double,
                          _ work: @escaping @Sendable (JobControl) throws -> T) async throws -> T {
        // A text job is a few milliseconds: it takes a core at once beside another lane's job.
        control.express = lane == .text
        let timedOut = TimedOut()
        let expire = DispatchWorkItem { timedOut.set(); control.cancel() }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: expire)
        defer { expire.cancel() }
        let result: Result<T, Error> = await withTaskCancellationHandler {
            await withCheckedContinuation { (done: CheckedContinuation<Result<T, Error>, Never>) in
                lanes[lane]!.async { [self] in
                    let start = DispatchTime.now().uptimeNanoseconds
                    lock.lock(); runningSince[lane] = start; lock.unlock()
                    let r: Result<T, Error> = control.isCancelled ? .failure(CancellationError()) : Result { try work(control) }
                    lock.lock(); runningSince[lane] = nil; lock.unlock()
                    place.giveBack(seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                    done.resume(returning: r)
                }
            }
        } onCancel: {
            control.cancel()
        }
        if timedOut.value {
            throw APIError(.gatewayTimeout, "The request took longer than this server's limit of \(Int(timeout)) s",
                           type: "timeout", code: "timeout")
        }
        return try result.get()
    }

    /// When each lane's running job started (for `Retry-After` before any job has finished).
    private var runningSince: [Lane: UInt64] = [:]

    private func reserve() -> (Bool, Int, Int) {
        lock.lock(); defer { lock.unlock() }
        // A place frees when the running job ends: the mean job's time less what it has run
        // (a quarter of the mean at least), or, before any job has finished, as long again
        // as it has run.
        // (The job running longest: the place freed first is another lane's at best.)
        let running = runningSince.values.min().map { Double(DispatchTime.now().uptimeNanoseconds - $0) / 1e9 } ?? 0
        let remaining = finishedJobs == 0 ? running : max(meanSeconds - running, meanSeconds / 4)
        let wait = max(1, Int(remaining.rounded(.up)))
        guard inFlight < capacity else { return (false, inFlight, wait) }
        inFlight += 1
        return (true, inFlight, wait)
    }

    fileprivate func finish(seconds: Double?) {
        lock.lock()
        inFlight -= 1
        if let seconds {
            meanSeconds = finishedJobs == 0 ? seconds : 0.7 * meanSeconds + 0.3 * seconds
            finishedJobs += 1
        }
        let d = inFlight
        lock.unlock()
        onDepth(d)
    }
}

/// A flag set once, read from another thread.
private final class TimedOut: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    func set() { lock.lock(); flag = true; lock.unlock() }
    var value: Bool { lock.lock(); defer { lock.unlock() }; return flag }
}
