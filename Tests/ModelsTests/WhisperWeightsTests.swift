import Foundation
import Testing
import TensorCore
@testable import Models   // the memberwise initialisers of WhisperWeights and its parts are internal

/// Whisper weight loading: the real CTranslate2 checkpoints fetched into `Models/`
/// (whisper-tiny.en must be there: scripts/test fetches it; whisper-base is optional),
/// the Hugging Face layout written by `WhisperConverter`, and malformed files.
@Suite("WhisperWeights: CTranslate2 and Hugging Face loading")
struct WhisperWeightsTests {
    // MARK: locating models and fixtures

    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static var modelsDir: URL {
        if let env = ProcessInfo.processInfo.environment["MMPIPE_MODELS_DIR"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return repoRoot.appendingPathComponent("Models")
    }

    static func modelPresent(_ name: String) -> Bool {
        FileManager.default.fileExists(atPath: modelsDir.appendingPathComponent("\(name)/model.bin").path)
    }

    /// The folder of a model that must be present (a missing model fails the test).
    static func requiredModel(_ name: String) throws -> URL {
        let dir = modelsDir.appendingPathComponent(name)
        try #require(modelPresent(name), "\(dir.path)/model.bin is missing: run scripts/fetch-models \(name) (or set MMPIPE_MODELS_DIR)")
        return dir
    }

    static func fixture(_ name: String) throws -> URL {
        try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures/whisper"),
                     "fixture \(name) missing: run scripts/gen-whisper-fixtures.py")
    }

    static func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mmpipe-whisper-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Loads a model folder and reports how long it took.
    static func timedLoad(_ dir: URL) throws -> (WhisperWeights, WhisperExtras) {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try WhisperLoader.load(directory: dir)
        print("loaded \(dir.lastPathComponent) in \(clock.now - start)")
        return result
    }

    /// Every tensor of a model with a readable name, in a fixed order.
    static func namedTensors(_ w: WhisperWeights) -> [(String, Tensor?)] {
        var out: [(String, Tensor?)] = [
            ("conv1.weight", w.conv1.weight), ("conv1.bias", w.conv1.bias),
            ("conv2.weight", w.conv2.weight), ("conv2.bias", w.conv2.bias),
            ("encoderPositions", w.encoderPositions), ("tokenEmbedding", w.tokenEmbedding),
            ("decoderPositions", w.decoderPositions),
        ]
        func linear(_ p: String, _ l: Linear) { out += [("\(p).weight", l.weight), ("\(p).bias", l.bias)] }
        func norm(_ p: String, _ n: LayerNorm) { out += [("\(p).weight", n.weight), ("\(p).bias", n.bias)] }
        func attention(_ p: String, _ a: WhisperAttention) {
            linear("\(p).query", a.query); linear("\(p).key", a.key); linear("\(p).value", a.value); linear("\(p).out", a.out)
        }
        for (i, l) in w.encoderLayers.enumerated() {
            norm("enc\(i).attentionNorm", l.attentionNorm); attention("enc\(i).attention", l.attention)
            norm("enc\(i).mlpNorm", l.mlpNorm); linear("enc\(i).fc1", l.fc1); linear("enc\(i).fc2", l.fc2)
        }
        norm("encoderNorm", w.encoderNorm)
        for (i, l) in w.decoderLayers.enumerated() {
            norm("dec\(i).selfAttentionNorm", l.selfAttentionNorm); attention("dec\(i).selfAttention", l.selfAttention)
            norm("dec\(i).crossAttentionNorm", l.crossAttentionNorm); attention("dec\(i).crossAttention", l.crossAttention)
            norm("dec\(i).mlpNorm", l.mlpNorm); linear("dec\(i).fc1", l.fc1); linear("dec\(i).fc2", l.fc2)
        }
        norm("decoderNorm", w.decoderNorm)
        return out
    }

