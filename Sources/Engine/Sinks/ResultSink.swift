import Foundation

/// Where a sink's text goes: standard output, or a buffer (an HTTP response body, a test).
public protocol TextOutput: AnyObject, Sendable {
    func write(_ text: String)
    /// Pushes what is written so far to the reader (a live transcript line by line).
    func flush()
}

/// Standard output, through C's stdio buffer (the one `print` uses).
public final class StandardOutput: TextOutput, @unchecked Sendable {
    public static let shared = StandardOutput()
    public func write(_ text: String) { fputs(text, stdout) }
    public func flush() { fflush(stdout) }
}

/// Text kept in memory: a response body, or what a test reads back.
public final class BufferOutput: TextOutput, @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = ""
    public init() {}
    public func write(_ text: String) { lock.lock(); buffer += text; lock.unlock() }
    public func flush() {}
    public var text: String { lock.lock(); defer { lock.unlock() }; return buffer }
    public var data: Data { Data(text.utf8) }
}

/// The end of every job: each input's record (or its failure) arrives here, in input order.
/// Sinks that write files are atomic (temporary file renamed at `finish`) and know which
/// inputs an earlier run finished (`isDone`, for resume).
public protocol ResultSink<Record>: AnyObject {
    associatedtype Record
    /// True when an earlier run already holds this exact input's result (resume).
    func isDone(_ item: SourceItem) -> Bool
    /// Before the first record (a CSV header).
    func begin() throws
    func write(_ record: Record, for source: SourceItem) throws
    /// A failed input: the job's reporter has said it already; a file sink records it so a
    /// later run tries it again.
    func failed(_ failure: ItemFailure, for source: SourceItem) throws
    /// After the last record, also after an interruption: puts files in place.
    func finish() throws
}

extension ResultSink {
    public func isDone(_ item: SourceItem) -> Bool { false }
    public func begin() throws {}
    public func failed(_ failure: ItemFailure, for source: SourceItem) throws {}
    public func finish() throws {}
}

/// JSON encoding as every mmpipe record is written: sorted keys, slashes as they are.
/// Numbers are written as the values they are: a float32 by its shortest decimal (`0.2`,
/// not the `0.20000000298023224` it widens to, `JSONValue.decimal`), a time in seconds to
/// the millisecond (`5.56`, not `5.5600000000000005`, `JSONValue.seconds`).
public enum RecordJSON {
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    public static func line<R: Encodable>(_ record: R) throws -> String {
        String(decoding: try encoder().encode(record), as: UTF8.self)
    }
}

/// A record with the fields resume matches on (`path`, `size`, `mtime_us`, and the
/// `request` digest when there is one) merged in.
public struct Stamped<R: Encodable>: Encodable {
    public let record: R
    public let source: SourceItem
    public let request: RequestIdentity?

    public init(record: R, source: SourceItem, request: RequestIdentity? = nil) {
        self.record = record
        self.source = source
        self.request = request
    }

    enum Keys: String, CodingKey { case path, size, mtimeUs = "mtime_us", sha256, request }

    public func encode(to encoder: Encoder) throws {
        try record.encode(to: encoder)
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(source.path, forKey: .path)
        try c.encode(source.size, forKey: .size)
        try c.encode(source.mtimeMicros, forKey: .mtimeUs)
        try c.encodeIfPresent(source.digest, forKey: .sha256)
        try c.encodeIfPresent(request?.digest, forKey: .request)
    }
}

/// A failed input's line in a results file: its resume fields and `error` (not kept on
/// resume, so it is tried again).
struct FailureRecord: Encodable {
    let error: String
}

/// One JSON object per record on a text output (`--format json`).
public final class JSONSink<R: Encodable>: ResultSink {
    let output: TextOutput
    public init(_ output: TextOutput = StandardOutput.shared) { self.output = output }
    public func write(_ record: R, for source: SourceItem) throws { output.write(try RecordJSON.line(record) + "\n") }
}

/// Records as JSON lines in a results file (`--output FILE`), written atomically, with the
/// resume fields; a second run skips inputs already in it.
public final class ResultsFileSink<R: Encodable>: ResultSink {
    public let file: JSONLinesOutput
    public init(_ file: JSONLinesOutput) { self.file = file }
    public convenience init(path: String, overwrite: Bool, request: RequestIdentity? = nil) throws {
        self.init(try JSONLinesOutput(url: URL(fileURLWithPath: path), overwrite: overwrite, request: request))
    }
    public func isDone(_ item: SourceItem) -> Bool { file.isDone(item) }
    public func write(_ record: R, for source: SourceItem) throws {
        try file.append(Stamped(record: record, source: source, request: file.request))
    }
    public func failed(_ failure: ItemFailure, for source: SourceItem) throws {
        try file.append(Stamped(record: FailureRecord(error: failure.reason), source: source, request: file.request))
    }
    public func finish() throws { try file.commit() }
}

