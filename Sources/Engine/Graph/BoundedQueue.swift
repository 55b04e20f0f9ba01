import Foundation

/// A FIFO of at most `capacity` elements shared by threads: `put` blocks while it is full
/// (back-pressure), `take` blocks while it is empty, and `close` wakes everyone: `put`
/// then refuses, `take` drains what is left and then returns nil.
public final class BoundedQueue<T>: @unchecked Sendable {
    private var items: [T] = []
    private var head = 0
    private var closed = false
    private let condition = NSCondition()
    public let capacity: Int

    public init(capacity: Int) {
        precondition(capacity > 0, "queue capacity must be positive")
        self.capacity = capacity
    }

    /// Blocks until there is room; false when the queue was closed (the element is dropped).
    @discardableResult
    public func put(_ item: T) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !closed && items.count - head >= capacity { condition.wait() }
        if closed { return false }
        items.append(item)
        condition.broadcast()
        return true
    }

    /// Blocks until an element is there; nil once the queue is closed and empty.
    public func take() -> T? {
        condition.lock()
        defer { condition.unlock() }
        while !closed && items.count == head { condition.wait() }
        if items.count == head { return nil }
        let item = items[head]
        head += 1
        if head > 64 && head * 2 > items.count {   // compact now and then, O(1) amortised
            items.removeFirst(head)
            head = 0
        }
        condition.broadcast()
        return item
    }

    /// Like `take`, but gives up (nil) at `deadline` (DispatchTime nanoseconds).
    public func take(until deadline: UInt64) -> T? {
        condition.lock()
        defer { condition.unlock() }
        while !closed && items.count == head {
            let now = DispatchTime.now().uptimeNanoseconds
            if now >= deadline { return nil }
            _ = condition.wait(until: Date(timeIntervalSinceNow: Double(deadline - now) * 1e-9))
        }
        if items.count == head { return nil }
        let item = items[head]
        head += 1
        condition.broadcast()
        return item
    }

    /// True once closed with nothing left to take.
    public var isClosedAndEmpty: Bool {
        condition.lock()
        defer { condition.unlock() }
        return closed && items.count == head
    }

    public func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    public var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return items.count - head
    }
}

/// A counting semaphore for the in-flight window (items between the source and the sink).
final class Window: @unchecked Sendable {
    private var available: Int
    private let condition = NSCondition()
    private var released = false

    init(_ n: Int) { available = n }

    /// False when the window was opened for good (cancellation).
    func acquire() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while available == 0 && !released { condition.wait() }
        if released { return false }
        available -= 1
        return true
    }

    func release() {
        condition.lock()
        available += 1
        condition.signal()
        condition.unlock()
    }

    func openForGood() {
        condition.lock()
        released = true
        condition.broadcast()
        condition.unlock()
    }
}
