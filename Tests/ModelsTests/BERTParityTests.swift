import Foundation
@testable import Models
import TensorCore
import Testing

/// BERT text encoder and WordPiece tokenizer against their references
/// (scripts/gen-bert-fixtures.py): transformers' BertTokenizerFast on all-MiniLM-L6-v2's
/// vocabulary, a random 2-layer BertModel, and the real all-MiniLM-L6-v2 with
/// sentence-transformers' mean pooling + L2 normalisation.
enum BERTFixtures {
    static let directory: URL? = Bundle.module.url(forResource: "bert", withExtension: nil, subdirectory: "Fixtures")

    static func url(_ name: String) throws -> URL {
        let dir = try #require(directory, "Fixtures/bert missing: run scripts/gen-bert-fixtures.py")
        return dir.appendingPathComponent(name)
    }

    static func json(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: try url(name)))
    }

    static func npy(_ name: String) throws -> Tensor { try NPY.read(try url(name)).tensor }

    /// all-MiniLM-L6-v2's tokenizer from the fixture copy of its files, at the model's 256.
    static func tokenizer() throws -> WordPieceTokenizer {
        try BERTLoader.loadTokenizer(folder: try url("tokenizer"), maxLength: 256)
    }

    static let realModel = WhisperWeightsTests.modelsDir.appendingPathComponent("all-minilm-l6-v2")
    static var realModelPresent: Bool {
        FileManager.default.fileExists(atPath: realModel.appendingPathComponent("model.safetensors").path)
    }

    static func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mmpipe-bert-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The tiny model's tensors, edited, written with its (optionally edited) config.json
    /// into a new folder.
    static func editedTiny(_ edit: (inout [(name: String, tensor: Tensor)]) -> Void,
                           config: ((inout [String: Any]) -> Void)? = nil) throws -> URL {
        let src = try url("tiny")
        let st = try SafeTensorsFile(path: src.appendingPathComponent("model.safetensors").path)
        var tensors = try st.names.map { (name: $0, tensor: try st.tensor($0)) }
        edit(&tensors)
        let dir = try tempDir()
        try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: dir.appendingPathComponent("model.safetensors"))
        var cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: src.appendingPathComponent("config.json"))) as! [String: Any]
        config?(&cfg)
        try JSONSerialization.data(withJSONObject: cfg).write(to: dir.appendingPathComponent("config.json"))
        return dir
    }

    static func loadError(_ body: () throws -> Any) -> String {
        do {
            _ = try body()
            return "loaded without error"
        } catch {
            return "\(error)"
        }
    }
}

@Suite("BERT tokenizer: WordPiece parity with BertTokenizerFast")
struct BERTTokenizerParityTests {
    struct Case: Sendable, CustomStringConvertible {
        let name: String, text: String, ids: [Int], truncated: Bool
        var description: String { name }
    }

    static let cases: [Case] = {
        guard let list = try? BERTFixtures.json("tokenizer-cases.json") as? [[String: Any]] else { return [] }
        return list.compactMap { o in
            guard let n = o["name"] as? String, let t = o["text"] as? String, let ids = o["ids"] as? [Int],
                  let cut = o["truncated"] as? Bool else { return nil }
            return Case(name: n, text: t, ids: ids, truncated: cut)
        }
    }()

    @Test func fixturesArePresent() {
        #expect(Self.cases.count >= 40, "Fixtures/bert/tokenizer-cases.json: run scripts/gen-bert-fixtures.py")
    }

    /// Ids identical to the reference's `input_ids` (with `[CLS]`/`[SEP]`, truncated to 256).
    @Test(arguments: cases)
    func idsMatchReference(_ c: Case) throws {
        let tok = try BERTFixtures.tokenizer()
        let e = tok.encode(c.text)
        let words = c.ids.map { tok.token(of: $0) ?? "?" }
        #expect(e.ids == c.ids, "\(c.name): ours \(e.ids.map { tok.token(of: $0) ?? "?" }) vs reference \(words)")
        #expect(e.isTruncated == c.truncated)
        #expect(e.attentionMask == Array(repeating: 1, count: e.count) && e.typeIDs == Array(repeating: 0, count: e.count))
    }

