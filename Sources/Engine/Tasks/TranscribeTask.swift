import Foundation
import Media
import Models
import TensorCore

/// What to transcribe and how: files (or `-` for a list on stdin), or a live stream.
public struct TranscribeRequest: Sendable {
    public enum Input: Sendable {
        /// Files, folders (walked for audio and video), or `-` for paths on stdin.
        case files([String])
        /// Audio arriving on a file descriptor: WAV or any stream FFmpeg demuxes, or headerless
        /// PCM in `raw`'s layout. `name` names the stream in messages and output files.
        case live(fileDescriptor: Int32, name: String, raw: RawPCMFormat? = nil)
    }

    public var input: Input
    /// A registered Whisper model (name or alias), or a folder with model.bin / model.safetensors.
    public var model: String
    public var options: WhisperSession.Request
    /// Transcribe only the speech Silero VAD finds with these options, joined as
    /// faster-whisper's `vad_filter` does; times are mapped back onto the recording.
    public var vad: VADOptions?
    /// How the model's matrices are stored and multiplied (`int8`: quantised, faster).
    public var computeType: WhisperComputeType
    /// Batched transcription (faster-whisper's `BatchedInferencePipeline`): the speech in
    /// chunks of up to 30 s, `batchSize` of them encoded and decoded together, without the
    /// previous text or timestamps. Uses the VAD with `WhisperBatchOptions.vadOptions(vad)`.
    public var batch: WhisperBatchOptions?
    /// Only this part of the inputs (`--shard I/N`).
    public var shard: Shard?

    public init(input: Input, model: String = TranscribeTask.defaultModel, options: WhisperSession.Request = .init(),
                vad: VADOptions? = nil, computeType: WhisperComputeType = .default, batch: WhisperBatchOptions? = nil) {
        self.input = input
        self.model = model
        self.options = options
        self.vad = vad
        self.computeType = computeType
        self.batch = batch
    }

    /// The VAD options in effect: the batched pipeline's when batched, else `vad`.
    public var vadInEffect: VADOptions? { batch != nil ? WhisperBatchOptions.vadOptions(vad) : vad }
}

/// Sees each segment as soon as it is final, with the input it belongs to (`--verbose`).
public typealias SegmentObserver = @Sendable (WhisperSegment, SourceItem) -> Void

/// A transcript sink that also shows each segment as soon as it is final (live output).
public protocol TranscriptSegmentSink: ResultSink where Record == TranscriptRecord {
    func segment(_ segment: WhisperSegment, for source: SourceItem)
}

/// Speech to text with Whisper: the one entry point for files and live input (as
/// whisper.cpp's `whisper_full` serves its cli, server and stream programs).
///
/// Files go through the stage graph: "decode" reads each file once to its end for its length,
/// log-mel maximum and speech regions (`Whisper.scan`, while the previous file is
/// transcribed), "transcribe" reads it again through the loop, so no file is ever in memory
/// whole. Live input is one pass of the same loop over the stream. A Ctrl-C (the job's
/// cancellation) stops the loop at its next check: an interrupted file gives no record (it is
/// not done, so a later run does it again); live input keeps the segments final so far.
public final class TranscribeTask: @unchecked Sendable {
    public static let defaultModel = "tiny.en"

    public let request: TranscribeRequest
    public let session: WhisperSession
    public let modelName: String
    /// The voice-activity detector, with `request.vad`.
    public let vadSession: VADSession?

    /// Loads the model (through the catalog) and checks the request against it.
    public convenience init(_ request: TranscribeRequest, store: ModelStore, catalog: ModelCatalog = .standard) throws {
        try self.init(request, catalog: catalog) {
            (try WhisperSession(model: request.model, store: store, catalog: catalog, computeType: request.computeType),
             try request.vadInEffect.map { _ in try VADSession(store: store, catalog: catalog) })
        }
    }

    /// The same with models already loaded (a server's, shared by its requests): `session`
    /// must be `request.model` at `request.computeType`, `vadSession` given when the request
    /// uses the VAD (`vadInEffect`).
    public convenience init(_ request: TranscribeRequest, session: WhisperSession, vadSession: VADSession?,
                            catalog: ModelCatalog = .standard) throws {
        if request.vadInEffect != nil && vadSession == nil {
            throw RequestError("this request uses the VAD, and no VAD model was given")
        }
        try self.init(request, catalog: catalog) { (session, vadSession) }
    }

