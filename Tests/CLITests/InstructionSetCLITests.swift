import Foundation
import Testing

/// `MMPIPE_ISA`: every kernel path this CPU can take, run by the CLI on one machine. On each
/// path a result does not depend on its batch or the thread count (the same bytes); between
/// paths the answers are the same (identical bytes for AVX-512 and AVX2, which share one
/// summation order; portable within float32 rounding, with the same labels, regions and
/// words).
@Suite("instruction-set paths: the same answers on each, batch and threads aside")
struct InstructionSetCLITests {
    /// The levels this CPU has, best first.
    static let levels: [String] = {
        let flags = ComputeCLITests.cpuFlags
        var l: [String] = []
        if ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma", "f16c"].allSatisfy(flags.contains) { l.append("avx512") }
        if ["avx2", "fma", "f16c"].allSatisfy(flags.contains) { l.append("avx2") }
        l.append("portable")
        return l
    }()

    static func env(_ isa: String, threads: Int? = nil) -> [String: String] {
        var e = ["MMPIPE_ISA": isa]
        if let threads { e["MMPIPE_THREADS"] = String(threads) }
        return e
    }

    static func tempDir(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func cosine(_ v: [Float], _ w: [Float]) -> Double {
        var dot = 0.0, vv = 0.0, ww = 0.0
        for (a, b) in zip(v, w) {
            dot += Double(a) * Double(b)
            vv += Double(a) * Double(a)
            ww += Double(b) * Double(b)
        }
        return dot / (vv.squareRoot() * ww.squareRoot())
    }

    @Test func eachLevelIsUsedAndNamedAndAWrongOneRefused() throws {
        for isa in Self.levels {
            let r = try CLI.run(["--compute-info"], environment: Self.env(isa), unset: ["OPENBLAS_CORETYPE", "MMPIPE_BLAS_RESTARTED"])
            #expect(r.status == 0, "\(isa): \(r.stderr)")
            #expect(r.lines.contains { $0.hasPrefix("instruction set: \(isa) ") }, "\(isa): \(r.lines)")
            let int8 = r.lines.first { $0.hasPrefix("int8 kernel") } ?? ""
            switch isa {
            case "portable":
                #expect(int8.hasSuffix("portable"), "\(int8)")
                #expect(ComputeCLITests.kernelSet(r) == "Prescott", "\(r.lines)")
            case "avx2":
                #expect(int8.hasSuffix("avx2"), "\(int8)")
                #expect(["Haswell", "Zen"].contains(ComputeCLITests.kernelSet(r) ?? ""), "\(r.lines)")
            default:
                #expect(!int8.hasSuffix("portable") && int8.contains("avx512") == ComputeCLITests.cpuFlags.contains("avx512_vnni"), "\(int8)")
            }
        }
        for bad in ["avx3", "AVX-512", "sse"] + (Self.levels.first == "avx512" ? [] : ["avx512"]) {
            let r = try CLI.run(["--compute-info"], environment: Self.env(bad))
            #expect(r.status == 2, "MMPIPE_ISA=\(bad): \(r.lines)")
            #expect(r.errorLines.count == 1 && r.stderr.contains("MMPIPE_ISA=\(bad)"), "\(r.stderr)")
            let job = try CLI.run(["embed", CLI.sample("cat.jpg"), "--output", "/tmp/never-\(UUID().uuidString)"], environment: Self.env(bad))
            #expect(job.status == 2 && job.errorLines.count == 1, "\(job.stderr)")
        }
    }

    /// One image alone and in a batch of four, on one thread and on all: the same bytes, on
    /// every path. Between paths: AVX-512 and AVX2 the same bytes, portable within cosine
    /// 0.99999.
    @Test func anEmbeddingIsTheSameAloneInABatchAndOnEveryPath() throws {
        let dir = try Self.tempDir("isa-embed")
        defer { try? FileManager.default.removeItem(at: dir) }
        let four = ["cat", "coffee", "astronaut", "rocket"].map { CLI.sample("\($0).jpg") }
        var byLevel: [String: [String: [Float]]] = [:]
        for isa in Self.levels {
            var runs: [[String: [Float]]] = []
            for (name, inputs, threads, batch) in [("alone", [four[0]], 2, "8"), ("batch", four, 2, "4"), ("one-thread", four.reversed(), 1, "3")] {
                let out = dir.appendingPathComponent("\(isa)-\(name)")
                let r = try CLI.run(["embed"] + inputs + ["--output", out.path, "--quiet", "--batch-size", batch],
                                    environment: Self.env(isa, threads: threads))
                #expect(r.status == 0, "\(isa) \(name): \(r.stderr)")
                runs.append(try CheckpointCLITests.rows(out).mapValues { $0[0] })
            }
            let cat = four[0]
            #expect(runs[0][cat] != nil && runs[0][cat] == runs[1][cat] && runs[1][cat] == runs[2][cat],
                    "\(isa): cat.jpg alone, in a batch of 4 and on one thread differ")
            #expect(runs[1] == runs[2], "\(isa): the batch on one thread differs")
            byLevel[isa] = runs[1]
        }
        if let a = byLevel["avx512"], let b = byLevel["avx2"] { #expect(a == b, "avx512 and avx2 embeddings differ") }
        let best = byLevel[Self.levels[0]]!
        for (isa, rows) in byLevel {
            for (path, v) in rows {
                let w = try #require(best[path])
                let cos = Self.cosine(v, w)
                #expect(cos >= 0.99999, "\(isa) \(path): cosine \(cos) to \(Self.levels[0])")
            }
        }
    }

    /// A text alone and padded in a batch with longer ones: the same bytes, on every path.
    @Test func aTextEmbeddingIsTheSameAloneAndPaddedInABatch() throws {
        let dir = try Self.tempDir("isa-text")
        defer { try? FileManager.default.removeItem(at: dir) }
        let short = "a cat", long = "a long sentence about a cat sitting on the warm windowsill of an old house in the sun"
        for isa in Self.levels {
            var rows: [[Float]] = []
            for (name, texts) in [("alone", [short]), ("batch", [long, short, "two words"])] {
                let out = dir.appendingPathComponent("\(isa)-\(name)")
                let r = try CLI.run(["embed", "--output", out.path, "--quiet"] + texts.flatMap { ["--text", $0] }, environment: Self.env(isa))
                #expect(r.status == 0, "\(isa) \(name): \(r.stderr)")
                let text = try String(contentsOf: out.appendingPathComponent("manifest.jsonl"), encoding: .utf8)
                let line = try #require(text.split(separator: "\n").first { $0.contains("\"text\":\"\(short)\"") }, "\(text)")
                let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                let byPath = try CheckpointCLITests.rows(out)
                rows.append(try #require(byPath[o["path"] as? String ?? ""]?.first, "\(byPath.keys)"))
            }
            #expect(rows.count == 2 && rows[0] == rows[1], "\(isa): '\(short)' alone and in a batch differ")
        }
    }

    /// The same top-1 labels on the sample photos, the same VAD regions and the same
    /// transcript words on the LibriVox clips (float32 and int8) on every path.
    @Test func everyPathGivesTheSameAnswers() throws {
        let photos = ["cat", "coffee", "astronaut", "rocket"].map { CLI.sample("\($0).jpg") }
        let clips = TranscribeCLITests.librivox
        var top1: [String: [String]] = [:], regions: [String: [String]] = [:], words: [String: [String]] = [:]
        for isa in Self.levels {
            let c = try CLI.run(["classify"] + photos + ["--format", "json", "--quiet"], environment: Self.env(isa))
            #expect(c.status == 0, "\(isa): \(c.stderr)")
            top1[isa] = try c.lines.map { line in
                let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                let p = try #require((o["predictions"] as? [[String: Any]])?.first)
                return "\(o["path"] ?? "") \(p["label"] ?? "")"
            }.sorted()
            let v = try CLI.run(["vad", clips, CLI.sample("speech.wav"), "--format", "json", "--quiet"], environment: Self.env(isa))
            #expect(v.status == 0, "\(isa): \(v.stderr)")
            regions[isa] = v.lines.sorted()
            for type in ["float32", "int8"] {
                let out = try Self.tempDir("isa-words")
                defer { try? FileManager.default.removeItem(at: out) }
                let t = try CLI.run(["transcribe", clips, "--compute-type", type, "--output-dir", out.path, "--format", "txt", "--quiet"],
                                    environment: Self.env(isa))
                #expect(t.status == 0, "\(isa) \(type): \(t.stderr)")
                let files = try FileManager.default.contentsOfDirectory(atPath: out.path).filter { $0.hasSuffix(".txt") }.sorted()
                #expect(files.count == 5, "\(isa) \(type): \(files)")
                words[isa + " " + type] = try files.map {
                    TranscribeCLITests.normalise(try String(contentsOf: out.appendingPathComponent($0), encoding: .utf8)).joined(separator: " ")
                }
            }
        }
        let best = Self.levels[0]
        for isa in Self.levels.dropFirst() {
            #expect(top1[isa] == top1[best], "top-1 labels: \(isa) \(top1[isa] ?? []) vs \(best) \(top1[best] ?? [])")
            #expect(regions[isa] == regions[best], "VAD regions: \(isa) vs \(best)")
            for type in ["float32", "int8"] {
                #expect(words[isa + " " + type] == words[best + " " + type], "\(type) words: \(isa) vs \(best)")
            }
        }
    }
}