    /// Every code point through the normaliser and pre-tokeniser, as "a" + c + "b", against
    /// the reference (uncased: lower-casing and accent stripping, as all-MiniLM-L6-v2; cased:
    /// neither). Catches Unicode-version drift in the character classes, NFD and lower-casing.
    @Test(arguments: ["uncased", "cased"])
    func everyCodePointNormalisesAsReference(_ variant: String) throws {
        let deflated = try Data(contentsOf: try BERTFixtures.url("codepoints-\(variant).deflate"))
        let text = try #require(String(bytes: try Deflate.inflate(raw: Array(deflated), path: "codepoints-\(variant).deflate"), encoding: .utf8))
        var options = WordPieceTokenizer.Options()
        options.lowercase = variant == "uncased"
        let tok = try WordPieceTokenizer(vocabulary: ["[PAD]", "[UNK]", "[CLS]", "[SEP]"], options: options)
        let a: UInt32 = 0x61, b: UInt32 = 0x62
        var checked = 0
        var mismatches: [String] = []
        func check(_ c: UInt32, _ expected: [[UInt32]]) {
            guard let s = Unicode.Scalar(c) else { return }
            let got = tok.preTokenize("a" + String(s) + "b")
            checked += 1
            if got != expected {
                func show(_ w: [[UInt32]]) -> String { w.map { $0.map { String($0, radix: 16) }.joined(separator: ".") }.joined(separator: "|") }
                mismatches.append("U+\(String(c, radix: 16, uppercase: true)): ours \(show(got)) reference \(show(expected))")
            }
        }
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: false)
            if f[0] == "R" {
                let lo = UInt32(f[1], radix: 16)!, hi = UInt32(f[2], radix: 16)!
                for c in lo...hi {
                    switch f[3] {
                    case "W": check(c, [[a, c, b]])
                    case "X": check(c, [[a, b]])
                    case "S": check(c, [[a], [b]])
                    default: check(c, [[a], [c], [b]])
                    }
                }
            } else {
                let c = UInt32(f[1], radix: 16)!
                let pieces = f.count > 2 ? f[2].split(separator: "|").map { $0.split(separator: ".").map { UInt32($0, radix: 16)! } } : []
                check(c, pieces)
            }
        }
        print("wordpiece \(variant): \(checked) code points, \(mismatches.count) differ from the reference")
        #expect(checked == 0x110000 - 0x800, "the fixture does not cover every scalar")
        let differing = mismatches.count, examples = mismatches.prefix(12).joined(separator: "; ")
        #expect(differing == 0, "\(differing) code points differ, e.g. \(examples)")
    }

    @Test func tokenizeEncodeAndBatch() throws {
        let tok = try BERTFixtures.tokenizer()
        #expect(tok.vocabularySize == 30522 && tok.maxLength == 256)
        #expect((tok.classID, tok.separatorID, tok.paddingID, tok.unknownID) == (101, 102, 0, 100))
        #expect(tok.tokenize("Café naïve résumé") == ["cafe", "naive", "resume"])
        #expect(tok.tokenize("unbelievably tokenization") == ["un", "##bel", "##ie", "##va", "##bly", "token", "##ization"])
        #expect(tok.encode("").ids == [101, 102])
        let long = tok.encode(String(repeating: "word ", count: 1000))
        #expect(long.count == 256 && long.isTruncated && long.ids.last == 102)
        let exact = tok.encode(String(repeating: "word ", count: 254))
        #expect(exact.count == 256 && !exact.isTruncated)

        let batch = tok.encode(["a b c", "", "hello"])
        #expect(batch.count == 3 && batch.length == 5 && batch.lengths == [5, 2, 3])
        #expect(Array(batch.ids[5..<10]) == [101, 102, 0, 0, 0])
        #expect(Array(batch.attentionMask[10..<15]) == [1, 1, 1, 0, 0])
    }

    @Test func vocabularyProblemsAreErrors() throws {
        #expect(throws: TextModelError.self) { try WordPieceTokenizer(vocabulary: ["[CLS]", "[SEP]", "[PAD]"]) }
        #expect(throws: TextModelError.self) { try WordPieceTokenizer(vocabulary: ["[UNK]", "[CLS]", "[SEP]", "[PAD]"], maxLength: 1) }
        let dir = try BERTFixtures.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try "[PAD]\n[CLS]\n[SEP]\nhello\n".write(to: dir.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
        let e = BERTFixtures.loadError { try BERTLoader.loadTokenizer(folder: dir) }
        #expect(e.contains(dir.appendingPathComponent("vocab.txt").path) && e.contains("no unknown token '[UNK]'"), "\(e)")
        try #"{"do_lower_case": "yes"}"#.write(to: dir.appendingPathComponent("tokenizer_config.json"), atomically: true, encoding: .utf8)
        let e2 = BERTFixtures.loadError { try BERTLoader.loadTokenizer(folder: dir) }
        #expect(e2.contains("tokenizer_config.json") && e2.contains("'do_lower_case'"), "\(e2)")
    }
}

