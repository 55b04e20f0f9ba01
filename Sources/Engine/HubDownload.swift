import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import TensorCore

/// Downloads a Hugging Face model repository's files into the models folder.
///
/// The file list, sizes and (for large, LFS-stored files) sha256 come from the hub's tree API
/// (`GET {endpoint}/api/models/{repo}/tree/{revision}`); each file from
/// `{endpoint}/{repo}/resolve/{revision}/{path}`. A file is downloaded to `.NAME.part` beside
/// its target (an `AtomicFile.Writer`), continued with an HTTP range request when a part is
/// already there, checked (size, and sha256 when the hub gives it) and renamed into place; a
/// file already in place with the right size and hash is not downloaded again.
///
/// HTTP is AsyncHTTPClient's: one client per `download`, shut down before it returns.
public struct HubDownloader: Sendable {
    /// `MMPIPE_HF_ENDPOINT`, else https://huggingface.co.
    public var endpoint: URL
    public var revision: String = "main"
    /// Seconds allowed to connect, and between two reads of a response.
    public var timeout: TimeInterval = 30

    public init(endpoint: URL? = nil) {
        self.endpoint = endpoint
            ?? ProcessInfo.processInfo.environment["MMPIPE_HF_ENDPOINT"].flatMap { $0.isEmpty ? nil : URL(string: $0) }
            ?? URL(string: "https://huggingface.co")!
    }

    /// Files worth having from a model repository (weights in safetensors only).
    static let wanted: Set<String> = [
        "config.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json",
        "vocab.txt", "vocab.json", "merges.txt", "special_tokens_map.json",
    ]

    public struct RemoteFile: Sendable, Equatable {
        public let path: String
        public let size: Int64
        public let sha256: String?
    }

    public enum Failure: Error, CustomStringConvertible {
        case offline(String)
        case http(String)
        case check(String)
        public var description: String {
            switch self {
            case .offline(let s), .http(let s), .check(let s): return s
            }
        }
    }

    // MARK: Downloading

    /// Downloads `repo` into `folder`; `progress` sees each file as it is done.
    public func download(repo: String, into folder: URL, progress: (String) -> Void = { _ in }) async throws {
        try await withClient { client in
            let files = try await listFiles(repo: repo, client: client)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for f in files {
                let target = folder.appendingPathComponent(f.path)
                if try isComplete(target, f) {
                    progress("\(f.path): already here")
                    continue
                }
                try await fetch(repo: repo, file: f, to: target, client: client)
                progress("\(f.path): \(f.size) bytes")
            }
        }
    }

    /// `download(repo:into:progress:)` for synchronous callers: blocks until it is done.
    ///
    /// - Important: not for async code (it would hold a thread of the concurrency pool); use
    ///   the async overload there.
    public func download(repo: String, into folder: URL, progress: @escaping @Sendable (String) -> Void = { _ in }) throws {
        // `progress` escapes: the waiting task may release its closure only after the
        // semaphore has woken this thread.
        try Self.wait { try await self.download(repo: repo, into: folder, progress: progress) }
    }

    /// The repository's files that mmpipe uses.
    public func listFiles(repo: String) async throws -> [RemoteFile] {
        try await withClient { try await listFiles(repo: repo, client: $0) }
    }

    func listFiles(repo: String, client: HTTPClient) async throws -> [RemoteFile] {
        let url = endpoint.appendingPathComponent("api/models/\(repo)/tree/\(revision)")
        let response = try await send(HTTPClientRequest(url: url.absoluteString), client: client)
        let status = Int(response.status.code)
        let body: ByteBuffer
        do { body = try await response.body.collect(upTo: 64 << 20) } catch {
            throw Failure.http("\(url.absoluteString): \(Self.describe(error))")
        }
        guard status == 200 else {
            throw Failure.http(status == 404 || status == 401
                ? "\(repo): no such model repository at \(endpoint.absoluteString) (HTTP \(status))"
                : "\(url.absoluteString): HTTP \(status)")
        }
        guard let items = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [[String: Any]] else {
            throw Failure.http("\(url.absoluteString): not a file list")
        }
        let files = items.compactMap { item -> RemoteFile? in
            guard item["type"] as? String == "file", let path = item["path"] as? String, HubDownloader.wanted.contains(path),
                  let size = (item["size"] as? NSNumber)?.int64Value else { return nil }
            let sha = (item["lfs"] as? [String: Any])?["oid"] as? String
            return RemoteFile(path: path, size: size, sha256: sha)
        }
        guard files.contains(where: { $0.path == "model.safetensors" }) else {
            throw Failure.check("\(repo): the repository has no model.safetensors (mmpipe reads safetensors weights only)")
        }
        return files.sorted { $0.path < $1.path }
    }

