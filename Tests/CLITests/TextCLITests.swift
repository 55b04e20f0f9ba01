import Foundation
import Testing

/// `mmpipe embed --text` end to end with the real all-MiniLM-L6-v2 weights (fetched by scripts/test).
@Suite("mmpipe embed --text, end to end")
struct TextCLITests {
    @Test func sentenceEmbeddingsAreNormalisedAndMeaningful() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("text-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("lines.txt")
        try Data("a photo of a dog\n\nA cat sits on the mat.\n".utf8).write(to: file)
        let out = dir.appendingPathComponent("feats")
        let r = try CLI.run(["embed", "--text", "a photo of a cat", "--text-file", file.path, "--output", out.path, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        let manifest = try String(contentsOf: out.appendingPathComponent("manifest.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(manifest.map { $0["path"] as? String } == ["--text #1", "\(file.path):1", "\(file.path):3"])
        #expect(manifest.map { $0["text"] as? String } == ["a photo of a cat", "a photo of a dog", "A cat sits on the mat."])
        // Rows: float32 [3, 384] after the .npy header.
        let data = try Data(contentsOf: out.appendingPathComponent("features-00000.npy"))
        let headerLength = Int(data[8]) | Int(data[9]) << 8
        let floats: [Float] = data[(10 + headerLength)...].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(floats.count == 3 * 384)
        func row(_ i: Int) -> ArraySlice<Float> { floats[(i * 384)..<((i + 1) * 384)] }
        func dot(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        for i in 0..<3 { #expect(abs(dot(row(i), row(i)) - 1) < 1e-5) }
        #expect(dot(row(0), row(2)) > dot(row(1), row(2)), "the cat sentence is nearer the cat photo caption")
        let bad = try CLI.run(["embed", "--text", "x", CLI.sample("cat.jpg"), "--output", out.path])
        #expect(bad.status == 2)
    }
}
