import Foundation
import Models
import TensorCore
import Testing

/// Throughput at batch 8 (224x224), only with `MMPIPE_VISION_BENCH=1` (and the full-size
/// random weights of `scripts/gen-vision-fixtures.py --full` in `MMPIPE_VISION_FULL`, default
/// /tmp/mmpipe-vision-full; EfficientNet-Lite0 uses the fetched real weights).
@Suite("VisionBench: batch-8 throughput (MMPIPE_VISION_BENCH=1)")
struct VisionBenchTests {
    static let enabled = ProcessInfo.processInfo.environment["MMPIPE_VISION_BENCH"] == "1"
    static let full = URL(fileURLWithPath: ProcessInfo.processInfo.environment["MMPIPE_VISION_FULL"] ?? "/tmp/mmpipe-vision-full")

    static let models: [String] = (ProcessInfo.processInfo.environment["MMPIPE_VISION_BENCH_MODELS"] ?? "efficientnet-lite0,resnet50,vit-b-16")
        .split(separator: ",").map(String.init)

    @Test(.enabled(if: enabled, "set MMPIPE_VISION_BENCH=1"), .serialized, arguments: models)
    func batchOfEight(_ name: String) throws {
        let weights: URL
        switch name {
        case "efficientnet-lite0": weights = WhisperWeightsTests.modelsDir.appendingPathComponent("efficientnet-lite0/model.safetensors")
        case "resnet50": weights = Self.full.appendingPathComponent("resnet50/weights.safetensors")
        case "vit-b-16": weights = Self.full.appendingPathComponent("vit-b-16-timm")
        default: Issue.record("no weights for \(name)"); return
        }
        Compute.configureAllocator()   // as the CLI and mmpipe-bench do
        let model = try VisionModelRegistry.load(name: name, weights: weights)
        let x = Tensor(repeating: 0.1, shape: [8, 3, 224, 224])
        _ = try model.features(x)
        var best = Double.infinity
        for _ in 0..<5 {
            let t = Date()
            _ = try model.features(x)
            best = min(best, Date().timeIntervalSince(t))
        }
        print(String(format: "vision bench %@: batch 8 best %.3f s -> %.1f img/s (%d threads)", name, best, 8 / best, Compute.threads))
    }
}
