import Foundation
import TensorCore

/// Reads Whisper vocabularies into a `WhisperTokenizer`:
/// - a Hugging Face `tokenizer.json` (`model.vocab`, `model.merges`, `added_tokens`),
/// - a CTranslate2 `vocabulary.txt` (one byte-level token string per line, id = line),
/// - an openai-whisper `.tiktoken` file (`base64(bytes) rank` per line) with whisper's specials.
public enum WhisperTokenizerLoader {
    /// The vocabulary of a model folder: `tokenizer.json` when present, else `vocabulary.txt`.
    public static func load(folder: URL, mergeOrder: WhisperTokenizer.MergeOrder = .vocabularyRank) throws -> WhisperTokenizer {
        let json = folder.appendingPathComponent("tokenizer.json")
        if FileManager.default.fileExists(atPath: json.path) { return try load(tokenizerJSON: json, mergeOrder: mergeOrder) }
        let txt = folder.appendingPathComponent("vocabulary.txt")
        if FileManager.default.fileExists(atPath: txt.path) {
            return try WhisperTokenizer(vocabulary: try vocabulary(vocabularyTXT: txt), mergeOrder: mergeOrder)
        }
        throw WeightFileError(path: folder.path, "no tokenizer.json or vocabulary.txt in this model folder (fetch the model again with scripts/fetch-models)")
    }

    public static func load(tokenizerJSON url: URL, mergeOrder: WhisperTokenizer.MergeOrder = .vocabularyRank) throws -> WhisperTokenizer {
        try WhisperTokenizer(vocabulary: try vocabulary(tokenizerJSON: url, merges: mergeOrder == .mergeList), mergeOrder: mergeOrder)
    }

    /// An openai-whisper asset (`gpt2.tiktoken`, `multilingual.tiktoken`); specials are built
    /// as whisper's `get_encoding` does, with the first `numLanguages` languages.
    public static func load(tiktoken url: URL, numLanguages: Int = 99) throws -> WhisperTokenizer {
        try WhisperTokenizer(vocabulary: try vocabulary(tiktoken: url, numLanguages: numLanguages))
    }

    // MARK: readers

    private static func read(_ url: URL) throws -> Data {
        do { return try Data(contentsOf: url) } catch {
            throw WeightFileError(path: url.path, "cannot read: \(error.localizedDescription)")
        }
    }

    private static func tokenBytes(_ s: String, id: Int, path: String) throws -> [UInt8] {
        guard let b = WhisperTokenizer.bytes(ofTokenString: s) else {
            throw WeightFileError(path: path, "token \(id) '\(s)' has characters outside GPT-2's byte-level alphabet")
        }
        return b
    }

    /// `merges`: read `model.merges` too (only `MergeOrder.mergeList` uses them; the default
    /// order by vocabulary rank does not, and their 50 000 pairs are half of the load).
    public static func vocabulary(tokenizerJSON url: URL, merges readMerges: Bool = true) throws -> WhisperTokenizer.Vocabulary {
        let path = url.path
        let data = try read(url)
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let model = root["model"] as? [String: Any],
              let vocab = model["vocab"] as? [String: Any] else {
            throw WeightFileError(path: path, "not a Hugging Face tokenizer.json (no model.vocab)")
        }
        if let type = model["type"] as? String, type != "BPE" {
            throw WeightFileError(path: path, "tokenizer model is \(type), Whisper needs BPE")
        }
        var names: [Int: String] = [:]
        for (k, v) in vocab {
            guard let id = (v as? NSNumber)?.intValue, id >= 0 else { throw WeightFileError(path: path, "model.vocab['\(k)'] is not an id") }
            names[id] = k
        }
        for t in (root["added_tokens"] as? [[String: Any]]) ?? [] {
            if let id = (t["id"] as? NSNumber)?.intValue, let s = t["content"] as? String, id >= 0 { names[id] = s }
        }
        guard let eot = names.first(where: { $0.value == "<|endoftext|>" })?.key else {
            throw WeightFileError(path: path, "no <|endoftext|> token")
        }
        var pieces: [[UInt8]] = []
        pieces.reserveCapacity(eot)
        for id in 0..<eot {
            guard let s = names[id] else { throw WeightFileError(path: path, "no token with id \(id)") }
            pieces.append(try tokenBytes(s, id: id, path: path))
        }
        var specials: [String] = []
        var id = eot
        while let s = names[id] { specials.append(s); id += 1 }

        var merges: [(Int, Int)] = []
        guard readMerges else {
            return WhisperTokenizer.Vocabulary(pieces: pieces, specials: specials, merges: nil, source: path)
        }
        var ids = [[UInt8]: Int](minimumCapacity: pieces.count)
        for (i, p) in pieces.enumerated() where ids[p] == nil { ids[p] = i }
        let rawMerges = (model["merges"] as? [Any]) ?? []
        merges.reserveCapacity(rawMerges.count)
        for (rank, m) in rawMerges.enumerated() {
            let parts: [String]
            if let s = m as? String {
                parts = s.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            } else if let a = m as? [String] {
                parts = a
            } else {
                parts = []
            }
            guard parts.count == 2, let a = WhisperTokenizer.bytes(ofTokenString: parts[0]), let b = WhisperTokenizer.bytes(ofTokenString: parts[1]),
                  let ia = ids[a], let ib = ids[b] else {
                throw WeightFileError(path: path, "merge \(rank) (\(m)) is not a pair of tokens in model.vocab")
            }
            merges.append((ia, ib))
        }
        return WhisperTokenizer.Vocabulary(pieces: pieces, specials: specials, merges: merges.isEmpty ? nil : merges, source: path)
    }

