import Engine
import Foundation
import Hummingbird
import NIOCore
import TensorCore

/// `POST /v1/embeddings`: OpenAI's request and response onto `EmbedTask` for texts, with the
/// text encoders (all-minilm-l6-v2, CLIP's text tower).
extension MMPipeServer {
    /// The JSON body: `input` a string or an array of strings; `model`; `encoding_format`
    /// float (default) or base64.
    struct EmbeddingsBody {
        let texts: [String]
        let model: String?
        let base64: Bool

        init(_ data: ByteBuffer) throws {
            guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: data)), let body = object as? [String: Any] else {
                throw APIError.badRequest("The body is not a JSON object (expected {\"input\": ..., \"model\": ...})")
            }
            switch body["input"] {
            case let s as String: texts = [s]
            case let a as [Any]:
                guard let strings = a as? [String] else {
                    throw APIError.badRequest("'input' must be a string or an array of strings (token arrays are not accepted)", param: "input")
                }
                texts = strings
            case nil: throw APIError.badRequest("Missing 'input' (a string or an array of strings)", param: "input")
            default: throw APIError.badRequest("'input' must be a string or an array of strings", param: "input")
            }
            try MMPipeServer.checkInput(texts)
            switch body["model"] {
            case nil: model = nil
            case let m as String: model = m
            default: throw APIError.badRequest("'model' must be a string", param: "model")
            }
            switch body["encoding_format"] {
            case nil: base64 = false
            case let f as String where f == "float": base64 = false
            case let f as String where f == "base64": base64 = true
            default: throw APIError.badRequest("'encoding_format' must be float or base64", param: "encoding_format")
            }
            if body["dimensions"] != nil && !(body["dimensions"] is NSNull) {
                throw APIError.badRequest("'dimensions' is not supported: these models have fixed sizes", param: "dimensions")
            }
        }
    }

    /// A request's `input` texts: at least one, at most 2048, none empty.
    static func checkInput(_ texts: [String]) throws {
        if texts.isEmpty { throw APIError.badRequest("'input' is an empty array", param: "input") }
        if texts.count > 2048 { throw APIError.badRequest("'input' has \(texts.count) texts; at most 2048 in one request", param: "input") }
        if let i = texts.firstIndex(where: { $0.isEmpty }) {
            throw APIError.badRequest("'input[\(i)]' is an empty string", param: "input")
        }
    }

    struct EmbeddingList: Encodable {
        struct Item: Encodable {
            let object = "embedding"
            let index: Int
            let embedding: Vector
        }
        /// A vector as floats, or as base64 of its little-endian float32 bytes (OpenAI's).
        enum Vector: Encodable {
            case floats([Float])
            case base64(String)
            func encode(to encoder: Encoder) throws {
                var c = encoder.singleValueContainer()
                switch self {
                case .floats(let f): try c.encode(JSONValue.decimals(f))
                case .base64(let s): try c.encode(s)
                }
            }
        }
        struct Usage: Encodable { let prompt_tokens: Int, total_tokens: Int }
        let object = "list"
        let data: [Item]
        let model: String
        let usage: Usage
    }

    func embeddings(_ request: Request) async throws -> Response {
        try await compute(request) { data, place, control in
            let body = try EmbeddingsBody(data)
            let asked = body.model ?? self.options.embeddingModel
            let textModels = self.models.names { $0.kind == .text || $0.family == "clip" }
            guard textModels.contains(asked) else { throw self.models.unknown(asked, known: textModels) }
            let (rows, tokens, name) = try await self.queue.run(place, lane: .text, control: control, timeout: self.options.timeoutSeconds) { control in
                let encoder: EmbedTask.TextEncoder
                do { encoder = try self.models.textEncoder(asked) } catch {
                    throw APIError(.internalServerError, "Could not load \(asked): \(ErrorText.describe(error))", type: "server_error")
                }
                let items = body.texts.enumerated().map { (SourceItem(path: "input[\($0.offset)]", size: 0, mtime: 0), $0.element) }
                let sink = CollectingSink<EmbeddingRecord>()
                _ = try EmbedTask(texts: items, encoder: encoder).run(into: sink, progress: Progress(mode: .quiet), control: control)
                var rows: [[Float]] = []
                for (_, result) in sink.results {
                    switch result {
                    case .success(let r): rows.append(r.rows.scalars)
                    case .failure(let f) where f.interrupted: throw CancellationError()
                    case .failure(let f): throw APIError.badRequest("\(f.path): \(f.reason)", param: "input")
                    }
                }
                guard rows.count == body.texts.count else { throw CancellationError() }
                return (rows, body.texts.reduce(0) { $0 + encoder.tokenCount($1) }, asked)
            }
            let items = rows.enumerated().map { i, v in
                EmbeddingList.Item(index: i, embedding: body.base64 ? .base64(Self.base64(v)) : .floats(v))
            }
            return try self.json(EmbeddingList(data: items, model: name, usage: .init(prompt_tokens: tokens, total_tokens: tokens)))
        }
    }

    /// The little-endian float32 bytes of `v`, in base64.
    static func base64(_ v: [Float]) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(v.count * 4)
        for f in v { withUnsafeBytes(of: f.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        return Data(bytes).base64EncodedString()
    }
}
