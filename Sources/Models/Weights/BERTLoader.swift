import Foundation
import TensorCore

/// Reads BERT-style text encoders: the only place their files are opened.
///
/// A model folder holds `model.safetensors` (Hugging Face `BertModel` names, optionally
/// under `bert.`), `config.json` and `vocab.txt` (or `tokenizer.json`) with
/// `tokenizer_config.json`; a sentence-transformers folder adds `modules.json`,
/// `sentence_bert_config.json` and the pooling module's `config.json` (`1_Pooling/`).
/// Every problem is thrown as a `WeightFileError` naming the file, and the tensor or key.
public enum BERTLoader {
    /// A sentence-transformers model (all-MiniLM-L6-v2 and its kind).
    ///
    /// `modules.json` names the modules: a `Transformer` (the BERT folder, `path` relative
    /// to `folder`), a `Pooling` (mean, CLS or max) and optionally `Normalize`; other modules
    /// (`Dense`, ...) are not supported. Without `modules.json` the folder is a plain BERT
    /// checkpoint, embedded by mean pooling and L2 normalisation. The input length is
    /// `sentence_bert_config.json`'s `max_seq_length`, else the smaller of the tokenizer's
    /// `model_max_length` and the model's positions.
    public static func loadSentenceEncoder(folder: URL, name: String) throws -> SentenceEncoder {
        try requireFolder(folder)
        var transformer = folder
        var poolingConfig: URL? = folder.appendingPathComponent("1_Pooling/config.json")
        var normalizes = true
        let modulesURL = folder.appendingPathComponent("modules.json")
        if let modules = try readJSON(modulesURL, as: [[String: Any]].self, what: "a list of modules") {
            var found: Set<String> = []
            normalizes = false
            poolingConfig = nil
            for m in modules {
                let type = m["type"] as? String ?? ""
                let path = m["path"] as? String ?? ""
                let kind = type.split(separator: ".").last.map(String.init) ?? type
                guard !found.contains(kind) else {
                    throw WeightFileError(path: modulesURL.path, "module \(kind) appears twice; only Transformer, Pooling, Normalize once each are supported")
                }
                found.insert(kind)
                switch kind {
                case "Transformer":
                    guard found.count == 1 else { throw WeightFileError(path: modulesURL.path, "the Transformer module must come first") }
                    transformer = path.isEmpty ? folder : folder.appendingPathComponent(path)
                case "Pooling": poolingConfig = folder.appendingPathComponent(path).appendingPathComponent("config.json")
                case "Normalize": normalizes = true
                default:
                    throw WeightFileError(path: modulesURL.path, "module '\(type)' is not supported (only Transformer, Pooling, Normalize)")
                }
            }
            guard found.contains("Transformer"), found.contains("Pooling") else {
                throw WeightFileError(path: modulesURL.path, "needs a Transformer and a Pooling module, has \(found.sorted())")
            }
        }
        let sbertURL = transformer.appendingPathComponent("sentence_bert_config.json")
        let sbert = try readJSON(sbertURL, as: [String: Any].self, what: "an object")
        var maxLength: Int? = nil
        if let v = sbert?["max_seq_length"] {
            guard let n = (v as? NSNumber)?.intValue, n >= 2 else {
                throw WeightFileError(path: sbertURL.path, "max_seq_length \(v) is not a length of at least 2")
            }
            maxLength = n
        }
        let lowercase = sbert?["do_lower_case"] as? Bool ?? false

        let model = try loadEncoder(folder: transformer)
        var pooling = SentenceEncoder.Pooling.mean
        if let poolingConfig, FileManager.default.fileExists(atPath: poolingConfig.path) {
            pooling = try readPooling(poolingConfig, dimension: model.config.hiddenSize)
        } else if let poolingConfig, FileManager.default.fileExists(atPath: modulesURL.path) {
            throw WeightFileError(path: poolingConfig.path, "missing: modules.json names this Pooling module")
        }
        let tokenizer = try loadTokenizer(folder: transformer, maxLength: maxLength, maxPositions: model.config.maxPositionEmbeddings)
        guard tokenizer.vocabularySize <= model.config.vocabSize else {
            throw WeightFileError(path: transformer.path, "the vocabulary has \(tokenizer.vocabularySize) tokens, config.json vocab_size is \(model.config.vocabSize)")
        }
        guard tokenizer.maxLength <= model.config.maxPositionEmbeddings else {
            throw WeightFileError(path: sbertURL.path, "max_seq_length \(tokenizer.maxLength) exceeds the model's \(model.config.maxPositionEmbeddings) positions")
        }
        do {
            return try SentenceEncoder(name: name, model: model, tokenizer: tokenizer, pooling: pooling,
                                       normalizes: normalizes, lowercasesInput: lowercase)
        } catch let e as TextModelError {
            throw WeightFileError(path: folder.path, e.description)
        }
    }

