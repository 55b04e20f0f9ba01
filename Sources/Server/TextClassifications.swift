import Engine
import Foundation
import Hummingbird
import NIOCore

/// `POST /v1/classifications`: texts classified by a head that `mmpipe train` fitted on a text
/// model's embeddings (sentiment, topics, ...), as `mmpipe classify --head H --text ...` does.
extension MMPipeServer {
    /// The JSON body: `head` (a name the server was started with), `input` a string or an
    /// array of strings, and optionally `top_k`, `multi_label`, `threshold`.
    struct TextClassificationBody {
        let head: String
        let texts: [String]
        let topK: Int?
        let multiLabel: Bool
        let threshold: Float?
        /// The embedding model, when the request names one (it must be the head's).
        let model: String?
        /// Fields of zero-shot classification, which a head does not take.
        let zeroShotFields: [String]

        private struct Fields: Decodable {
            let head: String?
            let input: Input?
            let top_k: Int?
            let multi_label: Bool?
            let threshold: Float?
            let model: String?
            enum Input: Decodable {
                case one(String), many([String])
                init(from decoder: Decoder) throws {
                    let c = try decoder.singleValueContainer()
                    if let s = try? c.decode(String.self) { self = .one(s) } else { self = .many(try c.decode([String].self)) }
                }
            }
        }

        init(_ data: ByteBuffer) throws {
            let fields: Fields
            do { fields = try JSONDecoder().decode(Fields.self, from: Data(buffer: data)) } catch let DecodingError.typeMismatch(_, context),
                let DecodingError.dataCorrupted(context) {
                // A body that is JSON but not an object has no field to name.
                guard let name = context.codingPath.first?.stringValue else {
                    throw APIError.badRequest("The body is not a JSON object (expected {\"head\": ..., \"input\": ...})")
                }
                let want = ["input": "a string or an array of strings", "top_k": "a whole number", "multi_label": "true or false",
                            "threshold": "a number", "head": "a string"][name] ?? "another type"
                throw APIError.badRequest("'\(name)' must be \(want)", param: name)
            } catch {
                throw APIError.badRequest("The body is not a JSON object (expected {\"head\": ..., \"input\": ...})")
            }
            guard let head = fields.head, !head.isEmpty else {
                throw APIError.badRequest("Missing 'head': the name of a head this server was started with (mmpipe serve --head NAME=FILE)", param: "head")
            }
            self.head = head
            switch fields.input {
            case .one(let s): texts = [s]
            case .many(let a): texts = a
            case nil: throw APIError.badRequest("Missing 'input' (a string or an array of strings)", param: "input")
            }
            try MMPipeServer.checkInput(texts)
            topK = fields.top_k
            multiLabel = fields.multi_label ?? false
            threshold = fields.threshold
            model = fields.model
            let keys = (try? JSONSerialization.jsonObject(with: Data(buffer: data)) as? [String: Any])?.keys.map { $0 } ?? []
            zeroShotFields = ["labels", "templates", "explain"].filter(keys.contains)
        }
    }

    func textClassifications(_ request: Request) async throws -> Response {
        try await compute(request) { data, place, control in
            let body = try TextClassificationBody(data)
            guard let head = self.models.head(body.head) else { throw self.models.unknownHead(body.head, text: true) }
            guard case .textHead = head.models else {
                throw APIError.badRequest("head '\(body.head)' classifies images (it was trained on \(head.models.name) embeddings): POST them to /v1/images/classifications", param: "head")
            }
            if let field = body.zeroShotFields.first {
                throw APIError.badRequest("head '\(body.head)' classifies into its own classes: drop \(field)", param: field)
            }
            if let model = body.model, self.models.catalog.card(model)?.name != self.models.catalog.card(head.models.name)?.name {
                throw APIError.badRequest("head '\(body.head)' was trained on \(head.models.name) embeddings, not \(model): drop model", param: "model")
            }
            var r = ClassifyRequest(images: ImageInputs(paths: []))
            r.head = head.path
            r.texts = body.texts.enumerated().map { (SourceItem(path: "input[\($0.offset)]", size: Int64($0.element.utf8.count), mtime: 0), $0.element) }
            if let k = body.topK { r.topK = k }
            r.multiLabel = body.multiLabel
            r.threshold = body.threshold
            let task: ClassifyTask
            do { task = try ClassifyTask(r, models: head.models) } catch let e as RequestError {
                throw APIError.badRequest(Self.httpWords(e.description))
            }
            let results = try await self.queue.run(place, lane: .text, control: control, timeout: self.options.timeoutSeconds) { control in
                let sink = CollectingSink<ClassifyRecord>()
                _ = try task.run(into: sink, progress: Progress(mode: .quiet), control: control)
                return sink.results
            }
            var out: [[String: Any]] = []
            for (i, (_, result)) in results.enumerated() {
                switch result {
                case .success(let record):
                    guard var o = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(record)) as? [String: Any] else { continue }
                    o["path"] = nil
                    o["index"] = i
                    out.append(o)
                case .failure(let f) where f.interrupted: throw CancellationError()
                case .failure(let f): throw APIError(.internalServerError, "input[\(i)]: \(f.reason)", type: "server_error")
                }
            }
            let answer: [String: Any] = ["object": "list", "model": task.modelName, "head": body.head, "data": out]
            let json = try JSONSerialization.data(withJSONObject: answer, options: [.withoutEscapingSlashes, .sortedKeys])
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: json)))
        }
    }
}
