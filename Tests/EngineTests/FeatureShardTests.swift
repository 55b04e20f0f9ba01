import Foundation
import Testing
import TensorCore
@testable import Engine

@Suite("Feature shards and manifest (embed output)")
struct FeatureShardTests {
    static func tempDir() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("shards-\(UUID().uuidString)")
    }

    static func item(_ i: Int) -> SourceItem { SourceItem(path: "/in/img-\(i).jpg", size: Int64(100 + i), mtime: 1000) }

    static func manifest(_ dir: URL) throws -> [[String: Any]] {
        let text = try String(contentsOf: dir.appendingPathComponent("manifest.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    @Test(arguments: FeatureShardWriter.Format.allCases)
    func rowsGoToShardsAndTheManifestSaysWhere(_ format: FeatureShardWriter.Format) throws {
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let w = try FeatureShardWriter(directory: dir, format: format, shardRows: 4, model: "m", overwrite: false)
        for i in 0..<9 {
            try w.append(Self.item(i), features: Tensor(shape: [3], scalars: [Float(i), Float(i) + 0.5, -Float(i)]))
        }
        try w.appendError(Self.item(99), message: "corrupt")
        try w.commit()
        let lines = try Self.manifest(dir)
        #expect(lines.count == 10)
        for i in 0..<9 {
            let l = lines[i]
            #expect(l["path"] as? String == "/in/img-\(i).jpg")
            #expect(l["row"] as? Int == i % 4)
            #expect(l["shard"] as? String == String(format: "features-%05d.\(format.rawValue)", i / 4))
            #expect(l["model"] as? String == "m")
        }
        #expect(lines[9]["error"] as? String == "corrupt")
        // Row 6 = input 6, read back from its shard.
        let shard = dir.appendingPathComponent("features-00001.\(format.rawValue)")
        let t: Tensor
        switch format {
        case .npy: t = try NPY.read(shard).tensor
        case .safetensors: t = try SafeTensorsFile(path: shard.path).tensor("features")
        }
        #expect(t.shape == [4, 3])
        #expect(Array(t.scalars[6..<9]) == [6, 6.5, -6])
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("features-00002.\(format.rawValue)").path))
    }

    @Test func resumeSkipsDoneInputsAndStartsANewShard() throws {
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var w = try FeatureShardWriter(directory: dir, format: .npy, shardRows: 10, model: "m", overwrite: false)
        for i in 0..<3 { try w.append(Self.item(i), features: Tensor(shape: [2], scalars: [1, 2])) }
        try w.appendError(Self.item(3), message: "bad")
        try w.commit()
        w = try FeatureShardWriter(directory: dir, format: .npy, shardRows: 10, model: "m", overwrite: false)
        #expect(w.resumedCount == 3)
        #expect(w.isDone(Self.item(2)) && !w.isDone(Self.item(3)), "failed inputs are tried again")
        try w.append(Self.item(3), features: Tensor(shape: [2], scalars: [3, 4]))
        try w.commit()
        let lines = try Self.manifest(dir)
        #expect(lines.count == 4, "the old error line is dropped, the retry recorded")
        #expect(lines[3]["shard"] as? String == "features-00001.npy" && lines[3]["row"] as? Int == 0)
        // Another model into the same folder is refused; so is a manifest whose shard is gone.
        #expect(throws: ItemFailure.self) {
            _ = try FeatureShardWriter(directory: dir, format: .npy, shardRows: 10, model: "other", overwrite: false)
        }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("features-00000.npy"))
        #expect(throws: ItemFailure.self) {
            _ = try FeatureShardWriter(directory: dir, format: .npy, shardRows: 10, model: "m", overwrite: false)
        }
        // --overwrite starts afresh.
        w = try FeatureShardWriter(directory: dir, format: .npy, shardRows: 10, model: "other", overwrite: true)
        #expect(w.resumedCount == 0)
        try w.commit()
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("features-00001.npy").path))
    }

    @Test func severalRowsPerInputSurviveResume() throws {
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var w = try FeatureShardWriter(directory: dir, format: .npy, shardRows: 100, model: "m", overwrite: false)
        try w.append(Self.item(0), features: Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6]),
                     extra: [["time": 0.0], ["time": 1.0], ["time": 2.0]])
        try w.commit()
        w = try FeatureShardWriter(directory: dir, format: .npy, shardRows: 100, model: "m", overwrite: false)
        try w.commit()
        let lines = try Self.manifest(dir)
        #expect(lines.map { $0["time"] as? Double } == [0, 1, 2])
        #expect(lines.map { $0["row"] as? Int } == [0, 1, 2])
    }

    @Test func dimensionMismatchIsAnItemError() throws {
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let w = try FeatureShardWriter(directory: dir, format: .npy, shardRows: 10, model: "m", overwrite: false)
        try w.append(Self.item(0), features: Tensor(shape: [2], scalars: [1, 2]))
        #expect(throws: ItemFailure.self) { try w.append(Self.item(1), features: Tensor(shape: [3], scalars: [1, 2, 3])) }
        try w.commit()
    }
}
