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
    public let whisper: Whisper
    public var model: WhisperModel { whisper.model }
    public var tokenizer: WhisperTokenizer { whisper.tokenizer }

    /// Registered model names and their folders in the model store.
    public static let models: [String: String] = ["tiny.en": "whisper-tiny.en", "base": "whisper-base"]
    public static let defaultModel = "tiny.en"

    /// Loads `name` (a registered model) from the store, or a folder given by path.
    public init(model name: String, store: ModelStore) throws {
        self.name = name
        let folder: URL
        if let entry = WhisperSession.models[name] {
            let e = try store.entry(entry)
            guard store.isPresent(e) else {
                throw ItemFailure(path: store.folder(e).path,
                                  reason: "the \(name) weights are not here; fetch them with: \(ModelStore.fetchCommand(entry))")
            }
            folder = store.folder(e)
        } else if FileManager.default.fileExists(atPath: name) {
            folder = URL(fileURLWithPath: name)
        } else {
            throw ItemFailure(path: name, reason: "unknown Whisper model; use \(WhisperSession.models.keys.sorted().joined(separator: " or ")) or a folder with model.bin or model.safetensors")
        }
        let (weights, extras) = try WhisperLoader.load(directory: folder)
        let tokenizer = try WhisperTokenizerLoader.load(folder: folder)
        guard tokenizer.vocabularySize == weights.dims.nVocab || tokenizer.vocabularySize + 1 == weights.dims.nVocab else {
            throw ItemFailure(path: folder.path, reason: "tokenizer has \(tokenizer.vocabularySize) tokens but the model \(weights.dims.nVocab)")
        }
        let assets = try store.entry("whisper-assets")
        guard store.isPresent(assets) else {
            throw ItemFailure(path: store.folder(assets).path, reason: "mel filters missing; fetch them with: \(ModelStore.fetchCommand("whisper-assets"))")
        }
        let filters = try WhisperMelFilterLoader.load(store.folder(assets).appendingPathComponent("mel_filters.npz"),
                                                      nMels: weights.dims.nMels)
        whisper = Whisper(model: WhisperModel(weights: weights), tokenizer: tokenizer, alignmentHeads: extras.alignmentHeads,
                          melFilters: filters, compressionRatio: { TextCompression.ratio($0) })
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
