import Foundation
import Models
import TensorCore
import Testing

/// Strict loading: every expected tensor present with its shape, nothing unexpected, the
/// --model name matching the weights; errors name the file and the tensor and say what to do.
@Suite("Vision loader: strict keys and clear errors")
struct VisionLoaderTests {
    static func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mmpipe-vision-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The tensors of a fixture's weights, edited, written to a new file.
    static func edited(_ fixture: String, file: String = "model.safetensors",
                       _ edit: (inout [(name: String, tensor: Tensor)]) -> Void) throws -> (dir: URL, url: URL) {
        let src = try VisionFixtures.url(fixture).appendingPathComponent(file)
        let st = try SafeTensorsFile(path: src.path)
        var tensors = try st.names.map { (name: $0, tensor: try st.tensor($0)) }
        edit(&tensors)
        let dir = try tempDir()
        let url = dir.appendingPathComponent(file)
        try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: url)
        // Keep the Hugging Face JSON files beside it.
        for json in ["config.json", "preprocessor_config.json"] {
            let from = try VisionFixtures.url(fixture).appendingPathComponent(json)
            if FileManager.default.fileExists(atPath: from.path) {
                try FileManager.default.copyItem(at: from, to: dir.appendingPathComponent(json))
            }
        }
        return (dir, url)
    }

    static func loadError(_ name: String, _ url: URL) -> String {
        do {
            _ = try VisionModelRegistry.load(name: name, weights: url)
            return "loaded without error"
        } catch {
            return "\(error)"
        }
    }

    @Test func missingTensorIsNamedAsTheFileNamesIt() throws {
        let (dir, url) = try Self.edited("hf-resnet-bottleneck") { t in
            t.removeAll { $0.name == "resnet.encoder.stages.1.layers.1.layer.2.normalization.running_var" }
        }
        defer { try? FileManager.default.removeItem(at: dir) }
        let e = Self.loadError("resnet", dir)
        #expect(e.hasPrefix(url.path) && e.contains("missing tensor 'resnet.encoder.stages.1.layers.1.layer.2.normalization.running_var'"), "\(e)")

        let (dir2, url2) = try Self.edited("timm-vit-avg") { t in t.removeAll { $0.name == "blocks.1.mlp.fc2.bias" } }
        defer { try? FileManager.default.removeItem(at: dir2) }
        let e2 = Self.loadError("vit", dir2)
        #expect(e2.hasPrefix(url2.path) && e2.contains("missing tensor 'blocks.1.mlp.fc2.bias'"), "\(e2)")
    }

    @Test func wrongShapeIsAnError() throws {
        let (dir, url) = try Self.edited("hf-vit-classifier") { t in
            let i = t.firstIndex { $0.name == "vit.encoder.layer.0.intermediate.dense.weight" }!
            t[i].tensor = Tensor(zeros: [48, 32])
        }
        defer { try? FileManager.default.removeItem(at: dir) }
        let e = Self.loadError("vit", dir)
        #expect(e.hasPrefix(url.path) && e.contains("'vit.encoder.layer.0.intermediate.dense.weight' has shape [48, 32], vit expects [64, 32]"), "\(e)")
    }

    @Test func unexpectedTensorsAreReported() throws {
        let (dir, url) = try Self.edited("tv-resnet-basic", file: "weights.safetensors") { t in
            t.append((name: "layer4.0.se.fc.weight", tensor: Tensor(zeros: [4, 4])))
        }
        defer { try? FileManager.default.removeItem(at: dir) }
        let e = Self.loadError("resnet", url)
        #expect(e.hasPrefix(url.path) && e.contains("1 unexpected tensor for resnet: 'layer4.0.se.fc.weight'"), "\(e)")
    }

    @Test func batchNormCountersAreIgnored() throws {
        let st = try SafeTensorsFile(path: try VisionFixtures.url("tv-resnet-basic/weights.safetensors").path)
        #expect(st.entries.keys.contains("bn1.num_batches_tracked"))
        _ = try VisionModelRegistry.load(name: "resnet", weights: try VisionFixtures.url("tv-resnet-basic/weights.safetensors"))
    }

    @Test func nonStandardSizeNeedsTheFamilyName() throws {
        let url = try VisionFixtures.url("tv-resnet-basic/weights.safetensors")
        let e = Self.loadError("resnet50", url)
        #expect(e.contains("weights are a ResNet with basic blocks, depths [1, 2, 1, 1]") && e.contains("--model resnet50")
                && e.contains("pass --model resnet"), "\(e)")
        let v = Self.loadError("vit-b-16", try VisionFixtures.url("hf-vit-classifier"))
        #expect(v.contains("are a ViT with width 32") && v.contains("pass --model vit"), "\(v)")
    }

    /// A file shaped like torchvision's resnet18 (uint8 zeros: only shapes matter here).
    @Test func standardSizeMismatchNamesTheRightModel() throws {
        var shapes: [(String, [Int])] = [("conv1.weight", [64, 3, 7, 7])]
        func bn(_ p: String, _ c: Int) {
            for s in ["weight", "bias", "running_mean", "running_var"] { shapes.append(("\(p).\(s)", [c])) }
        }
        bn("bn1", 64)
        var inp = 64
        for (s, width) in [64, 128, 256, 512].enumerated() {
            for b in 0..<2 {
                let p = "layer\(s + 1).\(b)"
                shapes.append(("\(p).conv1.weight", [width, b == 0 ? inp : width, 3, 3])); bn("\(p).bn1", width)
                shapes.append(("\(p).conv2.weight", [width, width, 3, 3])); bn("\(p).bn2", width)
                if b == 0 && (s > 0) { shapes.append(("\(p).downsample.0.weight", [width, inp, 1, 1])); bn("\(p).downsample.1", width) }
            }
            inp = width
        }
        shapes += [("fc.weight", [1000, 512]), ("fc.bias", [1000])]
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("resnet18-like.safetensors")
        try Self.writeZeros(shapes, to: url)
        let e = Self.loadError("resnet50", url)
        #expect(e.hasPrefix(url.path) && e.contains("weights look like resnet18") && e.contains("--model resnet50")
                && e.contains("pass --model resnet18"), "\(e)")
        // And with the right name it loads (u8 zeros become float zeros).
        let m = try VisionModelRegistry.load(name: "resnet18", weights: url)
        #expect(m.featureDimension == 512 && m.labels?.first == "tench")
        #expect(m.preprocessing == .torchvisionImageNet)
    }

    @Test func wrongFamilyIsNamed() throws {
        let e = Self.loadError("vit-b-16", try VisionFixtures.url("tv-resnet-basic/weights.safetensors"))
        #expect(e.contains("not ViT weights: they look like a ResNet (torchvision layout), but --model vit-b-16 was given"), "\(e)")
        let f = Self.loadError("efficientnet-lite0", try VisionFixtures.url("hf-vit-classifier"))
        #expect(f.contains("look like a ViT (Hugging Face layout)"), "\(f)")
        let g = Self.loadError("resnet18", try VisionFixtures.url("timm-vit-avg"))
        #expect(g.contains("look like a ViT (timm layout)"), "\(g)")
    }

    @Test func unknownNameAndBadPaths() throws {
        #expect(Self.loadError("resnet51", try VisionFixtures.url("hf-vit-classifier")).contains("unknown vision model 'resnet51'"))
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(Self.loadError("resnet", dir).contains("no model.safetensors in this folder"))
        let pth = dir.appendingPathComponent("resnet50.pth")
        try Data([0x80, 0x02]).write(to: pth)
        #expect(Self.loadError("resnet", pth).contains("convert it first with scripts/torch_legacy.py"))
        #expect(Self.loadError("resnet", dir).contains("found resnet50.pth"))
        #expect(Self.loadError("resnet", dir.appendingPathComponent("nothing")).contains("no such file or folder"))
    }

    @Test func inputSizeIsChecked() throws {
        let m = try VisionModelRegistry.load(name: "vit", weights: try VisionFixtures.url("hf-vit-classifier"))
        #expect(m.preprocessing == .huggingFaceViT(size: 32))
        #expect(throws: VisionError.self) { _ = try m.features(Tensor(zeros: [1, 3, 48, 48])) }
        #expect(throws: VisionError.self) { _ = try m.features(Tensor(zeros: [1, 1, 32, 32])) }
        let pooler = try VisionModelRegistry.load(name: "vit", weights: try VisionFixtures.url("hf-vit-pooler"))
        #expect(throws: VisionError.self) { _ = try pooler.classify(Tensor(zeros: [1, 3, 32, 32])) }
    }

    @Test func configsAndPreprocessingAreRead() throws {
        let hf = try VisionModelRegistry.load(name: "resnet", weights: try VisionFixtures.url("hf-resnet-basic"))
        let r = try #require(hf as? ResNet)
        #expect(r.layout == .huggingFace && r.config.downsampleInFirstStage && r.config.depths == [2, 1, 1])
        #expect(r.labels == (0..<10).map { "LABEL_\($0)" })
        // preprocessor_config.json: ConvNextImageProcessor, shortest_edge 48, crop_pct 0.875, bicubic.
        #expect(r.preprocessing == VisionPreprocessing(resizeShorterSide: 54, filter: .bicubic, cropWidth: 48, cropHeight: 48,
                                                       mean: VisionPreprocessing.imagenetMean, std: VisionPreprocessing.imagenetStd))
        let timm = try #require(try VisionModelRegistry.load(name: "vit", weights: try VisionFixtures.url("timm-vit-avg")) as? ViT)
        #expect(timm.layout == .timm && timm.config.pooling == "avg" && timm.config.layerNormEps == 1e-6)
        #expect(timm.preprocessing.resizeShorterSide == 35 && timm.preprocessing.filter == .bicubic)
        let token = try #require(try VisionModelRegistry.load(name: "vit", weights: try VisionFixtures.url("timm-vit-token-ls")) as? ViT)
        #expect(token.config.pooling == "token" && token.config.numAttentionHeads == 2)
    }

    @Test func registryNames() {
        #expect(VisionModelRegistry.names.contains("vit-b-32") && VisionModelRegistry.names.contains("efficientnet-lite0"))
        #expect(VisionModelRegistry.family(of: "resnet101") == .resnet)
        #expect(VisionModelRegistry.family(of: "vit-l-16") == .vit)
        #expect(VisionModelRegistry.family(of: "resnet-50") == nil)
        #expect(ImageNetClasses.names.count == 1000 && ImageNetClasses.names[281] == "tabby" && ImageNetClasses.names[504] == "coffee mug")
        #expect(EfficientNetLite.standardConfig("efficientnet-lite0")?.blockCount == 16)
        #expect(EfficientNetLite.standardConfig("efficientnet-lite4")?.blockCount == 30)
    }

    /// A safetensors file of uint8 zeros with these shapes.
    static func writeZeros(_ shapes: [(String, [Int])], to url: URL) throws {
        var header: [String: Any] = [:]
        var offset = 0
        for (name, shape) in shapes {
            let n = shape.reduce(1, *)
            header[name] = ["dtype": "U8", "shape": shape, "data_offsets": [offset, offset + n]]
            offset += n
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var data = Data()
        var length = UInt64(json.count).littleEndian
        data.append(Data(bytes: &length, count: 8))
        data.append(json)
        data.append(Data(count: offset))
        try data.write(to: url)
    }
}
