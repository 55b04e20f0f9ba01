import Foundation
import Testing

/// `mmpipe classify` (ImageNet classes) and `mmpipe embed` end to end with the real
/// EfficientNet-Lite0 weights (fetched by scripts/test).
@Suite("mmpipe classify and embed, end to end")
struct VisionCLITests {
    static let video = CLI.repoRoot.appendingPathComponent("Tests/MediaTests/Fixtures/av/colors.mp4").path

    static func tempDir() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("vision-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    static func manifest(_ dir: URL) throws -> [[String: Any]] {
        let text = try String(contentsOf: dir.appendingPathComponent("manifest.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    /// Shape of a float32 .npy written by mmpipe (header parsed, data size checked).
    static func npyShape(_ url: URL) throws -> [Int] {
        let data = try Data(contentsOf: url)
        #expect(data.prefix(6) == Data([0x93]) + Data("NUMPY".utf8))
        let headerLength = Int(data[8]) | Int(data[9]) << 8
        let header = String(decoding: data[10..<(10 + headerLength)], as: UTF8.self)
        #expect(header.contains("'descr': '<f4'"))
        let open = try #require(header.range(of: "'shape': ("))
        let close = try #require(header[open.upperBound...].firstIndex(of: ")"))
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        #expect(data.count == 10 + headerLength + shape.reduce(1, *) * 4)
        return shape
    }

    @Test func classifyTheCatPhoto() throws {
        let r = try CLI.run(["classify", CLI.sample("cat.jpg"), "--top-k", "3"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.lines.count == 4, "\(r.stdout)")
        #expect(r.lines[0].contains("cat.jpg") && r.lines[0].contains("efficientnet-lite0"))
        #expect(r.lines[1].hasSuffix("tiger cat"), "\(r.stdout)")
    }

    @Test func classifyJSONAndCSV() throws {
        let j = try CLI.run(["classify", CLI.sample("coffee.jpg"), CLI.sample("rocket.jpg"), "--format", "json", "--top-k", "2"])
        #expect(j.status == 0, "\(j.stderr)")
        let objs = try j.lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(objs.count == 2)
        let top = try #require((objs[0]["predictions"] as? [[String: Any]])?.first)
        #expect(top["label"] as? String == "espresso" && top["class_index"] as? Int == 967)
        #expect((top["probability"] as? Double ?? 0) > 0.9)
        let c = try CLI.run(["classify", CLI.sample("rocket.jpg"), "--format", "csv", "--top-k", "2"])
        #expect(c.lines == [c.lines[0]] + c.lines.dropFirst() && c.lines.count == 3)
        #expect(c.lines[0] == "path,time,rank,label,class_index,probability")
        #expect(c.lines[1].contains(",1,missile,657,"), "\(c.stdout)")
    }

    @Test func classifyVideoFramesHaveTimes() throws {
        let r = try CLI.run(["classify", Self.video, "--format", "json", "--fps", "1", "--top-k", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let times = try r.lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])["time"] as? Double }
        #expect(times.count >= 2 && times.allSatisfy { $0 != nil }, "\(r.stdout)")
        #expect(times.compactMap { $0 } == times.compactMap { $0 }.sorted())
    }

    @Test func embedWritesRowsAndResumes() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("broken.jpg")
        try Data([0xFF, 0xD8, 0xFF, 0xE0, 0, 16]).write(to: bad)
        let out = dir.appendingPathComponent("feats")
        let inputs = [CLI.sample("cat.jpg"), bad.path, CLI.sample("coffee.jpg"), Self.video]
        let r = try CLI.run(["embed"] + inputs + ["--output", out.path, "--quiet"])
        #expect(r.status == 1, "one input is broken: \(r.stderr)")
        #expect(r.errorLines.filter { $0.contains("broken.jpg") }.count == 1, "\(r.stderr)")
        let lines = try Self.manifest(out)
        let rows = lines.filter { $0["row"] != nil }
        #expect(rows.count >= 4, "2 photos and at least 2 frames")
        #expect(lines.contains { ($0["path"] as? String) == bad.path && $0["error"] != nil })
        #expect(rows.map { $0["row"] as? Int } == Array(0..<rows.count).map { $0 })
        #expect(rows.filter { $0["time"] != nil }.count == rows.count - 2)
        #expect(try Self.npyShape(out.appendingPathComponent("features-00000.npy")) == [rows.count, 1280])

        // Again: everything done is skipped (the broken file is tried again and fails again).
        let again = try CLI.run(["embed"] + inputs + ["--output", out.path])
        #expect(again.status == 1)
        #expect(again.stderr.contains("3 skipped"), "\(again.stderr)")
        #expect(try Self.manifest(out).filter { $0["row"] != nil }.count == rows.count)
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("features-00001.npy").path),
                "no new rows, no new shard")
    }

