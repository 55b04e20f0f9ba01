import Foundation
import Media
import Models
import TensorCore

/// What to transcribe and how: files (or `-` for a list on stdin), or a live stream.
public struct TranscribeRequest: Sendable {
    public enum Input: Sendable {
        /// Files, folders (walked for audio and video), or `-` for paths on stdin.
        case files([String])
        /// Audio arriving on a file descriptor (WAV or any stream FFmpeg demuxes).
        case live(fileDescriptor: Int32, name: String)
    }

    public var input: Input
    /// A registered Whisper model (name or alias), or a folder with model.bin / model.safetensors.
    public var model: String
    public var options: WhisperSession.Request

    public init(input: Input, model: String = TranscribeTask.defaultModel, options: WhisperSession.Request = .init()) {
        self.input = input
        self.model = model
        self.options = options
    }
}

/// Speech to text with Whisper: the one entry point for files and live input (as
/// whisper.cpp's `whisper_full` serves its cli, server and stream programs). Files go
/// through the stage graph (decode while the previous file is transcribed); live audio
/// through the same transcriber window by window.
public final class TranscribeTask: @unchecked Sendable {
    public static let defaultModel = "tiny.en"

    public let request: TranscribeRequest
    public let session: WhisperSession
    public let modelName: String

    /// Loads the model (through the catalog) and checks the request against it.
    public init(_ request: TranscribeRequest, store: ModelStore, catalog: ModelCatalog = .standard) throws {
        self.request = request
        do { try request.options.validate() } catch { throw RequestError("\(error)") }      // every numeric option in range
        if case .files(let inputs) = request.input {
            try InputPaths(inputs).checkStandardInput(hint: "to transcribe audio from standard input, use --audio-stdin instead of -")
        }
        if let card = catalog.card(request.model), card.kind != .speech {
            throw RequestError("\(request.model) is not a speech model; Whisper models: \(catalog.cards(.speech).map(\.name).joined(separator: ", "))")
        }
        session = try WhisperSession(model: request.model, store: store, catalog: catalog)
        modelName = catalog.card(request.model)?.name ?? request.model
        let o = request.options
        if (o.language.map { $0 != "en" } ?? false || o.translate) && !session.tokenizer.isMultilingual {
            throw RequestError("model \(request.model) is English-only: use --model base for other languages or translation")
        }
    }

    /// Transcribes the files into `sink` (one transcript per input, in input order).
    public func run(into sink: any ResultSink<TranscriptRecord>, progress: Progress) throws -> JobSummary {
        guard case .files(let inputs) = request.input else { throw RequestError("a live request: use runLive") }
        let (session, options) = (self.session, request.options)
        return try Runner.run(into: sink, window: 4, progress: progress) { job, skip in
            job.source(InputPaths(inputs) { MediaFormat.hasExtension($0, of: [.audio, .video]) }, skip: skip)
                .map("decode", workers: 1) { _, item in
                    let (samples, warnings) = try decodeAudioChecked(path: item.path, sampleRate: 16_000)
                    for w in warnings { job.progress.warn(w.description) }
                    return samples
                }
                .map("transcribe", workers: 1) { samples, _ in try session.whisper.transcribe(samples: samples, options: options) }
        }
    }

    /// Live audio: decoded as it arrives, transcribed in 30 s windows; each segment reaches
    /// `sink` as soon as it is final (times from the start of the stream).
    public func runLive(into sink: any ResultSink<WhisperSegment>) throws {
        guard case .live(let fd, let name) = request.input else { throw RequestError("not a live request") }
        let reader = try AudioReader(fileDescriptor: fd, name: name, sampleRate: 16_000)
        let source = SourceItem(path: name, size: 0, mtime: 0)
        var live = session.whisper.live(options: request.options)
        while let chunk = try reader.read(maxFrames: 16_000) {
            for s in try live.push(chunk) { try sink.write(s, for: source) }
        }
        for s in try live.finish() { try sink.write(s, for: source) }
        try sink.finish()
    }
}
