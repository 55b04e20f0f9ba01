import Foundation
import Media
import Models
import Engine
import TensorCore

/// `mmpipe-bench vision MODEL WEIGHTS IMAGE...`: images/s of the embed path end to end
/// (decode + preprocess workers, batching stage, batch-8 forward passes, as `mmpipe embed`
/// runs it, minus writing) and of the forward pass alone on one fixed batch of 8; plus the
/// machine's raw sgemm rate. One JSON line, for scripts/bench-vision.py.
enum VisionBench {
    static func run(_ args: [String], repeats: Int) {
        guard args.count >= 3 else {
            FileHandle.standardError.write(Data("usage: mmpipe-bench vision MODEL WEIGHTS IMAGE...\n".utf8))
            exit(2)
        }
        let (name, weights, images) = (args[0], args[1], Array(args[2...]))
        do {
            let session = try VisionSession(model: name, weights: weights, store: try ModelStore())
            let batchSize = 8
            // Forward only, on the first 8 images.
            let prepared = try (0..<batchSize).map { try session.prepare(path: images[$0 % images.count], fps: 1) }
            _ = try session.encode(prepared, batchSize: batchSize)
            let forward = Benchmark.medianSeconds(repeats: repeats) { _ = try? session.encode(prepared, batchSize: batchSize) }
            // End to end through the stage graph.
            let workers = Compute.threads
            var e2e: [Double] = []
            for _ in 0..<max(3, repeats / 2) {
                let job = Job(window: 4 * batchSize + 8)
                let values = images.enumerated().map { (SourceItem(path: $0.element, size: Int64($0.offset), mtime: 0), $0.element) }
                let t0 = DispatchTime.now().uptimeNanoseconds
                var rows = 0
                _ = job.source(values: values)
                    .map("decode", workers: Int(ProcessInfo.processInfo.environment["BENCH_DECODERS"] ?? "") ?? workers) { path, _ in try session.prepare(path: path, fps: 1) }
                    .batch(VisionEncodeStage(session: session, batchSize: batchSize))
                    .sink { e in if case .success(let (p, _)) = e.value { rows += p.rows } }
                let s = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                guard rows == images.count else {
                    FileHandle.standardError.write(Data("vision bench: \(images.count - rows) images failed\n".utf8))
                    exit(1)
                }
                e2e.append(s)
            }
            e2e.sort()
            let sgemm = 2 * pow(2048.0, 3) / Benchmark.rawSGEMMSeconds(m: 2048, n: 2048, k: 2048, repeats: 3) / 1e9
            let out: [String: Any] = [
                "model": name, "threads": workers, "batch": batchSize, "images": images.count,
                "forward_images_per_s": Double(batchSize) / forward,
                "e2e_images_per_s": Double(images.count) / e2e[e2e.count / 2],
                "sgemm_gflops": sgemm,
            ]
            let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } catch {
            FileHandle.standardError.write(Data("vision bench: \(error)\n".utf8))
            exit(1)
        }
    }
}
