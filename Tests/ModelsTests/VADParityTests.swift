import Foundation
import Testing
import TensorCore
import TestAudio
@testable import Models

/// Silero VAD v6 against onnxruntime running the same file, and faster-whisper's
/// `get_speech_timestamps` / `SpeechTimestampsMap` (scripts/gen-vad-fixtures.py):
/// probabilities within 1e-4 on every input; regions identical, from onnxruntime's
/// probabilities (the algorithm alone) and from ours (the whole path) wherever no
/// probability lies closer to a threshold than our error; the map's times identical.
@Suite("Silero VAD: onnxruntime's probabilities, faster-whisper's regions")
struct VADParityTests {
    struct Input: @unchecked Sendable, CustomStringConvertible {
        let name: String
        let json: [String: Any]
        var description: String { name }
        var probabilities: [Float] { (json["probabilities"] as! [NSNumber]).map(\.floatValue) }
        var samples: Int { (json["samples"] as! NSNumber).intValue }
        var margin: Double { (json["margin"] as! NSNumber).doubleValue }
        func regions(_ set: String) -> [SpeechRegion] {
            ((json["regions"] as! [String: Any])[set] as! [[NSNumber]]).map { SpeechRegion(start: $0[0].intValue, end: $0[1].intValue) }
        }
        func audio() throws -> [Float] {
            let pcm = try TestAudio.build(json["recipe"]!)
            try #require(TestAudio.fnv1a64(pcm) == json["fnv1a64"] as? String, "\(name): the recipe built other samples than the fixture's")
            return TestAudio.floats(pcm)
        }
    }

    static let reference: [String: Any] = {
        guard let url = Bundle.module.url(forResource: "reference", withExtension: "json", subdirectory: "Fixtures/vad"),
              let data = try? Data(contentsOf: url),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return obj
    }()

    static let inputs: [Input] = ((reference["inputs"] as? [String: Any]) ?? [:]).keys.sorted().map {
        Input(name: $0, json: (reference["inputs"] as! [String: Any])[$0] as! [String: Any])
    }

    static let optionSets: [(String, VADOptions)] = ((reference["option_sets"] as? [String: [String: Any]]) ?? [:]).keys.sorted().map { key in
        let o = (reference["option_sets"] as! [String: [String: Any]])[key]!
        var v = VADOptions()
        if let x = o["threshold"] as? NSNumber { v.threshold = x.doubleValue }
        if let x = o["neg_threshold"] as? NSNumber { v.negThreshold = x.doubleValue }
        if let x = o["min_speech_duration_ms"] as? NSNumber { v.minSpeechDurationMs = x.intValue }
        if let x = o["max_speech_duration_s"] as? NSNumber { v.maxSpeechDurationS = x.doubleValue }
        if let x = o["min_silence_duration_ms"] as? NSNumber { v.minSilenceDurationMs = x.intValue }
        if let x = o["speech_pad_ms"] as? NSNumber { v.speechPadMs = x.intValue }
        return (key, v)
    }

