import Foundation
import TensorCore

/// One transcribed segment (openai-whisper's segment fields).
public struct WhisperSegment: Sendable, Equatable, Codable {
    public var id: Int
    public var seek: Int                 // window start, in mel frames
    public var start: Double             // seconds
    public var end: Double
    public var text: String
    public var tokens: [Int]
    public var temperature: Float
    public var avgLogprob: Float
    public var compressionRatio: Double
    public var noSpeechProb: Float
    /// Word-level timestamps (empty unless asked for).
    public var words: [WhisperWord] = []

    enum CodingKeys: String, CodingKey {
        case id, seek, start, end, text, tokens, temperature, words
        case avgLogprob = "avg_logprob", compressionRatio = "compression_ratio", noSpeechProb = "no_speech_prob"
    }
}

/// Options of a whole transcription, resolved to token ids (openai-whisper's `transcribe()`
/// arguments); `Whisper` makes them from a `WhisperOptions`.
public struct WhisperTranscribeOptions: Sendable {
    public var temperatures: [Float] = [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    public var compressionRatioThreshold: Double? = 2.4
    public var logprobThreshold: Float? = -1.0
    public var noSpeechThreshold: Float? = 0.6
    public var conditionOnPreviousText = true
    public var initialPrompt: [Int] = []
    public var decoding = WhisperDecodingOptions()
    /// Word-level timestamps: the aligner (alignment heads, tokenizer's word split).
    public var wordAligner: WhisperWordAligner? = nil
    /// With word timestamps: skip silent stretches longer than this (seconds) around a
    /// likely hallucination (openai-whisper's `hallucination_silence_threshold`).
    public var hallucinationSilenceThreshold: Double? = nil
    /// Asked before each stage; true stops the transcription (`CancellationError`).
    public var shouldStop: (@Sendable () -> Bool)? = nil

    public init() {}
}

/// Long-form transcription as the reference does it, over the stages of `WhisperStages`:
/// windows of up to 30 s over the recording's log-mel (inside the speech regions), each
/// decoded with temperature fallback, seeking to the last complete timestamp pair; previous
/// text conditions the next window.
public struct WhisperTranscriber: Sendable {
    public let stages: WhisperStages
    public let special: WhisperSpecialTokens
    /// The decoder's context (`nTextCtx`): the previous text in a prompt is at most half of it.
    public let textContext: Int

    public static let framesPerWindow = 3000
    public static let secondsPerFrame = 0.01           // hop 160 at 16 kHz
    public static let secondsPerToken = 0.02            // timestamp resolution
    public static let inputStride = 2                   // mel frames per audio position

    public init(stages: WhisperStages, special: WhisperSpecialTokens, textContext: Int) {
        self.stages = stages
        self.special = special
        self.textContext = textContext
    }

    /// An encoded window the caller already has (language detection), so it is not
    /// encoded twice.
    public struct EncodedWindow: Sendable {
        public var window: WhisperWindow
        /// `[1, nAudioCtx, d]`
        public var audio: Tensor
        public init(window: WhisperWindow, audio: Tensor) {
            self.window = window
            self.audio = audio
        }
    }

    /// The first window the seeker plans, encoded.
    public func firstWindow(_ features: WhisperFeatures, regions: [Range<Int>],
                            options: WhisperTranscribeOptions) throws -> EncodedWindow? {
        try options.checkStop()
        guard let window = try stages.seeker.window(seek: 0, regions: regions, contentFrames: features.contentFrames) else {
            return nil
        }
        return EncodedWindow(window: window, audio: try encode(window, features, options: options))
    }

    func encode(_ window: WhisperWindow, _ features: WhisperFeatures, options: WhisperTranscribeOptions) throws -> Tensor {
        try options.checkStop()
        let mel = try stages.features.window(window, of: features)
        try options.checkStop()
        return try stages.encoder.encode(windows: mel.unsqueezed(0))
    }

    /// `sotSequence`: `<|startoftranscript|>` (+ language and task for multilingual models).
    /// `regions`: the mel frames to transcribe (the speech stage's output). `onSegment` sees
    /// each segment as soon as its window is decoded. Throws `CancellationError` when
    /// `options.shouldStop` says so (checked before each stage), or what a stage throws.
    public func transcribe(_ features: WhisperFeatures, regions: [Range<Int>], sotSequence: [Int],
                           options: WhisperTranscribeOptions, firstWindow: EncodedWindow? = nil,
                           onSegment: (WhisperSegment) -> Void = { _ in }) throws -> [WhisperSegment] {
        var segments: [WhisperSegment] = []
        var allTokens = options.initialPrompt
        var promptResetSince = 0
        var seek = 0
        var context = WhisperSeekContext(contentFrames: features.contentFrames, options: options)
        while true {
            try options.checkStop()
            guard let window = try stages.seeker.window(seek: seek, regions: regions, contentFrames: features.contentFrames) else {
                break
            }
            let audio = try firstWindow.flatMap { $0.window == window ? $0.audio : nil }
                ?? encode(window, features, options: options)

            let previous = Array(allTokens[promptResetSince...].suffix(textContext / 2 - 1))
            let prompt = (previous.isEmpty ? [] : [special.sotPrev] + previous) + sotSequence
                + (options.decoding.withoutTimestamps ? [special.noTimestamps] : [])
            try options.checkStop()
            let decoded = try stages.decoder.decode(audio: audio, prompt: prompt, options: options)
            try options.checkStop()
            let current: [WhisperSegment]
            switch try stages.seeker.segments(of: decoded, in: window, audio: audio, context: &context) {
            case .skip(let next):
                seek = next
                continue
            case .segments(let s, let next):
                current = s
                seek = next
            }

            for var segment in current {
                // Zero-length or empty segments are dropped (the reference blanks them).
                if segment.start == segment.end || segment.text.trimmingCharacters(in: .whitespaces).isEmpty { continue }
                segment.id = segments.count
                segments.append(segment)
                onSegment(segment)
                allTokens.append(contentsOf: segment.tokens)
            }
            if !options.conditionOnPreviousText || decoded.temperature > 0.5 {
                promptResetSince = allTokens.count
            }
        }
        return segments
    }

    /// openai-whisper's `is_segment_anomaly` (see `WhisperSeeker`).
    static func isAnomaly(_ segment: WhisperSegment) -> Bool { WhisperSeeker.isAnomaly(segment) }
}
