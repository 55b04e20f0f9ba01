import Dispatch
import Foundation
import Media
import Models
import TensorCore

/// `mmpipe-bench vad [--model DIR] [--probabilities-out FILE.npy] AUDIO...`: seconds of audio
/// per second of Silero VAD v6 + the region tracker, as `mmpipe vad` runs them (the stream
/// fed a second at a time), on `MMPIPE_THREADS` threads (default 1: faster-whisper runs
/// onnxruntime on one). The audio is decoded first and not timed. Prints, per file and in
/// all, `ours vad seconds <s>` (median of BENCH_RUNS, default 5) and the regions; with
/// `--probabilities-out`, the first file's probabilities (for scripts/bench-vad.py to compare).
enum VADBench {
    static func run(_ args: [String]) {
        var model = "Models/silero-vad"
        var probabilitiesOut: String? = nil
        var files: [String] = []
        var i = 0
        while i < args.count {
            switch args[i] {
            case "--model" where i + 1 < args.count: model = args[i + 1]; i += 1
            case "--probabilities-out" where i + 1 < args.count: probabilitiesOut = args[i + 1]; i += 1
            default: files.append(args[i])
            }
            i += 1
        }
        func fail(_ message: String) -> Never {
            FileHandle.standardError.write("mmpipe-bench vad: \(message)\n".data(using: .utf8)!)
            exit(1)
        }
        guard !files.isEmpty else { fail("give audio files") }
        Compute.setThreads(max(1, Int(ProcessInfo.processInfo.environment["MMPIPE_THREADS"] ?? "") ?? 1))
        let runs = max(1, Int(ProcessInfo.processInfo.environment["BENCH_RUNS"] ?? "") ?? 5)
        let vad: SileroVAD
        do { vad = try SileroVADLoader.load(URL(fileURLWithPath: model)) } catch { fail("\(error)") }
        print("threads \(Compute.threads), runs \(runs), blas \(Compute.blasDescription)")
        var total = 0.0, audioSeconds = 0.0
        for (n, path) in files.enumerated() {
            let audio: [Float]
            do { audio = try AudioReader(path: path, sampleRate: SileroVAD.sampleRate).readAll() } catch { fail("\(error)") }
            var times: [Double] = []
            var regions: [SpeechRegion] = []
            var probabilities: [Float] = []
            for run in 0..<runs {
                let t0 = DispatchTime.now().uptimeNanoseconds
                let stream = vad.stream()
                let tracker = SpeechRegionTracker(options: VADOptions())
                var offset = 0
                while offset < audio.count {
                    let end = min(audio.count, offset + SileroVAD.sampleRate)
                    let p = audio[offset..<end].withUnsafeBufferPointer { stream.append($0) }
                    tracker.push(p)
                    if run == 0 { probabilities += p }
                    offset = end
                }
                let last = stream.finish()
                tracker.push(last)
                regions = tracker.finish(totalSamples: audio.count)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
                if run == 0 { probabilities += last }
            }
            let median = times.sorted()[times.count / 2]
            let seconds = Double(audio.count) / Double(SileroVAD.sampleRate)
            total += median
            audioSeconds += seconds
            print(String(format: "%@: %.1f s of audio, %d windows, %.3f s (%.1f us/window, %.0fx real time), %d regions %@",
                         path, seconds, probabilities.count, median, median / Double(probabilities.count) * 1e6,
                         seconds / median, regions.count, regions.prefix(4).map(\.description).joined(separator: " ")))
            if n == 0 { print("ours vad regions " + regions.map { "\($0.start)-\($0.end)" }.joined(separator: ",")) }
            if n == 0, let probabilitiesOut {
                do { try NPY.write(Tensor(shape: [probabilities.count], scalars: probabilities), to: URL(fileURLWithPath: probabilitiesOut)) }
                catch { fail("\(error)") }
            }
        }
        print(String(format: "ours vad seconds %.6f", total))
        print(String(format: "ours vad audio-seconds/s %.1f", audioSeconds / total))
    }
}