    private init(_ request: TranscribeRequest, catalog: ModelCatalog,
                 load: () throws -> (WhisperSession, VADSession?)) throws {
        self.request = request
        do { try request.options.validate() } catch { throw RequestError("\(error)") }      // every numeric option in range
        do { try request.vadInEffect?.validate() } catch { throw RequestError("\(error)") }
        if let batch = request.batch {
            do { try batch.validate() } catch { throw RequestError("\(error)") }
            if case .live = request.input {
                throw RequestError("batched transcription needs whole files (their speech is found before it is cut into chunks): drop --batch-size with --audio-stdin")
            }
            if request.options.hallucinationSilenceThreshold != nil {
                throw RequestError("batched transcription has no hallucination-silence check (each chunk is one segment): drop --hallucination-silence-threshold or --batch-size")
            }
        }
        if case .files(let inputs) = request.input {
            try InputPaths(inputs).checkStandardInput(hint: "to transcribe audio from standard input, use --audio-stdin instead of -")
        }
        if let card = catalog.card(request.model), card.kind != .speech {
            throw RequestError("\(request.model) is not a speech model; Whisper models: \(catalog.cards(.speech).map(\.name).joined(separator: ", "))")
        }
        (session, vadSession) = try load()
        modelName = catalog.card(request.model)?.name ?? request.model
        let o = request.options
        if (o.language.map { $0 != "en" } ?? false || o.translate) && !session.tokenizer.isMultilingual {
            throw RequestError("model \(request.model) is English-only: use --model base for other languages or translation")
        }
        do { try session.whisper.check(o) } catch let e as WhisperError { throw RequestError(e.description) }
        if case .live(_, _, let raw?) = request.input {
            if !(1...768_000).contains(raw.sampleRate) { throw RequestError("the raw PCM sample rate must be 1...768000 Hz, not \(raw.sampleRate)") }
            if !(1...64).contains(raw.channels) { throw RequestError("raw PCM must have 1...64 channels, not \(raw.channels)") }
        }
    }

