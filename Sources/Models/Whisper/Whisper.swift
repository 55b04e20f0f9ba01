import Foundation
import TensorCore

/// What to transcribe and how (openai-whisper's `transcribe()` options, as text and
/// language codes; `Whisper` resolves them to token ids).
public struct WhisperOptions: Sendable {
    /// Spoken language code (`en`, `de`, ...); nil = detect it (multilingual models) or English.
    public var language: String? = nil
    /// Translate to English (multilingual models).
    public var translate = false
    public var beamSize: Int? = 5
    public var bestOf: Int? = 5
    public var patience: Float? = nil
    public var lengthPenalty: Float? = nil
    /// Temperatures tried in turn until a window's text is accepted.
    public var temperatures: [Float] = [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    public var withoutTimestamps = false
    /// Text the first window is conditioned on (names, spelling, style).
    public var initialPrompt: String? = nil
    public var conditionOnPreviousText = true
    public var compressionRatioThreshold: Double? = 2.4
    public var logprobThreshold: Float? = -1.0
    public var noSpeechThreshold: Float? = 0.6
    /// Word-level timestamps from the alignment heads (needed by the silence threshold).
    public var wordTimestamps = false
    public var hallucinationSilenceThreshold: Double? = nil
    /// Asked before each stage of each window; true stops the transcription with
    /// `CancellationError` (a Ctrl-C between windows).
    public var shouldStop: (@Sendable () -> Bool)? = nil

    public init() {}
}

/// A finished transcription.
public struct WhisperTranscript: Sendable {
    /// The language code the audio was transcribed as (given or detected).
    public var language: String
    public var segments: [WhisperSegment]
    public var text: String { segments.map(\.text).joined() }
    /// Seconds of audio.
    public var duration: Double

    public init(language: String, segments: [WhisperSegment], duration: Double) {
        self.language = language
        self.segments = segments
        self.duration = duration
    }
}

/// A problem with a Whisper request (not with a weight file).
public struct WhisperError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ d: String) { description = d }

    static let noTemperatures = WhisperError("Whisper needs at least one decoding temperature")
}

/// One Whisper model ready to transcribe: the single entry point (as whisper.cpp's
/// `whisper_full`) that every front end calls with a request and gets segments back from.
///
/// `transcribe(samples:options:onSegment:)` picks the language (detected on the first
/// window when not given), the start-of-transcript sequence, the suppressed tokens and the
/// word aligner, then runs `WhisperTranscriber` over `stages`.
public struct Whisper: Sendable {
    public let model: WhisperModel
    public let tokenizer: WhisperTokenizer
    /// Heads whose cross-attention follows the audio (word timestamps).
    public let alignmentHeads: [(layer: Int, head: Int)]
    public let stages: WhisperStages

    /// `alignmentHeads`: the checkpoint's (`WhisperExtras.alignmentHeads`); when empty,
    /// openai-whisper's default, every head of the second half of the decoder layers.
    public init(model: WhisperModel, tokenizer: WhisperTokenizer, alignmentHeads: [(layer: Int, head: Int)] = [],
                stages: WhisperStages) {
        self.model = model
        self.tokenizer = tokenizer
        self.alignmentHeads = alignmentHeads.isEmpty ? Whisper.defaultAlignmentHeads(model.dims) : alignmentHeads
        self.stages = stages
    }

    /// The standard stages (`WhisperStages.standard`).
    public init(model: WhisperModel, tokenizer: WhisperTokenizer, alignmentHeads: [(layer: Int, head: Int)] = [],
                melFilters: Tensor, compressionRatio: @escaping @Sendable (String) -> Double) {
        self.init(model: model, tokenizer: tokenizer, alignmentHeads: alignmentHeads,
                  stages: .standard(model: model, tokenizer: tokenizer, melFilters: melFilters, compressionRatio: compressionRatio))
    }

