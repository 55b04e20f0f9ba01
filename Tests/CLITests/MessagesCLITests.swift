import Foundation
import Testing

/// What a new user reads when something is off (issue 14): piped files, truncated audio,
/// file-system errors, usage errors, numeric ranges, and options that were silently ignored.
@Suite("mmpipe messages, end to end")
struct MessagesCLITests {
    static func temporaryFolder(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("msgs-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A 16 kHz mono 16-bit WAV whose header declares `declared` seconds of which the file
    /// holds `holds` (a cut copy): samples taken from Samples/speech.wav.
    static func truncatedWAV(declared: Double, holds: Double, at url: URL) throws {
        let speech = try Data(contentsOf: URL(fileURLWithPath: CLI.sample("speech.wav")))
        let samples = speech.suffix(from: 44).prefix(Int(holds * 16_000) * 2)
        func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
        func le16(_ v: Int) -> [UInt8] { (0..<2).map { UInt8((v >> (8 * $0)) & 0xFF) } }
        let dataSize = Int(declared * 16_000) * 2
        var d = Data("RIFF".utf8) + le32(36 + dataSize) + Data("WAVEfmt ".utf8)
        d += le32(16) + le16(1) + le16(1) + le32(16_000) + le32(32_000) + le16(2) + le16(16)
        d += Data("data".utf8) + le32(dataSize) + samples
        try d.write(to: url)
    }

    // MARK: item 6: media bytes on stdin

    @Test func audioBytesOnStdinAreRefusedInOneLine() throws {
        let wav = try Data(contentsOf: URL(fileURLWithPath: CLI.sample("speech.wav")))
        let r = try CLI.run(["transcribe", "-"], stdinData: wav)
        #expect(r.status == 2, "\(r.stderr.prefix(300))")
        #expect(r.errorLines.count == 1, "\(r.stderr.prefix(500))")
        #expect(r.stderr.contains("audio data (wav)") && r.stderr.contains("--audio-stdin"), "\(r.stderr.prefix(300))")
        #expect(r.stderr.utf8.count < 400)

        let jpeg = try Data(contentsOf: URL(fileURLWithPath: CLI.sample("cat.jpg")))
        let probe = try CLI.run(["probe", "-"], stdinData: jpeg)
        #expect(probe.status == 2 && probe.errorLines.count == 1, "\(probe.stderr.prefix(300))")
        #expect(probe.stderr.contains("image data (jpeg)"), "\(probe.stderr)")
        let classify = try CLI.run(["classify", "-"], stdinData: jpeg)
        #expect(classify.status == 2 && classify.errorLines.count == 1, "\(classify.stderr.prefix(300))")
        #expect(classify.stderr.contains("reads a list of paths") && classify.stderr.contains("by path"), "\(classify.stderr)")
        // Random binary (no known magic) is refused too; a path list with non-ASCII names is not.
        let binary = try CLI.run(["probe", "-"], stdinData: Data([0x00, 0x9F, 0x12, 0xFE, 0x0A, 0x41]))
        #expect(binary.status == 2 && binary.stderr.contains("binary data"), "\(binary.stderr)")
        let dir = try Self.temporaryFolder("stdin")
        defer { try? FileManager.default.removeItem(at: dir) }
        let named = dir.appendingPathComponent("chat-é-猫.jpg").path
        try FileManager.default.copyItem(atPath: CLI.sample("cat.jpg"), toPath: named)
        let text = try CLI.run(["probe", "-"], stdin: named + "\r\n")
        #expect(text.status == 0 && text.lines.count == 1, "\(text.stderr)")
    }

    // MARK: item 7: truncated WAV

    @Test func truncatedWAVIsReportedByProbeAndTranscribe() throws {
        let dir = try Self.temporaryFolder("trunc")
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = dir.appendingPathComponent("x.wav")
        try Self.truncatedWAV(declared: 1.10, holds: 0.15, at: wav)
        let warning = "x.wav: truncated: header says 1.10 s, file holds 0.15 s"

        let probe = try CLI.run(["probe", wav.path])
        #expect(probe.status == 0, "\(probe.stderr)")
        #expect(probe.stderr.contains(warning), "\(probe.stderr)")
        let json = try CLI.run(["probe", "--json", "--quiet", wav.path])
        let obj = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((obj?["warnings"] as? [String])?.first == "truncated: header says 1.10 s, file holds 0.15 s", "\(json.stdout)")

        // Whole files get no warning.
        let whole = try CLI.run(["probe", "--json", CLI.sample("speech.wav")])
        #expect(!whole.stderr.contains("truncated") && !whole.stdout.contains("warnings"))

        let t = try CLI.run(["transcribe", wav.path, "--output-dir", dir.appendingPathComponent("out").path])
        #expect(t.status == 0, "\(t.stderr)")
        #expect(t.stderr.contains("warning: " + wav.path + ": truncated: header says 1.10 s, file holds 0.15 s"), "\(t.stderr)")

        // A FLAC cut short: its STREAMINFO states the length; transcribe decodes it all and says so.
        let ffmpeg = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        guard FileManager.default.isExecutableFile(atPath: ffmpeg.path) else { return }
        let flac = dir.appendingPathComponent("whole.flac")
        _ = try CLI.run(["-loglevel", "error", "-y", "-i", CLI.sample("speech.wav"), flac.path], executable: ffmpeg)
        let cut = dir.appendingPathComponent("cut.flac")
        try Data(try Data(contentsOf: flac).prefix(40_000)).write(to: cut)
        let f = try CLI.run(["transcribe", cut.path, "--output-dir", dir.appendingPathComponent("out2").path])
        #expect(f.status == 0, "\(f.stderr)")
        #expect(f.stderr.contains(cut.path + ": truncated: header says 7.10 s, file holds"), "\(f.stderr)")
    }

    // MARK: file-system errors

    @Test func outputPathErrorsNameThePathInOneLine() throws {
        let dir = try Self.temporaryFolder("outerr")
        defer { try? FileManager.default.removeItem(at: dir) }
        let afile = dir.appendingPathComponent("afile")
        try Data("x".utf8).write(to: afile)

        let embed = try CLI.run(["embed", CLI.sample("cat.jpg"), "--output", afile.path, "--quiet"])
        #expect(embed.status == 1)
        #expect(!embed.stderr.contains("NSCocoaErrorDomain") && !embed.stderr.contains("Code="), "\(embed.stderr)")
        #expect(embed.errorLines == ["mmpipe: \(afile.path): exists and is not a folder"], "\(embed.stderr)")

        let transcribe = try CLI.run(["transcribe", CLI.sample("speech.wav"), "--output-dir", afile.path, "--quiet"])
        #expect(transcribe.status == 1)
        #expect(!transcribe.stderr.contains(".mmpipe"), "\(transcribe.stderr)")
        #expect(transcribe.errorLines == ["mmpipe: \(afile.path): is a file, not a folder"], "\(transcribe.stderr)")

        let classify = try CLI.run(["classify", CLI.sample("cat.jpg"), "--output", dir.path, "--quiet"])
        #expect(classify.status == 1)
        #expect(classify.errorLines == ["mmpipe: \(dir.path): is a folder, not a file"], "\(classify.stderr)")
    }

    // MARK: usage errors

    @Test func subcommandErrorsPrintOnlyTheirLine() throws {
        let cases: [[String]] = [
            ["transcribe", CLI.sample("speech.wav"), "--language", "de"],
            ["models", "info", "foo"],
            ["embed", "--text", "cat", "--model", "efficientnet-lite0", "--output", "/tmp/msgs-never-written"],
        ]
        for args in cases {
            let r = try CLI.run(args)
            #expect(r.status == 2, "\(args): \(r.stderr)")
            #expect(!r.stderr.contains("Usage:") && !r.stderr.contains("See 'mmpipe"), "\(args): \(r.stderr)")
            #expect(r.errorLines.count == 1, "\(args): \(r.stderr)")
        }
        // Each known name once.
        let info = try CLI.run(["models", "info", "foo"])
        #expect(info.stderr.components(separatedBy: "whisper-base,").count == 2, "\(info.stderr)")
    }

    @Test func unknownCommandsGetASuggestion() throws {
        let r = try CLI.run(["transcrib", CLI.sample("speech.wav")])
        #expect(r.status == 2)
        #expect(r.stderr.contains("unknown command 'transcrib'; did you mean 'transcribe'?"), "\(r.stderr)")
        let nested = try CLI.run(["models", "lst"])
        #expect(nested.status == 2 && nested.stderr.contains("did you mean 'list'?"), "\(nested.stderr)")
    }

    @Test(arguments: [
        (["classify", "--top-k", "-1"], "--top-k must be between 1 and 1000 (got -1)"),
        (["classify", "--top-k", "0"], "--top-k must be between 1 and 1000 (got 0)"),
        (["classify", "--threads", "-2"], "--threads must be between 1 and 1024 (got -2)"),
        (["classify", "--batch-size", "-8"], "--batch-size must be between 1 and 1024 (got -8)"),
        (["classify", "--fps", "-1"], "--fps must be above 0 and at most 1000 (got -1)"),
        (["classify", "--labels", "cat,dog", "--threshold", "-3"], "--threshold must be at least -1 and at most 1 (got -3)"),
        (["probe", "--max-pixels", "-5"], "--max-pixels must be at least 1 (got -5)"),
        (["probe", "--max-duration", "-1"], "--max-duration must be above 0"),
    ])
    func negativeAndOutOfRangeValuesGetTheRange(args: [String], message: String) throws {
        let r = try CLI.run(args + [CLI.sample("cat.jpg")])
        #expect(r.status == 2, "\(args): \(r.stderr)")
        #expect(!r.stderr.contains("Missing value"), "\(args): \(r.stderr)")
        #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
    }

    @Test func negativeWhisperValuesAreParsed() throws {
        for args in [["--beam-size", "-1"], ["--temperature", "-1"]] {
            let r = try CLI.run(["transcribe", CLI.sample("speech.wav")] + args)
            #expect(!r.stderr.contains("Missing value"), "\(args): \(r.stderr)")
        }
    }

    @Test(arguments: ["0", "abc", "-3"])
    func badMMPIPEThreadsIsAnError(value: String) throws {
        let r = try CLI.run(["probe", CLI.sample("cat.jpg")], environment: ["MMPIPE_THREADS": value])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("MMPIPE_THREADS=\(value) is not a number of threads"), "\(r.stderr)")
        // --threads decides when given.
        #expect(try CLI.run(["probe", "--threads", "1", CLI.sample("cat.jpg")], environment: ["MMPIPE_THREADS": value]).status == 0)
    }

    // MARK: paths and models in messages

    @Test func missingWeightsAndModelFoldersAreSaidOnce() throws {
        let w = try CLI.run(["classify", CLI.sample("cat.jpg"), "--model", "resnet50", "--weights", "/nonexistent/w.safetensors"])
        #expect(w.status != 0)
        #expect(w.stderr.components(separatedBy: "/nonexistent/w.safetensors").count == 2, "\(w.stderr)")
        let folder = try Self.temporaryFolder("weights")
        defer { try? FileManager.default.removeItem(at: folder) }
        let e = try CLI.run(["embed", "--text", "hi", "--weights", folder.path, "--output", folder.appendingPathComponent("o").path])
        #expect(e.status != 0)
        #expect(e.stderr.components(separatedBy: folder.path).count == 2, "\(e.stderr)")
        let m = try CLI.run(["transcribe", CLI.sample("speech.wav"), "--model", "/nonexistent/whisper"])
        #expect(m.status != 0)
        #expect(m.stderr.contains("/nonexistent/whisper: no such folder"), "\(m.stderr)")
        #expect(!m.stderr.contains("unknown Whisper model"), "\(m.stderr)")
    }

    @Test func pixelLimitsAreSaidInPixels() throws {
        let r = try CLI.run(["probe", "--max-pixels", "100000", CLI.sample("cat.jpg")])
        #expect(r.status == 1)
        #expect(r.stderr.contains("451x300 (135300 pixels) is above the limit of 100000 pixels"), "\(r.stderr)")
        #expect(!r.stderr.contains("0 M pixels") && !r.stderr.contains("--max-pixels"), "\(r.stderr)")
    }

    @Test func imagesGivenToATextModelAreToldSo() throws {
        let dir = try Self.temporaryFolder("textmodel")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try CLI.run(["embed", CLI.sample("cat.jpg"), "--model", "all-minilm-l6-v2", "--output", dir.appendingPathComponent("o").path])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("all-minilm-l6-v2 is a text model"), "\(r.stderr)")
        #expect(r.stderr.contains("--text"), "\(r.stderr)")
    }