    /// Expects `a` and `b` to hold the same tensors, bit for bit.
    static func expectIdentical(_ a: WhisperWeights, _ b: WhisperWeights) {
        #expect(a.dims == b.dims)
        let ta = namedTensors(a), tb = namedTensors(b)
        #expect(ta.count == tb.count)
        for ((name, x), (_, y)) in zip(ta, tb) {
            guard let x, let y else {
                #expect((x == nil) == (y == nil), "\(name): present in one model only")
                continue
            }
            #expect(x.shape == y.shape, "\(name): shape \(x.shape) vs \(y.shape)")
            if x.shape == y.shape {
                let same = x.withUnsafeBufferPointer { bx in
                    y.withUnsafeBufferPointer { by in memcmp(bx.baseAddress!, by.baseAddress!, bx.count * 4) == 0 }
                }
                #expect(same, "\(name): values differ")
            }
        }
    }

    /// Expects `body` to throw a one-line `WeightFileError` that names `path` and says each fragment.
    static func expectError(mentions path: String, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation,
                            _ body: () throws -> Void) {
        let error = #expect(throws: WeightFileError.self, sourceLocation: sourceLocation) { try body() }
        guard let error else { return }
        let text = "\(error)"
        #expect(!text.contains("\n"), "error spans several lines: \(text)", sourceLocation: sourceLocation)
        #expect(text.contains(path), "error does not name \(path): \(text)", sourceLocation: sourceLocation)
        for f in fragments {
            #expect(text.contains(f), "error does not say '\(f)': \(text)", sourceLocation: sourceLocation)
        }
    }

    // MARK: real checkpoints