    /// A BERT encoder from a folder with `model.safetensors` and `config.json`.
    public static func loadEncoder(folder: URL) throws -> BERT {
        try requireFolder(folder)
        let weights = folder.appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: weights.path) else {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
            if names.contains("model.safetensors.index.json") {
                throw WeightFileError(path: folder.path, "sharded safetensors checkpoints are not supported; merge the shards into one model.safetensors")
            }
            let torch = names.first { $0.hasSuffix(".bin") || $0.hasSuffix(".pt") || $0.hasSuffix(".pth") }
            let hint = torch.map { " (found \($0): convert it with scripts/torch_legacy.py \($0) model.safetensors)" } ?? ""
            throw WeightFileError(path: folder.path, "no model.safetensors in this folder\(hint)")
        }
        return try loadEncoder(weights: weights, config: folder.appendingPathComponent("config.json"))
    }

    /// A BERT encoder from a safetensors file and a Hugging Face `config.json`.
    public static func loadEncoder(weights: URL, config configURL: URL) throws -> BERT {
        guard let data = FileManager.default.contents(atPath: configURL.path) else {
            throw WeightFileError(path: configURL.path, "missing or unreadable: a BERT checkpoint needs its config.json (heads, sizes)")
        }
        let config: BERTConfig
        do {
            config = try JSONDecoder().decode(BERTConfig.self, from: data)
        } catch DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c), DecodingError.dataCorrupted(let c) {
            let at = c.codingPath.map(\.stringValue).joined(separator: ".")
            throw WeightFileError(path: configURL.path, "not a BERT config\(at.isEmpty ? "" : ": '\(at)'"): \(c.debugDescription)")
        }
        if let type = config.modelType, type != "bert" {
            throw WeightFileError(path: configURL.path, "model_type is '\(type)', not 'bert' (other encoders differ in embeddings or layers)")
        }
        let file = try SafeTensorsFile(path: weights.path)
        var tensors = try CheckedTensors(bert: file, configPath: configURL.path)
        return try BERT.load(&tensors, config: config)
    }

    /// The WordPiece tokenizer of a BERT folder: `vocab.txt` (else `tokenizer.json`'s
    /// WordPiece vocabulary) and `tokenizer_config.json` (`do_lower_case`, `strip_accents`,
    /// `tokenize_chinese_chars`, the special tokens; absent: BERT's defaults).
    /// `maxLength` nil: `model_max_length`, at most `maxPositions`.
    public static func loadTokenizer(folder: URL, maxLength: Int? = nil, maxPositions: Int = 512) throws -> WordPieceTokenizer {
        let configURL = folder.appendingPathComponent("tokenizer_config.json")
        let config = try readJSON(configURL, as: [String: Any].self, what: "an object") ?? [:]
        let specialMap = try readJSON(folder.appendingPathComponent("special_tokens_map.json"), as: [String: Any].self, what: "an object") ?? [:]
        var options = WordPieceTokenizer.Options()
        func bool(_ key: String) throws -> Bool? {
            guard let v = config[key], !(v is NSNull) else { return nil }
            guard let b = v as? Bool else { throw WeightFileError(path: configURL.path, "'\(key)' is \(v), not true, false or null") }
            return b
        }
        func token(_ key: String) throws -> String? {
            for (source, path) in [(config, configURL.path), (specialMap, folder.appendingPathComponent("special_tokens_map.json").path)] {
                guard let v = source[key], !(v is NSNull) else { continue }
                if let s = v as? String { return s }
                if let o = v as? [String: Any], let s = o["content"] as? String { return s }
                throw WeightFileError(path: path, "'\(key)' is neither a string nor {\"content\": ...}")
            }
            return nil
        }
        if let cls = config["tokenizer_class"] as? String, !cls.contains("Bert") {
            throw WeightFileError(path: configURL.path, "tokenizer_class '\(cls)' is not supported (BERT WordPiece only)")
        }
        if try bool("do_basic_tokenize") == false {
            throw WeightFileError(path: configURL.path, "do_basic_tokenize false is not supported")
        }
        options.lowercase = try bool("do_lower_case") ?? true
        options.stripAccents = try bool("strip_accents")
        options.tokenizeChineseChars = try bool("tokenize_chinese_chars") ?? true
        options.unknownToken = try token("unk_token") ?? options.unknownToken
        options.classToken = try token("cls_token") ?? options.classToken
        options.separatorToken = try token("sep_token") ?? options.separatorToken
        options.paddingToken = try token("pad_token") ?? options.paddingToken
        let mask = try token("mask_token") ?? "[MASK]"
        var specials = [options.paddingToken, options.unknownToken, options.classToken, options.separatorToken, mask]
        for source in [config, specialMap] {
            for v in source["additional_special_tokens"] as? [Any] ?? [] {
                if let s = (v as? String) ?? ((v as? [String: Any])?["content"] as? String), !specials.contains(s) { specials.append(s) }
            }
        }
        options.specialTokens = specials

        var length = maxPositions
        if let maxLength {
            length = maxLength
        } else if let m = (config["model_max_length"] as? NSNumber)?.doubleValue, m >= 2 {
            length = Int(min(m, Double(maxPositions)))
        }

        let (vocabulary, vocabPath) = try readVocabulary(folder)
        do {
            return try WordPieceTokenizer(vocabulary: vocabulary, options: options, maxLength: length)
        } catch let e as TextModelError {
            throw WeightFileError(path: vocabPath, e.description)
        }
    }

    // MARK: files

    static func requireFolder(_ folder: URL) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDir) else {
            throw WeightFileError(path: folder.path, "no such folder (pass the model folder: model.safetensors, config.json, vocab.txt)")
        }
        guard isDir.boolValue else {
            throw WeightFileError(path: folder.path, "not a folder: pass the folder holding model.safetensors, config.json and vocab.txt")
        }
    }

    /// A JSON file's top level as `T`; nil when the file does not exist.
    static func readJSON<T>(_ url: URL, as: T.Type, what: String) throws -> T? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw WeightFileError(path: url.path, "cannot read this file")
        }
        guard let any = try? JSONSerialization.jsonObject(with: data), let value = any as? T else {
            throw WeightFileError(path: url.path, "not valid JSON holding \(what)")
        }
        return value
    }

    static func readPooling(_ url: URL, dimension: Int) throws -> SentenceEncoder.Pooling {
        guard let o = try readJSON(url, as: [String: Any].self, what: "an object") else {
            throw WeightFileError(path: url.path, "missing")
        }
        if let dim = (o["word_embedding_dimension"] as? NSNumber)?.intValue, dim != dimension {
            throw WeightFileError(path: url.path, "word_embedding_dimension \(dim) differs from the model's hidden_size \(dimension)")
        }
        let modes: [(String, SentenceEncoder.Pooling?)] = [
            ("pooling_mode_mean_tokens", .mean), ("pooling_mode_cls_token", .cls), ("pooling_mode_max_tokens", .max),
            ("pooling_mode_mean_sqrt_len_tokens", nil), ("pooling_mode_weightedmean_tokens", nil), ("pooling_mode_lasttoken", nil),
        ]
        let on = modes.filter { o[$0.0] as? Bool == true }
        guard on.count == 1, let mode = on[0].1 else {
            let names = on.map(\.0)
            throw WeightFileError(path: url.path, names.isEmpty ? "no pooling mode is set"
                : "pooling \(names.joined(separator: " + ")) is not supported (exactly one of mean, cls, max)")
        }
        return mode
    }

    /// `vocab.txt` lines (id = line number), else `tokenizer.json`'s `model.vocab`.
    static func readVocabulary(_ folder: URL) throws -> ([String], String) {
        let txt = folder.appendingPathComponent("vocab.txt")
        if let data = FileManager.default.contents(atPath: txt.path) {
            guard let text = String(data: data, encoding: .utf8) else {
                throw WeightFileError(path: txt.path, "not UTF-8 text")
            }
            // One token a line; "\r\n" ends a line too (Python's universal newlines).
            var lines = text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            if lines.last == "" { lines.removeLast() }
            guard !lines.isEmpty else { throw WeightFileError(path: txt.path, "empty vocabulary") }
            return (lines, txt.path)
        }
        let json = folder.appendingPathComponent("tokenizer.json")
        guard let root = try readJSON(json, as: [String: Any].self, what: "an object") else {
            throw WeightFileError(path: folder.path, "no vocab.txt or tokenizer.json in this folder")
        }
        guard let model = root["model"] as? [String: Any], let vocab = model["vocab"] as? [String: Any] else {
            throw WeightFileError(path: json.path, "no model.vocab")
        }
        if let type = model["type"] as? String, type != "WordPiece" {
            throw WeightFileError(path: json.path, "tokenizer model is \(type), BERT needs WordPiece")
        }
        var tokens = [String?](repeating: nil, count: vocab.count)
        for (token, v) in vocab {
            guard let id = (v as? NSNumber)?.intValue, tokens.indices.contains(id), tokens[id] == nil else {
                throw WeightFileError(path: json.path, "model.vocab['\(token)'] = \(v) is not a distinct id below \(vocab.count)")
            }
            tokens[id] = token
        }
        return (tokens.map { $0! }, json.path)
    }
}

