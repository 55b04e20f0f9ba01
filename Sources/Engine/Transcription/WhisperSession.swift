import Foundation
import Media
import Models
import TensorCore

/// A Whisper model loaded from the model store (or a folder), ready to transcribe: finds
/// the weights, tokenizer and mel filters, then hands every request to `Models.Whisper`.
public final class WhisperSession: @unchecked Sendable {
    public typealias Request = WhisperOptions
    public typealias Transcript = WhisperTranscript

    public let name: String
    /// The model folder loaded.
    public let folder: URL
    public let whisper: Whisper
    public var model: WhisperModel { whisper.model }
    public var tokenizer: WhisperTokenizer { whisper.tokenizer }

    /// Loads a Whisper model from `folder` (model.bin or model.safetensors, tokenizer, config)
    /// with the mel filters of `melFilters` (openai-whisper's `mel_filters.npz`), its matrices
    /// stored as `computeType` says.
    public init(folder: URL, name: String, melFilters: URL, computeType: WhisperComputeType = .default) throws {
        self.name = name
        self.folder = folder
        // The tokenizer (tokenizer.json, 2 MB of JSON: a sixth of a short file's run) is read on
        // its own thread while the weights load.
        let reading = OnItsOwnThread { try WhisperTokenizerLoader.load(folder: folder) }
        let (weights, extras) = try WhisperLoader.load(directory: folder, store: computeType.loading)
        let tokenizer = try reading.result()
        guard tokenizer.vocabularySize == weights.dims.nVocab || tokenizer.vocabularySize + 1 == weights.dims.nVocab else {
            throw ItemFailure(path: folder.path, reason: "tokenizer has \(tokenizer.vocabularySize) tokens but the model \(weights.dims.nVocab)")
        }
        let filters = try WhisperMelFilterLoader.load(melFilters, nMels: weights.dims.nMels)
        whisper = Whisper(model: WhisperModel(weights: weights, computeType: computeType), tokenizer: tokenizer, alignmentHeads: extras.alignmentHeads,
                          melFilters: filters, compressionRatio: { TextCompression.ratio($0) })
    }

    /// Loads a registered model (name or alias: `tiny.en`, `whisper-base`) or a folder given
    /// by path, with the store's mel filters.
    public convenience init(model name: String, store: ModelStore, catalog: ModelCatalog = .standard,
                            computeType: WhisperComputeType = .default) throws {
        let folder: URL
        if let card = catalog.card(name), card.kind == .speech {
            folder = try catalog.weights(for: card, given: nil, store: store)
        } else if FileManager.default.fileExists(atPath: name) {
            folder = URL(fileURLWithPath: name)
        } else {
            let names = catalog.cards(.speech).flatMap { [$0.name] + $0.aliases }
            if name.contains("/") || name.hasPrefix(".") || name.hasPrefix("~") {
                throw RequestError("\(name): no such folder (give a folder with model.bin or model.safetensors, or a model name: \(names.joined(separator: ", ")))")
            }
            throw RequestError("\(name): unknown Whisper model; use \(names.joined(separator: ", ")) or a folder with model.bin or model.safetensors")
        }
        let filters = try catalog.asset("whisper-assets", file: "mel_filters.npz", store: store, purpose: "mel filters")
        try self.init(folder: folder, name: name, melFilters: filters, computeType: computeType)
    }

    /// Transcribes 16 kHz mono samples. `onSegment` sees each segment as soon as its window
    /// is decoded (streaming output). A request stopped by its `shouldStop` gives the
    /// segments finished before the stop, and an unusable request (no temperature, an
    /// unknown language code) none; `whisper.transcribe(samples:options:onSegment:)` throws
    /// instead.
    public func transcribe(_ samples: [Float], _ request: Request,
                           onSegment: (WhisperSegment) -> Void = { _ in }) -> Transcript {
        var done: [WhisperSegment] = []
        do {
            return try whisper.transcribe(samples: samples, options: request) { done.append($0); onSegment($0) }
        } catch {
            return Transcript(language: request.language ?? "en", segments: done, duration: Double(samples.count) / 16_000)
        }
    }
}

/// `work` run on a thread of its own from the start; `result()` waits for it.
final class OnItsOwnThread<Value>: @unchecked Sendable {
    private var outcome: Result<Value, any Error>?
    private let done = DispatchSemaphore(value: 0)

    init(_ work: @escaping () throws -> Value) {
        let t = Thread { [self] in
            outcome = Result(catching: work)
            done.signal()
        }
        t.stackSize = 8 << 20
        t.start()
    }

    func result() throws -> Value {
        done.wait()
        done.signal()   // a later call returns at once
        return try outcome!.get()
    }
}