    @Test func tinyEnLoadsFromCTranslate2() throws {
        let dir = try Self.requiredModel("whisper-tiny.en")
        #expect(WhisperLoader.layout(of: dir) == .ctranslate2)
        let (w, extras) = try Self.timedLoad(dir)
        #expect(w.dims == WhisperDimensions(nMels: 80, nAudioCtx: 1500, nAudioState: 384, nAudioHead: 6, nAudioLayer: 4,
                                            nVocab: 51864, nTextCtx: 448, nTextState: 384, nTextHead: 6, nTextLayer: 4))
        #expect(!w.dims.isMultilingual)
        #expect(w.encoderLayers.count == 4 && w.decoderLayers.count == 4)
        #expect(w.encoderLayers[0].fc1.weight.shape == [1536, 384])
        #expect(w.decoderLayers[3].crossAttention.key.weight.shape == [384, 384])
        for layer in w.encoderLayers { #expect(layer.attention.key.bias == nil && layer.attention.query.bias != nil) }
        for layer in w.decoderLayers { #expect(layer.selfAttention.key.bias == nil && layer.crossAttention.key.bias == nil) }

        // Extras as config.json states them.
        #expect(extras.alignmentHeads.map { [$0.layer, $0.head] } == [[1, 0], [2, 0], [2, 5], [3, 0], [3, 1], [3, 2], [3, 3], [3, 4]])
        #expect(extras.suppressIDsBegin == [220, 50256])
        #expect(extras.suppressIDs.count == 90 && extras.suppressIDs.prefix(4) == [1, 2, 7, 8] && extras.suppressIDs.last == 50361)
        #expect(extras.languageIDs.count == 98 && extras.languageIDs.first == 50259)

        // The split projections are the rows of the fused CTranslate2 tensors.
        let file = try CTranslate2File(url: dir.appendingPathComponent("model.bin"))
        #expect(file.binaryVersion == 6 && file.specName == "WhisperSpec" && file.specRevision == 3)
        #expect(file.aliases == ["decoder/projection/weight": "decoder/embeddings/weight"])
        #expect(try file.scalar("encoder/num_heads") == 6)
        let qkv = try file.tensor("encoder/layer_1/self_attention/linear_0/weight")
        #expect(qkv.shape == [1152, 384])
        #expect(w.encoderLayers[1].attention.value.weight.scalars == qkv.slice(axis: 0, 768..<1152).scalars)
        let kvBias = try file.tensor("decoder/layer_2/attention/linear_1/bias").scalars
        #expect(kvBias.prefix(384).allSatisfy { $0 == 0 }, "CTranslate2 stores zeros for the key bias")
        #expect(w.decoderLayers[2].crossAttention.value.bias?.scalars == Array(kvBias.suffix(384)))

        // fp16 widened exactly: the sinusoidal encoder positions are within fp16 rounding of whisper's.
        let pos = w.encoderPositions
        var maxErr: Float = 0
        let half = 192, step = log(Float(10000)) / Float(half - 1)
        for t in stride(from: 0, to: 1500, by: 37) {
            for c in 0..<half {
                let angle = Float(t) * exp(-step * Float(c))
                maxErr = max(maxErr, abs(pos[t, c] - sin(angle)), abs(pos[t, c + half] - cos(angle)))
            }
        }
        #expect(maxErr < 1e-3, "encoder positions: max error \(maxErr) against whisper's sinusoids")
    }

    @Test(.enabled(if: WhisperWeightsTests.modelPresent("whisper-base"), "whisper-base not fetched (scripts/fetch-models whisper-base)"))
    func baseLoadsFromCTranslate2() throws {
        let (w, extras) = try Self.timedLoad(Self.modelsDir.appendingPathComponent("whisper-base"))
        #expect(w.dims == WhisperDimensions(nMels: 80, nAudioCtx: 1500, nAudioState: 512, nAudioHead: 8, nAudioLayer: 6,
                                            nVocab: 51865, nTextCtx: 448, nTextState: 512, nTextHead: 8, nTextLayer: 6))
        #expect(w.dims.isMultilingual)
        #expect(extras.alignmentHeads.count == 8 && extras.alignmentHeads.first.map { [$0.layer, $0.head] } == [3, 1])
        #expect(extras.languageIDs == Array(50259...50357))
        #expect(extras.suppressIDsBegin == [220, 50257])
    }

    /// CTranslate2 → Hugging Face layout → back: every tensor identical, extras equal.
    /// `--compute-type int8` quantises each linear layer as the file is read (so the float32
    /// weights never exist all at once): every one of them arrives as int8, and the model
    /// built from them is the one built by quantising afterwards.
    @Test func int8QuantisesEveryLinearAsItIsRead() throws {
        let dir = try Self.requiredModel("whisper-tiny.en")
        let (w, _) = try WhisperLoader.load(directory: dir, store: WhisperComputeType.int8.loading)
        func all(_ a: WhisperAttention) -> [Linear] { [a.query, a.key, a.value, a.out] }
        let linears = w.encoderLayers.flatMap { all($0.attention) + [$0.fc1, $0.fc2] }
            + w.decoderLayers.flatMap { all($0.selfAttention) + all($0.crossAttention) + [$0.fc1, $0.fc2] }
        #expect(linears.count == 4 * 6 + 4 * 10)
        #expect(linears.allSatisfy { $0.matrix.precision == .int8 })
        let (plain, _) = try WhisperLoader.load(directory: dir)
        let mel = Tensor(shape: [1, 80, 3000], scalars: (0..<240_000).map { Float(($0 * 7919) % 1000) / 1000 - 0.5 })
        let a = WhisperModel(weights: w, computeType: .int8).encode(mel)
        let b = WhisperModel(weights: plain, computeType: .int8).encode(mel)
        #expect(a.scalars == b.scalars)
    }

    @Test func tinyEnRoundTripsThroughHuggingFaceLayout() throws {
        let (ct2, extras) = try WhisperLoader.load(directory: try Self.requiredModel("whisper-tiny.en"))
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try WhisperConverter.writeHuggingFace(ct2, extras: extras, to: dir)
        #expect(WhisperLoader.layout(of: dir) == .huggingFace)

        let st = try SafeTensorsFile(path: dir.appendingPathComponent("model.safetensors").path)
        #expect(st.metadata["format"] == "pt")
        #expect(st.entries.count == 4 + 1 + 4 * (4 * 2 - 1 + 2 * 2 + 2 * 2) + 2 + 2 + 4 * (2 * (4 * 2 - 1) + 3 * 2 + 2 * 2) + 2)
        #expect(st.entries["model.encoder.layers.0.self_attn.k_proj.weight"]?.shape == [384, 384])
        #expect(st.entries["model.encoder.layers.0.self_attn.k_proj.bias"] == nil)
        #expect(st.entries.values.allSatisfy { $0.dtype == .f32 })

        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("config.json"))) as? [String: Any])
        #expect(config["d_model"] as? Int == 384 && config["encoder_attention_heads"] as? Int == 6)
        #expect(config["decoder_start_token_id"] as? Int == 50257 && config["eos_token_id"] as? Int == 50256)

        let (hf, hfExtras) = try Self.timedLoad(dir)
        Self.expectIdentical(ct2, hf)
        #expect(hfExtras == extras)

        // Keys without the `model.` prefix and a tied proj_out load the same.
        var stripped: [(name: String, tensor: Tensor)] = []
        for name in st.names { stripped.append((String(name.dropFirst("model.".count)), try st.tensor(name))) }
        stripped.append(("proj_out.weight", try st.tensor("model.decoder.embed_tokens.weight")))
        try SafeTensorsWriter.write(stripped, to: dir.appendingPathComponent("model.safetensors"))
        let (plain, _) = try WhisperLoader.load(directory: dir)
        Self.expectIdentical(ct2, plain)
    }

    /// The loaded tiny.en weights, run by WhisperModel on the reference log-mel, give
    /// CTranslate2's encoder output (scripts/gen-whisper-fixtures.py).
    @Test func tinyEnEncoderMatchesCTranslate2() throws {
        let (w, _) = try WhisperLoader.load(directory: try Self.requiredModel("whisper-tiny.en"))
        let mel = try NPY.read(Self.fixture("mel-speech-full.npy")).tensor
        #expect(mel.shape == [80, 3000])
        let reference = try NPY.read(Self.fixture("encoder-tiny.en-speech.npy")).tensor     // rows 0,1,100,200,750,1499, mean, std
        let out = WhisperModel(weights: w).encode(mel.reshaped([1, 80, 3000]))
        #expect(out.shape == [1, 1500, 384])
        var maxErr: Float = 0, dot: Float = 0, nx: Float = 0, ny: Float = 0
        for (k, row) in [0, 1, 100, 200, 750, 1499].enumerated() {
            for c in 0..<384 {
                let x = out[0, row, c], y = reference[k, c]
                maxErr = max(maxErr, abs(x - y)); dot += x * y; nx += x * x; ny += y * y
            }
        }
        let cosine = dot / (nx.squareRoot() * ny.squareRoot())
        print("tiny.en encoder vs CTranslate2: max abs error \(maxErr), cosine \(cosine)")
        #expect(maxErr < 1e-3 && cosine > 0.999999, "encoder rows: max abs error \(maxErr), cosine \(cosine)")
    }

    // MARK: malformed CTranslate2 files

    /// A folder with a copy of tiny.en's config.json and `bytes` as its model.bin.
    static func ct2Folder(_ bytes: Data) throws -> URL {
        let dir = try tempDir()
        try bytes.write(to: dir.appendingPathComponent("model.bin"))
        return dir
    }

    @Test(arguments: [0, 3, 20, 200, 1_000_000, -1])
    func truncatedModelBin(keep: Int) throws {
        let source = try Self.requiredModel("whisper-tiny.en").appendingPathComponent("model.bin")
        let handle = try FileHandle(forReadingFrom: source)
        defer { try? handle.close() }
        let size = Int(try handle.seekToEnd())
        try handle.seek(toOffset: 0)
        let data = try handle.read(upToCount: keep >= 0 ? keep : size - 1) ?? Data()
        let dir = try Self.ct2Folder(data)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("model.bin").path
        Self.expectError(mentions: path, [keep == 0 ? "binary version" : "truncated"]) {
            _ = try WhisperLoader.load(directory: dir)
        }
    }

    @Test func wrongBinaryVersionAndTrailingBytes() throws {
        let source = try Self.requiredModel("whisper-tiny.en").appendingPathComponent("model.bin")
        var header = try #require(try FileHandle(forReadingFrom: source).read(upToCount: 4096))
        header[0] = 7
        let dir = try Self.ct2Folder(header)
        defer { try? FileManager.default.removeItem(at: dir) }
        Self.expectError(mentions: dir.appendingPathComponent("model.bin").path, ["binary version 7"]) {
            _ = try CTranslate2File(url: dir.appendingPathComponent("model.bin"))
        }

        // A complete synthetic model with bytes appended (e.g. a wrongly joined split file).
        var bytes = CT2Bytes.whisper(Synthetic.weights())
        bytes.append(contentsOf: [1, 2, 3])
        try bytes.write(to: dir.appendingPathComponent("model.bin"))
        Self.expectError(mentions: dir.appendingPathComponent("model.bin").path, ["3 unexpected bytes"]) {
            _ = try WhisperLoader.load(directory: dir)
        }
    }

    @Test func syntheticCTranslate2ModelLoads() throws {
        let w = Synthetic.weights()
        let dir = try Self.ct2Folder(CT2Bytes.whisper(w))
        defer { try? FileManager.default.removeItem(at: dir) }
        let (loaded, extras) = try WhisperLoader.load(directory: dir)
        Self.expectIdentical(w, loaded)
        // No config.json: openai-whisper's default alignment heads (second half of the layers).
        #expect(extras.alignmentHeads.map { [$0.layer, $0.head] } == [[1, 0], [1, 1]])
        #expect(extras.suppressIDs.isEmpty && extras.languageIDs.isEmpty)
    }

    @Test func int8QuantisedWeightIsDequantised() throws {
        let w = Synthetic.weights()
        let q: [Int8] = (0..<(16 * 8)).map { Int8($0 % 255 - 127) }
        let scale: [Float] = (0..<16).map { Float($0 + 1) * 0.5 }
        var vars = CT2Bytes.variables(w)
        let i = try #require(vars.firstIndex { $0.name == "decoder/layer_0/ffn/linear_0/weight" })
        vars[i] = (vars[i].name, [16, 8], 1, Data(q.map { UInt8(bitPattern: $0) }))
        vars.append(("decoder/layer_0/ffn/linear_0/weight_scale", [16], 0, CT2Bytes.f32(scale)))
        let dir = try Self.ct2Folder(CT2Bytes.file(vars))
        defer { try? FileManager.default.removeItem(at: dir) }
        let (loaded, _) = try WhisperLoader.load(directory: dir)
        let expected = (0..<(16 * 8)).map { Float(q[$0]) / scale[$0 / 8] }
        #expect(loaded.decoderLayers[0].fc1.weight.scalars == expected)
    }

    /// Edits of the synthetic CTranslate2 model and the error each must give.
    @Test(arguments: [
        ("drop:encoder/layer_1/ffn/linear_1/bias", "missing tensor 'encoder/layer_1/ffn/linear_1/bias'"),
        ("shape:decoder/layer_0/attention/linear_1/weight", "'decoder/layer_0/attention/linear_1/weight' has shape [15, 8], expected [16, 8]"),
        ("extra:decoder/layer_0/extra/weight", "1 unexpected tensor for a Whisper model: 'decoder/layer_0/extra/weight'"),
        ("drop:decoder/num_heads", "missing scalar 'decoder/num_heads'"),
        ("flag:decoder/pre_norm", "scalar 'decoder/pre_norm' is 0.0, Whisper needs 1.0"),
        ("flag:decoder/rotary_dim", "unsupported attributes for a Whisper model: 'decoder/rotary_dim'"),
        ("spec:TransformerSpec", "not a Whisper model"),
        ("bytes:encoder/conv1/bias", "'encoder/conv1/bias': 28 bytes but shape [8] of float32 needs 32"),
        ("alias:decoder/projection/weight", "alias 'decoder/projection/weight' names 'decoder/nothing'"),
    ])
    func malformedSyntheticCTranslate2(edit: String, message: String) throws {
        let (kind, target) = { let p = edit.split(separator: ":", maxSplits: 1); return (String(p[0]), String(p[1])) }()
        var vars = CT2Bytes.variables(Synthetic.weights())
        var spec = "WhisperSpec"
        var aliases = [("decoder/projection/weight", "decoder/embeddings/weight")]
        switch kind {
        case "drop": vars.removeAll { $0.name == target }
        case "shape":
            let i = vars.firstIndex { $0.name == target }!
            vars[i] = (target, [15, 8], 0, vars[i].data.prefix(15 * 8 * 4))
        case "extra": vars.append((target, [2], 0, CT2Bytes.f32([1, 2])))
        case "flag":
            vars.removeAll { $0.name == target }
            vars.append((target, [], 1, Data([target.hasSuffix("pre_norm") ? 0 : 16])))
        case "spec": spec = target
        case "bytes":
            let i = vars.firstIndex { $0.name == target }!
            vars[i].data = vars[i].data.prefix(28)
        case "alias": aliases = [(target, "decoder/nothing")]
        default: Issue.record("unknown edit \(kind)")
        }
        let dir = try Self.ct2Folder(CT2Bytes.file(vars, spec: spec, aliases: aliases))
        defer { try? FileManager.default.removeItem(at: dir) }
        Self.expectError(mentions: dir.appendingPathComponent("model.bin").path, [message]) {
            _ = try WhisperLoader.load(directory: dir)
        }
    }

    // MARK: malformed Hugging Face checkpoints

    /// Edits of a converted synthetic model and the error each must give.
    @Test(arguments: [
        ("drop:model.decoder.layers.1.encoder_attn.v_proj.bias", "model.safetensors", "missing tensor 'model.decoder.layers.1.encoder_attn.v_proj.bias' (expected shape [8])"),
        ("shape:model.encoder.conv2.weight", "model.safetensors", "tensor 'model.encoder.conv2.weight' has shape [8, 8, 2], expected [8, 8, 3]"),
        ("extra:model.encoder.layers.0.self_attn.k_proj.bias", "model.safetensors", "unexpected tensor for a Whisper model: 'model.encoder.layers.0.self_attn.k_proj.bias'"),
        ("untie:proj_out.weight", "model.safetensors", "untied output projections are not supported"),
        ("config:d_model", "config.json", "not a Whisper config: no 'd_model'"),
        ("heads:3", "config.json", "encoder_attention_heads 3 does not divide d_model 8"),
        ("alignment:[[5, 0]]", "config.json", "alignment head [5, 0] is outside the decoder's 2 layers x 2 heads"),
    ])
    func malformedHuggingFace(edit: String, file: String, message: String) throws {
        let (kind, target) = { let p = edit.split(separator: ":", maxSplits: 1); return (String(p[0]), String(p[1])) }()
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let w = Synthetic.weights()
        try WhisperConverter.writeHuggingFace(w, extras: WhisperExtras(alignmentHeads: [(1, 1)], languageIDs: [], suppressIDs: [3], suppressIDsBegin: [4]), to: dir)
        let stURL = dir.appendingPathComponent("model.safetensors"), configURL = dir.appendingPathComponent("config.json")
        let st = try SafeTensorsFile(path: stURL.path)
        var tensors: [(name: String, tensor: Tensor)] = try st.names.map { ($0, try st.tensor($0)) }
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any])
        switch kind {
        case "drop": tensors.removeAll { $0.name == target }
        case "shape":
            let i = tensors.firstIndex { $0.name == target }!
            tensors[i].tensor = tensors[i].tensor.slice(axis: 2, 0..<2).contiguous()
        case "extra": tensors.append((target, Tensor(zeros: [8])))
        case "untie": tensors.append((target, Tensor(repeating: 1, shape: [w.dims.nVocab, 8])))
        case "config": config[target] = nil
        case "heads": config["encoder_attention_heads"] = Int(target)!
        case "alignment": config["alignment_heads"] = [[5, 0]]
        default: Issue.record("unknown edit \(kind)")
        }
        try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: stURL)
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        Self.expectError(mentions: dir.appendingPathComponent(file).path, [message]) {
            _ = try WhisperLoader.load(directory: dir)
        }
    }

    @Test func emptyFolderSaysWhatIsExpected() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(WhisperLoader.layout(of: dir) == nil)
        Self.expectError(mentions: dir.path, ["model.bin", "model.safetensors"]) {
            _ = try WhisperLoader.load(directory: dir)
        }
    }

    @Test func referenceFixturesAreWellFormed() throws {
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixture("reference.json"))) as? [String: Any])
        let models = try #require(json["models"] as? [String: Any])
        let tiny = try #require((models["whisper-tiny.en"] as? [String: Any])?["clips"] as? [String: Any])
        #expect(tiny.count == 3)
        let speech = try #require(tiny["speech"] as? [String: Any])
        let greedy = try #require(speech["greedy"] as? [String: Any])
        #expect(greedy["prompt"] as? [Int] == [50257, 50362])
        #expect((greedy["text"] as? String)?.hasPrefix(" And Mr. John Dashwood") == true)
        #expect(try NPY.read(Self.fixture("encoder-tiny.en-speech.npy")).shape == [8, 384])
        #expect(try NPY.read(Self.fixture("mel-summary-librivox-0890.npy")).shape == [8, 80])
    }
}

