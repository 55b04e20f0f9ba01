import Foundation
import Testing

/// `mmpipe train` and `classify --head` end to end on the sample photos (EfficientNet-Lite0's
/// real weights) and on sentences (all-MiniLM-L6-v2's), and the bad inputs each get one line.
@Suite("mmpipe train and classify --head")
struct TrainCLITests {
    static func folder() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("train-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    /// Classes of copies of the sample photos: cat, cup, space (the astronaut and the rocket).
    static func photos(_ dir: URL, perClass: Int = 5) throws -> URL {
        let root = dir.appendingPathComponent("photos")
        for (label, samples) in [("cat", ["cat"]), ("cup", ["coffee"]), ("space", ["astronaut", "rocket"])] {
            let f = root.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: f, withIntermediateDirectories: true)
            for i in 0..<perClass {
                for s in samples { try FileManager.default.copyItem(atPath: CLI.sample("\(s).jpg"), toPath: f.appendingPathComponent("\(s)-\(i).jpg").path) }
            }
        }
        return root
    }

    @Test func trainThenClassifyWithTheHead() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let photos = try Self.photos(dir)
        // One unreadable image: reported and skipped, the rest still trained on.
        try Data("not a jpeg".utf8).write(to: photos.appendingPathComponent("cat/broken.jpg"))
        let head = dir.appendingPathComponent("pets.head.safetensors").path
        let r = try CLI.run(["train", photos.path, "--output", head, "--quiet"])
        #expect(r.status == 1, "the broken image is a failed input: \(r.stderr)")
        #expect(r.stderr.contains("broken.jpg") && r.stderr.contains("skipped"), "\(r.stderr)")
        #expect(r.stdout.contains("accuracy 1.000") && r.stdout.contains("confusion"), "\(r.stdout)")
        let info = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: head + ".json"))) as? [String: Any])
        #expect(info["classes"] as? [String] == ["cat", "cup", "space"] && info["embedding_model"] as? String == "efficientnet-lite0")
        #expect((info["embedding_weights_sha256"] as? String)?.count == 64)
        let c = try CLI.run(["classify", CLI.sample("cat.jpg"), CLI.sample("rocket.jpg"), "--head", head, "--format", "json", "--quiet"])
        #expect(c.status == 0, "\(c.stderr)")
        let records = try c.lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let top = records.compactMap { (($0["labels"] as? [[String: Any]])?.first)?["label"] as? String }
        #expect(top == ["cat", "space"], "\(c.stdout)")
        let scores = records.compactMap { ($0["labels"] as? [[String: Any]])?.compactMap { $0["score"] as? Double }.reduce(0, +) }
        #expect(scores.allSatisfy { abs($0 - 1) < 1e-4 }, "probabilities of the 3 classes sum to 1: \(scores)")
    }

    @Test func sentencesWithATextModel() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = ["a wonderful, moving film", "I loved every minute of it", "brilliant acting and a great story", "a delight from start to finish",
                    "one of the best films this year", "warm, funny and beautifully made"]
        let bad = ["a dull and tedious mess", "I hated every minute of it", "terrible acting and a boring story", "a waste of two hours",
                   "one of the worst films this year", "cold, clumsy and badly made"]
        let tsv = dir.appendingPathComponent("reviews.tsv")
        try (["text\tlabel"] + good.map { "\($0)\tpositive" } + bad.map { "\($0)\tnegative" }).joined(separator: "\n").write(to: tsv, atomically: true, encoding: .utf8)
        let head = dir.appendingPathComponent("sentiment.head.safetensors").path
        let r = try CLI.run(["train", tsv.path, "--model", "all-minilm-l6-v2", "--output", head, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("positive") && r.stdout.contains("negative") && r.stdout.contains("held out"), "\(r.stdout)")
        // A head on text embeddings does not classify images; it classifies texts.
        let c = try CLI.run(["classify", CLI.sample("cat.jpg"), "--head", head])
        #expect(c.status == 2 && c.stderr.contains("text embeddings") && c.stderr.contains("--text"), "\(c.stderr)")
        let texts = dir.appendingPathComponent("new.txt")
        try "boring and far too long\r\n\r\nwhat a joy to watch\r\n".write(to: texts, atomically: true, encoding: .utf8)   // CRLF
        let t = try CLI.run(["classify", "--head", head, "--text", "an absolute delight", "--text-file", texts.path, "--format", "json", "--quiet"])
        #expect(t.status == 0, "\(t.stderr)")
        let records = try t.lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(records.map { $0["path"] as? String } == ["--text #1", "\(texts.path):1", "\(texts.path):3"], "\(t.stdout)")
        #expect(records.map { $0["text"] as? String } == ["an absolute delight", "boring and far too long", "what a joy to watch"])
        let top = records.compactMap { (($0["labels"] as? [[String: Any]])?.first)?["label"] as? String }
        #expect(top == ["positive", "negative", "positive"], "\(t.stdout)")
        let csv = try CLI.run(["classify", "--head", head, "--text", "fine", "--format", "csv", "--quiet"])
        #expect(csv.lines.first == "path,time,rank,label,score,model" && csv.lines.count == 3, "\(csv.stdout)")
        // Texts without a head, and a head on images given texts: one line each.
        #expect(try CLI.run(["classify", "--text", "hello"]).stderr.contains("--head"))
        // An empty text, and a file of blank lines: refused, not classified.
        let empty = try CLI.run(["classify", "--head", head, "--text", " "])
        #expect(empty.status == 2 && empty.stderr.contains("--text #1 is empty"), "\(empty.stderr)")
        let blank = dir.appendingPathComponent("blank.txt")
        try "\n  \r\n".write(to: blank, atomically: true, encoding: .utf8)
        let none = try CLI.run(["classify", "--head", head, "--text-file", blank.path])
        #expect(none.status == 2 && none.stderr.contains("only blank lines"), "\(none.stderr)")
    }

    @Test func labelsFilesAsPeopleWriteThem() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let images = dir.appendingPathComponent("my images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        for (name, sample) in [("a, b.jpg", "cat"), ("c.jpg", "cat"), ("r1.jpg", "rocket"), ("r2.jpg", "rocket")] {
            try FileManager.default.copyItem(atPath: CLI.sample("\(sample).jpg"), toPath: images.appendingPathComponent(name).path)
        }
        // RFC 4180 quoting (a comma in a path and a label, doubled quotes), a byte-order mark,
        // CRLF line ends, a blank line, relative paths.
        let csv = dir.appendingPathComponent("labels.csv")
        try "\u{FEFF}\"path\",\"label\"\r\n\"my images/a, b.jpg\",\"cat, tabby\"\r\n\r\n\"my images/c.jpg\",\"cat, tabby\"\r\nmy images/r1.jpg,\"space \"\"x\"\"\"\r\nmy images/r2.jpg,\"space \"\"x\"\"\"\r\n"
            .write(to: csv, atomically: true, encoding: .utf8)
        let head = dir.appendingPathComponent("h.safetensors").path
        var r = try CLI.run(["train", csv.path, "--output", head, "--no-features", "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        let info = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: head + ".json"))) as? [String: Any])
        #expect(info["classes"] as? [String] == ["cat, tabby", "space \"x\""], "\(info)")
        // An unquoted comma: the row and the remedy; texts given to an image model: the hint.
        try "path,label\nmy images/c.jpg,cat, tabby\n".write(to: csv, atomically: true, encoding: .utf8)
        r = try CLI.run(["train", csv.path, "--output", head])
        #expect(r.status == 1 && r.stderr.contains("row 2 has 3 fields") && r.stderr.contains("quote"), "\(r.stderr)")
        let tsv = dir.appendingPathComponent("texts.tsv")
        try "text\tlabel\ngood\tx\nbad\ty\n".write(to: tsv, atomically: true, encoding: .utf8)
        r = try CLI.run(["train", tsv.path, "--output", head])
        #expect(r.status == 2 && r.stderr.contains("--model all-minilm-l6-v2"), "\(r.stderr)")
        // The head's place is checked before any work.
        r = try CLI.run(["train", csv.path, "--output", dir.path])
        #expect(r.status == 1 && r.stderr.contains("is a folder"), "\(r.stderr)")
    }

    @Test func featuresAreKeptAndCrossValidationChoosesC() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let photos = try Self.photos(dir, perClass: 5)
        let head = dir.appendingPathComponent("pets.safetensors").path
        let features = dir.appendingPathComponent("pets.features")
        var r = try CLI.run(["train", photos.path, "--output", head])
        #expect(r.status == 0 && r.stderr.contains("embedded 20 examples, 0 read back"), "\(r.stderr)")
        let manifest = try String(contentsOf: features.appendingPathComponent("manifest.jsonl"), encoding: .utf8)
        #expect(manifest.split(separator: "\n").count == 20)
        // One more photo: only it is embedded; the others are read back. --cv chooses C.
        try FileManager.default.copyItem(atPath: CLI.sample("cat.jpg"), toPath: photos.appendingPathComponent("cat/extra.jpg").path)
        r = try CLI.run(["train", photos.path, "--output", head, "--cv", "3", "--c-grid", "0.001,0.1,10"])
        #expect(r.status == 0 && r.stderr.contains("embedded 1 example, 20 read back"), "\(r.stderr)")
        #expect(r.stdout.contains("C chosen by 3-fold cross-validation") && r.stdout.contains("<- best"), "\(r.stdout)")
        let info = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: head + ".json"))) as? [String: Any])
        let cv = try #require(info["cv"] as? [String: Any])
        let grid = try #require(cv["grid"] as? [Double]), accuracy = try #require(cv["mean_accuracy"] as? [Double])
        #expect(grid == [0.001, 0.1, 10] && accuracy.count == 3 && cv["folds"] as? Int == 3)
        #expect(info["C"] as? Double == grid[accuracy.firstIndex(of: accuracy.max()!)!], "C is the first best: \(info)")
        // Too few examples per class for the folds; --c with --cv; features of another model.
        r = try CLI.run(["train", photos.path, "--output", head, "--cv", "9"])
        #expect(r.status == 2 && r.stderr.contains("--cv 9 needs at least 9"), "\(r.stderr)")
        r = try CLI.run(["train", photos.path, "--output", head, "--cv", "3", "--c", "2"])
        #expect(r.status == 2 && r.stderr.contains("drop --c"), "\(r.stderr)")
        let tsv = dir.appendingPathComponent("t.tsv")
        try "a\tx\nb\tx\nc\ty\nd\ty\n".write(to: tsv, atomically: true, encoding: .utf8)
        r = try CLI.run(["train", tsv.path, "--model", "all-minilm-l6-v2", "--output", head, "--features", features.path])
        #expect(r.status == 1 && r.errorLines.count == 1 && r.stderr.contains("--features"), "\(r.stderr)")
        r = try CLI.run(["train", photos.path, "--output", dir.appendingPathComponent("h2.safetensors").path, "--no-features", "--quiet"])
        #expect(r.status == 0 && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("h2.features").path))
    }

    @Test func badDataGetsOneLine() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("h.safetensors").path
        // One class only.
        let one = dir.appendingPathComponent("one/cat")
        try FileManager.default.createDirectory(at: one, withIntermediateDirectories: true)
        for i in 0..<3 { try FileManager.default.copyItem(atPath: CLI.sample("cat.jpg"), toPath: one.appendingPathComponent("\(i).jpg").path) }
        var r = try CLI.run(["train", dir.appendingPathComponent("one").path, "--output", out])
        #expect(r.status == 2 && r.stderr.contains("only one class"), "\(r.stderr)")
        // A class with a single example.
        let two = dir.appendingPathComponent("two")
        try FileManager.default.createDirectory(at: two.appendingPathComponent("dog"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: one, to: two.appendingPathComponent("cat"))
        try FileManager.default.copyItem(atPath: CLI.sample("coffee.jpg"), toPath: two.appendingPathComponent("dog/0.jpg").path)
        r = try CLI.run(["train", two.path, "--output", out])
        #expect(r.status == 2 && r.stderr.contains("dog") && r.stderr.contains("single example"), "\(r.stderr)")
        // A labels file naming files that do not exist.
        let csv = dir.appendingPathComponent("labels.csv")
        try "path,label\n\(CLI.sample("cat.jpg")),cat\n\(CLI.sample("cat.jpg")),cat\nnope.jpg,dog\ngone.jpg,dog\n".write(to: csv, atomically: true, encoding: .utf8)
        r = try CLI.run(["train", csv.path, "--output", out])
        #expect(r.status == 2 && r.stderr.contains("2 files that do not exist") && r.stderr.contains("nope.jpg"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out), "nothing written")
        // A head made for another embedding model is refused in one line.
        let head = dir.appendingPathComponent("pets.safetensors").path
        #expect(try CLI.run(["train", try Self.photos(dir, perClass: 3).path, "--output", head, "--quiet"]).status == 0)
        r = try CLI.run(["classify", CLI.sample("cat.jpg"), "--head", head, "--model", "lite0-minilm"])
        #expect(r.status != 0 && r.errorLines.count == 1, "\(r.stderr)")
    }
}
