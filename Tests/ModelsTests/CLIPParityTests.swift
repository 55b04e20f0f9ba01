import Foundation
import Media
import Models
import TensorCore
import Testing

/// CLIP against its references (scripts/gen-clip-fixtures.py): open_clip's tokenizer on
/// tricky strings, and a small random-weight transformers `CLIPModel` in both checkpoint
/// layouts (Hugging Face folder, OpenAI / open_clip state dict) on the sample photos and a
/// label set.
enum CLIPFixtures {
    static let directory: URL? = Bundle.module.url(forResource: "clip", withExtension: nil, subdirectory: "Fixtures")

    static func url(_ name: String) throws -> URL {
        let dir = try #require(directory, "Fixtures/clip missing: run scripts/gen-clip-fixtures.py")
        return dir.appendingPathComponent(name)
    }

    static func npy(_ name: String) throws -> Tensor { try NPY.read(try url(name)).tensor }

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: try url(name))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static var bpe: URL { WhisperWeightsTests.modelsDir.appendingPathComponent("clip-bpe/bpe_simple_vocab_16e6.txt.gz") }
    static var bpePresent: Bool { FileManager.default.fileExists(atPath: bpe.path) }

    static let tokenizer: CLIPTokenizer? = try? CLIPLoader.loadTokenizer(bpe: bpe)

    /// The token embedding the fixtures leave out (gen-clip-fixtures.py `token_table`):
    /// `k / 4096`, `k` in [-2048, 2048) from an integer hash of (id, dimension).
    static func tokenTable(vocab: Int, width: Int) -> Tensor {
        Tensor(shape: [vocab, width]) { out in
            for i in 0..<vocab {
                for j in 0..<width {
                    let m: UInt64 = 0xFFFF_FFFF
                    var h = (UInt64(i) &* 2_654_435_761 &+ UInt64(j) &* 2_246_822_519 &+ 374_761_393) & m
                    h ^= h >> 15
                    h = (h &* 2_246_822_519) & m
                    h ^= h >> 13
                    out[i * width + j] = Float(Int64(h >> 20) - 2048) / 4096
                }
            }
        }
    }

    /// A folder for this test process (about 30 MB); those of earlier runs older than an hour
    /// are removed.
    static let scratch: URL = {
        let fm = FileManager.default
        let tmp = fm.temporaryDirectory
        for old in (try? fm.contentsOfDirectory(atPath: tmp.path)) ?? [] where old.hasPrefix("mmpipe-clip-tests-") {
            let url = tmp.appendingPathComponent(old)
            if let date = (try? fm.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date, date.timeIntervalSinceNow < -3600 {
                try? fm.removeItem(at: url)
            }
        }
        let dir = tmp.appendingPathComponent("mmpipe-clip-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }()

    /// A fixture checkpoint copied to a scratch folder with the token table added:
    /// `hf` (a folder) or `openai` (`weights.safetensors` + `open_clip_config.json`).
    static func complete(_ layout: String, tableName: String, extraFiles: [String]) throws -> URL {
        let src = try url(layout)
        let dst = scratch.appendingPathComponent(layout)
        try FileManager.default.createDirectory(at: dst, withIntermediateDirectories: true)
        let name = layout == "hf" ? "model.safetensors" : "weights.safetensors"
        let file = try SafeTensorsFile(path: src.appendingPathComponent(name).path)
        var tensors = try file.names.map { (name: $0, tensor: try file.tensor($0)) }
        tensors.append((tableName, tokenTable(vocab: 49408, width: 64)))
        try SafeTensorsWriter.write(tensors, to: dst.appendingPathComponent(name))
        for extra in extraFiles {
            let to = dst.appendingPathComponent(extra)
            try? FileManager.default.removeItem(at: to)
            try FileManager.default.copyItem(at: src.appendingPathComponent(extra), to: to)
        }
        return layout == "hf" ? dst : dst.appendingPathComponent(name)
    }

    static let hfWeights: Result<URL, Error> = Result {
        try complete("hf", tableName: "text_model.embeddings.token_embedding.weight",
                     extraFiles: ["config.json", "preprocessor_config.json"])
    }
    static let openAIWeights: Result<URL, Error> = Result {
        try complete("openai", tableName: "token_embedding.weight", extraFiles: ["open_clip_config.json"])
    }

    static func weights(_ layout: String) throws -> URL {
        try (layout == "hf" ? hfWeights : openAIWeights).get()
    }

    static func load(_ layout: String, name: String? = nil) throws -> CLIPModel {
        try CLIPLoader.load(weights: try weights(layout), name: name, bpe: bpe)
    }

    struct Labels {
        var texts: [String]
        var tokens: [[Int]]
        var logitScale: Float
    }

    static func labels() throws -> Labels {
        let o = try json("labels.json")
        return Labels(texts: try #require(o["labels"] as? [String]), tokens: try #require(o["tokens"] as? [[Int]]),
                      logitScale: try #require((o["logit_scale"] as? NSNumber)?.floatValue))
    }
}

@Suite("CLIP tokenizer: parity with open_clip's SimpleTokenizer")
struct CLIPTokenizerTests {
    struct Case: Sendable, CustomStringConvertible {
        let text: String, clean: String, ids: [Int], context: [Int]
        var description: String {
            let shown = text.unicodeScalars.map { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) ? String(format: "\\u%04X", $0.value) : String($0) }.joined()
            return "\"\(shown.prefix(50))\(shown.count > 50 ? "..." : "")\""
        }
    }

    static func cases(_ key: String) -> [Case] {
        guard let o = try? CLIPFixtures.json("tokenizer.json"), let list = o[key] as? [[String: Any]] else { return [] }
        return list.compactMap { c in
            guard let t = c["text"] as? String, let cl = c["clean"] as? String, let ids = c["ids"] as? [Int],
                  let ctx = c["context"] as? [Int] else { return nil }
            return Case(text: t, clean: cl, ids: ids, context: ctx)
        }
    }

    static let tableCases = cases("cases")

    @Test func fixturesArePresent() {
        #expect(Self.tableCases.count >= 30, "Fixtures/clip/tokenizer.json: run scripts/gen-clip-fixtures.py")
    }

    @Test(.enabled(if: CLIPFixtures.bpePresent, "run scripts/fetch-models clip-bpe"), arguments: tableCases)
    func matchesOpenCLIP(_ c: Case) throws {
        let tok = try #require(CLIPFixtures.tokenizer)
        #expect(CLIPTextCleaning.clean(c.text) == c.clean, "\(c): cleaned text")
        let ids = tok.tokens(c.text)
        #expect(ids == c.ids, "\(c): ids \(ids.prefix(40)) vs open_clip \(c.ids.prefix(40))")
        let ctx = tok.encode(c.text)
        #expect(ctx == c.context, "\(c): context row")
        #expect(ctx.count <= 77 && ctx.first == tok.startOfText && ctx.last == tok.endOfText)
    }

    @Test(.enabled(if: CLIPFixtures.bpePresent, "run scripts/fetch-models clip-bpe"))
    func vocabulary() throws {
        let tok = try #require(CLIPFixtures.tokenizer)
        let o = try CLIPFixtures.json("tokenizer.json")
        #expect(tok.vocabularySize == o["vocab_size"] as? Int)
        #expect(tok.startOfText == o["sot"] as? Int && tok.endOfText == o["eot"] as? Int)
        #expect(tok.encode("").count == 2)
        #expect(tok.decode(tok.tokens("a photo of a café, 2024!")) == "a photo of a café , 2 0 2 4 ! ")
        #expect(tok.piece(320) == "a</w>")
    }

    /// ftfy's mojibake repair is not reimplemented (see `CLIPTextCleaning`): these differ
    /// from open_clip on purpose; printed, not checked.
    @Test(.enabled(if: CLIPFixtures.bpePresent, "run scripts/fetch-models clip-bpe"))
    func knownGapsArePrinted() throws {
        let tok = try #require(CLIPFixtures.tokenizer)
        let gaps = Self.cases("gaps")
        #expect(!gaps.isEmpty)
        for c in gaps {
            let ours = CLIPTextCleaning.clean(c.text)
            print("clip tokenizer known gap (ftfy mojibake repair) \(c): open_clip cleans to \"\(c.clean)\", we to \"\(ours)\"; ids equal: \(tok.tokens(c.text) == c.ids)")
        }
    }

    /// Random strings (scripts/gen-clip-fixtures.py --fuzz N): every one that ftfy's mojibake
    /// repair leaves alone must match.
    @Test(.enabled(if: CLIPFixtures.bpePresent && ProcessInfo.processInfo.environment["MMPIPE_CLIP_TOKENIZER_FUZZ"] != nil,
                   "set MMPIPE_CLIP_TOKENIZER_FUZZ (scripts/gen-clip-fixtures.py --fuzz N)"))
    func randomStringsMatch() throws {
        let tok = try #require(CLIPFixtures.tokenizer)
        let path = try #require(ProcessInfo.processInfo.environment["MMPIPE_CLIP_TOKENIZER_FUZZ"])
        let o = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        let list = try #require(o["cases"] as? [[String: Any]])
        var checked = 0, failed = 0, mojibake = 0, mojibakeEqual = 0
        for c in list {
            let text = try #require(c["text"] as? String), ids = try #require(c["ids"] as? [Int])
            let equal = tok.tokens(text) == ids && tok.encode(text) == (c["context"] as? [Int] ?? [])
            if c["mojibake"] as? Bool == true {
                mojibake += 1
                if equal { mojibakeEqual += 1 }
                continue
            }
            checked += 1
            if !equal {
                failed += 1
                if failed <= 10 {
                    let clean = c["clean"] as? String ?? ""
                    Issue.record("\(text.unicodeScalars.map { String(format: "%04X", $0.value) }.joined(separator: " ")): clean \"\(CLIPTextCleaning.clean(text))\" vs \"\(clean)\"")
                }
            }
        }
        print("clip tokenizer fuzz: \(checked - failed)/\(checked) equal; mojibake-repaired strings (known gap): \(mojibakeEqual)/\(mojibake) equal anyway")
    }

    @Test(.enabled(if: CLIPFixtures.bpePresent, "run scripts/fetch-models clip-bpe"))
    func badMergesFilesAreErrors() throws {
        let dir = CLIPFixtures.scratch
        let corrupt = dir.appendingPathComponent("corrupt.txt.gz")
        var bytes = [UInt8](try Data(contentsOf: CLIPFixtures.bpe).prefix(4096))
        bytes[2000] ^= 0xFF
        try Data(bytes).write(to: corrupt)
        let e1 = try #require(throws: WeightFileError.self) { _ = try CLIPLoader.loadTokenizer(bpe: corrupt) }
        #expect(e1.path == corrupt.path && e1.problem.contains("gzip"), "\(e1)")
        let bad = dir.appendingPathComponent("bad.txt")
        try Data("#version: 0.2\nab\n".utf8).write(to: bad)
        let e2 = try #require(throws: WeightFileError.self) { _ = try CLIPLoader.loadTokenizer(bpe: bad) }
        #expect(e2.problem.contains("line 2"), "\(e2)")
        let missing = dir.appendingPathComponent("missing.gz")
        let e3 = try #require(throws: WeightFileError.self) { _ = try CLIPLoader.loadTokenizer(bpe: missing) }
        #expect(e3.path == missing.path, "\(e3)")
    }
}

@Suite("CLIP: parity with transformers' CLIPModel (both checkpoint layouts)")
struct CLIPParityTests {
    static let layouts = ["hf", "openai"]

    /// Image and text embeddings cosine >= 0.9999 per row, zero-shot probabilities within 1e-4.
    @Test(.enabled(if: CLIPFixtures.bpePresent, "run scripts/fetch-models clip-bpe"), arguments: layouts)
    func embeddingsAndProbabilitiesMatch(_ layout: String) throws {
        let model = try CLIPFixtures.load(layout)
        #expect(model.name == "clip (custom)" && model.embeddingDimension == 32)
        #expect(model.config.visionConfig.numAttentionHeads == 2 && model.config.textConfig.numAttentionHeads == 2)
        let labels = try CLIPFixtures.labels()
        #expect(abs(model.logitScale - Foundation.exp(labels.logitScale)) <= 1e-4 * model.logitScale)

        let image = model.encodeImages(try CLIPFixtures.npy("input-hf-32.npy"))
        let refImage = try CLIPFixtures.npy("image.npy")
        let ia = Agreement(image, refImage)
        #expect(ia.minCosine >= 0.9999, "\(layout) image: \(ia)")

        let refText = try CLIPFixtures.npy("text.npy")
        let fromTokens = model.encodeTexts(labels.tokens)
        let ta = Agreement(fromTokens, refText)
        #expect(ta.minCosine >= 0.9999, "\(layout) text (reference tokens): \(ta)")
        let fromStrings = model.encodeTexts(labels.texts)
        let sa = Agreement(fromStrings, refText)
        #expect(sa.minCosine >= 0.9999, "\(layout) text (our tokenizer): \(sa)")

        let probs = model.probabilities(imageEmbeddings: image, textEmbeddings: fromStrings)
        let pa = Agreement(probs, try CLIPFixtures.npy("probs.npy"))
        #expect(pa.maxAbs <= 1e-4, "\(layout) probabilities: \(pa)")
        print("clip parity \(layout): image \(ia); text \(ta); text via our tokenizer \(sa); probabilities \(pa)")
    }

    @Test(.enabled(if: CLIPFixtures.bpePresent, "run scripts/fetch-models clip-bpe"))
    func batchesAndPaddingDoNotChangeEmbeddings() throws {
        let model = try CLIPFixtures.load("openai")
        let labels = try CLIPFixtures.labels()
        let all = model.encodeTexts(labels.tokens)
        for i in [0, 5, 6] {
            let one = model.encodeTexts([labels.tokens[i]])
            let a = Agreement(one, all.slice(axis: 0, i..<(i + 1)).contiguous())
            #expect(a.maxAbs <= 1e-4, "text \(i) alone vs in the batch: \(a)")
            // Zero padding to 77 after the end token (the reference's input) changes nothing.
            let padded = labels.tokens[i] + [Int](repeating: 0, count: 77 - labels.tokens[i].count)
            let b = Agreement(model.encodeTexts([padded]), one)
            #expect(b.maxAbs <= 1e-5, "text \(i) padded: \(b)")
        }
        let x = try CLIPFixtures.npy("input-hf-32.npy")
        let images = model.encodeImages(x)
        let one = model.encodeImages(x.slice(axis: 0, 2..<3).contiguous())
        let a = Agreement(one, images.slice(axis: 0, 2..<3).contiguous())
        #expect(a.maxAbs <= 1e-4, "image alone vs in the batch: \(a)")
        #expect(model.encodeImages(Tensor(zeros: [0, 3, 32, 32])).shape == [0, 32])
        #expect(model.encodeTexts([[Int]]()).shape == [0, 32])
    }

    @Test(.enabled(if: CLIPFixtures.bpePresent, "run scripts/fetch-models clip-bpe"))
    func imageEncoderAdapter() throws {
        let model = try CLIPFixtures.load("hf")
        let encoder: any VisionEncoder = CLIPImageEncoder(model)
        #expect(encoder.featureDimension == 32 && encoder.labels == nil && encoder.preprocessing == model.preprocessing)
        let x = try CLIPFixtures.npy("input-hf-32.npy")
        let f = try encoder.features(x)
        #expect(f.logits == nil && Agreement(f.pooled, model.encodeImages(x)).maxAbs == 0)
        #expect(throws: VisionError.self) { _ = try encoder.features(Tensor(zeros: [1, 3, 48, 48])) }
    }

    // MARK: preprocessing

    /// Ours (decode + resize + crop + normalise) against OpenAI CLIP's torchvision transform:
    /// the 8-bit crops match exactly (same libjpeg-turbo, same Pillow-style bicubic), float
    /// rounding only. Against Hugging Face's CLIPImageProcessor too, except rocket.jpg, whose
    /// crop HF starts one column earlier (it floors (w - crop) / 2, torchvision rounds).
    @Test(.enabled(if: CLIPFixtures.bpePresent, "run scripts/fetch-models clip-bpe"))
    func smallPreprocessingMatches() throws {
        let model = try CLIPFixtures.load("hf")
        #expect(model.preprocessing == CLIPModel.defaultPreprocessing(imageSize: 32))
        #expect(try CLIPFixtures.load("openai").preprocessing == model.preprocessing)
        let ours = try VisionFixtures.preprocessSamples(model.preprocessing)
        let openAI = Agreement(ours, try CLIPFixtures.npy("input-openai-32.npy"))
        #expect(openAI.maxAbs <= 1e-5, "vs OpenAI transform: \(openAI)")
        let hf = try CLIPFixtures.npy("input-hf-32.npy")
        try checkAgainstHF(ours: ours, ref: hf, columnsAxis: 3)
        print("clip preprocess 32: vs OpenAI \(openAI)")
    }

    @Test func fullSizePreprocessingMatches() throws {
        let p = CLIPModel.defaultPreprocessing(imageSize: 224)
        let ours = try VisionFixtures.preprocessSamples(p)
        #expect(ours.shape == [4, 3, 224, 224])
        let s = 16
        let picked = Tensor(shape: [4, 3, s, s]) { out in
            for i in 0..<4 { for c in 0..<3 { for y in 0..<s { for x in 0..<s {
                out[((i * 3 + c) * s + y) * s + x] = ours[i, c, y * 14, x * 14]
            } } } }
        }
        let a = Agreement(picked, try CLIPFixtures.npy("preprocess-openai-224-sampled.npy"))
        let rows = Agreement(ours.mean(axis: 3), try CLIPFixtures.npy("preprocess-openai-224-rowmean.npy"))
        let cols = Agreement(ours.mean(axis: 2), try CLIPFixtures.npy("preprocess-openai-224-colmean.npy"))
        #expect(a.maxAbs <= 1e-5 && rows.maxAbs <= 1e-5 && cols.maxAbs <= 1e-5, "sampled \(a); rows \(rows); cols \(cols)")
        try checkAgainstHF(ours: ours.mean(axis: 2), ref: try CLIPFixtures.npy("preprocess-hf-224-colmean.npy"), columnsAxis: 2)
        print("clip preprocess 224 vs OpenAI: sampled \(a.maxAbs), row means \(rows.maxAbs), column means \(cols.maxAbs)")
    }

    /// Equal for every photo but rocket, which is shifted by exactly one column.
    func checkAgainstHF(ours: Tensor, ref: Tensor, columnsAxis: Int) throws {
        let rocket = try #require(VisionFixtures.samples.firstIndex(of: "rocket"))
        for i in 0..<ours.shape[0] {
            let o = ours.slice(axis: 0, i..<(i + 1)), r = ref.slice(axis: 0, i..<(i + 1))
            if i == rocket {
                let w = ours.shape[columnsAxis]
                let a = Agreement(o.slice(axis: columnsAxis, 0..<(w - 1)).contiguous(), r.slice(axis: columnsAxis, 1..<w).contiguous())
                #expect(a.maxAbs <= 1e-5, "rocket vs HF, shifted one column: \(a)")
            } else {
                let a = Agreement(o.contiguous(), r.contiguous())
                #expect(a.maxAbs <= 1e-5, "\(VisionFixtures.samples[i]) vs HF: \(a)")
            }
        }
    }

    // MARK: strict checks

    @Test(.enabled(if: CLIPFixtures.bpePresent, "run scripts/fetch-models clip-bpe"))
    func missingAndUnexpectedTensorsAreErrors() throws {
        // The committed folder lacks the token table.
        let hf = try CLIPFixtures.url("hf")
        let e1 = try #require(throws: WeightFileError.self) { _ = try CLIPLoader.load(weights: hf, name: nil, bpe: CLIPFixtures.bpe) }
        #expect(e1.path.hasSuffix("hf/model.safetensors") && e1.problem.contains("missing tensor 'text_model.embeddings.token_embedding.weight'"), "\(e1)")

        // An extra tensor is named by its file name.
        let src = try SafeTensorsFile(path: try CLIPFixtures.weights("openai").path)
        var tensors = try src.names.map { (name: $0, tensor: try src.tensor($0)) }
        tensors.append(("visual.attnpool.weight", Tensor(zeros: [4])))
        let dir = CLIPFixtures.scratch.appendingPathComponent("extra")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let extra = dir.appendingPathComponent("weights.safetensors")
        try SafeTensorsWriter.write(tensors, to: extra)
        let e2 = try #require(throws: WeightFileError.self) { _ = try CLIPLoader.load(weights: extra, name: nil, bpe: CLIPFixtures.bpe) }
        #expect(e2.path == extra.path && e2.problem.contains("unexpected tensor") && e2.problem.contains("'visual.attnpool.weight'"), "\(e2)")

        // Without open_clip_config.json: OpenAI's rules (heads = width / 64), still loads.
        let plain = try CLIPLoader.load(weights: try CLIPFixtures.weights("openai"), name: "clip", bpe: CLIPFixtures.bpe)
        _ = plain
        let alone = dir.appendingPathComponent("alone.safetensors")
        try? FileManager.default.removeItem(at: alone)
        try FileManager.default.copyItem(at: try CLIPFixtures.weights("openai"), to: alone)
        let guessed = try CLIPLoader.load(weights: alone, name: nil, bpe: CLIPFixtures.bpe)
        #expect(guessed.config.visionConfig.numAttentionHeads == 1 && guessed.config.textConfig.numAttentionHeads == 1)
        #expect(guessed.config.visionConfig.hiddenAct == "quick_gelu" && guessed.name == "clip (custom)")

        // A config.json that disagrees with the tensors.
        let bad = CLIPFixtures.scratch.appendingPathComponent("hf-bad")
        try? FileManager.default.removeItem(at: bad)
        try FileManager.default.copyItem(at: try CLIPFixtures.weights("hf"), to: bad)
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: bad.appendingPathComponent("config.json"))) as? [String: Any])
        var vision = config["vision_config"] as? [String: Any] ?? [:]
        vision["intermediate_size"] = 256
        config["vision_config"] = vision
        try JSONSerialization.data(withJSONObject: config).write(to: bad.appendingPathComponent("config.json"))
        let e3 = try #require(throws: WeightFileError.self) { _ = try CLIPLoader.load(weights: bad, name: nil, bpe: CLIPFixtures.bpe) }
        #expect(e3.problem.contains("'vision_model.encoder.layers.0.mlp.fc1.weight' has shape [128, 64]") && e3.problem.contains("[256, 64]"), "\(e3)")
    }

    /// Older transformers configs (`openai/clip-vit-base-patch32`): `*_config_dict` overrides
    /// `*_config`, `eos_token_id` 2 pools at the largest id; nulls are defaults. open_clip's
    /// `quick_gelu: false` means GELU.
    @Test(.enabled(if: CLIPFixtures.bpePresent, "run scripts/fetch-models clip-bpe"))
    func configVariants() throws {
        let dir = CLIPFixtures.scratch.appendingPathComponent("hf-old")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.copyItem(at: try CLIPFixtures.weights("hf"), to: dir)
        let configURL = dir.appendingPathComponent("config.json")
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any])
        var text = config["text_config"] as? [String: Any] ?? [:]
        text["hidden_act"] = "gelu"            // overridden below
        text["eos_token_id"] = 2
        text["bos_token_id"] = 0
        text["layer_norm_eps"] = NSNull()
        config["text_config"] = text
        config["text_config_dict"] = ["hidden_act": "quick_gelu"]
        config["vision_config_dict"] = NSNull()
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        let model = try CLIPLoader.load(weights: dir, name: nil, bpe: CLIPFixtures.bpe)
        #expect(model.config.textConfig.hiddenAct == "quick_gelu" && model.config.textConfig.eosTokenId == 2)
        let a = Agreement(model.encodeTexts(try CLIPFixtures.labels().tokens), try CLIPFixtures.npy("text.npy"))
        #expect(a.minCosine >= 0.9999, "argmax pooling: \(a)")

        let oc = CLIPFixtures.scratch.appendingPathComponent("openai-gelu")
        try? FileManager.default.removeItem(at: oc)
        try FileManager.default.createDirectory(at: oc, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: try CLIPFixtures.weights("openai"), to: oc.appendingPathComponent("w.safetensors"))
        var cfg = try CLIPFixtures.json("openai/open_clip_config.json")
        var modelCfg = try #require(cfg["model_cfg"] as? [String: Any])
        modelCfg["quick_gelu"] = false
        cfg["model_cfg"] = modelCfg
        try JSONSerialization.data(withJSONObject: cfg).write(to: oc.appendingPathComponent("open_clip_config.json"))
        let gelu = try CLIPLoader.load(weights: oc.appendingPathComponent("w.safetensors"), name: nil, bpe: CLIPFixtures.bpe)
        #expect(gelu.config.visionConfig.hiddenAct == "gelu" && gelu.config.textConfig.hiddenAct == "gelu")
    }

    @Test(.enabled(if: CLIPFixtures.bpePresent, "run scripts/fetch-models clip-bpe"))
    func wrongModelNamesAreErrors() throws {
        let e1 = try #require(throws: VisionError.self) {
            _ = try CLIPLoader.load(weights: try CLIPFixtures.weights("hf"), name: "clip-vit-h-14", bpe: CLIPFixtures.bpe)
        }
        #expect(e1.description.contains("unknown CLIP model 'clip-vit-h-14'"), "\(e1)")
        let e2 = try #require(throws: WeightFileError.self) {
            _ = try CLIPLoader.load(weights: try CLIPFixtures.weights("hf"), name: "clip-vit-b-32", bpe: CLIPFixtures.bpe)
        }
        #expect(e2.problem.contains("not clip-vit-b-32") && e2.problem.contains("--model clip"), "\(e2)")

        // ViT-B/16 shapes (a sparse file: only the header is read before the name check).
        let b16 = CLIPFixtures.scratch.appendingPathComponent("b16.safetensors")
        try writeSparseSafetensors(openAIShapes(CLIPConfig.standard("clip-vit-b-16")!), to: b16)
        let e3 = try #require(throws: WeightFileError.self) {
            _ = try CLIPLoader.load(weights: b16, name: "clip-vit-b-32", bpe: CLIPFixtures.bpe)
        }
        #expect(e3.path == b16.path && e3.problem.contains("weights look like clip-vit-b-16 but --model clip-vit-b-32"), "\(e3)")
        try? FileManager.default.removeItem(at: b16)
    }

    /// Tensor names and shapes of an OpenAI-layout checkpoint of `c`.
    func openAIShapes(_ c: CLIPConfig) -> [(String, [Int])] {
        let v = c.visionConfig, t = c.textConfig, e = c.projectionDim
        let g = v.imageSize / v.patchSize
        var s: [(String, [Int])] = [
            ("visual.conv1.weight", [v.hiddenSize, 3, v.patchSize, v.patchSize]), ("visual.class_embedding", [v.hiddenSize]),
            ("visual.positional_embedding", [g * g + 1, v.hiddenSize]), ("visual.proj", [v.hiddenSize, e]),
            ("token_embedding.weight", [t.vocabSize, t.hiddenSize]), ("positional_embedding", [t.maxPositionEmbeddings, t.hiddenSize]),
            ("text_projection", [t.hiddenSize, e]), ("logit_scale", []),
        ]
        for (p, d) in [("visual.ln_pre", v.hiddenSize), ("visual.ln_post", v.hiddenSize), ("ln_final", t.hiddenSize)] {
            s += [("\(p).weight", [d]), ("\(p).bias", [d])]
        }
        for (prefix, n, d, mlp) in [("visual.transformer.resblocks", v.numHiddenLayers, v.hiddenSize, v.intermediateSize),
                                    ("transformer.resblocks", t.numHiddenLayers, t.hiddenSize, t.intermediateSize)] {
            for i in 0..<n {
                let p = "\(prefix).\(i)"
                s += [("\(p).attn.in_proj_weight", [3 * d, d]), ("\(p).attn.in_proj_bias", [3 * d]),
                      ("\(p).attn.out_proj.weight", [d, d]), ("\(p).attn.out_proj.bias", [d]),
                      ("\(p).ln_1.weight", [d]), ("\(p).ln_1.bias", [d]), ("\(p).ln_2.weight", [d]), ("\(p).ln_2.bias", [d]),
                      ("\(p).mlp.c_fc.weight", [mlp, d]), ("\(p).mlp.c_fc.bias", [mlp]),
                      ("\(p).mlp.c_proj.weight", [d, mlp]), ("\(p).mlp.c_proj.bias", [d])]
            }
        }
        return s
    }

    /// A valid F16 safetensors file whose data is a hole (no disk space used).
    func writeSparseSafetensors(_ tensors: [(String, [Int])], to url: URL) throws {
        var header: [String: Any] = [:]
        var offset = 0
        for (name, shape) in tensors {
            let bytes = shape.reduce(1, *) * 2
            header[name] = ["dtype": "F16", "shape": shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var length = UInt64(json.count).littleEndian
        var data = Data(bytes: &length, count: 8)
        data.append(json)
        try data.write(to: url)
        let handle = try FileHandle(forWritingTo: url)
        try handle.truncate(atOffset: UInt64(data.count + offset))
        try handle.close()
    }
}

/// Full-size ViT-B/32 with random weights (scripts/gen-clip-fixtures.py --full writes
/// /tmp/mmpipe-clip-full): `MMPIPE_CLIP_FULL=/tmp/mmpipe-clip-full swift test --filter CLIPFull`.
@Suite("CLIPFull: ViT-B/32 at full size (MMPIPE_CLIP_FULL)")
struct CLIPFullTests {
    static let directory: URL? = ProcessInfo.processInfo.environment["MMPIPE_CLIP_FULL"].map { URL(fileURLWithPath: $0) }

    @Test(.enabled(if: directory != nil && CLIPFixtures.bpePresent, "set MMPIPE_CLIP_FULL (scripts/gen-clip-fixtures.py --full)"),
          arguments: ["hf", "openai/weights.safetensors"])
    func fullSizeMatches(_ weights: String) throws {
        let dir = try #require(Self.directory)
        let start = Date()
        let model = try CLIPLoader.load(weights: dir.appendingPathComponent(weights), name: "clip-vit-b-32", bpe: CLIPFixtures.bpe)
        let loaded = Date()
        let labelsData = try Data(contentsOf: dir.appendingPathComponent("labels.json"))
        let labels = try #require((try JSONSerialization.jsonObject(with: labelsData) as? [String: Any])?["labels"] as? [String])
        let x = try NPY.read(dir.appendingPathComponent("input-hf-224.npy")).tensor
        let image = model.encodeImages(x)
        let text = model.encodeTexts(labels)
        let seconds = Date().timeIntervalSince(loaded)
        let ia = Agreement(image, try NPY.read(dir.appendingPathComponent("image.npy")).tensor)
        let ta = Agreement(text, try NPY.read(dir.appendingPathComponent("text.npy")).tensor)
        let pa = Agreement(model.probabilities(imageEmbeddings: image, textEmbeddings: text),
                           try NPY.read(dir.appendingPathComponent("probs.npy")).tensor)
        #expect(model.name == "clip-vit-b-32")
        #expect(ia.minCosine >= 0.9999, "\(weights) image: \(ia)")
        #expect(ta.minCosine >= 0.9999, "\(weights) text: \(ta)")
        #expect(pa.maxAbs <= 1e-4, "\(weights) probabilities: \(pa)")
        print(String(format: "clip full %@: image %@; text %@; probabilities %@; load %.2f s, encode %.2f s",
                     weights, ia.description, ta.description, pa.description, loaded.timeIntervalSince(start), seconds))
    }
}
