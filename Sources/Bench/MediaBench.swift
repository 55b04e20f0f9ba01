import Dispatch
import Foundation
import Media
import TensorCore

/// `mmpipe-bench media DIR AUDIO...`: our decode + resize-to-224 (shorter side, bicubic,
/// center crop, as CLIP's preprocessing) over every image in DIR, on 1 worker and on all
/// cores; and decode + resample to 16 kHz mono of each audio file. scripts/bench runs the
/// peers (Pillow, the ffmpeg CLI) on the same files in the same run and prints the ratios.
enum MediaBench {
    static func images(in dir: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.sorted().map { (dir as NSString).appendingPathComponent($0) }
    }

    static func prepare(_ path: String) throws -> RGBImage {
        let img = try ImageDecoder.decode(path: path)
        let r = ImageTransforms.resizeShorterSide(img, to: 224, filter: .bicubic)
        return ImageTransforms.centerCrop(r, width: 224, height: 224)
    }

    /// Images per second over `files`, `rounds` times through, with `workers` threads.
    static func imageRate(_ files: [String], workers: Int, rounds: Int) -> Double {
        let total = files.count * rounds
        let t0 = DispatchTime.now().uptimeNanoseconds
        // Workers take the next item from a shared counter (the files alternate small and
        // large: a fixed split would hand all the large ones to one worker).
        let lock = NSLock()
        var next = 0
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while true {
                lock.lock(); let i = next; next += 1; lock.unlock()
                if i >= total { break }
                _ = try? prepare(files[i % files.count])
            }
        }
        return Double(total) / (Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
    }

    static func run(_ args: [String]) {
        guard let dir = args.first else { return }
        // Decoding and resizing use no BLAS; workers are the parallelism, one thread each.
        Compute.setThreads(1)
        let files = images(in: dir)
        let rounds = Int(ProcessInfo.processInfo.environment["BENCH_ROUNDS"] ?? "") ?? 3
        for ext in ["jpg", "png"] {
            let set = files.filter { $0.hasSuffix("." + ext) }
            if set.isEmpty { continue }
            _ = imageRate(set, workers: 1, rounds: 1)     // warm-up
            let one = (0..<3).map { _ in imageRate(set, workers: 1, rounds: rounds) }.sorted()[1]
            let all = (0..<3).map { _ in imageRate(set, workers: ProcessInfo.processInfo.activeProcessorCount, rounds: rounds) }.sorted()[1]
            print("ours \(ext) 1-worker \(String(format: "%.2f", one))")
            print("ours \(ext) all-cores \(String(format: "%.2f", all))")
        }
        for audio in args.dropFirst() {
            var seconds: [Double] = []
            var samples = 0
            for _ in 0..<3 {
                let t0 = DispatchTime.now().uptimeNanoseconds
                samples = (try? decodeAudio(path: audio, sampleRate: 16_000).count) ?? 0
                seconds.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
            }
            let median = seconds.sorted()[1]
            print("ours audio \((audio as NSString).lastPathComponent) \(String(format: "%.1f", Double(samples) / 16_000 / median))")
        }
    }
}
