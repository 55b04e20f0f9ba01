import Foundation
import Testing
import Models
@testable import Engine

@Suite("model catalog")
struct ModelCatalogTests {
    let catalog = ModelCatalog.standard

    @Test func everyNameIsRegisteredOnceAndAliasesResolve() {
        let names = catalog.cards.flatMap { [$0.name] + $0.aliases }
        #expect(Set(names).count == names.count, "a name registered twice: \(names)")
        #expect(catalog.card("base")?.name == "whisper-base")
        #expect(catalog.card("tiny.en")?.name == "whisper-tiny.en")
        #expect(catalog.card("lite0-minilm")?.kind == .zeroShot)
        #expect(catalog.card("clip-vit-b-32")?.weights == .huggingFace("openai/clip-vit-base-patch32"))
        #expect(catalog.card("resnet51") == nil)
    }

    @Test func everyVisionArchitectureSizeIsAnImageCard() {
        for a in VisionModelRegistry.architectures {
            for n in a.standardNames + [a.familyName] {
                #expect(catalog.card(n)?.kind == .image && catalog.card(n)?.family == a.familyName, "\(n)")
            }
        }
    }

    @Test func everyPackageSourceIsInTheCheckoutsManifest() throws {
        let store = try ModelStore()
        for c in catalog.cards {
            if case .package(let e) = c.weights { #expect((try? store.entry(e)) != nil, "\(c.name) -> \(e)") }
            for a in c.assets { #expect((try? store.entry(a)) != nil, "\(c.name) needs \(a)") }
        }
    }

    @Test func kindsAreChecked() {
        // Usage errors (exit status 2, HTTP 400), naming what the command takes.
        #expect(throws: RequestError.self) { try catalog.card("whisper-base", for: [.image]) }
        #expect(throws: RequestError.self) { try catalog.card("nope", for: [.image]) }
        #expect((try? catalog.card("vit-b-16", for: [.image]))?.name == "vit-b-16")
    }

    @Test func missingWeightsSayWhereTheyComeFrom() throws {
        let store = try ModelStore()
        let e = #expect(throws: ItemFailure.self) { try catalog.weights(for: catalog.card("resnet")!, given: nil, store: store) }
        #expect(e?.reason.contains("--weights") == true)
        let hub = #expect(throws: ItemFailure.self) {
            try catalog.weights(for: catalog.card("vit-l-16")!, given: nil, store: ModelStore(directory: store.directory))
        }
        #expect(hub?.reason.contains("mmpipe models fetch vit-l-16") == true && hub?.reason.contains("google/vit-large-patch16-224") == true)
    }
}

@Suite("result sinks")
struct ResultSinkTests {
    static let item = SourceItem(path: "dir/a,b.jpg", size: 10, mtime: 1.5)

    static func record(time: Double? = nil) -> ClassifyRecord {
        ClassifyRecord(path: item.path, model: "m", time: time,
                       predictions: [VisionPrediction(index: 281, label: "tabby", probability: 0.75),
                                     VisionPrediction(index: 282, label: "tiger cat", probability: 0.125)],
                       labels: nil, multiLabel: false, threshold: 0)
    }

    @Test func tableJSONAndCSVWriteToAnyTextOutput() throws {
        let table = BufferOutput(), json = BufferOutput(), csv = BufferOutput()
        let sinks: [any ResultSink<ClassifyRecord>] = [
            RecordFormat.table.sink(of: ClassifyRecord.self, file: nil, csvHeader: [], output: table),
            RecordFormat.json.sink(of: ClassifyRecord.self, file: nil, csvHeader: [], output: json),
            RecordFormat.csv.sink(of: ClassifyRecord.self, file: nil, csvHeader: ClassifyRecord.imageNetCSVHeader, output: csv),
        ]
        for s in sinks {
            try s.begin()
            try s.write(Self.record(time: 2), for: Self.item)
            try s.finish()
        }
        #expect(table.text == "dir/a,b.jpg @ 2.00 s  (m)\n  1   75.00%  tabby\n  2   12.50%  tiger cat\n")
        #expect(json.text == #"{"model":"m","path":"dir/a,b.jpg","predictions":[{"class_index":281,"label":"tabby","probability":0.75},{"class_index":282,"label":"tiger cat","probability":0.125}],"time":2}"# + "\n")
        #expect(csv.text == "path,time,rank,label,class_index,probability\n\"dir/a,b.jpg\",2.000,1,tabby,281,0.750000\n\"dir/a,b.jpg\",2.000,2,tiger cat,282,0.125000\n")
    }

