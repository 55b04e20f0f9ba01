import Foundation
import Testing
import TensorCore

@Suite("AtomicFile: whole files or none")
struct AtomicFileTests {
    static func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func names(_ dir: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
    }

    @Test func writeReplacesAndLeavesNoTemporaryFile() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("out.json")
        try AtomicFile.write(Data("old".utf8), to: url)
        try AtomicFile.write(Data("new".utf8), to: url)
        #expect(try Data(contentsOf: url) == Data("new".utf8))
        #expect(Self.names(dir) == ["out.json"])
    }

    @Test func aFailingBodyLeavesTheTargetAlone() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("out.bin")
        try AtomicFile.write(Data("kept".utf8), to: url)
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try AtomicFile.write(to: url) { w in
                try w.append(Data("half".utf8))
                throw Stop()
            }
        }
        #expect(try Data(contentsOf: url) == Data("kept".utf8))
        #expect(Self.names(dir) == ["out.bin"], "the temporary file is removed")
    }

    @Test func aNamedTemporaryIsContinuedThenCommitted() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("results.jsonl")
        let partial = dir.appendingPathComponent(".results.jsonl.partial")
        let first = try AtomicFile.Writer(target: target, temporary: partial)
        try first.append(Data("a\n".utf8))
        try first.synchronize()
        first.close()
        #expect(!FileManager.default.fileExists(atPath: target.path))
        #expect(try Data(contentsOf: partial) == Data("a\n".utf8), "close keeps what was written")

        let second = try AtomicFile.Writer(target: target, temporary: partial)
        #expect(second.size == 2)
        try second.append(Data("b\n".utf8))
        try [UInt8]("c\n".utf8).withUnsafeBytes { try second.append($0) }
        try second.commit()
        #expect(try String(contentsOf: target, encoding: .utf8) == "a\nb\nc\n")
        #expect(Self.names(dir) == ["results.jsonl"])
        #expect(throws: WeightFileError.self, "a committed writer is done") { try second.append(Data("d".utf8)) }
    }

    @Test func truncateStartsOverAndDiscardRemoves() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("model.safetensors")
        let part = dir.appendingPathComponent(".model.safetensors.part")
        let w = try AtomicFile.Writer(target: target, temporary: part)
        try w.append(Data(repeating: 1, count: 10))
        try w.truncate()
        try w.append(Data([2, 3]))
        #expect(w.size == 2)
        w.discard()
        #expect(Self.names(dir).isEmpty)
    }

    @Test func aMissingFolderIsAnErrorNamingTheTarget() throws {
        let url = URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString)/out.npy")
        let e = #expect(throws: WeightFileError.self) { try AtomicFile.write(Data([1]), to: url) }
        #expect(e?.path == url.path, "\(String(describing: e))")
    }
}