    /// Transcribes the inputs into `sink` (one transcript per input, in input order). Each
    /// segment reaches `onSegment` (and a `TranscriptSegmentSink`) as soon as it is final; the
    /// progress line shows the position in the audio of the input in work.
    public func run(into sink: any ResultSink<TranscriptRecord>, progress: Progress,
                    onSegment: SegmentObserver? = nil, control: JobControl? = nil) throws -> JobSummary {
        let whisper = session.whisper, options = request.options
        let live = sink as? any TranscriptSegmentSink
        let observe: SegmentObserver = { s, item in
            live?.segment(s, for: item)
            onSegment?(s, item)
        }
        switch request.input {
        case .files(let inputs):
            let vad = vadSession.map { ($0.vad, request.vadInEffect ?? VADOptions()) }
            let batch = request.batch
            // Batched: the files of a batch stage's group in flight together with the next
            // group's first passes.
            let window = batch.map { 2 * $0.batchSize + 2 } ?? 4
            return try Runner.run(into: sink, window: window, progress: progress, control: control) { job, skip in
                let stop: @Sendable () -> Bool = { job.cancelled }
                let firstPasses = job.source(InputPaths(inputs, shard: request.shard) { MediaFormat.hasExtension($0, of: [.audio, .video]) }, skip: skip)
                    .map("decode", workers: 1) { _, item in
                        // The first pass: length, log-mel maximum, speech regions (of the
                        // speech Silero finds, with --vad); and whether the file holds what its
                        // header declares. Batched: the speech regions alone.
                        let reader = try AudioReader(path: item.path, sampleRate: 16_000)
                        let filter = vad.map { SpeechFilter(vad: $0.0, options: $0.1) }
                        var source = TranscribeTask.samples(reader)
                        if let filter { source = joinedSpeech(source, filter: filter) }
                        var scan: WhisperScan? = nil
                        if batch == nil {
                            scan = try whisper.scan(source, shouldStop: stop)
                        } else {
                            while try source() != nil { if stop() { throw CancellationError() } }
                        }
                        let samples = filter?.samples ?? scan?.samples ?? 0
                        let decoded = Double(samples) / Double(LogMelSpectrogram.sampleRate)
                        let warnings = AudioIntegrity.warnings(path: item.path, format: reader.format, decodedSeconds: decoded)
                        for w in warnings { job.progress.warn(w.description) }
                        return FirstPass(scan: scan, samples: samples, speech: filter?.regions, warnings: warnings.map(\.message))
                    }
                if let batch {
                    return firstPasses.batch(BatchedTranscription(whisper: whisper, options: options, batch: batch, job: job,
                                                                  observe: observe))
                }
                return firstPasses
                    .map("transcribe", workers: 1) { pass, item in
                        var o = options
                        o.shouldStop = stop
                        let reader = try AudioReader(path: item.path, sampleRate: 16_000)
                        var source = TranscribeTask.samples(reader)
                        let map = pass.speech.map { SpeechTimestampsMap(regions: $0, sampleRate: SileroVAD.sampleRate) }
                        if let speech = pass.speech { source = joinedSpeech(source, filter: SpeechFilter(regions: speech)) }
                        let restore: (WhisperSegment) -> WhisperSegment = { s in map.map { $0.restore(s) } ?? s }
                        let total = Double(pass.samples) / Double(LogMelSpectrogram.sampleRate)
                        var t = try whisper.transcribe(source, scan: pass.scan, options: o,
                                                       onSegment: { observe(restore($0), item) },
                                                       onProgress: { done, _ in
                                                           let at = map.map { $0.originalTime(done, isEnd: true) } ?? done
                                                           job.reportWork(item.path, done: at, total: total)
                                                           job.progress.working(TranscribeTask.position(item, min(at, total), total), job: job)
                                                       })
                        if pass.speech != nil {
                            t.segments = t.segments.map(restore)
                            t.duration = total
                        }
                        t.warnings = pass.warnings
                        return t
                    }
            }
        case .live(let fd, let name, let raw):
            let item = SourceItem(path: name, size: 0, mtime: 0)
            let vad = vadSession.map { ($0.vad, request.vad ?? VADOptions()) }
            // The first Ctrl-C ends the input (a stream has no end of its own): what arrived is
            // transcribed to the end and printed, and the run exits 130; a second one quits.
            let note = "interrupted: the input ends here; transcribing what arrived (press Ctrl-C again to quit at once)"
            return try Runner.run(into: sink, window: 1, progress: progress, control: control, interruptNote: note,
                                  onInterrupt: { InputStreamEnd.end() }) { job, _ in
                job.source(values: [(item, ())]).map("transcribe", workers: 1) { _, item in
                    var o = options
                    o.shouldStop = { control?.isCancelled ?? false }
                    let reader = try raw.map { try AudioReader(fileDescriptor: fd, name: name, raw: $0, sampleRate: 16_000) }
                        ?? AudioReader(fileDescriptor: fd, name: name, sampleRate: 16_000)
                    let transcription = try WhisperTranscription(whisper: whisper, options: o)
                    // With --vad, the speech is joined as it is decided and each segment is
                    // mapped back once, when it is final, onto what is known of the regions then.
                    let filter = vad.map { SpeechFilter(vad: $0.0, options: $0.1) }
                    var source = TranscribeTask.samples(reader)
                    if let filter { source = joinedSpeech(source, filter: filter) }
                    var restored: [WhisperSegment] = []
                    func result(_ t: WhisperTranscript) -> WhisperTranscript {
                        guard let filter else { return t }
                        return WhisperTranscript(language: t.language, segments: restored,
                                                 duration: Double(filter.samples) / Double(LogMelSpectrogram.sampleRate))
                    }
                    do {
                        let t = try transcription.run(source, onSegment: { s in
                            let r = filter.map { $0.map.restore(s) } ?? s
                            restored.append(r)
                            observe(r, item)
                        }, onProgress: { done, total in
                            let at = filter.map { $0.map.originalTime(done, isEnd: true) } ?? done
                            job.progress.working(TranscribeTask.position(item, at, filter == nil ? total : nil), job: job)
                        })
                        return result(t)
                    } catch is CancellationError where job.cancelled {
                        return result(transcription.transcript)   // stopped by its control (a server's client): keep what is final
                    }
                }
            }
        }
    }

