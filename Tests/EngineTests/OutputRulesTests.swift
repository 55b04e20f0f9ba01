import Foundation
import Testing
import Media
import Models
import TensorCore
@testable import Engine

/// Issue 14: no input's output replaces another's, and resume keeps only results of the
/// same request.
@Suite("output naming and resume rules")
struct OutputRulesTests {
    static func tree(_ files: [String]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rules-\(UUID().uuidString)")
        for f in files {
            let url = dir.appendingPathComponent(f)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(f.utf8).write(to: url)
        }
        return dir
    }

    static func transcript(_ text: String) throws -> TranscriptRecord {
        let seg = try JSONDecoder().decode(WhisperSegment.self, from: Data(#"""
            {"id": 0, "seek": 0, "start": 0, "end": 1, "text": " \#(text)", "tokens": [1], "temperature": 0,
             "avg_logprob": -0.1, "compression_ratio": 1, "no_speech_prob": 0.01, "words": []}
            """#.utf8))
        return WhisperTranscript(language: "en", segments: [seg], duration: 1)
    }

    static let request = RequestIdentity([("model", "tiny.en"), ("beam_size", "5")])

    /// Writes each input found under `inputs` (walked as a job walks them) into `out`.
    static func transcribeAll(_ inputs: [String], into out: URL, formats: [TranscriptFormat] = [.txt],
                              request: RequestIdentity = request) throws -> [String] {
        let sink = try TranscriptFiles(directory: out, formats: formats, overwrite: false, request: request)
        var written: [String] = []
        var it = InputPaths(inputs) { MediaFormat.hasExtension($0, of: [.audio, .video]) }.makeIterator()
        while let e = it.next() {
            let (path, relative): (String, String?)
            switch e {
            case .file(let p): (path, relative) = (p, nil)
            case .found(let p, let r): (path, relative) = (p, r)
            default: continue
            }
            let item = SourceItem.stat(path, relative: relative)!
            if sink.isDone(item) { continue }
            try sink.write(try transcript(path), for: item)
            written.append(path)
        }
        try sink.finish()
        return written
    }

    static func listing(_ dir: URL) -> [String: String] {
        var out: [String: String] = [:]
        let e = FileManager.default.enumerator(atPath: dir.path)!
        while let rel = e.nextObject() as? String {
            let url = dir.appendingPathComponent(rel)
            guard !rel.hasPrefix("."), let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
            out[rel] = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return out
    }

    @Test func foldersAreMirroredAndSameStemsKeepTheirExtension() throws {
        let coll = try Self.tree(["a/x.wav", "b/x.wav", "a/x.mp3", "c/a.flac", "c/a.ogg", "c/a.opus", "c/a.m4a", "c/a.aiff",
                                  "c/a.webm", "c/solo.wav", "c/.hidden.wav", "c/notes.txt"])
        defer { try? FileManager.default.removeItem(at: coll) }
        let out = coll.appendingPathComponent("out")
        _ = try Self.transcribeAll([coll.path], into: out)
        let files = Self.listing(out)
        let c = coll.path
        #expect(files == [
            "a/x.wav.txt": "\(c)/a/x.wav", "a/x.mp3.txt": "\(c)/a/x.mp3", "b/x.txt": "\(c)/b/x.wav",
            "c/a.flac.txt": "\(c)/c/a.flac", "c/a.ogg.txt": "\(c)/c/a.ogg", "c/a.opus.txt": "\(c)/c/a.opus",
            "c/a.m4a.txt": "\(c)/c/a.m4a", "c/a.aiff.txt": "\(c)/c/a.aiff", "c/a.webm.txt": "\(c)/c/a.webm",
            "c/solo.txt": "\(c)/c/solo.wav",
        ])
    }

    @Test func filesOfOneNameFromTwoFoldersAndPatternsKeepApart() throws {
        let dir = try Self.tree(["d1/x.wav", "d2/x.wav", "p/k/y.wav", "p/l/y.wav"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out")
        _ = try Self.transcribeAll([dir.path + "/d1/x.wav", dir.path + "/d2/x.wav", dir.path + "/p/*/y.wav"], into: out)
        #expect(Self.listing(out) == ["x.txt": dir.path + "/d1/x.wav", "x-2.txt": dir.path + "/d2/x.wav",
                                      "k/y.txt": dir.path + "/p/k/y.wav", "l/y.txt": dir.path + "/p/l/y.wav"])
        // A second run keeps the names (and skips both), even named the other way round.
        #expect(try Self.transcribeAll([dir.path + "/d2/x.wav", dir.path + "/d1/x.wav"], into: out).isEmpty)
        // A file of the same stem added later gets its own name; the earlier one keeps its.
        let added = dir.appendingPathComponent("d1/x.mp3")
        try Data("mp3".utf8).write(to: added)
        #expect(try Self.transcribeAll([dir.path + "/d1"], into: out) == [added.path])
        let names = Self.listing(out)
        #expect(names["x.txt"] == dir.path + "/d1/x.wav" && names["x-2.txt"] == dir.path + "/d2/x.wav")
        #expect(names["x.mp3.txt"] == added.path)
    }

    @Test func resumeRedoesWhatAnotherRequestOrAMissingFormatNeeds() throws {
        let dir = try Self.tree(["x.wav"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("o"), input = dir.appendingPathComponent("x.wav").path
        #expect(try Self.transcribeAll([input], into: out, formats: [.json]) == [input])
        #expect(try Self.transcribeAll([input], into: out, formats: [.json]).isEmpty)           // same request: done
        #expect(try Self.transcribeAll([input], into: out, formats: [.vtt]) == [input])          // another format
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("x.vtt").path))
        #expect(try Self.transcribeAll([input], into: out, formats: [.json, .vtt]).isEmpty)
        let words = RequestIdentity([("model", "tiny.en"), ("beam_size", "5"), ("word_timestamps", "true")])
        #expect(try Self.transcribeAll([input], into: out, formats: [.json], request: words) == [input])
        #expect(try Self.transcribeAll([input], into: out, formats: [.json], request: words).isEmpty)
        try FileManager.default.removeItem(at: out.appendingPathComponent("x.json"))
        #expect(try Self.transcribeAll([input], into: out, formats: [.json], request: words) == [input])
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("x.json").path))
    }

    @Test func aResultsFileOfAnotherRequestIsRefusedAndLeftAsItIs() throws {
        let dir = try Self.tree([])
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("r.jsonl").path
        let item = SourceItem(path: "a.jpg", size: 1, mtime: 1)
        let imagenet = RequestIdentity([("task", "classify"), ("model", "efficientnet-lite0"), ("classes", "ImageNet")])
        let labels = RequestIdentity([("task", "classify"), ("model", "lite0-minilm"), ("labels", "cat,dog")])
        do {
            let sink = try ResultsFileSink<[String: String]>(path: path, overwrite: false, request: imagenet)
            try sink.write(["label": "tabby"], for: item)
            try sink.finish()
        }
        let before = try String(contentsOfFile: path, encoding: .utf8)
        #expect(before.contains(#""request":"\#(imagenet.digest)""#))
        let same = try ResultsFileSink<[String: String]>(path: path, overwrite: false, request: imagenet)
        #expect(same.isDone(item))
        try same.finish()
        do {
            _ = try ResultsFileSink<[String: String]>(path: path, overwrite: false, request: labels)
            Issue.record("a results file of another request was continued")
        } catch let e as ItemFailure {
            #expect(e.path == path)
            #expect(e.reason.contains("another request") && e.reason.contains("labels cat,dog") && e.reason.contains("--overwrite"), "\(e.reason)")
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["r.jsonl"])
        #expect(!(try ResultsFileSink<[String: String]>(path: path, overwrite: true, request: labels).isDone(item)))
    }

    @Test func featureRowsOfAnotherRequestAreRefused() throws {
        let dir = try Self.tree([])
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = RequestIdentity([("model", "m"), ("weights", "w1")]), b = RequestIdentity([("model", "m"), ("weights", "w2")])
        do {
            let w = try FeatureShardWriter(directory: dir, format: .npy, shardRows: 10, model: "m", request: a, overwrite: false)
            try w.append(SourceItem(path: "a.jpg", size: 1, mtime: 1), features: Tensor(shape: [1, 2], scalars: [1, 2]))
            try w.commit()
        }
        #expect(throws: ItemFailure.self) {
            _ = try FeatureShardWriter(directory: dir, format: .npy, shardRows: 10, model: "m", request: b, overwrite: false)
        }
        let w = try FeatureShardWriter(directory: dir, format: .npy, shardRows: 10, model: "m", request: a, overwrite: false)
        #expect(w.isDone(SourceItem(path: "a.jpg", size: 1, mtime: 1)))
    }

    @Test func weightsStampChangesWithTheFile() throws {
        let dir = try Self.tree(["m/model.bin"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let folder = dir.appendingPathComponent("m")
        let before = RequestIdentity.weightsStamp(folder)
        #expect(before.hasPrefix("model.bin:"))
        try Data("other weights".utf8).write(to: folder.appendingPathComponent("model.bin"))
        #expect(RequestIdentity.weightsStamp(folder) != before)
    }
}
