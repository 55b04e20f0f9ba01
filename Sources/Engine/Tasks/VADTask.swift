import Foundation
import Media
import Models
import TensorCore

/// Which files to find speech in, with which detector and options.
public struct VADRequest: Sendable {
    /// Audio or video files, folders (walked), or `-` for paths on stdin.
    public var inputs: [String]
    /// A registered VAD model (`silero-vad`).
    public var model = VADSession.defaultModel
    /// Weights from elsewhere: the converted `.safetensors` or a folder holding it.
    public var weights: String? = nil
    /// faster-whisper's `VadOptions` (its defaults).
    public var options = VADOptions()
    /// Only this part of the inputs (`--shard I/N`).
    public var shard: Shard?

    public init(inputs: [String]) { self.inputs = inputs }
}

/// One input's speech regions, in seconds (faster-whisper's `get_speech_timestamps`,
/// padded and merged, divided by 16 000).
public struct VADRecord: Sendable, Encodable, Equatable {
    public struct Span: Sendable, Encodable, Equatable {
        public let start: Double
        public let end: Double
    }

    public let path: String
    /// Seconds of audio.
    public let duration: Double
    public let speech: [Span]

    public init(path: String, samples: Int, regions: [SpeechRegion]) {
        self.path = path
        let rate = Double(SileroVAD.sampleRate)
        duration = Double(samples) / rate
        speech = regions.map { Span(start: Double($0.start) / rate, end: Double($0.end) / rate) }
    }
}

extension VADRecord: TSVRecord {
    public static let tsvHeader = ["path", "start", "end"]
    public var tsvRows: [[String]] { speech.map { [path, "\($0.start)", "\($0.end)"] } }
}

/// The output formats of `mmpipe vad`.
public enum VADFormat: String, Sendable, CaseIterable {
    case json, tsv

    /// The sink for this format on `output`, or the results file when `file` is given.
    public func sink(file: JSONLinesOutput?, output: TextOutput = StandardOutput.shared) -> any ResultSink<VADRecord> {
        if let file { return ResultsFileSink<VADRecord>(file) }
        switch self {
        case .json: return JSONSink<VADRecord>(output)
        case .tsv: return TSVSink<VADRecord>(header: VADRecord.tsvHeader, output)
        }
    }
}

/// Speech regions of audio and video files with Silero VAD, exactly as faster-whisper finds
/// them. Each file is read in one-second chunks through the detector (memory stays flat
/// whatever the length); files run side by side, one per worker.
public final class VADTask: @unchecked Sendable {
    public let request: VADRequest
    public let session: VADSession

    /// Checks the request, then loads the model.
    public init(_ request: VADRequest, store: ModelStore, catalog: ModelCatalog = .standard) throws {
        self.request = request
        do { try request.options.validate() } catch { throw RequestError("\(error)") }
        try InputPaths(request.inputs).checkStandardInput(hint: "give audio or video files by path")
        if let card = catalog.card(request.model), card.kind != .vad {
            throw RequestError("\(request.model) is not a voice-activity model; use: \(catalog.cards(.vad).map(\.name).joined(separator: ", "))")
        }
        session = try VADSession(model: request.model, weights: request.weights, store: store, catalog: catalog)
    }

    /// The model, its weights and every option (resume compares it).
    public var identity: RequestIdentity {
        VADTask.identity(model: session.name, weights: session.weights, options: request.options)
    }

    static func identity(model: String, weights: URL, options o: VADOptions) -> RequestIdentity {
        RequestIdentity([
            ("task", "vad"), ("model", model), ("weights", RequestIdentity.weightsStamp(weights)),
            ("threshold", "\(o.threshold)"), ("neg_threshold", o.negThreshold.map { "\($0)" } ?? "none"),
            ("min_speech_duration_ms", "\(o.minSpeechDurationMs)"), ("max_speech_duration_s", "\(o.maxSpeechDurationS)"),
            ("min_silence_duration_ms", "\(o.minSilenceDurationMs)"), ("speech_pad_ms", "\(o.speechPadMs)"),
        ])
    }

    public func run(into sink: any ResultSink<VADRecord>, progress: Progress, workers: Int = Compute.threads) throws -> JobSummary {
        let vad = session.vad, options = request.options
        let inputs = InputPaths(request.inputs, shard: request.shard) { MediaFormat.hasExtension($0, of: [.audio, .video]) }
        let workers = max(1, workers)
        return try Runner.run(into: sink, window: 4 * workers, progress: progress) { job, skip in
            job.source(inputs, skip: skip).map("vad", workers: workers) { _, item in
                let reader = try AudioReader(path: item.path, sampleRate: SileroVAD.sampleRate)
                let length = reader.format.duration ?? 0
                var read = 0
                let (samples, regions) = try VADTask.regions(vad, options: options,
                                                              source: {
                                                                  let chunk = try reader.read(maxFrames: SileroVAD.sampleRate)
                                                                  read += chunk?.count ?? 0
                                                                  job.reportWork(item.path, done: Double(read) / Double(SileroVAD.sampleRate), total: length)
                                                                  job.progress.working(nil, job: job)
                                                                  return chunk
                                                              },
                                                              shouldStop: { job.cancelled })
                let seconds = Double(samples) / Double(SileroVAD.sampleRate)
                for w in AudioIntegrity.warnings(path: item.path, format: reader.format, decodedSeconds: seconds) {
                    job.progress.warn(w.description)
                }
                return VADRecord(path: item.path, samples: samples, regions: regions)
            }
        }
    }

    /// The speech regions of one recording read from `source` (16 kHz mono, any chunk size)
    /// and its length in samples; throws `CancellationError` when `shouldStop` says so.
    public static func regions(_ vad: SileroVAD, options: VADOptions, source: () throws -> [Float]?,
                               shouldStop: () -> Bool = { false }) throws -> (samples: Int, regions: [SpeechRegion]) {
        let stream = vad.stream()
        let tracker = SpeechRegionTracker(options: options)
        while let chunk = try source() {
            if shouldStop() { throw CancellationError() }
            tracker.push(chunk.withUnsafeBufferPointer { stream.append($0) })
        }
        tracker.push(stream.finish())
        return (stream.samples, tracker.finish(totalSamples: stream.samples))
    }
}
