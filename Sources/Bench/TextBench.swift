import Dispatch
import Foundation
import Models
import TensorCore

/// `mmpipe-bench text [MODEL_DIR] [--sentences-out FILE] [--embeddings-out FILE]`:
/// sentences per second of `SentenceEncoder.embed` (all-MiniLM-L6-v2, batch 32) on a fixed
/// set of 500 sentences of mixed lengths, on 2 threads (`MMPIPE_THREADS` overrides).
/// `--sentences-out` writes the set as a JSON list and `--embeddings-out` our embeddings as
/// `.npy`, so scripts/bench-text.py times transformers on the same sentences and checks
/// that the embeddings agree. Prints `ours text sentences/s <rate>` and details.
func runTextBench(args: [String]) {
    var model = "Models/all-minilm-l6-v2"
    var sentencesOut: String? = nil, embeddingsOut: String? = nil
    var i = 0
    while i < args.count {
        switch args[i] {
        case "--sentences-out" where i + 1 < args.count: sentencesOut = args[i + 1]; i += 1
        case "--embeddings-out" where i + 1 < args.count: embeddingsOut = args[i + 1]; i += 1
        default: model = args[i]
        }
        i += 1
    }
    func fail(_ message: String) -> Never {
        FileHandle.standardError.write("mmpipe-bench text: \(message)\n".data(using: .utf8)!)
        exit(1)
    }
    let threads = Int(ProcessInfo.processInfo.environment["MMPIPE_THREADS"] ?? "") ?? 2
    Compute.setThreads(max(1, threads))
    let sentences = TextBench.sentences()
    if let sentencesOut {
        do {
            try JSONSerialization.data(withJSONObject: sentences).write(to: URL(fileURLWithPath: sentencesOut))
        } catch {
            fail("cannot write \(sentencesOut): \(error)")
        }
    }
    let encoder: SentenceEncoder
    do {
        encoder = try BERTLoader.loadSentenceEncoder(folder: URL(fileURLWithPath: model), name: "all-minilm-l6-v2")
    } catch {
        fail("\(error)")
    }
    let tokens = sentences.map { encoder.encode($0).count }
    print("sentences \(sentences.count), tokens \(tokens.reduce(0, +)) (min \(tokens.min()!), max \(tokens.max()!)), batch \(encoder.batchSize), threads \(Compute.threads)")
    _ = encoder.embed(Array(sentences.prefix(64)))   // warm-up
    var result = Tensor(zeros: [0])
    var times: [Double] = []
    let runs = Int(ProcessInfo.processInfo.environment["BENCH_RUNS"] ?? "") ?? 3
    for _ in 0..<max(1, runs) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        result = encoder.embed(sentences)
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
    }
    let median = times.sorted()[times.count / 2]
    // Tokenizing alone, for the breakdown.
    let t0 = DispatchTime.now().uptimeNanoseconds
    for s in sentences { _ = encoder.encode(s) }
    let tokenize = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
    print(String(format: "ours embed %.3f s (tokenizing %.3f s) median of %d", median, tokenize, times.count))
    print(String(format: "ours text sentences/s %.1f", Double(sentences.count) / median))
    if let embeddingsOut {
        do { try NPY.write(result, to: URL(fileURLWithPath: embeddingsOut)) } catch { fail("cannot write \(embeddingsOut): \(error)") }
    }
}

enum TextBench {
    static let words = """
        the of and to in is was for on that with as by at from his her their this which people time year \
        city music river film team school game world war history system model data image sound language \
        computer network energy water light night morning summer winter garden market village museum \
        station bridge mountain island forest ocean library hospital university government company \
        science research student teacher doctor artist writer player singer farmer engineer scientist \
        small large old new early late quick slow bright dark quiet loud ancient modern famous local \
        walks runs builds writes reads plays sings finds opens closes grows moves starts stops carries \
        studies explains describes improves reduces increases remains becomes shows holds brings \
        quickly slowly carefully often rarely never always together again almost nearly probably
        """.split(separator: " ").map(String.init)

    /// 500 sentences: 55% short (4-14 words), 35% medium (15-60), 10% long (120-400, past the
    /// 256-token limit), with commas, numbers and capitals; the same on every run.
    static func sentences(count: Int = 500) -> [String] {
        var state: UInt64 = 0x9E3779B97F4A7C15
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        return (0..<count).map { _ in
            let kind = next(100)
            let n = kind < 55 ? 4 + next(11) : kind < 90 ? 15 + next(46) : 120 + next(281)
            var parts: [String] = []
            for k in 0..<n {
                var w = words[next(words.count)]
                if k == 0 { w = w.prefix(1).uppercased() + w.dropFirst() }
                if next(25) == 0 { w = String(1900 + next(125)) }
                parts.append(w + (k < n - 1 && next(9) == 0 ? "," : ""))
            }
            return parts.joined(separator: " ") + (next(5) == 0 ? "?" : ".")
        }
    }
}
