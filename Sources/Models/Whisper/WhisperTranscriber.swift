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

/// What a first pass over a recording finds (`Whisper.scan`): its length, its log-mel
/// maximum (every window's floor is this - 8, as openai-whisper takes it over the whole
/// recording) and its speech regions. The second pass transcribes with it.
public struct WhisperScan: Sendable, Equatable {
    /// 16 kHz samples.
    public var samples: Int
    /// The largest `log10(mel)` over the recording and its 30 s of padding.
    public var maximum: Float
    /// The speech stage's regions (mel frames).
    public var regions: [Range<Int>]

    public init(samples: Int, maximum: Float, regions: [Range<Int>]) {
        self.samples = samples
        self.maximum = maximum
        self.regions = regions
    }

    /// Mel frames of audio (10 ms each).
    public var contentFrames: Int { samples / LogMelSpectrogram.hopLength }
    /// Seconds.
    public var duration: Double { Double(samples) / Double(LogMelSpectrogram.sampleRate) }
}

/// 16 kHz mono samples of one recording, in order: each call gives the next ones (any
/// number), nil at the end.
public typealias WhisperSampleSource = () throws -> [Float]?

/// Samples already in memory as a source, `chunk` at a time.
public func whisperSamples(_ samples: [Float], chunk: Int = LogMelSpectrogram.sampleRate) -> WhisperSampleSource {
    final class Cursor: @unchecked Sendable { var at = 0 }
    let cursor = Cursor(), step = max(1, chunk)
    return {
        guard cursor.at < samples.count else { return nil }
        let end = min(samples.count, cursor.at + step)
        defer { cursor.at = end }
        return Array(samples[cursor.at..<end])
    }
}

/// The audio side of one transcription: samples go into the feature stream (and, for live
/// input, into the speech detector) as the loop asks for them, and the loop reads a window
/// out once nothing that arrives later can change it.
///
/// With a first pass (`scan`), the length and the regions are known: a window is ready when
/// its frames are. Without (live input), the window at the seek is planned over the frames
/// and regions decided so far; it is final when it is a whole 30 s, or ends before what is
/// decided (its region closed), or the recording has ended. So the windows, hence the
/// segments, do not depend on how the samples were cut.
public final class WhisperAudioFeed {
    public let features: any WhisperFeatureStream
    let detector: (any WhisperSpeechDetector)?
    public let scan: WhisperScan?
    /// Samples appended so far.
    public private(set) var samples = 0
    public private(set) var isFinished = false

    public init(stages: WhisperStages, scan: WhisperScan?) {
        features = stages.features.stream(maximum: scan?.maximum)
        detector = scan == nil ? stages.speech.detector() : nil
        self.scan = scan
    }

    public func append(_ chunk: [Float]) throws {
        guard !chunk.isEmpty else { return }
        if isFinished { throw WhisperError("audio arrived after the end of the recording") }
        try chunk.withUnsafeBufferPointer { p in
            try features.append(p)
            try detector?.append(p)
        }
        samples += chunk.count
        if let scan, samples > scan.samples { throw WhisperError.changedAudio(scan.samples, samples) }
    }

    public func finish() throws {
        guard !isFinished else { return }
        isFinished = true
        try features.finish()
        try detector?.finish()
        if let scan, samples != scan.samples { throw WhisperError.changedAudio(scan.samples, samples) }
    }

    /// The recording's frames, once known (a first pass, or the end of live input).
    public var contentFrames: Int? {
        scan?.contentFrames ?? (isFinished ? samples / LogMelSpectrogram.hopLength : nil)
    }

    /// Seconds of audio, once known.
    public var duration: Double? { contentFrames.map { _ in Double(scan?.samples ?? samples) / Double(LogMelSpectrogram.sampleRate) } }

    enum Next: Equatable { case window(WhisperWindow), needAudio, end }

    /// The window at or after `seek` if it is final, `.needAudio` when later samples could
    /// still change it, `.end` when no window is left.
    func next(seek: Int, seeker: any WhisperSegmentSeeking) throws -> Next {
        if let scan {
            guard let w = try seeker.window(seek: seek, regions: scan.regions, contentFrames: scan.contentFrames) else { return .end }
            return w.end <= features.readyFrames || isFinished ? .window(w) : .needAudio
        }
        let detector = detector!
        let decided = isFinished ? samples / LogMelSpectrogram.hopLength : min(features.readyFrames, detector.decidedFrames)
        guard let w = try seeker.window(seek: seek, regions: detector.regions, contentFrames: decided) else {
            return isFinished ? .end : .needAudio
        }
        return isFinished || w.frames == WhisperTranscriber.framesPerWindow || w.end < decided ? .window(w) : .needAudio
    }
}