    static let vad: Result<SileroVAD, Error> = Result {
        let url = WhisperWeightsTests.modelsDir.appendingPathComponent("silero-vad")
        try #require(FileManager.default.fileExists(atPath: url.appendingPathComponent(SileroVADLoader.fileName).path),
                     "\(url.path)/\(SileroVADLoader.fileName) is missing: run scripts/fetch-models silero-vad")
        return try SileroVADLoader.load(url)
    }

    @Test("the fixture is there and covers every option set")
    func fixturePresent() {
        #expect(VADParityTests.inputs.count >= 10, "run scripts/gen-vad-fixtures.py")
        #expect(VADParityTests.optionSets.count >= 6)
    }

    @Test("probabilities within 1e-4 of onnxruntime; regions as faster-whisper's from them", arguments: VADParityTests.inputs)
    func parity(_ input: Input) throws {
        let vad = try VADParityTests.vad.get()
        let ours = vad.probabilities(try input.audio())
        let ref = input.probabilities
        try #require(ours.count == ref.count, "\(input): \(ours.count) windows, onnxruntime \(ref.count)")
        let err = zip(ours, ref).map { abs($0 - $1) }.max() ?? 0
        #expect(err <= 1e-4, "\(input): max |p - onnxruntime| = \(err)")
        for (name, options) in VADParityTests.optionSets {
            let expected = input.regions(name)
            #expect(SpeechTimestamps.regions(probabilities: ref, samples: input.samples, options: options) == expected,
                    "\(input) \(name): regions from onnxruntime's probabilities")
            // Our own probabilities give the same regions unless one lies within our error of a threshold.
            if input.margin > 2 * Double(err) {
                #expect(SpeechTimestamps.regions(probabilities: ours, samples: input.samples, options: options) == expected,
                        "\(input) \(name): regions from our probabilities")
            }
        }
    }

    @Test("the stream gives the same probabilities whatever the chunk sizes", arguments: [1, 100, 511, 512, 513, 7777, 16000])
    func streaming(_ chunk: Int) throws {
        let vad = try VADParityTests.vad.get()
        let input = try #require(VADParityTests.inputs.first { $0.name == "librivox-0880" })
        let audio = try input.audio()
        let whole = vad.probabilities(audio)
        let s = vad.stream()
        var got: [Float] = []
        var i = 0
        while i < audio.count {
            let j = min(audio.count, i + chunk)
            got += audio[i..<j].withUnsafeBufferPointer { s.append($0) }
            i = j
        }
        got += s.finish()
        #expect(s.samples == audio.count)
        try #require(got.count == whole.count)
        let err = zip(got, whole).map { abs($0 - $1) }.max() ?? 0
        #expect(err <= 1e-5, "chunks of \(chunk): max difference \(err) from one batch")
    }

    /// The tracker fed one probability at a time: what it reports final never changes, and
    /// every sample before `decided` is kept or dropped as in the end.
    static func checkOnline(_ probs: [Float], samples: Int, options: VADOptions) -> String? {
        let expected = SpeechTimestamps.regions(probabilities: probs, samples: samples, options: options)
        let t = SpeechRegionTracker(options: options)
        var lastDecided = 0
        func kept(_ regions: [SpeechRegion], below limit: Int) -> [SpeechRegion] {
            regions.compactMap { r in r.start < min(r.end, limit) ? SpeechRegion(start: r.start, end: min(r.end, limit)) : nil }
        }
        func merged(_ r: [SpeechRegion]) -> [SpeechRegion] {
            var out: [SpeechRegion] = []
            for x in r.sorted(by: { $0.start < $1.start }) where x.start < x.end {
                if let l = out.last, l.end >= x.start { out[out.count - 1].end = max(l.end, x.end) } else { out.append(x) }
            }
            return out
        }
        for (i, p) in probs.enumerated() {
            t.push([p])
            let final = t.final
            guard final.count <= expected.count, Array(expected.prefix(final.count)) == final else {
                return "after window \(i): final \(final), in the end \(expected)"
            }
            let decided = min(t.decided, samples)
            guard decided >= lastDecided else { return "after window \(i): decided went back from \(lastDecided) to \(decided)" }
            lastDecided = decided
            var claimed = final
            if let open = t.open {
                guard open.keptUntil >= open.start else { return "after window \(i): open \(open)" }
                // An open region that keeps something is the next region in the end (one that keeps
                // nothing yet may still be dropped for being too short).
                if open.keptUntil > open.start, open.start != expected.dropFirst(final.count).first?.start {
                    return "after window \(i): open region \(open) is not the next of \(expected)"
                }
                claimed.append(SpeechRegion(start: open.start, end: open.keptUntil))
            }
            if merged(kept(claimed, below: decided)) != merged(kept(expected, below: decided)) {
                return "after window \(i): below \(decided) claimed \(kept(claimed, below: decided)), in the end \(kept(expected, below: decided))"
            }
        }
        return nil
    }

    @Test("the tracker online: final regions never change, decided samples are decided", arguments: VADParityTests.inputs)
    func online(_ input: Input) {
        for (name, options) in VADParityTests.optionSets {
            if let problem = VADParityTests.checkOnline(input.probabilities, samples: input.samples, options: options) {
                Issue.record("\(input) \(name): \(problem)")
            }
        }
    }

    @Test("the tracker online on random runs of speech and silence")
    func onlineRandom() {
        var rng = SplitMix64(seed: 11)
        for trial in 0..<300 {
            var probs: [Float] = []
            while probs.count < 400 {
                let run = Int(rng.next() % 60) + 1
                let level = Float(rng.next() % 1000) / 1000
                for _ in 0..<run { probs.append(min(1, max(0, level + Float(Int(rng.next() % 200) - 100) / 1000))) }
            }
            var o = VADOptions()
            o.threshold = [0.5, 0.3, 0.7][trial % 3]
            o.minSilenceDurationMs = [2000, 100, 500, 0][trial % 4]
            o.speechPadMs = [400, 0, 30, 1000][(trial / 4) % 4]
            o.minSpeechDurationMs = [0, 250, 1000][(trial / 2) % 3]
            o.maxSpeechDurationS = [.infinity, 1.5, 3][(trial / 3) % 3]
            let samples = probs.count * 512 - Int(rng.next() % 512)
            if let problem = VADParityTests.checkOnline(probs, samples: samples, options: o) {
                Issue.record("trial \(trial) (\(o)): \(problem)")
                return
            }
        }
    }

    @Test("SpeechTimestampsMap: faster-whisper's chunk indices and restored times")
    func map() throws {
        let m = try #require(VADParityTests.reference["map"] as? [String: Any])
        let input = try #require(VADParityTests.inputs.first { $0.name == m["input"] as? String })
        let map = SpeechTimestampsMap(regions: input.regions("default"), sampleRate: 16_000)
        for t in m["times"] as! [[String: NSNumber]] {
            let time = t["time"]!.doubleValue
            #expect(map.chunkIndex(time, isEnd: false) == t["start_chunk"]!.intValue, "chunk of \(time)")
            #expect(map.chunkIndex(time, isEnd: true) == t["end_chunk"]!.intValue, "chunk of \(time) as an end")
            #expect(map.originalTime(time) == t["start"]!.doubleValue, "\(time) as a start")
            #expect(map.originalTime(time, isEnd: true) == t["end"]!.doubleValue, "\(time) as an end")
        }
    }

    @Test("SpeechFilter joins the speech as collect_chunks does, online and from known regions", arguments: [4000, 7777, 16000])
    func filter(_ chunk: Int) throws {
        let vad = try VADParityTests.vad.get()
        for name in ["gaps", "close", "silence"] {
            let input = try #require(VADParityTests.inputs.first { $0.name == name })
            let audio = try input.audio()
            let regions = input.regions("default")
            let expected = regions.flatMap { audio[$0.start..<$0.end] }
            for filter in [SpeechFilter(vad: vad, options: VADOptions()), SpeechFilter(regions: regions)] {
                var joined: [Float] = []
                var i = 0
                while i < audio.count {
                    let j = min(audio.count, i + chunk)
                    joined += filter.append(Array(audio[i..<j]))
                    #expect(filter.joinedSamples == joined.count)
                    i = j
                }
                joined += filter.finish()
                #expect(filter.regions == regions, "\(name): regions")
                #expect(joined == expected, "\(name), chunks of \(chunk): \(joined.count) joined samples, expected \(expected.count)")
                #expect(filter.map.chunkIndex(1.0, isEnd: false) == SpeechTimestampsMap(regions: regions, sampleRate: 16_000).chunkIndex(1.0, isEnd: false))
            }
        }
    }

    @Test("bad weights: one line naming the file and the problem")
    func badWeights() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vad-weights-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func message(_ url: URL) -> String {
            do { _ = try SileroVADLoader.load(url); return "loaded" } catch { return "\(error)" }
        }
        #expect(message(dir).contains("no silero_vad_v6.safetensors in this folder"))
        #expect(message(dir.appendingPathComponent("nope.safetensors")).contains("no such file"))
        let onnx = dir.appendingPathComponent("silero_vad_v6.onnx")
        try Data([1, 2, 3]).write(to: onnx)
        #expect(message(onnx).contains("convert it first with scripts/onnx_initializers.py"))
        // A file with one tensor missing and one misshapen.
        let good = WhisperWeightsTests.modelsDir.appendingPathComponent("silero-vad/\(SileroVADLoader.fileName)")
        var tensors = try SafeTensorsFile(path: good.path).allTensors()
        tensors["decoder.conv1d.bias"] = nil
        let missing = dir.appendingPathComponent("missing.safetensors")
        try SafeTensorsWriter.write(tensors.map { ($0.key, $0.value) }, to: missing)
        #expect(message(missing) == "\(missing.path): missing tensor 'decoder.conv1d.bias' (expected shape [1]) (is this Silero VAD v6?)")
        tensors["decoder.conv1d.bias"] = Tensor(zeros: [2])
        let shaped = dir.appendingPathComponent("shaped.safetensors")
        try SafeTensorsWriter.write(tensors.map { ($0.key, $0.value) }, to: shaped)
        #expect(message(shaped) == "\(shaped.path): tensor 'decoder.conv1d.bias' has shape [2], expected [1]")
    }
}