// MARK: - synthetic models

/// A tiny random Whisper (d 8, 2 heads, 2 + 2 layers, 6 mel bins, vocabulary 20).
enum Synthetic {
    static let dims = WhisperDimensions(nMels: 6, nAudioCtx: 5, nAudioState: 8, nAudioHead: 2, nAudioLayer: 2,
                                        nVocab: 20, nTextCtx: 7, nTextState: 8, nTextHead: 2, nTextLayer: 2)

    static func weights() -> WhisperWeights {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func t(_ shape: [Int]) -> Tensor {
            let n = shape.reduce(1, *)
            return Tensor(shape: shape, scalars: (0..<n).map { _ in
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                return Float(Int(seed >> 40) % 2001 - 1000) / 1000
            })
        }
        let d = dims.nAudioState, f = 2 * d
        func linear(_ o: Int, _ i: Int, bias: Bool = true) -> Linear { Linear(weight: t([o, i]), bias: bias ? t([o]) : nil) }
        func norm() -> LayerNorm { LayerNorm(weight: t([d]), bias: t([d])) }
        func attention() -> WhisperAttention {
            WhisperAttention(query: linear(d, d), key: linear(d, d, bias: false), value: linear(d, d), out: linear(d, d))
        }
        return WhisperWeights(
            dims: dims, conv1: (t([d, dims.nMels, 3]), t([d])), conv2: (t([d, d, 3]), t([d])),
            encoderPositions: t([dims.nAudioCtx, d]),
            encoderLayers: (0..<dims.nAudioLayer).map { _ in
                WhisperEncoderLayer(attentionNorm: norm(), attention: attention(), mlpNorm: norm(), fc1: linear(f, d), fc2: linear(d, f))
            },
            encoderNorm: norm(), tokenEmbedding: t([dims.nVocab, d]), decoderPositions: t([dims.nTextCtx, d]),
            decoderLayers: (0..<dims.nTextLayer).map { _ in
                WhisperDecoderLayer(selfAttentionNorm: norm(), selfAttention: attention(), crossAttentionNorm: norm(),
                                    crossAttention: attention(), mlpNorm: norm(), fc1: linear(f, d), fc2: linear(d, f))
            },
            decoderNorm: norm())
    }
}