/// Long-form transcription as the reference does it, over the stages of `WhisperStages`:
/// windows of up to 30 s over the recording's log-mel (inside the speech regions), each
/// decoded with temperature fallback, seeking to the last complete timestamp pair; previous
/// text conditions the next window. The audio streams in through a `WhisperAudioFeed`; the
/// loop's state between windows is a `Run`, so the same loop serves a file read from start to
/// end and live audio pushed as it arrives.
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

    /// What the loop carries from one window to the next.
    public struct Run: Sendable {
        /// `<|startoftranscript|>` (+ language and task for multilingual models).
        public let sotSequence: [Int]
        public let options: WhisperTranscribeOptions
        /// The next window starts at or after this frame.
        public internal(set) var seek = 0
        /// Segments kept so far (the next id).
        public internal(set) var segmentCount = 0
        /// Text tokens since the prompt was last reset (at most what a prompt can hold).
        var sinceReset: [Int]
        var context: WhisperSeekContext
        var firstWindow: EncodedWindow?

        public init(sotSequence: [Int], options: WhisperTranscribeOptions, firstWindow: EncodedWindow? = nil) {
            self.sotSequence = sotSequence
            self.options = options
            self.firstWindow = firstWindow
            sinceReset = options.initialPrompt
            context = WhisperSeekContext(contentFrames: WhisperSeekContext.unknownLength, options: options)
        }
    }

    /// What one turn of the loop did.
    public enum Step: Sendable, Equatable {
        /// The next window needs samples that have not arrived yet.
        case needAudio
        /// A window was decoded: its segments (often some, maybe none).
        case decoded([WhisperSegment])
        /// No window is left.
        case done
    }

    /// The first window the seeker plans, encoded; nil while it is not final yet (`ready`
    /// false) or when there is none.
    public func firstWindow(_ feed: WhisperAudioFeed, options: WhisperTranscribeOptions) throws -> (ready: Bool, window: EncodedWindow?) {
        try options.checkStop()
        switch try feed.next(seek: 0, seeker: stages.seeker) {
        case .needAudio: return (false, nil)
        case .end: return (true, nil)
        case .window(let w): return (true, EncodedWindow(window: w, audio: try encode(w, feed, options: options)))
        }
    }

    func encode(_ window: WhisperWindow, _ feed: WhisperAudioFeed, options: WhisperTranscribeOptions) throws -> Tensor {
        try options.checkStop()
        let mel = try feed.features.window(window)
        try options.checkStop()
        return try stages.encoder.encode(windows: mel.unsqueezed(0))
    }

    /// One turn of the loop: plans the window at the seek, and when it is final encodes,
    /// decodes and seeks past it, dropping the features before the new seek. Throws
    /// `CancellationError` when `run.options.shouldStop` says so (checked before each
    /// stage), or what a stage throws.
    public func step(_ run: inout Run, feed: WhisperAudioFeed) throws -> Step {
        let options = run.options
        try options.checkStop()
        run.context.contentFrames = feed.contentFrames ?? WhisperSeekContext.unknownLength
        run.context.duration = feed.duration
        let window: WhisperWindow
        switch try feed.next(seek: run.seek, seeker: stages.seeker) {
        case .needAudio: return .needAudio
        case .end: return .done
        case .window(let w): window = w
        }
        let first = run.firstWindow
        run.firstWindow = nil
        let audio = try first.flatMap { $0.window == window ? $0.audio : nil } ?? encode(window, feed, options: options)

        let previous = Array(run.sinceReset.suffix(textContext / 2 - 1))
        let prompt = (previous.isEmpty ? [] : [special.sotPrev] + previous) + run.sotSequence
            + (options.decoding.withoutTimestamps ? [special.noTimestamps] : [])
        try options.checkStop()
        let decoded = try stages.decoder.decode(audio: audio, prompt: prompt, options: options)
        try options.checkStop()
        var kept: [WhisperSegment] = []
        switch try stages.seeker.segments(of: decoded, in: window, audio: audio, context: &run.context) {
        case .skip(let next):
            run.seek = next
        case .segments(let current, let next):
            run.seek = next
            for var segment in current {
                // Zero-length or empty segments are dropped (the reference blanks them).
                if segment.start == segment.end || segment.text.trimmingCharacters(in: .whitespaces).isEmpty { continue }
                segment.id = run.segmentCount
                run.segmentCount += 1
                kept.append(segment)
                run.sinceReset.append(contentsOf: segment.tokens)
            }
            if !options.conditionOnPreviousText || decoded.temperature > 0.5 {
                run.sinceReset.removeAll()
            } else if run.sinceReset.count > 2 * textContext {
                run.sinceReset.removeFirst(run.sinceReset.count - textContext)   // a prompt holds textContext / 2 - 1
            }
        }
        feed.features.discard(before: run.seek)
        return .decoded(kept)
    }

    /// The whole loop over a feed that already holds the recording (or pulls nothing more):
    /// every window, each segment to `onSegment` as soon as its window is decoded.
    public func transcribe(_ feed: WhisperAudioFeed, sotSequence: [Int], options: WhisperTranscribeOptions,
                           firstWindow: EncodedWindow? = nil, onSegment: (WhisperSegment) -> Void = { _ in }) throws -> [WhisperSegment] {
        var run = Run(sotSequence: sotSequence, options: options, firstWindow: firstWindow)
        var segments: [WhisperSegment] = []
        while true {
            switch try step(&run, feed: feed) {
            case .needAudio:
                try feed.finish()
            case .decoded(let s):
                segments += s
                s.forEach(onSegment)
            case .done:
                return segments
            }
        }
    }

    /// openai-whisper's `is_segment_anomaly` (see `WhisperSeeker`).
    static func isAnomaly(_ segment: WhisperSegment) -> Bool { WhisperSeeker.isAnomaly(segment) }
}
