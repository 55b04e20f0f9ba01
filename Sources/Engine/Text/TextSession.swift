import Foundation
import Models
import TensorCore

/// A loaded sentence-embedding model (all-MiniLM-L6-v2 from the model store, or a
/// sentence-transformers / Hugging Face BERT folder with `--weights`).
public final class TextSession: @unchecked Sendable {
    public let encoder: SentenceEncoder
    public var modelName: String { encoder.name }
    /// The model folder loaded.
    public let weights: URL

    public init(model: String, weights: String?, store: ModelStore, catalog: ModelCatalog = .standard) throws {
        let card = try catalog.card(model, for: [.text])
        let folder = try catalog.weights(for: card, given: weights, store: store)
        self.weights = folder
        do {
            encoder = try BERTLoader.loadSentenceEncoder(folder: folder, name: card.name)
        } catch {
            throw ItemFailure(path: folder.path, error: error)
        }
    }

    /// L2-normalised embeddings `[N, D]`, rows in input order.
    public func embed(_ texts: [String]) -> Tensor { encoder.embed(texts) }
}

/// Texts to embed: `--text` values, then the lines of `--text-file`s (empty lines skipped),
/// each with a source item naming where it came from and identified by its content (resume
/// keys on its digest, so an edited text is embedded anew and a repeated one once). An empty `--text`,
/// or files with no text at all, are refused.
public enum TextInputs {
    public static func collect(texts: [String], files: [String]) throws -> [(SourceItem, String)] {
        var out: [(SourceItem, String)] = []
        for (i, t) in texts.enumerated() {
            if t.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw RequestError("--text #\(i + 1) is empty") }
            out.append((SourceItem.text(t, at: "--text #\(i + 1)"), t))
        }
        for f in files {
            let data: Data
            if f == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let d = FileManager.default.contents(atPath: f) else {
                    throw ItemFailure(path: f, reason: "cannot read the text file")
                }
                data = d
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw ItemFailure(path: f, reason: "not UTF-8 text")
            }
            var n = 0
            // Lines end at LF, CRLF (one Character in Swift) or CR.
            for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
                n += 1
                let t = String(line)
                if t.trimmingCharacters(in: .whitespaces).isEmpty { continue }
                out.append((SourceItem.text(t, at: "\(f):\(n)"), t))
            }
        }
        if out.isEmpty {
            throw RequestError("no text to read: \(files.joined(separator: ", ")) hold\(files.count == 1 ? "s" : "") only blank lines")
        }
        return out
    }
}

/// Batches texts through a text encoder.
public struct TextEncodeStage: BatchStage {
    public let encode: @Sendable ([String]) throws -> Tensor
    public let maxBatch: Int
    public var name: String { "encode" }
    public var maxWait: Double { 0.01 }

    public init(maxBatch: Int, encode: @escaping @Sendable ([String]) throws -> Tensor) {
        self.maxBatch = maxBatch
        self.encode = encode
    }

    public func process(_ batch: [String], items: [SourceItem]) -> [Result<Tensor, Error>] {
        do {
            let e = try encode(batch)
            return (0..<batch.count).map { .success(e.slice(axis: 0, $0..<($0 + 1)).contiguous()) }
        } catch {
            return batch.map { _ in .failure(error) }
        }
    }
}