    @Test func resultsFileAddsResumeFieldsAndKeepsOnlySuccesses() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sinks-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("r.jsonl").path
        let failed = SourceItem(path: "b.jpg", size: 3, mtime: 0)
        do {
            let sink = try ResultsFileSink<ClassifyRecord>(path: path, overwrite: false)
            try sink.write(Self.record(), for: Self.item)
            try sink.failed(ItemFailure(path: "b.jpg", reason: "corrupt"), for: failed)
            try sink.finish()
        }
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].hasSuffix(#""mtime_us":1500000,"path":"dir/a,b.jpg","predictions":[{"class_index":281,"label":"tabby","probability":0.75},{"class_index":282,"label":"tiger cat","probability":0.125}],"size":10}"#))
        #expect(lines[1] == #"{"error":"corrupt","mtime_us":0,"path":"b.jpg","size":3}"#)
        let again = try ResultsFileSink<ClassifyRecord>(path: path, overwrite: false)
        #expect(again.isDone(Self.item) && !again.isDone(failed))
        try again.finish()
    }

    @Test func transcriptPrinterAndLiveSegments() throws {
        let seg = try JSONDecoder().decode(WhisperSegment.self, from: Data(#"""
            {"id": 0, "seek": 0, "start": 3661.5, "end": 3662.25, "text": " Hello there.", "tokens": [1, 2], "temperature": 0,
             "avg_logprob": -0.1, "compression_ratio": 1, "no_speech_prob": 0.01, "words": []}
            """#.utf8))
        let out = BufferOutput()
        let printer = TranscriptPrinter(formats: [.txt, .srt], headers: true, output: out)
        try printer.write(WhisperTranscript(language: "en", segments: [seg], duration: 3663), for: SourceItem(path: "x.wav", size: 0, mtime: 0))
        #expect(out.text == "==> x.wav <==\nHello there.\n1\n01:01:01,500 --> 01:01:02,250\nHello there.\n\n")
        let live = BufferOutput()
        try LiveSegmentPrinter(timestamps: true, output: live).write(seg, for: SourceItem(path: "<stdin>", size: 0, mtime: 0))
        #expect(live.text == "[01:01:01.500 --> 01:01:02.250] Hello there.\n")
    }
}

@Suite("runner")
struct RunnerTests {
    /// A sink that records what reached it.
    final class Collect: ResultSink {
        var written: [String] = [], failed: [String] = [], begun = false, finished = false
        let done: Set<String>
        init(done: Set<String> = []) { self.done = done }
        func isDone(_ item: SourceItem) -> Bool { done.contains(item.path) }
        func begin() throws { begun = true }
        func write(_ r: String, for source: SourceItem) throws { written.append(r) }
        func failed(_ f: ItemFailure, for source: SourceItem) throws { failed.append(f.path) }
        func finish() throws { finished = true }
    }

    @Test func deliversInOrderSkipsDoneAndRecordsFailures() throws {
        let sink = Collect(done: ["b"])
        let values = ["a", "b", "c", "d"].map { (SourceItem(path: $0, size: 0, mtime: 0), $0) }
        let summary = try Runner.run(into: sink, window: 4, progress: Progress(mode: .quiet)) { job, skip in
            job.source(values: values.filter { !skip($0.0) }).map("upper", workers: 2) { v, _ in
                if v == "c" { throw ItemFailure(path: "c", reason: "bad") }
                return v.uppercased()
            }
        }
        #expect(sink.begun && sink.finished)
        #expect(sink.written == ["A", "D"] && sink.failed == ["c"])
        #expect(summary.done == 2 && summary.failed == 1)
    }
}