@Suite("BERT encoder: random 2-layer BertModel parity")
struct BERTEncoderParityTests {
    static func inputs() throws -> TokenBatch {
        let o = try #require(try BERTFixtures.json("tiny-inputs.json") as? [String: Any])
        let ids = try #require(o["ids"] as? [[Int]]), types = try #require(o["type_ids"] as? [[Int]])
        let lengths = try #require(o["lengths"] as? [Int])
        // Rows at their real lengths; TokenBatch pads them again (pad id 0, type 0).
        return TokenBatch(ids: zip(ids, lengths).map { Array($0.prefix($1)) },
                          typeIDs: zip(types, lengths).map { Array($0.prefix($1)) })
    }

    /// Last hidden state, padded rows included (they attend to the real keys in both), within 1e-4.
    @Test func lastHiddenStateMatches() throws {
        let model = try BERTLoader.loadEncoder(folder: try BERTFixtures.url("tiny"))
        #expect(model.config.numHiddenLayers == 2 && model.config.typeVocabSize == 3 && model.hiddenSize == 32)
        let batch = try Self.inputs()
        let out = try model.lastHiddenState(batch)
        let ref = try BERTFixtures.npy("tiny-last-hidden-state.npy")
        let a = Agreement(out.reshaped([-1, 32]), ref.reshaped([-1, 32]))
        print("bert tiny last hidden state: \(a)")
        #expect(a.maxAbs <= 1e-4, "\(a)")

        // Each sequence alone (no padding, no mask) gives its rows of the padded batch.
        for (r, n) in batch.lengths.enumerated() {
            let single = try model.lastHiddenState(TokenBatch(ids: [Array(batch.ids[(r * batch.length)..<(r * batch.length + n)])],
                                                              typeIDs: [Array(batch.typeIDs[(r * batch.length)..<(r * batch.length + n)])]))
            let rows = ref.select(axis: 0, r).slice(axis: 0, 0..<n).contiguous()
            let s = Agreement(single.reshaped([n, 32]), rows)
            #expect(s.maxAbs <= 1e-4, "sequence \(r) alone: \(s)")
        }
    }

    @Test func badInputsAreErrors() throws {
        let model = try BERTLoader.loadEncoder(folder: try BERTFixtures.url("tiny"))
        #expect(throws: TextModelError.self) { try model.lastHiddenState(TokenBatch(ids: [[1, 99]])) }
        #expect(throws: TextModelError.self) { try model.lastHiddenState(TokenBatch(ids: [[1, 2]], typeIDs: [[0, 3]])) }
        #expect(throws: TextModelError.self) { try model.lastHiddenState(TokenBatch(ids: [Array(repeating: 1, count: 41)])) }
        #expect(try model.lastHiddenState(TokenBatch(ids: [])).shape == [0, 0, 32])
    }

    /// A `bert.`-prefixed checkpoint (BertFor... with pre-training heads and position_ids) loads the same.
    @Test func prefixedCheckpointLoads() throws {
        let dir = try BERTFixtures.editedTiny { t in
            t = t.map { (name: "bert." + $0.name, tensor: $0.tensor) }
            t.append((name: "bert.embeddings.position_ids", tensor: Tensor(shape: [1, 40]) { for i in $0.indices { $0[i] = Float(i) } }))
            t.append((name: "cls.predictions.bias", tensor: Tensor(zeros: [99])))
            t.append((name: "cls.seq_relationship.weight", tensor: Tensor(zeros: [2, 32])))
        }
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try BERTLoader.loadEncoder(folder: dir)
        let a = Agreement(try model.lastHiddenState(try Self.inputs()).reshaped([-1, 32]),
                          try BERTFixtures.npy("tiny-last-hidden-state.npy").reshaped([-1, 32]))
        #expect(a.maxAbs <= 1e-4, "\(a)")
    }
}

@Suite("BERT loader: strict keys and clear errors")
struct BERTLoaderTests {
    static func error(_ dir: URL) -> String { BERTFixtures.loadError { try BERTLoader.loadEncoder(folder: dir) } }

