import Foundation
import Engine
import Models
import TensorCore

/// `mmpipe-bench clip [--weights W] [--bpe B] [--pixels P.npy] [--tokens T.json] [--batch N]`:
/// ViT-B/32 image and text embeddings per second at batch 8 (default).
///
/// Weights: `--weights` (a CLIP checkpoint, e.g. /tmp/mmpipe-clip-full/hf from
/// `scripts/gen-clip-fixtures.py --full`), else that folder when present, else random
/// ViT-B/32 weights written once to /tmp/mmpipe-clip-bench/. Inputs: `--pixels` `[N, 3, 224,
/// 224]` and `--tokens` (`{"prompts": [[ids]], "long": [[ids]]}`), as `scripts/bench-clip.py`
/// writes them for both sides; else deterministic pixels and built-in prompts.
/// Prints one `clip <case> <items/s>` line per case (medians of `BENCH_REPEATS`, default 7).
func runCLIPBench(args: [String]) {
    func option(_ name: String) -> String? {
        guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
        return args[i + 1]
    }
    let repeats = Int(ProcessInfo.processInfo.environment["BENCH_REPEATS"] ?? "") ?? 7
    let batch = Int(option("--batch") ?? "") ?? 8
    let fm = FileManager.default
    do {
        let bpe = URL(fileURLWithPath: option("--bpe") ?? VisionSession.clipBPE(modelsDirectory: ModelStore.defaultDirectory()).path)
        let full = URL(fileURLWithPath: "/tmp/mmpipe-clip-full/hf")
        let weights = try option("--weights").map { URL(fileURLWithPath: $0) }
            ?? (fm.fileExists(atPath: full.path) ? full : CLIPBench.randomWeights())
        let model = try CLIPLoader.load(weights: weights, name: "clip-vit-b-32", bpe: bpe)

        var pixels: Tensor
        if let p = option("--pixels") {
            pixels = try NPY.read(URL(fileURLWithPath: p)).tensor
        } else {
            pixels = deterministic([batch, 3, 224, 224], seed: 11)
        }
        if pixels.shape[0] != batch {   // repeat or cut the given images to the batch size
            let n = pixels.shape[0]
            pixels = Tensor.concat((0..<batch).map { pixels.slice(axis: 0, ($0 % n)..<($0 % n + 1)) }, axis: 0)
        }
        var prompts = CLIPBench.prompts.prefix(batch).map { model.tokenizer.encode($0) }
        var long = (0..<batch).map { i in model.tokenizer.encode(String(repeating: "a photo of a long caption number \(i) ", count: 12)) }
        if let t = option("--tokens") {
            let o = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: t))) as? [String: Any]
            prompts = o?["prompts"] as? [[Int]] ?? prompts
            long = o?["long"] as? [[Int]] ?? long
        }

        print("threads: \(Compute.threads)   blas: \(Compute.blasDescription)   weights: \(weights.path)")
        print("batch \(batch); prompts \(prompts.map(\.count).max() ?? 0) tokens at most, long texts \(long.map(\.count).max() ?? 0) tokens")
        let cases: [(String, () -> Void)] = [
            ("images", { _ = model.encodeImages(pixels) }),
            ("texts-prompts", { _ = model.encodeTexts(prompts) }),
            ("texts-long", { _ = model.encodeTexts(long) }),
        ]
        for (name, body) in cases {
            body()   // warm-up
            let s = Benchmark.medianSeconds(repeats: repeats, body)
            print("clip \(name) \(fmt(Double(batch) / s, 2)) per s  (\(fmt(s * 1000, 1)) ms per batch)")
        }
    } catch {
        FileHandle.standardError.write("mmpipe-bench clip: \(error)\n".data(using: .utf8)!)
        exit(1)
    }
}

enum CLIPBench {
    static let prompts = ["a photo of a cat.", "a photo of a cup of coffee.", "a photo of an astronaut.", "a photo of a rocket.",
                          "a photo of a dog.", "a photo of a horse.", "a photo of a motorcycle.", "a photo of a teapot."]

    /// Random ViT-B/32 weights in the OpenAI layout, written once (about 600 MB).
    static func randomWeights() throws -> URL {
        let dir = URL(fileURLWithPath: "/tmp/mmpipe-clip-bench")
        let url = dir.appendingPathComponent("random-vit-b-32.safetensors")
        if FileManager.default.fileExists(atPath: url.path) { return url }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let c = CLIPConfig.standard("clip-vit-b-32")!
        let v = c.visionConfig, t = c.textConfig, e = c.projectionDim
        var seed: UInt64 = 100
        func r(_ shape: [Int], _ scale: Float, offset: Float = 0) -> Tensor {
            seed += 1
            return deterministic(shape, seed: seed) * scale + offset
        }
        var tensors: [(name: String, tensor: Tensor)] = [
            ("visual.conv1.weight", r([v.hiddenSize, 3, 32, 32], 0.02)), ("visual.class_embedding", r([v.hiddenSize], 0.5)),
            ("visual.positional_embedding", r([50, v.hiddenSize], 0.5)), ("visual.proj", r([v.hiddenSize, e], 0.05)),
            ("token_embedding.weight", r([t.vocabSize, t.hiddenSize], 0.5)), ("positional_embedding", r([77, t.hiddenSize], 0.5)),
            ("text_projection", r([t.hiddenSize, e], 0.05)), ("logit_scale", Tensor(shape: [], scalars: [4.6052])),
        ]
        for (p, d) in [("visual.ln_pre", v.hiddenSize), ("visual.ln_post", v.hiddenSize), ("ln_final", t.hiddenSize)] {
            tensors += [("\(p).weight", r([d], 0.2, offset: 1)), ("\(p).bias", r([d], 0.1))]
        }
        for (prefix, d, mlp) in [("visual.transformer.resblocks", v.hiddenSize, v.intermediateSize),
                                 ("transformer.resblocks", t.hiddenSize, t.intermediateSize)] {
            let s = 1 / Float(d).squareRoot()
            for i in 0..<12 {
                let p = "\(prefix).\(i)"
                tensors += [("\(p).attn.in_proj_weight", r([3 * d, d], s)), ("\(p).attn.in_proj_bias", r([3 * d], 0.1)),
                            ("\(p).attn.out_proj.weight", r([d, d], s)), ("\(p).attn.out_proj.bias", r([d], 0.1)),
                            ("\(p).ln_1.weight", r([d], 0.2, offset: 1)), ("\(p).ln_1.bias", r([d], 0.1)),
                            ("\(p).ln_2.weight", r([d], 0.2, offset: 1)), ("\(p).ln_2.bias", r([d], 0.1)),
                            ("\(p).mlp.c_fc.weight", r([mlp, d], s)), ("\(p).mlp.c_fc.bias", r([mlp], 0.1)),
                            ("\(p).mlp.c_proj.weight", r([d, mlp], 1 / Float(mlp).squareRoot())), ("\(p).mlp.c_proj.bias", r([d], 0.1))]
            }
        }
        try SafeTensorsWriter.write(tensors, to: url)
        return url
    }
}