/// Writes CTranslate2 `model.bin` bytes (binary version 6) for the tests.
enum CT2Bytes {
    typealias Variable = (name: String, shape: [Int], dtype: UInt8, data: Data)

    static func f32(_ v: [Float]) -> Data { v.withUnsafeBufferPointer { Data(buffer: $0) } }

    static func file(_ vars: [Variable], spec: String = "WhisperSpec", revision: UInt32 = 3,
                     aliases: [(String, String)] = [("decoder/projection/weight", "decoder/embeddings/weight")]) -> Data {
        var out = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String) {
            let bytes = Array(s.utf8) + [0]
            withUnsafeBytes(of: UInt16(bytes.count).littleEndian) { out.append(contentsOf: $0) }
            out.append(contentsOf: bytes)
        }
        u32(6)
        string(spec)
        u32(revision)
        u32(UInt32(vars.count))
        for v in vars {
            string(v.name)
            out.append(UInt8(v.shape.count))
            for d in v.shape { u32(UInt32(d)) }
            out.append(v.dtype)
            u32(UInt32(v.data.count))
            out.append(v.data)
        }
        u32(UInt32(aliases.count))
        for (a, b) in aliases { string(a); string(b) }
        return out
    }

    /// The variables of a WhisperSpec file (float32), projections fused as CTranslate2 does.
    static func variables(_ w: WhisperWeights) -> [Variable] {
        var vars: [Variable] = []
        func add(_ name: String, _ t: Tensor) { vars.append((name, t.shape, 0, f32(t.scalars))) }
        func add(_ name: String, _ l: Linear) {
            add("\(name)/weight", l.weight)
            add("\(name)/bias", l.bias ?? Tensor(zeros: [l.outFeatures]))
        }
        func add(_ name: String, _ n: LayerNorm) { add("\(name)/gamma", n.weight); add("\(name)/beta", n.bias) }
        func fused(_ parts: [Linear]) -> Linear {
            Linear(weight: Tensor.concat(parts.map(\.weight), axis: 0),
                   bias: Tensor.concat(parts.map { $0.bias ?? Tensor(zeros: [$0.outFeatures]) }, axis: 0))
        }
        func scalar(_ name: String, int16 v: Int16) { vars.append((name, [], 2, withUnsafeBytes(of: v.littleEndian) { Data($0) })) }
        func flag(_ name: String, _ v: UInt8) { vars.append((name, [], 1, Data([v]))) }

        flag("decoder/activation", 3); flag("decoder/alibi", 0)
        scalar("decoder/alignment_heads", int16: 1); scalar("decoder/alignment_layer", int16: -1)
        add("decoder/embeddings/weight", w.tokenEmbedding)
        for (i, l) in w.decoderLayers.enumerated() {
            let p = "decoder/layer_\(i)"
            add("\(p)/attention/layer_norm", l.crossAttentionNorm)
            add("\(p)/attention/linear_0", l.crossAttention.query)
            add("\(p)/attention/linear_1", fused([l.crossAttention.key, l.crossAttention.value]))
            add("\(p)/attention/linear_2", l.crossAttention.out)
            add("\(p)/ffn/layer_norm", l.mlpNorm)
            add("\(p)/ffn/linear_0", l.fc1)
            add("\(p)/ffn/linear_1", l.fc2)
            add("\(p)/self_attention/layer_norm", l.selfAttentionNorm)
            add("\(p)/self_attention/linear_0", fused([l.selfAttention.query, l.selfAttention.key, l.selfAttention.value]))
            add("\(p)/self_attention/linear_1", l.selfAttention.out)
        }
        add("decoder/layer_norm", w.decoderNorm)
        scalar("decoder/num_heads", int16: Int16(w.dims.nTextHead))
        add("decoder/position_encodings/encodings", w.decoderPositions)
        flag("decoder/pre_norm", 1); flag("decoder/scale_embeddings", 0); flag("decoder/start_from_zero_embedding", 0)
        add("encoder/conv1/bias", w.conv1.bias); add("encoder/conv1/weight", w.conv1.weight)
        add("encoder/conv2/bias", w.conv2.bias); add("encoder/conv2/weight", w.conv2.weight)
        for (i, l) in w.encoderLayers.enumerated() {
            let p = "encoder/layer_\(i)"
            add("\(p)/ffn/layer_norm", l.mlpNorm)
            add("\(p)/ffn/linear_0", l.fc1)
            add("\(p)/ffn/linear_1", l.fc2)
            add("\(p)/self_attention/layer_norm", l.attentionNorm)
            add("\(p)/self_attention/linear_0", fused([l.attention.query, l.attention.key, l.attention.value]))
            add("\(p)/self_attention/linear_1", l.attention.out)
        }
        add("encoder/layer_norm", w.encoderNorm)
        scalar("encoder/num_heads", int16: Int16(w.dims.nAudioHead))
        add("encoder/position_encodings/encodings", w.encoderPositions)
        return vars
    }

    static func whisper(_ w: WhisperWeights) -> Data { file(variables(w)) }
}