/// A record as a person reads it: lines for a terminal.
public protocol TableRecord {
    var tableLines: [String] { get }
}

public final class TableSink<R: TableRecord>: ResultSink {
    let output: TextOutput
    public init(_ output: TextOutput = StandardOutput.shared) { self.output = output }
    public func write(_ record: R, for source: SourceItem) throws {
        for line in record.tableLines { output.write(line + "\n") }
    }
}

/// A record as CSV rows (under the header its task names).
public protocol CSVRecord {
    var csvRows: [[String]] { get }
}

public final class CSVSink<R: CSVRecord>: ResultSink {
    let output: TextOutput
    let header: [String]
    public init(header: [String], _ output: TextOutput = StandardOutput.shared) {
        self.header = header
        self.output = output
    }
    public func begin() throws { output.write(header.joined(separator: ",") + "\n") }
    public func write(_ record: R, for source: SourceItem) throws {
        for row in record.csvRows { output.write(row.map(CSV.field).joined(separator: ",") + "\n") }
    }
}

/// A record as tab-separated rows (under the header its task names).
public protocol TSVRecord {
    var tsvRows: [[String]] { get }
}

/// Tab-separated values with a header line; a tab or line break inside a field becomes a space.
public final class TSVSink<R: TSVRecord>: ResultSink {
    let output: TextOutput
    let header: [String]
    public init(header: [String], _ output: TextOutput = StandardOutput.shared) {
        self.header = header
        self.output = output
    }
    public func begin() throws { output.write(header.joined(separator: "\t") + "\n") }
    public func write(_ record: R, for source: SourceItem) throws {
        for row in record.tsvRows {
            output.write(row.map { String($0.map { $0 == "\t" || $0 == "\n" || $0 == "\r" ? " " : $0 }) }.joined(separator: "\t") + "\n")
        }
    }
}

/// RFC 4180 quoting for a CSV field.
public enum CSV {
    public static func field(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}

/// The output formats of the commands that print records (classify, probe).
public enum RecordFormat: String, Sendable, CaseIterable {
    case table, json, csv

    /// The sink for this format on `output` (`csvHeader` above CSV rows), or the results
    /// file when `file` is given.
    public func sink<R: Encodable & TableRecord & CSVRecord>(of: R.Type, file: JSONLinesOutput?, csvHeader: [String],
                                                            output: TextOutput = StandardOutput.shared) -> any ResultSink<R> {
        if let file { return ResultsFileSink<R>(file) }
        switch self {
        case .table: return TableSink<R>(output)
        case .json: return JSONSink<R>(output)
        case .csv: return CSVSink<R>(header: csvHeader, output)
        }
    }
}

/// Keeps every item's record or failure in memory, in input order (a server's request: one
/// response from a job's few items).
public final class CollectingSink<R>: ResultSink, @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [(source: SourceItem, result: Result<R, ItemFailure>)] = []

    public init() {}

    public func write(_ record: R, for source: SourceItem) throws {
        lock.lock(); collected.append((source, .success(record))); lock.unlock()
    }

    public func failed(_ failure: ItemFailure, for source: SourceItem) throws {
        lock.lock(); collected.append((source, .failure(failure))); lock.unlock()
    }

    /// What reached the sink so far, in input order.
    public var results: [(source: SourceItem, result: Result<R, ItemFailure>)] {
        lock.lock(); defer { lock.unlock() }
        return collected
    }
}

/// Numbers as records write them (see `RecordJSON`).
public enum JSONValue {
    /// The shortest decimal that reads back as `x` (Float's description), as a Double: JSON
    /// then writes those digits.
    public static func decimal(_ x: Float) -> Double { x.isFinite ? Double(x.description) ?? Double(x) : Double(x) }

    public static func decimals(_ xs: [Float]) -> [Double] { xs.map(decimal) }

    /// Seconds to the millisecond (times are sums of 20 ms steps and offsets).
    public static func seconds(_ t: Double) -> Double { (t * 1000).rounded() / 1000 }
}