    /// The second pass of batched transcription: the speech of up to `batchSize` files
    /// (those whose first pass ends within half a second of the first's) cut into chunks,
    /// and the chunks of all of them `batchSize` at a time, so that many short files fill a
    /// batch as one long file does. Each file gets the transcript it gets alone.
    struct BatchedTranscription: BatchStage {
        let whisper: Whisper
        let options: WhisperOptions
        let batch: WhisperBatchOptions
        let job: Job
        let observe: SegmentObserver
        var name: String { "transcribe" }
        var maxBatch: Int { batch.batchSize }
        var maxWait: Double { 0.5 }

        func process(_ passes: [FirstPass], items: [SourceItem]) -> [Result<WhisperTranscript, Error>] {
            var o = options
            o.shouldStop = { [job] in job.cancelled }
            var results = [Result<WhisperTranscript, Error>?](repeating: nil, count: passes.count)
            // The files that open, in order, with their speech maps and lengths.
            var inputs: [WhisperBatchedInput] = [], files: [(index: Int, map: SpeechTimestampsMap, total: Double)] = []
            for (i, (pass, item)) in zip(passes, items).enumerated() {
                do {
                    let reader = try AudioReader(path: item.path, sampleRate: 16_000)
                    let regions = pass.speech ?? []
                    inputs.append(WhisperBatchedInput(source: joinedSpeech(TranscribeTask.samples(reader), filter: SpeechFilter(regions: regions)),
                                                      chunks: batch.chunks(regions)))
                    files.append((i, SpeechTimestampsMap(regions: regions, sampleRate: SileroVAD.sampleRate),
                                  Double(pass.samples) / Double(LogMelSpectrogram.sampleRate)))
                } catch {
                    results[i] = .failure(error)
                }
            }
            do {
                let transcripts = try whisper.transcribeBatched(inputs, options: o, batch: batch, onSegment: { f, s in
                    observe(files[f].map.restore(s), items[files[f].index])
                }, onProgress: { f, done in
                    let (i, map, total) = files[f]
                    job.reportWork(items[i].path, done: map.originalTime(done, isEnd: true), total: total)
                    job.progress.working(TranscribeTask.position(items[i], min(map.originalTime(done, isEnd: true), total), total), job: job)
                })
                for (f, r) in transcripts.enumerated() {
                    results[files[f].index] = r.map { t in
                        var t = t
                        t.segments = t.segments.map(files[f].map.restore)
                        t.duration = files[f].total
                        t.warnings = passes[files[f].index].warnings
                        return t
                    }
                }
            } catch {
                for f in files { results[f.index] = .failure(error) }
            }
            return results.map { $0 ?? .failure(CancellationError()) }
        }
    }

    /// What a file's first pass found: the scan of what is transcribed (the joined speech with
    /// --vad; none when batched), the recording's length, and the speech regions (with --vad).
    struct FirstPass: Sendable {
        let scan: WhisperScan?
        let samples: Int
        let speech: [SpeechRegion]?
        var warnings: [String] = []
    }

    /// The reader as the loop's sample source: a second at a time.
    static func samples(_ reader: AudioReader) -> WhisperSampleSource {
        { try reader.read(maxFrames: 16_000) }
    }

    /// `speech.wav 2:31 / 13:04`: the progress line's position within an input.
    static func position(_ item: SourceItem, _ done: Double, _ total: Double?) -> String {
        let name = (item.path as NSString).lastPathComponent
        return "\(name) \(Progress.duration(done))" + (total.map { " / \(Progress.duration($0))" } ?? "")
    }
}

/// openai-whisper's `--verbose` line for a segment: `[00:00.000 --> 00:04.000] text`
/// (hours shown once there are any).
public func verboseSegmentLine(_ s: WhisperSegment) -> String {
    "[\(TranscriptFormat.clock(s.start, comma: false, alwaysHours: false)) --> "
        + "\(TranscriptFormat.clock(s.end, comma: false, alwaysHours: false))] \(s.text.trimmingCharacters(in: .whitespaces))"
}