    @Test func missingTensorIsNamed() throws {
        let dir = try BERTFixtures.editedTiny { $0.removeAll { $0.name == "encoder.layer.1.attention.self.value.bias" } }
        defer { try? FileManager.default.removeItem(at: dir) }
        let e = Self.error(dir)
        #expect(e.hasPrefix(dir.appendingPathComponent("model.safetensors").path) && e.contains("missing tensor 'encoder.layer.1.attention.self.value.bias'"), "\(e)")

        let dir2 = try BERTFixtures.editedTiny { t in
            t = t.filter { $0.name != "encoder.layer.0.output.LayerNorm.weight" }.map { (name: "bert." + $0.name, tensor: $0.tensor) }
        }
        defer { try? FileManager.default.removeItem(at: dir2) }
        let e2 = Self.error(dir2)
        #expect(e2.contains("missing tensor 'bert.encoder.layer.0.output.LayerNorm.weight'"), "as the file would name it: \(e2)")
    }

    @Test func wrongShapeIsAnError() throws {
        let dir = try BERTFixtures.editedTiny { t in
            let i = t.firstIndex { $0.name == "encoder.layer.0.intermediate.dense.weight" }!
            t[i].tensor = Tensor(zeros: [48, 32])
        }
        defer { try? FileManager.default.removeItem(at: dir) }
        let e = Self.error(dir)
        #expect(e.contains("tensor 'encoder.layer.0.intermediate.dense.weight' has shape [48, 32], expected [64, 32]"), "\(e)")
    }

    @Test func unexpectedTensorIsAnError() throws {
        let dir = try BERTFixtures.editedTiny { $0.append((name: "classifier.weight", tensor: Tensor(zeros: [2, 32]))) }
        defer { try? FileManager.default.removeItem(at: dir) }
        let e = Self.error(dir)
        #expect(e.contains("1 unexpected tensor: 'classifier.weight'"), "\(e)")

        let dir2 = try BERTFixtures.editedTiny { $0.append((name: "encoder.layer.2.output.dense.bias", tensor: Tensor(zeros: [32]))) }
        defer { try? FileManager.default.removeItem(at: dir2) }
        let e2 = Self.error(dir2)
        #expect(e2.contains("numbered [0, 1, 2]") || e2.contains("3 encoder layers"), "\(e2)")
    }

    @Test func configProblemsAreErrors() throws {
        let cases: [(String, (inout [String: Any]) -> Void)] = [
            ("hidden_act 'swish' is not supported", { $0["hidden_act"] = "swish" }),
            ("5 attention heads do not divide hidden_size 32", { $0["num_attention_heads"] = 5 }),
            ("model_type is 'roberta'", { $0["model_type"] = "roberta" }),
            ("position_embedding_type 'relative_key'", { $0["position_embedding_type"] = "relative_key" }),
            ("config.json says num_hidden_layers 3", { $0["num_hidden_layers"] = 3 }),
            ("'hidden_size'", { $0["hidden_size"] = "big" }),
        ]
        for (message, edit) in cases {
            let dir = try BERTFixtures.editedTiny({ _ in }, config: edit)
            defer { try? FileManager.default.removeItem(at: dir) }
            let e = Self.error(dir)
            #expect(e.contains(message) && e.contains(dir.path), "\(message): \(e)")
        }
    }

    @Test func missingFilesAreErrors() throws {
        let dir = try BERTFixtures.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(Self.error(dir.appendingPathComponent("nope")).contains("no such folder"))
        try Data().write(to: dir.appendingPathComponent("pytorch_model.bin"))
        #expect(Self.error(dir).contains("no model.safetensors in this folder (found pytorch_model.bin"))
        try FileManager.default.copyItem(at: try BERTFixtures.url("tiny/model.safetensors"), to: dir.appendingPathComponent("model.safetensors"))
        #expect(Self.error(dir).contains("config.json: missing or unreadable"))
        let s = BERTFixtures.loadError { try BERTLoader.loadSentenceEncoder(folder: dir.appendingPathComponent("model.safetensors"), name: "x") }
        #expect(s.contains("not a folder"), "\(s)")
    }

