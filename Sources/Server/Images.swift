import Engine
import Foundation
import Hummingbird
import NIOCore
import TensorCore

/// `POST /v1/images/classifications` and `/v1/images/embeddings` (no OpenAI standard; see
/// `/openapi.json`): uploaded images and videos onto `ClassifyTask` and `EmbedTask`.
extension MMPipeServer {
    /// The uploaded files of a form (`file`, `image`, `file[]`, `image[]`), kept on disk for
    /// the request (names made safe; the originals are what answers name).
    struct Uploads {
        let folder: URL
        let files: [(name: String, path: String)]
    }

    func keepUploads(_ form: FormData) throws -> Uploads {
        let parts = form.parts.filter { ["file", "image", "file[]", "image[]", "images", "images[]"].contains($0.name) }
        guard !parts.isEmpty else {
            let names = form.parts.map { "'\($0.name)'" }.joined(separator: ", ")
            throw APIError.badRequest("No image: send each as a 'file' (or 'image') field; the form has \(names)", param: "file")
        }
        if parts.count > 256 { throw APIError.badRequest("\(parts.count) files; at most 256 in one request", param: "file") }
        if let empty = parts.first(where: { $0.body.readableBytes == 0 }) {
            throw APIError.badRequest("The uploaded file '\(empty.filename ?? empty.name)' is empty", param: "file")
        }
        let folder = uploads.appendingPathComponent(UUID().uuidString)
        var files: [(String, String)] = []
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for (i, p) in parts.enumerated() {
                let name = p.filename.map { ($0 as NSString).lastPathComponent }.flatMap { $0.isEmpty ? nil : $0 } ?? "image-\(i)"
                // A numbered prefix keeps two uploads of one name apart, and input order.
                let path = folder.appendingPathComponent(String(format: "%03d-", i) + Self.safeName(name)).path
                try Data(buffer: p.body).write(to: URL(fileURLWithPath: path))
                files.append((name, path))
            }
        } catch {
            try? FileManager.default.removeItem(at: folder)
            throw APIError(.internalServerError, "Could not keep the uploads: \(error)", type: "server_error")
        }
        return Uploads(folder: folder, files: files)
    }

    /// `true` / `false` (or absent: `default`).
    static func flag(_ form: FormData, _ name: String, default d: Bool) throws -> Bool {
        switch form.text(name)?.lowercased() {
        case nil: return d
        case "true", "1": return true
        case "false", "0": return false
        case let v?: throw APIError.badRequest("\(name) '\(v)' is not true or false", param: name)
        }
    }

    static func number<T: LosslessStringConvertible>(_ form: FormData, _ name: String, _ type: T.Type) throws -> T? {
        guard let t = form.text(name) else { return nil }
        guard let v = T(t) else { throw APIError.badRequest("\(name) '\(t)' is not a number", param: name) }
        return v
    }

    func classifications(_ request: Request) async throws -> Response {
        try await computeForm(request) { form, place, control in
            // Labels: comma-separated, or one per `labels[]` field.
            var labels = form.fields("labels[]").map { $0.text.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
            if let l = form.field("labels")?.text {
                labels += l.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                if labels.isEmpty { throw APIError.badRequest("labels is empty: give labels separated by commas, or leave the field out for ImageNet classes", param: "labels") }
            }
            var templates: [String]? = form.fields("templates[]").map(\.text)
            if templates!.isEmpty { templates = nil }
            let templateSet = form.text("templates") ?? "default"
            if templates == nil && !["default", "imagenet"].contains(templateSet) {
                throw APIError.badRequest("templates '\(templateSet)' is not default or imagenet (or give your own as templates[] fields, each with {})",
                                          param: "templates")
            }
            if let bad = templates?.first(where: { !$0.contains("{}") }) {
                throw APIError.badRequest("template '\(bad)' has no {} for the label", param: "templates[]")
            }
            let model = form.text("model")
            let zeroShot = !labels.isEmpty
            // A head made by mmpipe train (named at the server's start): its classes, on its model.
            if form.field("head") != nil && form.text("head") == nil {
                throw APIError.badRequest("head is empty: give the name of a head this server was started with, or leave the field out", param: "head")
            }
            let head = try form.text("head").map { name -> (path: String, models: ClassifierModels) in
                guard let h = self.models.head(name) else { throw self.models.unknownHead(name, text: false) }
                if case .textHead(let e, _) = h.models {
                    throw APIError.badRequest("head '\(name)' classifies texts (it was trained on \(e.name) embeddings): POST them to /v1/classifications", param: "head")
                }
                if zeroShot { throw APIError.badRequest("head '\(name)' classifies into its own classes: drop labels", param: "labels") }
                if let model, self.models.catalog.card(model)?.name != self.models.catalog.card(h.models.name)?.name {
                    throw APIError.badRequest("head '\(name)' was trained on \(h.models.name) embeddings, not \(model): drop model", param: "model")
                }
                return h
            }
            let known = self.models.names { zeroShot ? $0.kind == .zeroShot && $0.name != "clip" : $0.kind == .image }
            if let model, head == nil, !known.contains(model) { throw self.models.unknown(model, known: known) }
            var r = ClassifyRequest(images: ImageInputs(paths: []))
            r.model = model
            r.head = head?.path
            r.labels = zeroShot ? labels : nil
            r.templates = templateSet
            r.templateList = templates
            r.multiLabel = try Self.flag(form, "multi_label", default: false)
            r.threshold = try Self.number(form, "threshold", Float.self)
            r.explain = try Self.flag(form, "explain", default: false)
            if let k = try Self.number(form, "top_k", Int.self) { r.topK = k }
            if let f = try Self.number(form, "fps", Double.self) { r.images.fps = f }
            if let m = try Self.number(form, "max_frames", Int.self) { r.images.maxFrames = m }
            do { try r.validate() } catch let e as RequestError { throw APIError.badRequest(Self.httpWords(e.description)) }
            let files = try self.keepUploads(form)
            defer { try? FileManager.default.removeItem(at: files.folder) }
            r.images.paths = files.files.map(\.path)
            let request = r
            let (name, results) = try await self.queue.run(place, lane: .vision, control: control, timeout: self.options.timeoutSeconds) { control in
                let models: ClassifierModels
                do { models = try head?.models ?? self.models.classifier(request.model, zeroShot: zeroShot) } catch let e as ItemFailure {
                    throw APIError.badRequest(e.reason)
                } catch {
                    throw APIError(.internalServerError, "Could not load the model: \(ErrorText.describe(error))", type: "server_error")
                }
                let task: ClassifyTask
                do { task = try ClassifyTask(request, models: models) } catch let e as RequestError {
                    throw APIError.badRequest(Self.httpWords(e.description))
                }
                let sink = CollectingSink<ClassifyRecord>()
                _ = try task.run(into: sink, progress: Progress(mode: .quiet), control: control)
                return (task.modelName, sink.results)
            }
            return try self.answer(results, files: files, model: name) { record, file in
                guard var object = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(record)) as? [String: Any] else { return [:] }
                object["path"] = file
                return object
            }
        }
    }

    func imageEmbeddings(_ request: Request) async throws -> Response {
        try await computeForm(request) { form, place, control in
            let model = form.text("model") ?? EmbedTask.defaultImageModel
            let known = self.models.names { $0.kind == .image || $0.family == "clip" }
            guard known.contains(model) else { throw self.models.unknown(model, known: known) }
            let base64: Bool
            switch form.text("encoding_format") {
            case nil, "float": base64 = false
            case "base64": base64 = true
            case let f?: throw APIError.badRequest("encoding_format '\(f)' is not float or base64", param: "encoding_format")
            }
            var images = ImageInputs(paths: [])
            if let f = try Self.number(form, "fps", Double.self) { images.fps = f }
            if let m = try Self.number(form, "max_frames", Int.self) { images.maxFrames = m }
            do { try images.validate() } catch let e as RequestError { throw APIError.badRequest(Self.httpWords(e.description)) }
            let files = try self.keepUploads(form)
            defer { try? FileManager.default.removeItem(at: files.folder) }
            images.paths = files.files.map(\.path)
            let input = images
            let (name, results) = try await self.queue.run(place, lane: .vision, control: control, timeout: self.options.timeoutSeconds) { control in
                let session: VisionSession
                do { session = try self.models.imageEncoder(model) } catch {
                    throw APIError(.internalServerError, "Could not load \(model): \(ErrorText.describe(error))", type: "server_error")
                }
                let sink = CollectingSink<EmbeddingRecord>()
                let task = try EmbedTask(images: input, session: session)
                _ = try task.run(into: sink, progress: Progress(mode: .quiet), control: control)
                return (task.modelName, sink.results)
            }
            // A video gives a row per sampled frame: each its own entry, with its time.
            var index = 0
            return try self.answer(results, files: files, model: name, rows: { r in
                let d = r.rows.shape.count == 2 ? r.rows.shape[1] : r.rows.count
                return (0..<(r.rows.shape.first ?? 0)).map { row in
                    let v = Array(r.rows.scalars[(row * d)..<((row + 1) * d)])
                    var o: [String: Any] = ["object": "embedding",
                                            "embedding": base64 ? Self.base64(v) as Any : JSONValue.decimals(v) as Any]
                    o["index"] = index
                    index += 1
                    if row < r.fields.count { for (k, value) in r.fields[row].fields { if case .number(let t) = value { o[k] = t } } }
                    return o
                }
            })
        }
    }

    /// The answer to an image request: each file's entries (`rows`), or `{path, error}` for a
    /// file that failed; a 400 when every file failed.
    private func answer<R>(_ results: [(source: SourceItem, result: Result<R, ItemFailure>)], files: Uploads, model: String,
                           _ one: ((R, String) throws -> [String: Any])? = nil,
                           rows: ((R) throws -> [[String: Any]])? = nil) throws -> Response {
        let names = Dictionary(files.files.map { ($0.path, $0.name) }, uniquingKeysWith: { a, _ in a })
        var data: [[String: Any]] = [], failures: [String] = []
        for (source, result) in results {
            let file = names[source.path] ?? (source.path as NSString).lastPathComponent
            switch result {
            case .success(let r):
                if let one { data.append(try one(r, file)) }
                if let rows { data += try rows(r).map { var o = $0; o["path"] = file; return o } }
            case .failure(let f) where f.interrupted: throw CancellationError()
            case .failure(let f):
                data.append(["path": file, "error": f.reason])
                failures.append("'\(file)': \(f.reason)")
            }
        }
        if data.isEmpty || failures.count == results.count && !results.isEmpty {
            throw APIError.badRequest(failures.isEmpty ? "No image or video could be read" : failures.joined(separator: "; "), param: "file")
        }
        let body: [String: Any] = ["object": "list", "model": model, "data": data]
        let json = try JSONSerialization.data(withJSONObject: body, options: [.withoutEscapingSlashes])
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: json)))
    }

    /// A CLI message in the API's words: `--top-k` → `top_k`.
    static func httpWords(_ s: String) -> String {
        var out = s
        for (flag, field) in [("--labels or --labels-file", "labels"), ("--top-k", "top_k"), ("--multi-label", "multi_label"), ("--threshold", "threshold"),
                              ("--explain", "explain"), ("--labels-file", "labels"), ("--labels", "labels"), ("--fps", "fps"),
                              ("--max-frames", "max_frames"), ("--batch-size", "batch_size")] {
            out = out.replacingOccurrences(of: flag, with: field)
        }
        return out
    }
}