    /// CTranslate2's `vocabulary.txt`: line i is token i; everything from `<|endoftext|>` on is special.
    public static func vocabulary(vocabularyTXT url: URL) throws -> WhisperTokenizer.Vocabulary {
        let path = url.path
        guard let text = String(data: try read(url), encoding: .utf8) else {
            throw WeightFileError(path: path, "not UTF-8 text")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }
        if lines.last == "" { lines.removeLast() }          // the final newline; empty tokens elsewhere are real
        guard let eot = lines.firstIndex(of: "<|endoftext|>") else {
            throw WeightFileError(path: path, "no <|endoftext|> line; not a Whisper vocabulary")
        }
        var pieces: [[UInt8]] = []
        pieces.reserveCapacity(eot)
        for (i, s) in lines[..<eot].enumerated() { pieces.append(try tokenBytes(s, id: i, path: path)) }
        return WhisperTokenizer.Vocabulary(pieces: pieces, specials: Array(lines[eot...]), merges: nil, source: path)
    }

    /// openai-whisper's `.tiktoken` asset: ranks are ids, specials follow (whisper's `get_encoding`).
    public static func vocabulary(tiktoken url: URL, numLanguages: Int = 99) throws -> WhisperTokenizer.Vocabulary {
        let path = url.path
        guard let text = String(data: try read(url), encoding: .utf8) else {
            throw WeightFileError(path: path, "not UTF-8 text")
        }
        var byRank: [Int: [UInt8]] = [:]
        for (n, line) in text.split(separator: "\n").enumerated() {
            let parts = line.split(separator: " ")
            // "=" is the empty token (rank 50256 of multilingual.tiktoken); Foundation rejects it.
            guard parts.count == 2, let rank = Int(parts[1]),
                  let bytes = parts[0] == "=" ? Data() : Data(base64Encoded: String(parts[0])) else {
                throw WeightFileError(path: path, "line \(n + 1) is not 'base64 rank'")
            }
            byRank[rank] = [UInt8](bytes)
        }
        var pieces: [[UInt8]] = []
        pieces.reserveCapacity(byRank.count)
        for r in 0..<byRank.count {
            guard let b = byRank[r] else { throw WeightFileError(path: path, "no token with rank \(r)") }
            pieces.append(b)
        }
        guard numLanguages >= 0, numLanguages <= WhisperTokenizer.languages.count else {
            throw WeightFileError(path: path, "numLanguages \(numLanguages) is outside 0...\(WhisperTokenizer.languages.count)")
        }
        let specials = ["<|endoftext|>", "<|startoftranscript|>"]
            + WhisperTokenizer.languages.prefix(numLanguages).map { "<|\($0.code)|>" }
            + ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]
        return WhisperTokenizer.Vocabulary(pieces: pieces, specials: specials, merges: nil, source: path)
    }
}
