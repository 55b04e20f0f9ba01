import Foundation
import Hummingbird
import NIOCore

/// A refused request, answered with OpenAI's error object:
/// `{"error": {"message", "type", "param", "code"}}`.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public let status: HTTPResponse.Status
    public let message: String
    public let type: String
    public let param: String?
    public let code: String?
    /// Seconds to wait before asking again (429).
    public let retryAfter: Int?

    public init(_ status: HTTPResponse.Status, _ message: String, type: String = "invalid_request_error",
                param: String? = nil, code: String? = nil, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.retryAfter = retryAfter
    }

    public var description: String { "\(status.code) \(message)" }

    static func badRequest(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(.badRequest, message, param: param, code: code)
    }

    static func unknownModel(_ name: String, known: [String]) -> APIError {
        APIError(.notFound, "The model '\(name)' does not exist here; models: \(known.joined(separator: ", "))",
                 param: "model", code: "model_not_found")
    }

    /// OpenAI's inner error object (`param` and `code` written as null when absent).
    struct Object: Encodable {
        let message: String, type: String, param: String?, code: String?
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(message, forKey: .message)
            try c.encode(type, forKey: .type)
            try c.encode(param, forKey: .param)
            try c.encode(code, forKey: .code)
        }
        enum CodingKeys: String, CodingKey { case message, type, param, code }
    }

    var object: Object { Object(message: message, type: type, param: param, code: code) }

    private struct Body: Encodable { let error: Object }

    var response: Response {
        let data = (try? JSONEncoder().encode(Body(error: object))) ?? Data()
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = "\(retryAfter)" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Every error leaves as OpenAI's error object: ours as they are, Hummingbird's (an unknown
/// route, a body over the limit) with their status, anything else as a 500 with its words.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return APIError.response(for: error, request: request)
        }
    }
}

extension APIError {
    /// Any error as OpenAI's error object.
    static func response(for error: Error, request: Request) -> Response {
        switch error {
        case let e as APIError:
            return e.response
        case let e as HTTPError:
            let message: String
            switch e.status {
            case .notFound: message = "No such endpoint: \(request.method) \(request.uri.path)"
            case .contentTooLarge: message = "The request body is larger than this server accepts"
            case .methodNotAllowed: message = "\(request.method) is not allowed on \(request.uri.path)"
            default: message = e.body ?? e.status.reasonPhrase
            }
            let type = e.status.code >= 500 ? "server_error" : "invalid_request_error"
            return APIError(e.status, message, type: type).response
        case is CancellationError:
            return APIError(.init(code: 499, reasonPhrase: "Client Closed Request"), "The request was cancelled").response
        default:
            return APIError(.internalServerError, "\(error)", type: "server_error").response
        }
    }
}

/// `--api-key`: every endpoint but `/health` wants `Authorization: Bearer <key>`.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let key: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path == "/health" { return try await next(request, context) }
        guard let value = request.headers[.authorization] else {
            throw APIError(.unauthorized, "Missing API key: send the header 'Authorization: Bearer <key>'", code: "invalid_api_key")
        }
        let parts = value.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", constantTimeEqual(String(parts[1]), key) else {
            throw APIError(.unauthorized, "Incorrect API key provided", code: "invalid_api_key")
        }
        return try await next(request, context)
    }

    /// Compares without stopping at the first difference (no timing hint of the key).
    private func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var diff = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) { diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
        return diff == 0
    }
}
