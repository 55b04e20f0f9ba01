import Crypto
import Foundation

/// What makes a task's results what they are: the model, the weights it loaded, and every
/// option that changes a result (not where results go, their format, or the threads).
/// Results files and manifests carry its `digest` on each line; resume keeps an earlier
/// result only when its digest is this one, so a run with another model, other weights or
/// other options never passes off old results as its own.
public struct RequestIdentity: Sendable, Equatable, CustomStringConvertible {
    /// (name, value) pairs, in a fixed order per task.
    public let fields: [(name: String, value: String)]

    public init(_ fields: [(name: String, value: String)]) { self.fields = fields }

    public static func == (a: RequestIdentity, b: RequestIdentity) -> Bool { a.digest == b.digest }

    /// 16 hex digits of the SHA-256 of the fields (`name=value` lines).
    public var digest: String {
        let text = fields.map { "\($0.name)=\($0.value)\n" }.joined()
        return SHA256.hash(data: Data(text.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// The fields a person reads in a message (the weights' stamp and digests left out).
    public var description: String {
        fields.filter { $0.name != "weights" && !$0.name.hasSuffix("digest") }.map { "\($0.name) \($0.value)" }.joined(separator: ", ")
    }

    /// A stamp of weights on disk (a file, or the files of a model folder): names, sizes and
    /// modification times, so replaced or retrained weights count as other weights without
    /// hashing gigabytes at every start.
    public static func weightsStamp(_ url: URL) -> String {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDir) else { return url.lastPathComponent }
        let files = isDir.boolValue
            ? ((try? fm.contentsOfDirectory(atPath: url.path)) ?? []).sorted().map { url.appendingPathComponent($0) }
            : [url]
        return files.compactMap { f -> String? in
            guard let a = try? fm.attributesOfItem(atPath: f.path), (a[.type] as? FileAttributeType) == .typeRegular else { return nil }
            let size = (a[.size] as? NSNumber)?.int64Value ?? 0
            let mtime = (a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return "\(f.lastPathComponent):\(size):\(Int64((mtime * 1e6).rounded()))"
        }.joined(separator: ";")
    }

    /// A refusal to continue `file` with results of another request.
    func mismatch(_ file: String, holds what: String) -> ItemFailure {
        ItemFailure(path: file, reason: "holds \(what) of another request (other model, weights or options) than this one (\(description)): pass --overwrite to replace it, or write to another file")
    }
}
