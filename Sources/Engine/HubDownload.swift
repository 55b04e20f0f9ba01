import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif


/// Downloads a Hugging Face model repository's files into the models folder.
///
/// The file list, sizes and (for large, LFS-stored files) sha256 come from the hub's tree API
/// (`GET {endpoint}/api/models/{repo}/tree/{revision}`); each file from
/// `{endpoint}/{repo}/resolve/{revision}/{path}`. A file is downloaded to `.NAME.part` beside
/// its target, continued with an HTTP range request when a part is already there, checked
/// (size, and sha256 when the hub gives it) and renamed into place; a file already in place
/// with the right size and hash is not downloaded again.
public struct HubDownloader: Sendable {
    /// `MMPIPE_HF_ENDPOINT`, else https://huggingface.co.
    public var endpoint: URL
    public var revision: String = "main"
    public var timeout: TimeInterval = 30

    public init(endpoint: URL? = nil) {
        self.endpoint = endpoint
            ?? ProcessInfo.processInfo.environment["MMPIPE_HF_ENDPOINT"].flatMap { $0.isEmpty ? nil : URL(string: $0) }
            ?? URL(string: "https://huggingface.co")!
    }

    /// The mmpipe model names with a known Hugging Face repository.
    public static let knownRepositories: [String: String] = [
        "clip-vit-b-32": "openai/clip-vit-base-patch32",
        "clip-vit-b-16": "openai/clip-vit-base-patch16",
        "clip-vit-l-14": "openai/clip-vit-large-patch14",
        "clip-vit-l-14-336": "openai/clip-vit-large-patch14-336",
        "resnet18": "microsoft/resnet-18", "resnet34": "microsoft/resnet-34", "resnet50": "microsoft/resnet-50",
        "resnet101": "microsoft/resnet-101", "resnet152": "microsoft/resnet-152",
        "vit-b-16": "google/vit-base-patch16-224", "vit-b-32": "google/vit-base-patch32-224-in21k",
        "vit-l-16": "google/vit-large-patch16-224",
    ]

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

    /// The repository's files that mmpipe uses.
    public func listFiles(repo: String) throws -> [RemoteFile] {
        let url = endpoint.appendingPathComponent("api/models/\(repo)/tree/\(revision)")
        let (data, status) = try get(url)
        guard status == 200 else {
            throw Failure.http(status == 404 || status == 401
                ? "\(repo): no such model repository at \(endpoint.absoluteString) (HTTP \(status))"
                : "\(url.absoluteString): HTTP \(status)")
        }
        guard let items = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
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

    /// Downloads `repo` into `folder`; `progress` sees each file as it is done.
    public func download(repo: String, into folder: URL, progress: (String) -> Void = { _ in }) throws {
        let files = try listFiles(repo: repo)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for f in files {
            let target = folder.appendingPathComponent(f.path)
            if try isComplete(target, f) {
                progress("\(f.path): already here")
                continue
            }
            try fetch(repo: repo, file: f, to: target)
            progress("\(f.path): \(f.size) bytes")
        }
    }

    func isComplete(_ url: URL, _ f: RemoteFile) throws -> Bool {
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: url.path),
              (attrs[.size] as? NSNumber)?.int64Value == f.size else { return false }
        if let sha = f.sha256 { return try SHA256Hash.file(url) == sha }
        return true
    }