    @Test func aTextFileGetsOneErrorWhateverItsName() throws {
        let dir = try Self.temporaryFolder("textfile")
        defer { try? FileManager.default.removeItem(at: dir) }
        var reasons: [String] = []
        for name in ["notes.txt", "notes.jpg", "notes.wav", "notes"] {
            let p = dir.appendingPathComponent(name).path
            try Data("just some words\n".utf8).write(to: URL(fileURLWithPath: p))
            let r = try CLI.run(["probe", "--quiet", p])
            #expect(r.status == 1, "\(name): \(r.stderr)")
            reasons.append(r.stderr.replacingOccurrences(of: p, with: "PATH"))
        }
        #expect(Set(reasons).count == 1, "\(reasons)")
    }

    // MARK: options that were silently ignored

    @Test func explainWithCSVIsRefused() throws {
        let r = try CLI.run(["classify", CLI.sample("cat.jpg"), "--labels", "cat,dog", "--explain", "--format", "csv"])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("--explain") && r.stderr.contains("CSV"), "\(r.stderr)")
    }

    @Test func repeatedLabelsAccumulateAndLabelFilesSkipComments() throws {
        let dir = try Self.temporaryFolder("labels")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try CLI.run(["classify", CLI.sample("cat.jpg"), "--model", "lite0-minilm", "--labels", "cat", "--labels", "dog,car",
                             "--format", "json", "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let labels = (obj?["labels"] as? [[String: Any]])?.compactMap { $0["label"] as? String } ?? []
        #expect(Set(labels) == ["cat", "dog", "car"], "\(r.stdout)")

        let file = dir.appendingPathComponent("labels.txt")
        try Data("# animals\ncat\n\n  # more\ndog\n".utf8).write(to: file)
        let f = try CLI.run(["classify", CLI.sample("cat.jpg"), "--model", "lite0-minilm", "--labels-file", file.path,
                             "--format", "json", "--quiet"])
        #expect(f.status == 0, "\(f.stderr)")
        let fobj = try JSONSerialization.jsonObject(with: Data(f.stdout.utf8)) as? [String: Any]
        let flabels = (fobj?["labels"] as? [[String: Any]])?.compactMap { $0["label"] as? String } ?? []
        #expect(Set(flabels) == ["cat", "dog"], "\(f.stdout)")
    }
}

/// Help texts and documents say what the commands do (issue 14, "Help and docs").
@Suite("mmpipe help and docs, end to end")
struct HelpAndDocsCLITests {
    static func read(_ relative: String) throws -> String {
        try String(contentsOf: CLI.repoRoot.appendingPathComponent(relative), encoding: .utf8)
    }

    @Test func summariesNameWhatEachCommandTakes() throws {
        let top = try CLI.run(["--help"]).stdout
        let start = try #require(top.range(of: "  classify "))
        let end = try #require(top[start.upperBound...].range(of: "  embed "))
        let classifyLine = top[start.upperBound..<end.lowerBound]
        #expect(classifyLine.contains("labels") && classifyLine.contains("zero-shot"), "\(classifyLine)")
        let embed = try CLI.run(["embed", "--help"]).stdout
        #expect(embed.contains("clip-vit-b-32") && embed.contains("CLIP"), "\(embed)")
        let transcribe = try CLI.run(["transcribe", "--help"]).stdout
        #expect(transcribe.contains("-o, --output-dir"), "\(transcribe)")
        let classify = try CLI.run(["classify", "--help"]).stdout
        #expect(classify.contains("lines starting with # are skipped"), "\(classify)")
    }

    @Test func modelSizesAgreeBetweenTheCLIAndTheFetchScript() throws {
        let list = try CLI.run(["models", "list"])
        let fetch = try CLI.run(["--list"], executable: CLI.repoRoot.appendingPathComponent("scripts/fetch-models"))
        #expect(list.status == 0 && fetch.status == 0, "\(list.stderr) \(fetch.stderr)")
        func sizes(_ text: String) -> [String: String] {
            var out: [String: String] = [:]
            for line in text.split(separator: "\n") {
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                if let i = f.firstIndex(where: { $0 == "MB" || $0 == "KB" || $0 == "GB" }), i > 0 {
                    out[String(f[0])] = f[i - 1] + " " + f[i]
                }
            }
            return out
        }
        let a = sizes(list.stdout), b = sizes(fetch.stdout)
        #expect(!a.isEmpty && a == b, "models list: \(a); fetch-models --list: \(b)")
    }

    @Test func theDocumentedDefaultSetIsTheManifests() throws {
        let manifest = try JSONSerialization.jsonObject(with: Data(try Self.read("Models/models.json").utf8)) as? [String: Any]
        let defaults = Set(((manifest?["models"] as? [[String: Any]]) ?? []).filter { $0["default"] as? Bool == true }.compactMap { $0["name"] as? String })
        let readme = try Self.read("Models/README.md")
        let start = try #require(readme.range(of: "the default set ("))
        let end = try #require(readme[start.upperBound...].range(of: ":"))
        let listed = readme[start.upperBound..<end.lowerBound].components(separatedBy: CharacterSet(charactersIn: ", \n#"))
            .filter { !$0.isEmpty }
        #expect(Set(listed) == defaults, "Models/README: \(listed); models.json: \(defaults)")
        // Keyframes have no option: the README does not promise them.
        #expect(!(try Self.read("README.md")).contains("keyframes"))
    }

    /// The README's numpy line loads every row of a resumed, several-shard output in
    /// manifest order.
    @Test func theReadmeNumpyLineLoadsAllShards() throws {
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python),
              (try? CLI.run(["-c", "import numpy"], executable: URL(fileURLWithPath: python)))?.status == 0 else { return }
        let readme = try Self.read("README.md")
        let line = try #require(readme.split(separator: "\n").first { $0.hasPrefix("python3 -c 'import json, numpy") })
        let code = String(line.dropFirst("python3 -c '".count).dropLast())
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("readme-np-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try CLI.run(["embed", CLI.sample("cat.jpg"), "-o", dir.path, "-q"]).status == 0)
        #expect(try CLI.run(["embed", CLI.sample(""), "-o", dir.path, "-q", "--shard-rows", "2"]).status == 0)
        let shards = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".npy") }
        #expect(shards.count >= 2)
        let r = try CLI.run(["-c", code.replacingOccurrences(of: "\"DIR\"", with: "\"\(dir.path)\"")
                             + "; m = [r for r in map(json.loads, open(d + \"/manifest.jsonl\")) if \"shard\" in r]"
                             + "; print(all((x[k] == np.load(d + \"/\" + r[\"shard\"])[r[\"row\"]]).all() for k, r in enumerate(m)))"],
                            executable: URL(fileURLWithPath: python))
        #expect(r.status == 0, "\(r.stderr)")
        let manifestRows = try String(contentsOf: dir.appendingPathComponent("manifest.jsonl"), encoding: .utf8)
            .split(separator: "\n").filter { $0.contains("\"shard\"") }.count
        #expect(r.lines == ["(\(manifestRows), 1280)", "True"], "\(r.stdout) \(r.stderr)")
    }
}