    /// sentence-transformers folder checks: modules, pooling, tokenizer against the model.
    @Test func sentenceEncoderFolderProblems() throws {
        let dir = try BERTFixtures.editedTiny { _ in }
        defer { try? FileManager.default.removeItem(at: dir) }
        func write(_ s: String, _ name: String) throws {
            let url = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try s.write(to: url, atomically: true, encoding: .utf8)
        }
        func load() -> String { BERTFixtures.loadError { try BERTLoader.loadSentenceEncoder(folder: dir, name: "tiny") } }
        // A vocabulary larger than the model's 99 embeddings.
        try FileManager.default.copyItem(at: try BERTFixtures.url("tokenizer/vocab.txt"), to: dir.appendingPathComponent("vocab.txt"))
        #expect(load().contains("30522 tokens, config.json vocab_size is 99"), "\(load())")
        let small = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + (5..<99).map { "w\($0)" }
        try (small.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
        try #"{"max_seq_length": 64}"#.write(to: dir.appendingPathComponent("sentence_bert_config.json"), atomically: true, encoding: .utf8)
        #expect(load().contains("max_seq_length 64 exceeds the model's 40 positions"), "\(load())")
        try write(#"{"max_seq_length": 32}"#, "sentence_bert_config.json")
        try write(#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},{"idx":2,"name":"2","path":"2_Dense","type":"sentence_transformers.models.Dense"}]"#, "modules.json")
        #expect(load().contains("module 'sentence_transformers.models.Dense' is not supported"), "\(load())")
        try write(#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]"#, "modules.json")
        #expect(load().contains("1_Pooling/config.json: missing"), "\(load())")
        try write(#"{"word_embedding_dimension": 32, "pooling_mode_mean_sqrt_len_tokens": true}"#, "1_Pooling/config.json")
        #expect(load().contains("pooling_mode_mean_sqrt_len_tokens is not supported"), "\(load())")
        try write(#"{"word_embedding_dimension": 32, "pooling_mode_cls_token": true}"#, "1_Pooling/config.json")
        let enc = try BERTLoader.loadSentenceEncoder(folder: dir, name: "tiny")
        #expect(enc.pooling == .cls && !enc.normalizes && enc.maxLength == 32 && enc.dimension == 32 && enc.name == "tiny")
        let e = enc.embed(["w5 w6", "", "w7 w8 w9 w10"])
        #expect(e.shape == [3, 32])
    }
}

@Suite("BERT all-MiniLM-L6-v2: real weights against transformers + mean pooling")
struct BERTSentenceEncoderTests {
    static var present: Bool { BERTFixtures.realModelPresent }

    static func sentences() throws -> (texts: [String], ids: [[Int]]) {
        let o = try #require(try BERTFixtures.json("sentences.json") as? [String: Any])
        return (try #require(o["sentences"] as? [String]), try #require(o["ids"] as? [[Int]]))
    }

    @Test(.enabled(if: present, "Models/all-minilm-l6-v2 missing: run scripts/fetch-models all-minilm-l6-v2 (or set MMPIPE_MODELS_DIR)"))
    func embeddingsMatchReference() throws {
        let enc = try BERTLoader.loadSentenceEncoder(folder: BERTFixtures.realModel, name: "all-minilm-l6-v2")
        #expect(enc.name == "all-minilm-l6-v2" && enc.dimension == 384 && enc.maxLength == 256)
        #expect(enc.pooling == .mean && enc.normalizes && !enc.lowercasesInput)
        let (texts, ids) = try Self.sentences()
        for (t, want) in zip(texts, ids) {
            #expect(enc.encode(t).ids == want, "ids of '\(t.prefix(40))'")
        }
        let ours = enc.embed(texts)
        let ref = try BERTFixtures.npy("sentence-embeddings.npy")
        let a = Agreement(ours, ref)
        print("bert all-minilm-l6-v2 sentence embeddings (\(texts.count)): \(a)")
        #expect(ours.shape == [texts.count, 384])
        #expect(a.minCosine >= 0.9999, "\(a)")
        #expect(a.maxAbs <= 1e-4, "\(a)")
        // Unit rows.
        for r in 0..<texts.count {
            let row = ours.select(axis: 0, r).scalars
            #expect(abs(row.reduce(0) { $0 + $1 * $1 } - 1) < 1e-5)
        }
    }

    /// Order and batching do not change a text's embedding (rows come back in input order).
    @Test(.enabled(if: present, "Models/all-minilm-l6-v2 missing: run scripts/fetch-models all-minilm-l6-v2"))
    func batchingKeepsOrder() throws {
        let enc = try BERTLoader.loadSentenceEncoder(folder: BERTFixtures.realModel, name: "all-minilm-l6-v2")
        let (texts, _) = try Self.sentences()
        let all = enc.embed(texts)
        let reversed = enc.embed(texts.reversed())
        for i in texts.indices {
            let a = Agreement(all.select(axis: 0, i).reshaped([1, 384]), reversed.select(axis: 0, texts.count - 1 - i).reshaped([1, 384]))
            #expect(a.maxAbs <= 1e-5, "row \(i): \(a)")
        }
        let one = enc.embed([texts[2]])
        #expect(Agreement(one, all.slice(axis: 0, 2..<3).contiguous()).maxAbs <= 1e-5)
        #expect(enc.embed([]).shape == [0, 384])
    }
}
