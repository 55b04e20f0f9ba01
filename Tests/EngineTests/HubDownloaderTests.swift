import Crypto
import Foundation
import Testing
@testable import Engine

/// `HubDownloader`'s async API against the stand-in hub on 127.0.0.1
/// (Tests/Support/hub_server.py); the blocking entry point is tested end to end by
/// CLITests/ModelsFetchCLITests.
@Suite("HubDownloader (async), against a local hub", .serialized)
struct HubDownloaderTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    final class Hub {
        let process = Process()
        let port: Int
        init(root: URL) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", HubDownloaderTests.repoRoot.appendingPathComponent("Tests/Support/hub_server.py").path, root.path]
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            var line = Data()
            while let b = try out.fileHandleForReading.read(upToCount: 1), !b.isEmpty, b != Data("\n".utf8) { line += b }
            port = try #require(Int(String(decoding: line, as: UTF8.self)), "hub server did not start")
        }
        deinit { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
    }

    static func repository() throws -> (root: URL, weights: Data) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("hub-\(UUID().uuidString)")
        let repo = root.appendingPathComponent("acme/tiny-model")
        try FileManager.default.createDirectory(at: repo, withIntermediateDirectories: true)
        try Data(#"{"model_type": "clip"}"#.utf8).write(to: repo.appendingPathComponent("config.json"))
        let weights = Data((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ $0 >> 7) })
        try weights.write(to: repo.appendingPathComponent("model.safetensors"))
        return (root, weights)
    }

    @Test func listsChecksAndReplacesADamagedFile() async throws {
        let (root, weights) = try Self.repository()
        defer { try? FileManager.default.removeItem(at: root) }
        let hub = try Hub(root: root)
        let hf = HubDownloader(endpoint: URL(string: "http://127.0.0.1:\(hub.port)")!)
        let files = try await hf.listFiles(repo: "acme/tiny-model")
        #expect(files.map(\.path) == ["config.json", "model.safetensors"])
        #expect(files.last?.sha256 == SHA256.hash(data: weights).hex && files.last?.size == Int64(weights.count))

        let folder = root.appendingPathComponent("out")
        var seen: [String] = []
        try await hf.download(repo: "acme/tiny-model", into: folder) { seen.append($0) }
        let target = folder.appendingPathComponent("model.safetensors")
        #expect(try Data(contentsOf: target) == weights)
        #expect(seen == ["config.json: 22 bytes", "model.safetensors: 200000 bytes"])

        // Same size, other bytes: the hash tells, and the file is fetched again.
        var damaged = weights
        damaged[1000] ^= 0xFF
        try damaged.write(to: target)
        seen = []
        try await hf.download(repo: "acme/tiny-model", into: folder) { seen.append($0) }
        #expect(seen == ["config.json: already here", "model.safetensors: 200000 bytes"])
        #expect(try Data(contentsOf: target) == weights)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() == ["config.json", "model.safetensors"])
    }

    @Test func aPartThatFailsItsHashIsRemovedAndAStalePartIgnored() async throws {
        let (root, weights) = try Self.repository()
        defer { try? FileManager.default.removeItem(at: root) }
        let hub = try Hub(root: root)
        let hf = HubDownloader(endpoint: URL(string: "http://127.0.0.1:\(hub.port)")!)
        let folder = root.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let part = folder.appendingPathComponent(".model.safetensors.part")

        // A whole-size part with wrong bytes: nothing is left to fetch, the check fails.
        try Data(repeating: 7, count: weights.count).write(to: part)
        let error = await #expect(throws: HubDownloader.Failure.self) { try await hf.download(repo: "acme/tiny-model", into: folder) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("sha256"), "\(String(describing: error))")
        #expect(!FileManager.default.fileExists(atPath: part.path), "the bad part is removed")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("model.safetensors").path))

        // A part longer than the file is stale: started again.
        try Data(repeating: 7, count: weights.count + 10).write(to: part)
        try await hf.download(repo: "acme/tiny-model", into: folder)
        #expect(try Data(contentsOf: folder.appendingPathComponent("model.safetensors")) == weights)

        // A part holding the first bytes is continued with a range request.
        try FileManager.default.removeItem(at: folder.appendingPathComponent("model.safetensors"))
        try weights.prefix(5000).write(to: part)
        try await hf.download(repo: "acme/tiny-model", into: folder)
        #expect(try Data(contentsOf: folder.appendingPathComponent("model.safetensors")) == weights)
    }

    @Test func unreachableIsOffline() async throws {
        let hf = HubDownloader(endpoint: URL(string: "http://127.0.0.1:9")!)
        let error = await #expect(throws: HubDownloader.Failure.self) { _ = try await hf.listFiles(repo: "acme/x") }
        guard case .offline(let text) = error else { Issue.record("not offline: \(String(describing: error))"); return }
        #expect(text.hasPrefix("cannot reach http://127.0.0.1:9 (offline?)"), "\(text)")
    }
}