    @Test func embedLogitsAndSafetensors() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try CLI.run(["embed", CLI.sample("cat.jpg"), "--output", dir.path, "--format", "safetensors", "--layer", "logits", "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        let data = try Data(contentsOf: dir.appendingPathComponent("features-00000.safetensors"))
        let n = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try #require(try JSONSerialization.jsonObject(with: data[8..<(8 + n)]) as? [String: Any])
        #expect((header["features"] as? [String: Any])?["shape"] as? [Int] == [1, 1000])
    }

    @Test func modelsWithoutInstalledWeightsSayWhereTheyComeFrom() throws {
        let r = try CLI.run(["embed", CLI.sample("cat.jpg"), "--model", "resnet50", "--output", "/tmp/never"])
        #expect(r.status == 1)
        #expect(r.errorLines.count == 1 && r.stderr.contains("--weights") && r.stderr.contains("microsoft/resnet-50"), "\(r.stderr)")
        let u = try CLI.run(["classify", CLI.sample("cat.jpg"), "--model", "resnet51"])
        #expect(u.status == 2 && u.stderr.contains("unknown model"), "a usage error: \(u.stderr)")
    }
}

/// `mmpipe classify --labels` with the offline lite0-minilm model (no CLIP weights installed).
@Suite("mmpipe classify --labels, end to end")
struct ZeroShotCLITests {
    @Test func theCatPhotoIsACat() throws {
        let r = try CLI.run(["classify", CLI.sample("cat.jpg"), "--labels", "dog,cat,car,bird", "--explain"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.lines.first?.contains("(lite0-minilm)") == true, "the answering model is named: \(r.stdout)")
        #expect(r.lines.count > 1 && r.lines[1].hasSuffix("cat"), "\(r.stdout)")
        #expect(r.stdout.contains("from: tiger cat"), "--explain names the ImageNet classes: \(r.stdout)")
    }

    @Test func jsonCarriesTheModelAndScoresSumToOne() throws {
        let r = try CLI.run(["classify", CLI.sample("coffee.jpg"), CLI.sample("rocket.jpg"), "--labels", "a drink,a rocket,a dog",
                             "--format", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let objs = try r.lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(objs.count == 2)
        let labels = try objs.map { try #require($0["labels"] as? [[String: Any]]) }
        #expect(objs.allSatisfy { $0["model"] as? String == "lite0-minilm" })
        #expect(labels[0].first?["label"] as? String == "a drink" && labels[1].first?["label"] as? String == "a rocket")
        for l in labels { #expect(abs(l.compactMap { $0["score"] as? Double }.reduce(0, +) - 1) < 1e-4) }
    }

    @Test func labelErrorsAreUsageErrors() throws {
        #expect(try CLI.run(["classify", CLI.sample("cat.jpg"), "--labels", "cat"]).status == 2)
        #expect(try CLI.run(["classify", CLI.sample("cat.jpg"), "--explain"]).status == 2)
        let clip = try CLI.run(["classify", CLI.sample("cat.jpg"), "--labels", "cat,dog", "--model", "clip-vit-b-32"])
        #expect(clip.status == 1 && clip.stderr.contains("mmpipe models fetch clip-vit-b-32"), "\(clip.stderr)")
    }
}