    /// openai-whisper's alignment heads when a checkpoint names none: every head of the
    /// second half of the decoder layers.
    public static func defaultAlignmentHeads(_ d: WhisperDimensions) -> [(layer: Int, head: Int)] {
        (d.nTextLayer / 2..<d.nTextLayer).flatMap { l in (0..<d.nTextHead).map { (layer: l, head: $0) } }
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
    /// restricted to the language tokens. `audio` is the window's encoder output.
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

    /// `<|startoftranscript|>`, with the language and the task for multilingual models.
    public func sotSequence(language: String, translate: Bool) -> [Int] {
        tokenizer.isMultilingual ? tokenizer.sotSequence(language: language, translating: translate) : [tokenizer.sot]
    }

    /// `options` as token ids and decoding settings, for audio in `language`.
    public func transcribeOptions(_ options: WhisperOptions, language: String) -> WhisperTranscribeOptions {
        var o = WhisperTranscribeOptions()
        o.temperatures = options.temperatures
        o.compressionRatioThreshold = options.compressionRatioThreshold
        o.logprobThreshold = options.logprobThreshold
        o.noSpeechThreshold = options.noSpeechThreshold
        o.conditionOnPreviousText = options.conditionOnPreviousText
        if let p = options.initialPrompt { o.initialPrompt = tokenizer.encode(" " + p.trimmingCharacters(in: .whitespaces)) }
        o.decoding.beamSize = options.beamSize
        o.decoding.bestOf = options.bestOf
        o.decoding.patience = options.patience
        o.decoding.lengthPenalty = options.lengthPenalty
        o.decoding.withoutTimestamps = options.withoutTimestamps
        o.decoding.suppressTokens = defaultSuppressTokens
        o.shouldStop = options.shouldStop
        if options.wordTimestamps || options.hallucinationSilenceThreshold != nil {
            o.wordAligner = WhisperWordAligner(
                model: model, alignmentHeads: alignmentHeads, sotSequence: sotSequence(language: language, translate: options.translate),
                noTimestamps: tokenizer.noTimestamps, eot: tokenizer.eot,
                splitWords: { [tokenizer] in tokenizer.splitToWordTokens($0, language: language) })
            o.hallucinationSilenceThreshold = options.hallucinationSilenceThreshold
        }
        return o
    }

    /// Transcribes 16 kHz mono samples. `onSegment` sees each segment as soon as its window
    /// is decoded (streaming output). Throws `CancellationError` when `options.shouldStop`
    /// says so, `WhisperError` for an unusable request, or what a stage throws.
    public func transcribe(samples: [Float], options: WhisperOptions = WhisperOptions(),
                           onSegment: (WhisperSegment) -> Void = { _ in }) throws -> WhisperTranscript {
        guard !options.temperatures.isEmpty else { throw WhisperError.noTemperatures }
        if let l = options.language, tokenizer.isMultilingual, tokenizer.languageToken(code: l) == nil {
            throw WhisperError("unknown language code '\(l)'")
        }
        let transcriber = WhisperTranscriber(stages: stages, special: tokenizer.specialTokens, textContext: model.dims.nTextCtx)
        var detection = WhisperTranscribeOptions()          // before the language is known: only the stop
        detection.shouldStop = options.shouldStop

        try detection.checkStop()
        let features = try stages.features.features(samples: samples)
        try detection.checkStop()
        let regions = try stages.speech.speechRegions(samples: samples, contentFrames: features.contentFrames)
        var language = options.language ?? "en"
        var first: WhisperTranscriber.EncodedWindow? = nil
        if tokenizer.isMultilingual && options.language == nil,
           let w = try transcriber.firstWindow(features, regions: regions, options: detection) {
            // The first window as the loop sees it (frames past the audio are zeros), reused there.
            language = detectLanguage(audio: w.audio).code
            first = w
        }
        let segments = try transcriber.transcribe(features, regions: regions,
                                                  sotSequence: sotSequence(language: language, translate: options.translate),
                                                  options: transcribeOptions(options, language: language),
                                                  firstWindow: first, onSegment: onSegment)
        return WhisperTranscript(language: language, segments: segments,
                                 duration: Double(samples.count) / Double(LogMelSpectrogram.sampleRate))
    }
}
