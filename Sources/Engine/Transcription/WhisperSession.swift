import Foundation
import Media
import Models
import TensorCore

/// A loaded Whisper model ready to transcribe: weights, tokenizer, mel filters.
public final class WhisperSession: @unchecked Sendable {
    public let name: String
    public let model: WhisperModel
    public let tokenizer: WhisperTokenizer
    public let extras: WhisperExtras
    public let mel: LogMelSpectrogram

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
        tokenizer = try WhisperTokenizerLoader.load(folder: folder)
        guard tokenizer.vocabularySize == weights.dims.nVocab || tokenizer.vocabularySize + 1 == weights.dims.nVocab else {
            throw ItemFailure(path: folder.path, reason: "tokenizer has \(tokenizer.vocabularySize) tokens but the model \(weights.dims.nVocab)")
        }
        let assets = try store.entry("whisper-assets")
        guard store.isPresent(assets) else {
            throw ItemFailure(path: store.folder(assets).path, reason: "mel filters missing; fetch them with: \(ModelStore.fetchCommand("whisper-assets"))")
        }
        mel = LogMelSpectrogram(filters: try WhisperMelFilterLoader.load(store.directory.appendingPathComponent("whisper-assets/mel_filters.npz"), nMels: weights.dims.nMels))
        model = WhisperModel(weights: weights)
        self.extras = extras
    }

    public var special: WhisperSpecialTokens { tokenizer.specialTokens }

    /// The model's alignment heads, or (when its config has none) every head of the second
    /// half of the decoder layers, openai-whisper's default.
    public var alignmentHeads: [(layer: Int, head: Int)] {
        if !extras.alignmentHeads.isEmpty { return extras.alignmentHeads }
        let d = model.dims
        return (d.nTextLayer / 2..<d.nTextLayer).flatMap { l in (0..<d.nTextHead).map { (layer: l, head: $0) } }
    }

    /// openai-whisper's default suppression ("-1"): non-speech symbols and the special
    /// tokens that must never be sampled.
    public var defaultSuppressTokens: [Int] {
        var s = Set(tokenizer.nonSpeechTokens)
        for t in [tokenizer.transcribe, tokenizer.translate, tokenizer.sot, tokenizer.sotPrev, tokenizer.sotLM] { s.insert(t) }
        if tokenizer.noSpeech >= 0 { s.insert(tokenizer.noSpeech) }
        return s.sorted()
    }

    /// The most likely spoken language of a 30 s window (multilingual models), with its
    /// probability: the decoder's next-token distribution after `<|startoftranscript|>`,
    /// restricted to the language tokens.
    public func detectLanguage(audio: Tensor) -> (code: String, probability: Float) {
        let caches = model.makeCaches(batch: 1)
        let logits = model.decode([[tokenizer.sot]], cross: model.crossKV(audio), caches: caches).contiguous()
        let langs = tokenizer.languageTokens
        var best = 0
        var m = -Float.infinity
        for (i, t) in langs.enumerated() where logits.pointer[t] > m { m = logits.pointer[t]; best = i }
        var total: Float = 0
        for t in langs { total += Foundation.exp(logits.pointer[t] - m) }
        return (tokenizer.languageCodes[best], 1 / total)
    }

    public struct Request: Sendable {
        public var language: String? = nil          // nil = detect (multilingual) / English
        public var translate = false
        public var beamSize: Int? = 5
        public var bestOf: Int? = 5
        public var patience: Float? = nil
        public var lengthPenalty: Float? = nil
        public var temperatures: [Float] = [0, 0.2, 0.4, 0.6, 0.8, 1.0]
        public var withoutTimestamps = false
        public var initialPrompt: String? = nil
        public var conditionOnPreviousText = true
        public var compressionRatioThreshold: Double? = 2.4
        public var logprobThreshold: Float? = -1.0
        public var noSpeechThreshold: Float? = 0.6
        /// Word-level timestamps from the alignment heads (needed by the silence threshold).
        public var wordTimestamps = false
        public var hallucinationSilenceThreshold: Double? = nil
        public init() {}
    }

    public struct Transcript: Sendable {
        public var language: String
        public var segments: [WhisperSegment]
        public var text: String { segments.map(\.text).joined() }
        public var duration: Double
    }

    /// Transcribes 16 kHz mono samples. `onSegment` sees each segment as soon as its window
    /// is decoded (streaming output).
    public func transcribe(_ samples: [Float], _ request: Request,
                           onSegment: (WhisperSegment) -> Void = { _ in }) -> Transcript {
        let mel = self.mel.longForm(samples)
        let contentFrames = mel.shape[1] - LogMelSpectrogram.nFrames
        var language = request.language ?? "en"
        var firstWindow: Tensor? = nil
        if tokenizer.isMultilingual && request.language == nil && contentFrames > 0 {
            // The first window as the transcriber sees it: frames past the audio are zeros.
            let first = model.encode(LogMelSpectrogram.segment(mel, start: 0, count: contentFrames).unsqueezed(0))
            language = detectLanguage(audio: first).code
            firstWindow = first
        }
        var options = WhisperTranscribeOptions()
        options.temperatures = request.temperatures
        options.compressionRatioThreshold = request.compressionRatioThreshold
        options.logprobThreshold = request.logprobThreshold
        options.noSpeechThreshold = request.noSpeechThreshold
        options.conditionOnPreviousText = request.conditionOnPreviousText
        if let p = request.initialPrompt { options.initialPrompt = tokenizer.encode(" " + p.trimmingCharacters(in: .whitespaces)) }
        options.decoding.beamSize = request.beamSize
        options.decoding.bestOf = request.bestOf
        options.decoding.patience = request.patience
        options.decoding.lengthPenalty = request.lengthPenalty
        options.decoding.withoutTimestamps = request.withoutTimestamps
        options.decoding.suppressTokens = defaultSuppressTokens
        let sot = tokenizer.isMultilingual
            ? tokenizer.sotSequence(language: language, translating: request.translate)
            : [tokenizer.sot]
        if request.wordTimestamps || request.hallucinationSilenceThreshold != nil {
            options.wordAligner = WhisperWordAligner(
                model: model, alignmentHeads: alignmentHeads, sotSequence: sot, noTimestamps: tokenizer.noTimestamps,
                eot: tokenizer.eot, splitWords: { [tokenizer, language] in tokenizer.splitToWordTokens($0, language: language) })
            options.hallucinationSilenceThreshold = request.hallucinationSilenceThreshold
        }
        let transcriber = WhisperTranscriber(model: model, special: special,
                                             decodeText: { [tokenizer] in tokenizer.decode($0) },
                                             compressionRatio: TextCompression.ratio)
        let segments = transcriber.transcribe(mel: mel, contentFrames: contentFrames, sotSequence: sot,
                                              options: options, firstWindow: firstWindow, onSegment: onSegment)
        return Transcript(language: language, segments: segments, duration: Double(samples.count) / 16_000)
    }
}
