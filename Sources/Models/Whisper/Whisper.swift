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
    /// Token ids never sampled, openai-whisper's `suppress_tokens`: -1 stands for its
    /// non-speech symbols (the default, `[-1]`); the special tokens are always suppressed.
    public var suppressTokens: [Int] = [-1]
    /// Word-level timestamps from the alignment heads (needed by the silence threshold).
    public var wordTimestamps = false
    public var hallucinationSilenceThreshold: Double? = nil
    /// Asked before each stage of each window; true stops the transcription with
    /// `CancellationError` (a Ctrl-C between windows).
    public var shouldStop: (@Sendable () -> Bool)? = nil

    public init() {}

    /// Largest `beamSize` and `bestOf`: each beam or candidate holds its own copy of the
    /// window's cross-attention keys and values and of the self-attention cache (about
    /// 19 MB for tiny, 37 MB for base, 110 MB for small per row), and quality stops
    /// improving long before (openai-whisper and faster-whisper use 5).
    public static let maxCandidates = 64

    /// Checks every numeric option against its allowed range; throws a `WhisperError`
    /// naming the option, its value and the range. `Whisper.transcribe` calls it; front
    /// ends call it when they build a request, to refuse it before any work starts.
    ///
    /// | option | allowed | why |
    /// |---|---|---|
    /// | `beamSize` | nil or 1...64 (`maxCandidates`) | 1 = greedy; openai-whisper and faster-whisper take any positive count, the cap bounds memory |
    /// | `bestOf` | nil or 1...64 | candidates sampled at each temperature above 0 |
    /// | `patience` | nil or 0 < p <= 10 | openai-whisper stops the beam search after round(beamSize * patience) finished sequences, which must be at least 1 (it asserts so); 0 would give no text |
    /// | `lengthPenalty` | nil or 0...1 | the alpha of ((5 + length) / 6) ^ alpha (Wu et al. 2016, the range they tune); nil divides by the length |
    /// | `temperatures` | at least one, each in 0...1 | openai-whisper's fallback runs 0 to 1 by 0.2; 0 is beam search or greedy, above 0 sampling |
    /// | `compressionRatioThreshold` | nil or > 0, finite | a text's zlib compression ratio is above 0 (default 2.4) |
    /// | `logprobThreshold` | nil or <= 0, finite | an average log-probability is at most 0 (default -1) |
    /// | `noSpeechThreshold` | nil or 0...1 | a probability (default 0.6) |
    /// | `hallucinationSilenceThreshold` | nil or > 0 and <= 30 s | a silence inside one 30 s window |
    public func validate() throws {
        func check(_ ok: Bool, _ message: @autoclosure () -> String) throws {
            if !ok { throw WhisperError(message()) }
        }
        let n = WhisperOptions.maxCandidates
        if let b = beamSize { try check((1...n).contains(b), "beam size \(b) is out of range: use 1 to \(n) (1 = greedy)") }
        if let b = bestOf { try check((1...n).contains(b), "best-of \(b) is out of range: use 1 to \(n)") }
        if let p = patience {
            try check(p.isFinite && p > 0 && p <= 10, "patience \(p) is out of range: use a value above 0 and at most 10 (1 = stop when beam-size sequences finished)")
        }
        if let l = lengthPenalty { try check(l.isFinite && (0...1).contains(l), "length penalty \(l) is out of range: use 0 to 1") }
        try check(!temperatures.isEmpty, WhisperError.noTemperatures.description)
        for t in temperatures {
            try check(t.isFinite && (0...1).contains(t), "temperature \(t) is out of range: use 0 to 1")
        }
        if let c = compressionRatioThreshold {
            try check(c.isFinite && c > 0, "compression ratio threshold \(c) is out of range: use a value above 0 (default 2.4)")
        }
        if let l = logprobThreshold {
            try check(l.isFinite && l <= 0, "log-probability threshold \(l) is out of range: use a value at most 0 (default -1)")
        }
        if let s = noSpeechThreshold { try check(s.isFinite && (0...1).contains(s), "no-speech threshold \(s) is out of range: use 0 to 1") }
        if let bad = suppressTokens.first(where: { $0 < -1 }) { try check(false, "suppress token \(bad) is not a token id (use ids, and -1 for the non-speech symbols)") }
        if let h = hallucinationSilenceThreshold {
            try check(h.isFinite && h > 0 && h <= 30, "hallucination silence threshold \(h) s is out of range: use a value above 0 and at most 30 seconds")
        }
    }
}

/// A finished transcription.
public struct WhisperTranscript: Sendable {
    /// The language code the audio was transcribed as (given or detected).
    public var language: String
    public var segments: [WhisperSegment]
    public var text: String { segments.map(\.text).joined() }
    /// Seconds of audio.
    public var duration: Double
    /// What is wrong with the input that still decoded (`truncated: header says 1.10 s, file
    /// holds 0.15 s`), without its path; said with the transcript.
    public var warnings: [String] = []
    /// How sure the language detection was (faster-whisper's `language_probability`): the
    /// detected language's share of the language tokens' probability; 1 when the language
    /// was given or the model is English-only.
    public var languageProbability: Float = 1

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

