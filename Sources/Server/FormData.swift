import Foundation
import MultipartKit
import NIOCore

/// A `multipart/form-data` body, parsed (MultipartKit's parser): its fields in order, each
/// with its name, its file name when it is a file, and its bytes.
struct FormData {
    struct Part {
        let name: String
        let filename: String?
        let contentType: String?
        let body: ByteBuffer
        var text: String { String(buffer: body) }
    }

    let parts: [Part]

    /// Parses `body` given the request's `Content-Type`; a 400 naming what is wrong otherwise.
    init(contentType: String?, body: ByteBuffer) throws {
        guard let contentType, contentType.lowercased().hasPrefix("multipart/form-data") else {
            throw APIError.badRequest("Expected a multipart/form-data body (Content-Type: \(contentType ?? "none"))")
        }
        guard let boundary = FormData.parameter("boundary", of: contentType), !boundary.isEmpty else {
            throw APIError.badRequest("The multipart/form-data Content-Type has no boundary")
        }
        var parts: [Part] = []
        var headers: [(String, String)] = []
        var current = ByteBuffer()
        let parser = MultipartParser(boundary: boundary)
        parser.onHeader = { headers.append(($0, $1)) }
        parser.onBody = { chunk in current.writeBuffer(&chunk) }
        parser.onPartComplete = {
            let disposition = headers.first { $0.0.lowercased() == "content-disposition" }?.1 ?? ""
            let type = headers.first { $0.0.lowercased() == "content-type" }?.1
            parts.append(Part(name: FormData.parameter("name", of: disposition) ?? "",
                              filename: FormData.parameter("filename", of: disposition), contentType: type, body: current))
            headers = []
            current = ByteBuffer()
        }
        do {
            try parser.execute(body)
        } catch {
            throw APIError.badRequest("Malformed multipart/form-data body: \(error)")
        }
        if parts.isEmpty { throw APIError.badRequest("The multipart/form-data body has no parts (or no closing boundary)") }
        // A body cut short loses its last part silently in the parser: say so instead.
        if body.readableBytesView.lastRange(of: Array("--\(boundary)--".utf8)) == nil {
            throw APIError.badRequest("The multipart/form-data body has no closing boundary (--\(boundary)--): it was cut short")
        }
        self.parts = parts
    }

    /// The first field called `name`.
    func field(_ name: String) -> Part? { parts.first { $0.name == name } }

    /// Every field called `name` (`timestamp_granularities[]`).
    func fields(_ name: String) -> [Part] { parts.filter { $0.name == name } }

    /// A text field, trimmed; nil when absent or empty.
    func text(_ name: String) -> String? {
        guard let t = field(name)?.text.trimmingCharacters(in: .whitespacesAndNewlines), !t.isEmpty else { return nil }
        return t
    }

    /// `name=value` or `name="value"` in a header value such as
    /// `form-data; name="file"; filename="a.wav"`.
    static func parameter(_ name: String, of header: String) -> String? {
        for piece in header.split(separator: ";").dropFirst() {
            let kv = piece.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces).lowercased() == name else { continue }
            var v = kv[1].trimmingCharacters(in: .whitespaces)
            if v.hasPrefix("\""), v.hasSuffix("\""), v.count >= 2 { v = String(v.dropFirst().dropLast()) }
            return v
        }
        return nil
    }
}
