import Foundation
import Testing
@testable import Engine

/// A thread-safe counter with a high-water mark.
final class Gauge: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var value = 0
    private(set) var peak = 0
    func add(_ n: Int) { lock.lock(); value += n; peak = max(peak, value); lock.unlock() }
}

func items(_ n: Int) -> [(SourceItem, Int)] {
    (0..<n).map { (SourceItem(path: "item-\($0)", size: Int64($0), mtime: 0), $0) }
}

@Suite("Stage graph")
struct StageGraphTests {
    @Test func outputKeepsInputOrderUnderRandomDelays() {
        let job = Job(window: 32)
        var seen: [Int] = []
        let summary = job.source(values: items(400))
            .map("jitter", workers: 4) { v, _ -> Int in
                usleep(UInt32.random(in: 0...1500))
                return v * 2
            }
            .map("jitter2", workers: 3) { v, _ -> Int in
                usleep(UInt32.random(in: 0...800))
                return v + 1
            }
            .sink { e in if case .success(let v) = e.value { seen.append(v) } }
        #expect(seen == (0..<400).map { $0 * 2 + 1 })
        #expect(summary.done == 400 && summary.failed == 0)
        #expect(summary.utilisation.map(\.name) == ["jitter", "jitter2"])
    }

    @Test func slowSinkBoundsItemsInFlight() {
        let window = 8
        let job = Job(window: window)
        let inFlight = Gauge()
        let summary = job.source(values: items(200))
            .map("fast", workers: 2) { v, _ -> Int in
                inFlight.add(1)
                return v
            }
            .sink { _ in
                usleep(1000)       // the slow consumer
                inFlight.add(-1)
            }
        #expect(summary.done == 200)
        // Between the stage and the sink there are never more than `window` items.
        #expect(inFlight.peak <= window, "peak in flight \(inFlight.peak) > window \(window)")
        #expect(inFlight.peak >= 2, "the stage never ran ahead of the sink")
    }

    struct Odd: Error, CustomStringConvertible { var description: String { "odd numbers are not allowed" } }

    @Test func aFailingItemBecomesARecordAndTheGraphGoesOn() {
        let job = Job(window: 16)
        var results: [Result<Int, ItemFailure>] = []
        let summary = job.source(values: items(50))
            .map("check", workers: 3) { v, _ -> Int in
                if v % 7 == 3 { throw Odd() }
                return v
            }
            .map("after", workers: 2) { v, _ in v * 10 }   // failures pass through untouched
            .sink { results.append($0.value) }
        #expect(results.count == 50)
        for (i, r) in results.enumerated() {
            switch r {
            case .success(let v): #expect(i % 7 != 3 && v == i * 10)
            case .failure(let f): #expect(i % 7 == 3 && f == ItemFailure(path: "item-\(i)", reason: "odd numbers are not allowed"))
            }
        }
        #expect(summary.failed == 7 && summary.done == 43)
    }

    struct Summer: BatchStage {
        let name = "batch"
        let maxBatch = 8
        let maxWait = 0.02
        let sizes: Gauge
        let log: BatchLog
        func process(_ batch: [Int], items: [SourceItem]) -> [Result<Int, Error>] {
            log.record(batch.count)
            return batch.map { .success($0 + 1000) }
        }
    }

    final class BatchLog: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var sizes: [Int] = []
        func record(_ n: Int) { lock.lock(); sizes.append(n); lock.unlock() }
    }

    @Test func batchesFillUpOrFlushAfterAShortWait() {
        let log = BatchLog()
        let job = Job(window: 64)
        var out: [Int] = []
        let summary = job.source(values: items(100))
            .map("slow source", workers: 1) { v, _ -> Int in
                if v >= 90 { usleep(40_000) }    // the tail trickles in: batches must not wait for 8
                return v
            }
            .batch(Summer(sizes: Gauge(), log: log))
            .sink { if case .success(let v) = $0.value { out.append(v) } }
        #expect(out == (0..<100).map { $0 + 1000 })
        #expect(summary.done == 100)
        #expect(log.sizes.allSatisfy { $0 >= 1 && $0 <= 8 })
        #expect(log.sizes.filter { $0 == 8 }.count >= 9, "full batches while items flow: \(log.sizes)")
        #expect(log.sizes.suffix(5).allSatisfy { $0 < 8 }, "the trickling tail waited for full batches: \(log.sizes)")
    }

    /// Cancel part way, commit, run again with resume: every input is in the output exactly once.
    @Test func cancelThenResumeGivesEveryInputExactlyOnce() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("resume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for i in 0..<300 { try Data("\(i)".utf8).write(to: dir.appendingPathComponent(String(format: "f%03d.txt", i))) }
        let results = dir.appendingPathComponent("out/results.jsonl")

        func runOnce(cancelAfter: Int?) throws -> JobSummary {
            let output = try JSONLinesOutput(url: results, overwrite: false)
            let job = Job(window: 16)
            var sunk = 0
            let summary = job.source(InputPaths([dir.path]) { $0.hasSuffix(".txt") }) { output.isDone($0) }
                .map("read", workers: 2) { _, item -> String in
                    usleep(200)
                    return try String(contentsOfFile: item.path, encoding: .utf8)
                }
                .sink { e in
                    if case .success(let text) = e.value {
                        try? output.append(Stamped(record: ["text": text], source: e.source))
                    }
                    sunk += 1
                    if let n = cancelAfter, sunk == n { job.cancel() }
                }
            try output.commit()
            return summary
        }

        let first = try runOnce(cancelAfter: 100)
        #expect(first.cancelled)
        #expect(first.done >= 100 && first.done < 300, "first run did \(first.done)")
        let second = try runOnce(cancelAfter: nil)
        #expect(!second.cancelled && second.skipped == first.done && second.done == 300 - first.done)

        let lines = try String(contentsOf: results, encoding: .utf8).split(separator: "\n")
        let texts = lines.compactMap { line -> String? in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["text"] as? String
        }
        #expect(texts.count == 300)
        #expect(Set(texts) == Set((0..<300).map(String.init)))
        // Nothing but the results file is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: results.deletingLastPathComponent().path) == ["results.jsonl"])
    }

    @Test func missingInputsAreFailureRecordsAndDirectoriesStream() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("inputs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("sub/.hidden"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["a.jpg", "sub/b.png", "sub/.hidden/c.jpg", "sub/notes.txt", ".d.jpg"] {
            try Data("x".utf8).write(to: dir.appendingPathComponent(name))
        }
        let globbed = InputPaths([dir.path + "/sub/*.png", dir.path + "/*.jpg", dir.path + "/*.none"]).map { $0 }
        #expect(globbed == [.found(dir.path + "/sub/b.png", relative: "b.png"), .found(dir.path + "/a.jpg", relative: "a.jpg"),
                            .unmatched(dir.path + "/*.none")])
        let found = InputPaths([dir.path, "/no/such/file.jpg"]) { $0.hasSuffix(".jpg") || $0.hasSuffix(".png") }.map { $0 }
        let files = found.compactMap { if case .found(let p, let r) = $0, p == dir.path + "/" + r { return r } else { return nil } }
        #expect(Set(files) == ["a.jpg", "sub/b.png"])
        #expect(found.contains(.missing("/no/such/file.jpg")))
    }
}