    static func changedAudio(_ first: Int, _ now: Int) -> WhisperError {
        WhisperError("the audio changed while it was transcribed: the first pass read \(first) samples, the second \(now)")
    }
}

/// One Whisper model ready to transcribe: the single entry point (as whisper.cpp's
/// `whisper_full`) that every front end calls with a request and gets segments back from.
///
/// A file: `scan` (a first pass: length, log-mel maximum, speech regions), then
/// `transcribe(_:scan:options:onSegment:onProgress:)` pulls the samples again through the
/// loop, which never holds more than a window or so of audio. Live input: `live(options:)`
/// (samples pushed as they arrive) or `transcribe` with no scan. Either way the language is
/// detected on the first window when not given, and the start-of-transcript sequence, the
/// suppressed tokens and the word aligner are chosen before `WhisperTranscriber` runs over
/// `stages` (see `WhisperTranscription`).
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
    public var defaultSuppressTokens: [Int] { suppressTokens([-1]) }

    /// The ids suppressed for `--suppress-tokens` (as openai-whisper's `_get_suppress_tokens`):
    /// the list, -1 replaced by the non-speech symbols, plus the special tokens.
    public func suppressTokens(_ list: [Int]) -> [Int] {
        var s = Set(list.filter { $0 >= 0 })
        if list.contains(-1) { s.formUnion(tokenizer.nonSpeechTokens) }
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
        o.decoding.suppressTokens = suppressTokens(options.suppressTokens)
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

    /// Checks a request before any audio is read.
    public func check(_ options: WhisperOptions) throws {
        try options.validate()
        if let l = options.language, tokenizer.isMultilingual, tokenizer.languageToken(code: l) == nil {
            throw WhisperError("unknown language code '\(l)'")
        }
        if let bad = options.suppressTokens.first(where: { $0 >= model.dims.nVocab }) {
            throw WhisperError("suppress token \(bad) is not in this model's vocabulary (0 to \(model.dims.nVocab - 1))")
        }
    }

    /// A first pass over a recording: its length, its log-mel maximum and the speech
    /// stage's regions, reading `source` to its end without keeping it (for the second pass,
    /// `transcribe(_:scan:...)`). `shouldStop` is asked between reads.
    public func scan(_ source: WhisperSampleSource, shouldStop: (@Sendable () -> Bool)? = nil) throws -> WhisperScan {
        let features = stages.features.stream(maximum: nil)
        let detector = stages.speech.detector()
        var count = 0
        var stop = WhisperTranscribeOptions()
        stop.shouldStop = shouldStop
        while let chunk = try source() {
            try stop.checkStop()
            try chunk.withUnsafeBufferPointer { p in
                try features.append(p)
                try detector.append(p)
            }
            count += chunk.count
            features.discard(before: features.readyFrames)
        }
        try features.finish()
        try detector.finish()
        return WhisperScan(samples: count, maximum: features.maximum, regions: detector.regions)
    }

    /// Transcribes a recording read from `source` (16 kHz mono), with `scan` from a first
    /// pass over the same samples (a file: exactly openai-whisper's result), or nil (live
    /// input: see `LogMelStream` for the one difference). `onSegment` sees each segment as
    /// soon as it is final, `onProgress` the seconds done (and the total, when known) after
    /// each window. Throws `CancellationError` when `options.shouldStop` says so,
    /// `WhisperError` for an unusable request, or what the source or a stage throws.
    public func transcribe(_ source: WhisperSampleSource, scan: WhisperScan?, options: WhisperOptions = WhisperOptions(),
                           onSegment: (WhisperSegment) -> Void = { _ in },
                           onProgress: (_ done: Double, _ total: Double?) -> Void = { _, _ in }) throws -> WhisperTranscript {
        let transcription = try WhisperTranscription(whisper: self, options: options, scan: scan)
        return try transcription.run(source, onSegment: onSegment, onProgress: onProgress)
    }

    /// Transcribes 16 kHz mono samples in memory (both passes over them). `onSegment` sees
    /// each segment as soon as its window is decoded. Throws `CancellationError` when
    /// `options.shouldStop` says so, `WhisperError` for an unusable request, or what a stage
    /// throws.
    public func transcribe(samples: [Float], options: WhisperOptions = WhisperOptions(),
                           onSegment: (WhisperSegment) -> Void = { _ in }) throws -> WhisperTranscript {
        try check(options)
        let scan = try self.scan(whisperSamples(samples), shouldStop: options.shouldStop)
        return try transcribe(whisperSamples(samples), scan: scan, options: options, onSegment: onSegment)
    }
}