    func fetch(repo: String, file f: RemoteFile, to target: URL) throws {
        let part = target.deletingLastPathComponent().appendingPathComponent(".\(f.path).part")
        let fm = FileManager.default
        var have = ((try? fm.attributesOfItem(atPath: part.path))?[.size] as? NSNumber)?.int64Value ?? 0
        if have > f.size { try? fm.removeItem(at: part); have = 0 }
        if !fm.fileExists(atPath: part.path) { fm.createFile(atPath: part.path, contents: nil) }
        let url = endpoint.appendingPathComponent("\(repo)/resolve/\(revision)/\(f.path)")
        if have < f.size {
            var request = URLRequest(url: url, timeoutInterval: timeout)
            if have > 0 { request.setValue("bytes=\(have)-", forHTTPHeaderField: "Range") }
            let out = try FileHandle(forWritingTo: part)
            defer { try? out.close() }
            try out.seekToEnd()
            // Bytes are appended as they arrive, so a dropped connection keeps what came.
            let status = try stream(request, appendingTo: out, resumeFrom: have)
            try? out.synchronize()
            guard status == 200 || status == 206 else { throw Failure.http("\(url.absoluteString): HTTP \(status)") }
        }
        let size = ((try? fm.attributesOfItem(atPath: part.path))?[.size] as? NSNumber)?.int64Value ?? -1
        guard size == f.size else {
            throw Failure.check("\(f.path): got \(size) of \(f.size) bytes (the download stopped; run the same command again to continue)")
        }
        if let sha = f.sha256 {
            let got = try SHA256Hash.file(part)
            guard got == sha else {
                try? fm.removeItem(at: part)
                throw Failure.check("\(f.path): sha256 \(got) but the hub says \(sha); the partial file was removed, run again")
            }
        }
        guard rename(part.path, target.path) == 0 else {
            throw Failure.check("\(target.path): cannot rename the download into place: \(String(cString: strerror(errno)))")
        }
    }

    // MARK: HTTP (synchronous wrappers around URLSession)

    func get(_ url: URL) throws -> (Data, Int) {
        let sink = Sink(file: nil, resumeFrom: 0)
        let status = try run(URLRequest(url: url, timeoutInterval: timeout), sink)
        return (sink.memory, status)
    }

    /// Streams a response body onto `file` (at its end; from the start again if the server
    /// answers a range request with the whole file). Returns the HTTP status.
    func stream(_ request: URLRequest, appendingTo file: FileHandle, resumeFrom: Int64) throws -> Int {
        try run(request, Sink(file: file, resumeFrom: resumeFrom))
    }

    /// Receives a body chunk by chunk (URLSession delegate).
    final class Sink: NSObject, URLSessionDataDelegate, @unchecked Sendable {
        let file: FileHandle?
        let resumeFrom: Int64
        var memory = Data()
        var status = 0
        var error: Error?
        let done = DispatchSemaphore(value: 0)

        init(file: FileHandle?, resumeFrom: Int64) {
            self.file = file
            self.resumeFrom = resumeFrom
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
            status = (response as? HTTPURLResponse)?.statusCode ?? 0
            if status == 200, resumeFrom > 0, let file { try? file.truncate(atOffset: 0) }
            completionHandler(.allow)
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
            if let file, status == 200 || status == 206 {
                do { try file.write(contentsOf: data) } catch { self.error = error; dataTask.cancel() }
            } else if memory.count < 64 << 20 {
                memory.append(data)
            }
        }

        func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
            if self.error == nil { self.error = error }
            done.signal()
        }
    }

    func run(_ request: URLRequest, _ sink: Sink) throws -> Int {
        let session = URLSession(configuration: .ephemeral, delegate: sink, delegateQueue: nil)
        session.dataTask(with: request).resume()
        sink.done.wait()
        session.finishTasksAndInvalidate()
        if let e = sink.error as? URLError, HubDownloader.offlineCodes.contains(e.code), sink.status == 0 {
            throw Failure.offline("cannot reach \(endpoint.absoluteString) (offline?): \(e.localizedDescription)")
        }
        if let e = sink.error {
            throw Failure.http("\(request.url?.absoluteString ?? ""): \(e.localizedDescription) (run the same command again to continue)")
        }
        return sink.status
    }

    static let offlineCodes: Set<URLError.Code> = [
        .notConnectedToInternet, .cannotConnectToHost, .cannotFindHost, .dnsLookupFailed, .timedOut,
        .networkConnectionLost, .internationalRoamingOff, .dataNotAllowed,
    ]
}