extension CheckedTensors {
    /// The tensors of a BERT checkpoint under Hugging Face `BertModel` names, shapes checked
    /// against `configPath`'s sizes, floating point only.
    ///
    /// - Important: dropped on reading: a `bert.` prefix (BertFor... checkpoints), the buffers
    ///   `embeddings.position_ids` / `embeddings.token_type_ids` (integer index tables), the
    ///   pooler (`pooler.dense`, unused by embeddings) and, under a `bert.` prefix, the
    ///   pre-training heads `cls.predictions` / `cls.seq_relationship`. Anything else the
    ///   encoder does not use is an error.
    init(bert file: SafeTensorsFile, configPath: String) throws {
        let names = Array(file.entries.keys)
        let prefix = names.contains { $0.hasPrefix("bert.embeddings.") || $0.hasPrefix("bert.encoder.") } ? "bert." : ""
        func rename(_ name: String) -> String? {
            var key = name
            if !prefix.isEmpty {
                if name.hasPrefix("cls.predictions.") || name.hasPrefix("cls.seq_relationship.") { return nil }
                if name.hasPrefix(prefix) { key = String(name.dropFirst(prefix.count)) }
            }
            if key == "embeddings.position_ids" || key == "embeddings.token_type_ids" || key.hasPrefix("pooler.dense.") { return nil }
            return key
        }
        let path = file.path
        try self.init(file, configPath: configPath, rename: rename, inverse: { prefix + $0 },
                      wording: Wording(
                        missing: ": the file is incomplete or not a BERT encoder",
                        expected: { "expected \($0) from \(configPath)" },
                        unexpected: ": the weights hold parts a BERT encoder does not have (a task head, or another architecture)"),
                      load: { name in
                          let dtype = file.entries[name]!.dtype
                          guard [.f32, .f16, .bf16, .f64].contains(dtype) else {
                              throw WeightFileError(path: path, "tensor '\(name)' is \(dtype.rawValue), expected floating point")
                          }
                          return try file.tensor(name)
                      })
        guard shapes.keys.contains(where: { $0.hasPrefix("embeddings.") || $0.hasPrefix("encoder.") }) else {
            let sample = names.sorted().prefix(3).map { "'\($0)'" }.joined(separator: ", ")
            throw WeightFileError(path: path, "not BERT weights: no 'embeddings.' or 'encoder.layer.' tensors (found \(sample))")
        }
    }
}