    func isComplete(_ url: URL, _ f: RemoteFile) throws -> Bool {
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: url.path),
              (attrs[.size] as? NSNumber)?.int64Value == f.size else { return false }
        if let sha = f.sha256 { return try SHA256.hex(ofFile: url) == sha }
        return true
    }

    /// Downloads one file into `.NAME.part` (continuing what an earlier run left there),
    /// checks it and renames it over `target`. A part that fails its check is removed; a
    /// part cut short is kept for the next run.
    func fetch(repo: String, file f: RemoteFile, to target: URL, client: HTTPClient) async throws {
        let part = target.deletingLastPathComponent().appendingPathComponent(".\(f.path).part")
        let kept = ((try? FileManager.default.attributesOfItem(atPath: part.path))?[.size] as? NSNumber)?.int64Value ?? 0
        if kept > f.size { try? FileManager.default.removeItem(at: part) }
        let writer = try AtomicFile.Writer(target: target, temporary: part)
        defer { writer.close() }   // a no-op after commit or discard
        let url = endpoint.appendingPathComponent("\(repo)/resolve/\(revision)/\(f.path)")
        let have = writer.size
        if have < f.size {
            var request = HTTPClientRequest(url: url.absoluteString)
            if have > 0 { request.headers.add(name: "Range", value: "bytes=\(have)-") }
            let response = try await send(request, client: client)
            let status = Int(response.status.code)
            guard status == 200 || status == 206 else {
                _ = try? await response.body.collect(upTo: 1 << 20)
                throw Failure.http("\(url.absoluteString): HTTP \(status)")
            }
            // A server that ignores the range sends the whole file again.
            if status == 200, have > 0 { try writer.truncate() }
            // Bytes are appended as they arrive, so a dropped connection keeps what came.
            do {
                for try await chunk in response.body {
                    try chunk.withUnsafeReadableBytes { try writer.append($0) }
                }
            } catch let e as WeightFileError {
                throw e
            } catch {
                try? writer.synchronize()
                throw Failure.http("\(url.absoluteString): \(Self.describe(error)) (run the same command again to continue)")
            }
        }
        let size = writer.size
        guard size == f.size else {
            throw Failure.check("\(f.path): got \(size) of \(f.size) bytes (the download stopped; run the same command again to continue)")
        }
        if let sha = f.sha256 {
            try writer.synchronize()
            let got = try SHA256.hex(ofFile: part)
            guard got == sha else {
                writer.discard()
                throw Failure.check("\(f.path): sha256 \(got) but the hub says \(sha); the partial file was removed, run again")
            }
        }
        try writer.commit()
    }

    // MARK: HTTP

    /// Runs `body` with a new client and shuts the client down after it, whatever happens.
    func withClient<T>(_ body: (HTTPClient) async throws -> T) async throws -> T {
        var configuration = HTTPClient.Configuration()
        let seconds = TimeAmount.milliseconds(Int64(timeout * 1000))
        configuration.timeout = .init(connect: seconds, read: seconds)
        // A refused connection fails the request at once instead of being retried until the
        // connect timeout: `offline` is said promptly.
        configuration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let result: T
        do {
            result = try await body(client)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
        return result
    }

    /// Sends a request; a failure before any response means the hub cannot be reached.
    func send(_ request: HTTPClientRequest, client: HTTPClient) async throws -> HTTPClientResponse {
        do {
            return try await client.execute(request, deadline: .distantFuture)
        } catch {
            throw Failure.offline("cannot reach \(endpoint.absoluteString) (offline?): \(Self.describe(error))")
        }
    }

    static func describe(_ error: Error) -> String {
        if let e = error as? HTTPClientError { return e.description }
        if let e = error as? IOError { return e.description }
        return String(describing: error)
    }

    // MARK: Blocking

    /// A value handed to another task while its owner waits for that task.
    /// Runs `work` on the concurrency pool and blocks the calling thread until it ends.
    static func wait<T>(_ work: @escaping @Sendable () async throws -> T) throws -> T {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox<T>()
        Task.detached {
            do { box.result = .success(try await work()) } catch { box.result = .failure(error) }
            done.signal()
        }
        done.wait()
        return try box.result!.get()
    }

    final class ResultBox<T>: @unchecked Sendable {
        var result: Result<T, Error>?
    }
}

extension SHA256 {
    /// The SHA-256 of a file as lower-case hex, read in 4 MB chunks.
    static func hex(ofFile url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hasher.finalize().hex
    }
}

extension Digest {
    /// The digest as lower-case hex.
    var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in self { out += [digits[Int(byte >> 4)], digits[Int(byte & 15)]] }
        return String(decoding: out, as: UTF8.self)
    }
}
