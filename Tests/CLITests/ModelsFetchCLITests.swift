import Foundation
import Testing

/// `mmpipe models fetch` against a stand-in hub on 127.0.0.1 (Tests/Support/hub_server.py).
@Suite("mmpipe models fetch, against a local hub", .serialized)
struct ModelsFetchCLITests {
    final class Hub {
        let process = Process()
        let port: Int
        init(root: URL, cut: Int? = nil) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", CLI.repoRoot.appendingPathComponent("Tests/Support/hub_server.py").path, root.path]
                + (cut.map { ["--cut", "\($0)"] } ?? [])
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            var line = Data()
            while let b = try out.fileHandleForReading.read(upToCount: 1), !b.isEmpty, b != Data("\n".utf8) { line += b }
            port = try #require(Int(String(decoding: line, as: UTF8.self)), "hub server did not start")
        }
        deinit { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
    }

    /// A small model repository: config, 300 kB of weights, tokenizer.
    static func repository() throws -> (root: URL, weights: Data) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("hub-\(UUID().uuidString)")
        let repo = root.appendingPathComponent("acme/tiny-model")
        try FileManager.default.createDirectory(at: repo, withIntermediateDirectories: true)
        try Data(#"{"model_type": "clip"}"#.utf8).write(to: repo.appendingPathComponent("config.json"))
        let weights = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) })
        try weights.write(to: repo.appendingPathComponent("model.safetensors"))
        try Data("{}".utf8).write(to: repo.appendingPathComponent("tokenizer.json"))
        try Data("ignored".utf8).write(to: repo.appendingPathComponent("pytorch_model.bin"))
        return (root, weights)
    }

    @Test func fetchesChecksAndSkipsWhatIsThere() throws {
        let (root, weights) = try Self.repository()
        let models = root.appendingPathComponent("models")
        defer { try? FileManager.default.removeItem(at: root) }
        let hub = try Hub(root: root)
        let env = ["MMPIPE_HF_ENDPOINT": "http://127.0.0.1:\(hub.port)", "MMPIPE_MODELS_DIR": models.path]
        let r = try CLI.run(["models", "fetch", "acme/tiny-model"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        let folder = models.appendingPathComponent("acme--tiny-model")
        #expect(try Data(contentsOf: folder.appendingPathComponent("model.safetensors")) == weights)
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("config.json").path))
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("pytorch_model.bin").path))
        let again = try CLI.run(["models", "fetch", "acme/tiny-model"], environment: env)
        #expect(again.status == 0 && again.stdout.contains("model.safetensors: already here"), "\(again.stdout)")
        let missing = try CLI.run(["models", "fetch", "acme/nothing"], environment: env)
        #expect(missing.status == 1 && missing.errorLines.count == 1 && missing.stderr.contains("no such model"), "\(missing.stderr)")
    }

    @Test func anInterruptedDownloadContinues() throws {
        let (root, weights) = try Self.repository()
        let models = root.appendingPathComponent("models")
        defer { try? FileManager.default.removeItem(at: root) }
        let hub = try Hub(root: root, cut: 100_000)
        let env = ["MMPIPE_HF_ENDPOINT": "http://127.0.0.1:\(hub.port)", "MMPIPE_MODELS_DIR": models.path]
        let first = try CLI.run(["models", "fetch", "acme/tiny-model"], environment: env)
        #expect(first.status == 1, "the connection was cut: \(first.stdout)")
        #expect(first.errorLines.count == 1, "\(first.stderr)")
        let folder = models.appendingPathComponent("acme--tiny-model")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("model.safetensors").path), "nothing half-written in place")
        let part = folder.appendingPathComponent(".model.safetensors.part")
        let kept = (try? FileManager.default.attributesOfItem(atPath: part.path)[.size] as? Int) ?? 0
        #expect(kept > 0 && kept < weights.count, "kept \(kept) bytes")
        let second = try CLI.run(["models", "fetch", "acme/tiny-model"], environment: env)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try Data(contentsOf: folder.appendingPathComponent("model.safetensors")) == weights)
    }

    @Test func offlineSaysSoInOneLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("offline-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Port 9 on loopback: nothing listens, the connection is refused at once.
        let r = try CLI.run(["models", "fetch", "clip-vit-b-32"],
                            environment: ["MMPIPE_HF_ENDPOINT": "http://127.0.0.1:9", "MMPIPE_MODELS_DIR": dir.path])
        #expect(r.status == 1)
        #expect(r.errorLines.count == 1 && r.stderr.contains("offline"), "\(r.stderr)")
    }
}
