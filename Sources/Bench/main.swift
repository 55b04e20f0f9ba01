import Foundation
import TensorCore
import Models

/// `mmpipe-bench tensor`: GFLOPS of raw sgemm and of our ops on model-sized shapes.
/// Run through `scripts/bench`, which builds it in release mode.

func deterministic(_ shape: [Int], seed: UInt64) -> Tensor {
    var state = seed &* 6364136223846793005 &+ 1442695040888963407
    return Tensor(shape: shape) { buf in
        for i in buf.indices {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            buf[i] = Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
        }
    }
}

struct Row {
    let name: String, shape: String, seconds: Double, flops: Double, rawSameShape: Double?
    var gflops: Double { flops / seconds / 1e9 }
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func fmt(_ x: Double, _ d: Int = 1) -> String { String(format: "%.\(d)f", x) }

func tensorBench(repeats: Int) {
    print("threads: \(Compute.threads)   blas: \(Compute.blasDescription)")
    let peakShape = 2048
    let peakSeconds = Benchmark.rawSGEMMSeconds(m: peakShape, n: peakShape, k: peakShape, repeats: repeats)
    let peak = 2 * pow(Double(peakShape), 3) / peakSeconds / 1e9
    print("raw sgemm \(peakShape)^3 (OpenBLAS single-threaded per block, blocks on the pool): \(fmt(peak)) GFLOPS"
          + " (the reference rate for every ratio below)\n")

    var rows: [Row] = []

    // Linear: ViT-B/16 MLP and QKV at batch 8 (8 x 197 tokens), Whisper decoder step sizes.
    for (name, m, inF, outF) in [("linear vit-b mlp fc2", 8 * 197, 3072, 768), ("linear vit-b mlp fc1", 8 * 197, 768, 3072),
                                 ("linear vit-b qkv", 8 * 197, 768, 2304), ("linear whisper enc fc1", 1500, 384, 1536)] {
        let x = deterministic([m, inF], seed: 1), w = deterministic([outF, inF], seed: 2), b = deterministic([outF], seed: 3)
        let s = Benchmark.medianSeconds(repeats: repeats) { _ = Tensor.linear(x, weight: w, bias: b) }
        let raw = Benchmark.rawSGEMMSeconds(m: m, n: outF, k: inF, transB: true, repeats: repeats)
        rows.append(Row(name: name, shape: "[\(m),\(inF)]x[\(outF),\(inF)]^T", seconds: s,
                        flops: 2.0 * Double(m * inF * outF), rawSameShape: 2.0 * Double(m * inF * outF) / raw / 1e9))
    }

    // ResNet-50 convolutions at batch 8: 3x3 of each stage, and 1x1 reductions/expansions.
    let convs: [(String, Int, Int, Int, Int, Int)] = [
        // name, C, O, H(=W), kernel, stride
        ("conv 3x3 layer1", 64, 64, 56, 3, 1), ("conv 3x3 layer2", 128, 128, 28, 3, 1),
        ("conv 3x3 layer3", 256, 256, 14, 3, 1), ("conv 3x3 layer4", 512, 512, 7, 3, 1),
        ("conv 3x3 s2 layer2", 128, 128, 56, 3, 2),
        ("conv 1x1 256->64", 256, 64, 56, 1, 1), ("conv 1x1 64->256", 64, 256, 56, 1, 1),
        ("conv 1x1 512->128", 512, 128, 28, 1, 1), ("conv 1x1 1024->256", 1024, 256, 14, 1, 1),
        ("conv 1x1 2048->512", 2048, 512, 7, 1, 1),
    ]
    let batch = 8
    for (name, c, o, hw, k, stride) in convs {
        let x = deterministic([batch, c, hw, hw], seed: 4), w = deterministic([o, c, k, k], seed: 5), b = deterministic([o], seed: 6)
        let g = Conv2DGeometry(stride: (stride, stride), padding: (k / 2, k / 2))
        let s = Benchmark.medianSeconds(repeats: repeats) { _ = Tensor.conv2d(x, weight: w, bias: b, g) }
        let ho = (hw + 2 * (k / 2) - k) / stride + 1
        let flops = 2.0 * Double(batch * o * ho * ho * c * k * k)
        let raw = Benchmark.rawSGEMMSeconds(m: o, n: batch * ho * ho, k: c * k * k, repeats: repeats)
        rows.append(Row(name: name, shape: "N\(batch) \(c)->\(o) \(hw)x\(hw) s\(stride)", seconds: s, flops: flops,
                        rawSameShape: flops / raw / 1e9))
    }

    // Self-attention, heads split from [B, L, H, D]: ViT-B/16 at batch 8 (12 heads, 197
    // tokens), and Whisper tiny's encoder over one 30 s window (6 heads, 1500 positions) in
    // float32 and in the int8 compute type's low precision.
    for (name, b, h, l, d, lowPrecision) in [("attention vit-b/16", 8, 12, 197, 64, false),
                                             ("attention whisper enc", 1, 6, 1500, 64, false),
                                             ("  low precision (int8)", 1, 6, 1500, 64, true)] {
        let q = deterministic([b, l, h, d], seed: 7).permuted([0, 2, 1, 3])
        let k = deterministic([b, l, h, d], seed: 8).permuted([0, 2, 1, 3])
        let v = deterministic([b, l, h, d], seed: 9).permuted([0, 2, 1, 3])
        let s = Benchmark.medianSeconds(repeats: repeats) { _ = Tensor.attention(query: q, key: k, value: v, lowPrecision: lowPrecision) }
        rows.append(Row(name: name, shape: "B\(b) H\(h) L\(l) D\(d)", seconds: s,
                        flops: 4.0 * Double(b * h * l * l * d), rawSameShape: nil))
    }

    // A batched decoding step's cross-attention: 8 chunks x 5 beams, one query each, against
    // each chunk's 1500 positions (keys stored transposed): memory-bound, so also in GB/s.
    do {
        let (g, beams, h, l, d) = (8, 5, 6, 1500, 64)
        let q = deterministic([g * beams, 1, h, d], seed: 7).permuted([0, 2, 1, 3])
        let k = Tensor.keysForFewQueries(deterministic([g, l, h, d], seed: 8).permuted([0, 2, 1, 3]))
        let v = deterministic([g, l, h, d], seed: 9).permuted([0, 2, 1, 3]).contiguous()
        let s = Benchmark.medianSeconds(repeats: repeats) { _ = Tensor.attention(query: q, key: k, value: v) }
        rows.append(Row(name: "attention whisper cross", shape: "G\(g)x\(beams) H\(h) Lk\(l) D\(d): \(fmt(Double(2 * g * h * l * d * 4) / s / 1e9)) GB/s",
                        seconds: s, flops: 4.0 * Double(g * beams * h * l * d), rawSameShape: nil))
        let half = AttentionMemory(key: k, value: v, halfPrecision: true)
        if half.isHalfPrecision {
            let sh = Benchmark.medianSeconds(repeats: repeats) { _ = Tensor.attention(query: q, memory: half) }
            rows.append(Row(name: "  float16 memory", shape: "G\(g)x\(beams) H\(h) Lk\(l) D\(d): \(fmt(Double(2 * g * h * l * d * 2) / sh / 1e9)) GB/s",
                            seconds: sh, flops: 4.0 * Double(g * beams * h * l * d), rawSameShape: nil))
        }
    }

    print(pad("op", 24) + pad("shape", 34) + pad("ms", 9) + pad("GFLOPS", 9) + pad("÷ peak", 9) + "÷ raw sgemm, same GEMM shape")
    for r in rows {
        let same = r.rawSameShape.map { "\(fmt(r.gflops / $0, 2))  (raw \(fmt($0)) GFLOPS)" } ?? "-"
        print(pad(r.name, 24) + pad(r.shape, 34) + pad(fmt(r.seconds * 1000, 2), 9) + pad(fmt(r.gflops), 9)
              + pad(fmt(r.gflops / peak, 2), 9) + same)
    }
    // Last: it wakes OpenBLAS's own threads, which then spin for a moment.
    let own = Benchmark.openBLASThreadedSGEMMSeconds(m: peakShape, n: peakShape, k: peakShape, repeats: repeats)
    print("\nthe same \(peakShape)^3 sgemm on OpenBLAS's own \(Compute.threads) threads: \(fmt(2 * pow(Double(peakShape), 3) / own / 1e9)) GFLOPS")
}

/// `mmpipe-bench half`: products with a weight stored in float32 and in float16 (exactly
/// representable values), at Whisper tiny's decoder shapes: a decoding step's few rows, a
/// prompt's or an alignment pass's many.
func halfBench(repeats: Int) {
    print("threads: \(Compute.threads)   blas: \(Compute.blasDescription)   f16c: \(CPUFeatures.avx2FMAF16C)")
    print(pad("product", 30) + pad("rows", 6) + pad("f32 ms", 10) + pad("f16 ms", 10) + "f32 / f16")
    for (name, inF, outF) in [("dec self-attn q [384, 384]", 384, 384), ("dec fc1 [1536, 384]", 384, 1536),
                              ("dec fc2 [384, 1536]", 1536, 384), ("vocab [51864, 384]", 384, 51864)] {
        let w = Tensor(shape: [outF, inF], scalars: deterministic([outF, inF], seed: 11).scalars.map { ($0 * 1024).rounded() / 1024 })   // exactly half floats
        guard let half = WeightMatrix(halfPrecisionExactly: w) else { print("no half-precision storage on this CPU"); return }
        let b = deterministic([outF], seed: 12)
        for rows in [1, 5, 9, 50, 200] where !(outF > 50_000 && rows > 50) {
            let x = deterministic([rows, inF], seed: 13)
            let single: Double = Benchmark.medianSeconds(repeats: repeats) { _ = Tensor.linear(x, weight: w, bias: b) }
            let halfSeconds: Double = Benchmark.medianSeconds(repeats: repeats) { _ = Tensor.linear(x, weight: half, bias: b) }
            print(pad(name, 30) + pad("\(rows)", 6) + pad(fmt(single * 1000, 3), 10) + pad(fmt(halfSeconds * 1000, 3), 10)
                  + fmt(single / halfSeconds, 2))
        }
    }
}

/// `mmpipe-bench int8`: products with a weight in float32, float16 and int8 (`Int8Matrix`,
/// activations quantised per row on the fly) at Whisper tiny's shapes: a decoding step's few
/// rows (5 beams; 40 = a batched step of 8 chunks x 5 beams) and the encoder's 1500.
func int8Bench(repeats: Int) {
    print("threads: \(Compute.threads)   blas: \(Compute.blasDescription)   int8 kernel: \(CPUFeatures.int8Kernel)")
    print(pad("product", 30) + pad("rows", 6) + pad("f32 ms", 10) + pad("f16 ms", 10) + pad("int8 ms", 10) + "f32/int8  f16/int8")
    for (name, inF, outF, rowsList) in [("dec fc1 [1536, 384]", 384, 1536, [5, 40]), ("dec fc2 [384, 1536]", 1536, 384, [5, 40]),
                                        ("vocab [51864, 384]", 384, 51864, [1, 5, 40]),
                                        ("enc qkv [1152, 384]", 384, 1152, [1500]), ("enc fc1 [1536, 384]", 384, 1536, [1500]),
                                        ("enc fc2 [384, 1536]", 1536, 384, [1500])] {
        let w = Tensor(shape: [outF, inF], scalars: deterministic([outF, inF], seed: 11).scalars.map { ($0 * 1024).rounded() / 1024 })
        let half = WeightMatrix(halfPrecisionExactly: w)
        let int8 = WeightMatrix(w).quantizedToInt8()
        let b = deterministic([outF], seed: 12)
        for rows in rowsList {
            let x = deterministic([rows, inF], seed: 13)
            let single: Double = Benchmark.medianSeconds(repeats: repeats) { _ = Tensor.linear(x, weight: w, bias: b) }
            let h: Double? = half.map { hw in Benchmark.medianSeconds(repeats: repeats) { _ = Tensor.linear(x, weight: hw, bias: b) } }
            let q: Double = Benchmark.medianSeconds(repeats: repeats) { _ = Tensor.linear(x, weight: int8, bias: b) }
            print(pad(name, 30) + pad("\(rows)", 6) + pad(fmt(single * 1000, 3), 10) + pad(h.map { fmt($0 * 1000, 3) } ?? "-", 10)
                  + pad(fmt(q * 1000, 3), 10) + pad(fmt(single / q, 2), 10) + (h.map { fmt($0 / q, 2) } ?? "-"))
        }
    }
}

/// `mmpipe-bench gemm`: mmpipe's own products (one summation order per element) against
/// OpenBLAS's sgemm, the same shapes split over the same threads, side by side: the models'
/// largest products, a decoding step's few rows and a batched step's.
func gemmBench(repeats: Int) {
    print("threads: \(Compute.threads)   instruction set: \(CPUFeatures.isa)   OpenBLAS: \(Compute.blasDescription)")
    print(pad("product", 30) + pad("m x n x k", 20) + pad("mmpipe GFLOPS", 15) + pad("OpenBLAS GFLOPS", 17) + "mmpipe / OpenBLAS")
    let shapes: [(String, Int, Int, Int, Bool)] = [
        ("whisper enc fc1", 1500, 1536, 384, true), ("whisper enc fc2", 1500, 384, 1536, true),
        ("whisper enc qkv", 1500, 1152, 384, true), ("whisper dec fc1, 5 beams", 5, 1536, 384, true),
        ("whisper vocab, 5 beams", 5, 51864, 384, true), ("whisper vocab, 40 rows", 40, 51864, 384, true),
        ("minilm fc1, 8 x 64 tokens", 512, 1536, 384, true), ("vit-b fc1, 8 x 197", 1576, 3072, 768, true),
        ("lite0 1x1 conv 320->1280", 1280, 8 * 49, 320, false), ("lite0 1x1 conv 24->144 112^2", 144, 3136, 24, false),
        ("resnet 3x3 layer3 (im2col)", 256, 8 * 196, 2304, false),
    ]
    var ratios: [Double] = []
    for (name, m, n, k, transB) in shapes {
        let flops = 2.0 * Double(m * n * k)
        let ours = Benchmark.rawSGEMMSeconds(m: m, n: n, k: k, transB: transB, repeats: repeats)
        let theirs = Benchmark.rawSGEMMSeconds(m: m, n: n, k: k, transB: transB, openBLAS: true, repeats: repeats)
        ratios.append(theirs / ours)
        print(pad(name, 30) + pad("\(m)x\(n)x\(k)\(transB ? " T" : "")", 20) + pad(fmt(flops / ours / 1e9), 15)
              + pad(fmt(flops / theirs / 1e9), 17) + fmt(theirs / ours, 2))
    }
    let geo = exp(ratios.map { log($0) }.reduce(0, +) / Double(ratios.count))
    print("geometric mean, mmpipe speed / OpenBLAS speed: \(fmt(geo, 2))")
}

Compute.configureAllocator()
let args = CommandLine.arguments.dropFirst()
let repeats = Int(ProcessInfo.processInfo.environment["BENCH_REPEATS"] ?? "") ?? 7
switch args.first {
case "tensor":
    tensorBench(repeats: repeats)
case "gemm":
    gemmBench(repeats: repeats)
case "attention":   // profiling aid: attention only, many times (ViT-B/16 at batch 8; `whisper [int8]`: tiny's encoder)
    if args.dropFirst().first == "whisper" {
        let q = deterministic([1, 1500, 6, 64], seed: 7).permuted([0, 2, 1, 3])
        let int8 = args.dropFirst(2).first == "int8"
        for _ in 0..<100 { _ = Tensor.attention(query: q, key: q, value: q, lowPrecision: int8) }
    } else {
        let q = deterministic([8, 197, 12, 64], seed: 7).permuted([0, 2, 1, 3])
        for _ in 0..<20 { _ = Tensor.attention(query: q, key: q, value: q) }
    }
case "half":
    halfBench(repeats: repeats)
case "int8":
    int8Bench(repeats: repeats)
case "head":   // `head X.npy Y.npy [C]`: fit time of the logistic-regression head (scripts/bench head)
    let rest = Array(args.dropFirst())
    guard rest.count >= 2, let x = try? NPY.read(URL(fileURLWithPath: rest[0])).tensor, let y = try? NPY.read(URL(fileURLWithPath: rest[1])).tensor else {
        FileHandle.standardError.write("usage: mmpipe-bench head X.npy Y.npy [C]\n".data(using: .utf8)!)
        exit(2)
    }
    let labels = y.scalars.map { Int($0) }
    var options = LogisticRegression.Options()
    options.c = rest.count > 2 ? Double(rest[2]) ?? 1 : 1
    var best = Double.infinity, last: LogisticRegression.Report?
    for _ in 0..<max(1, min(repeats, 3)) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let (_, report) = LogisticRegression.fit(x, labels: labels, classes: (labels.max() ?? 0) + 1, options: options)
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        last = report
    }
    print("fit \(x.shape[0]) x \(x.shape[1]), \((labels.max() ?? 0) + 1) classes: \(String(format: "%.3f", best)) s, \(last!.iterations) iterations, converged \(last!.converged), loss \(last!.loss)")
case "media":
    MediaBench.run(Array(args.dropFirst()))
case "clip":
    runCLIPBench(args: Array(args.dropFirst()))
case "text":
    runTextBench(args: Array(args.dropFirst()))
case "vision":
    VisionBench.run(Array(args.dropFirst()), repeats: repeats)
case "vad":
    VADBench.run(Array(args.dropFirst()))
default:
    FileHandle.standardError.write("usage: mmpipe-bench tensor | half | int8 | media DIR AUDIO... | vision MODEL WEIGHTS IMAGE... | text [MODEL_DIR] | clip [--weights W] [--pixels P.npy] [--tokens T.json] | vad [--model DIR] AUDIO...\n".data(using: .utf8)!)
    exit(2)
}
