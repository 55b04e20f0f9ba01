import Foundation
import TensorCore

/// One recording being transcribed, file or live alike: samples go in (pushed as they
/// arrive, or pulled from a source by `run`), segments come out as soon as they are final,
/// through the one loop (`WhisperTranscriber.step`) and the same seeking as openai-whisper.
/// Memory stays flat: the feature stream keeps the frames from the seek on, the loop the
/// prompt; only the finished segments accumulate.
///
/// With a `scan` (a first pass over a file) the windows are floored at the recording's
/// log-mel maximum, exactly as openai-whisper; without (live input), at the maximum up to
/// each window's end (see `LogMelStream`). Segment ids count from 0, times are seconds from
/// the start of the recording, and the segments depend only on the audio, not on how it is
/// cut into pushes.
///
/// The language (multilingual models, none given) is detected on the first window once it
/// is final; `language` is nil until then.
public final class WhisperTranscription {
    public let whisper: Whisper
    public let options: WhisperOptions
    public let feed: WhisperAudioFeed
    let transcriber: WhisperTranscriber
    /// The language the audio is transcribed as (given, or detected on the first window).
    public private(set) var language: String?
    /// The detection's probability (1 when the language was given).
    public private(set) var languageProbability: Float = 1
    /// Every segment final so far.
    public private(set) var segments: [WhisperSegment] = []
    private var run: WhisperTranscriber.Run?
    private var done = false

    /// Checks the request (`Whisper.check`); nothing is read yet.
    public init(whisper: Whisper, options: WhisperOptions = WhisperOptions(), scan: WhisperScan? = nil) throws {
        try whisper.check(options)
        self.whisper = whisper
        self.options = options
        feed = WhisperAudioFeed(stages: whisper.stages, scan: scan)
        transcriber = WhisperTranscriber(stages: whisper.stages, special: whisper.tokenizer.specialTokens,
                                         textContext: whisper.model.dims.nTextCtx)
        if !whisper.tokenizer.isMultilingual || options.language != nil { language = options.language ?? "en" }
    }

    /// Seconds of audio done: everything before the next window's start is final.
    public var position: Double { Double(run?.seek ?? 0) * WhisperTranscriber.secondsPerFrame }

    /// Adds 16 kHz mono samples; returns the segments that became final (often none).
    public func push(_ samples: [Float]) throws -> [WhisperSegment] {
        try feed.append(samples)
        return try advance()
    }

    /// The end of the recording: transcribes what is left and returns its segments.
    public func finish() throws -> [WhisperSegment] {
        try feed.finish()
        return try advance()
    }

    /// The transcript so far (all of it after `finish`).
    public var transcript: WhisperTranscript {
        var t = WhisperTranscript(language: language ?? options.language ?? "en", segments: segments,
                                  duration: feed.duration ?? Double(feed.samples) / Double(LogMelSpectrogram.sampleRate))
        t.languageProbability = languageProbability
        return t
    }

    /// Pulls `source` to its end, `onSegment` for each segment as soon as it is final and
    /// `onProgress` (seconds done, total when known) after each window; returns the transcript.
    public func run(_ source: WhisperSampleSource, onSegment: (WhisperSegment) -> Void = { _ in },
                    onProgress: (_ done: Double, _ total: Double?) -> Void = { _, _ in }) throws -> WhisperTranscript {
        var stop = WhisperTranscribeOptions()
        stop.shouldStop = options.shouldStop
        while !done {
            let before = run?.seek
            let new = try advance()
            new.forEach(onSegment)
            if run?.seek != before || !new.isEmpty { onProgress(position, feed.duration) }
            if done { break }
            try stop.checkStop()
            if let chunk = try source() { try feed.append(chunk) } else { try feed.finish() }
        }
        return transcript
    }

    /// Decodes every window that is final.
    private func advance() throws -> [WhisperSegment] {
        var out: [WhisperSegment] = []
        guard !done else { return out }
        if run == nil {
            var detection = WhisperTranscribeOptions()      // before the language is known: only the stop
            detection.shouldStop = options.shouldStop
            var first: WhisperTranscriber.EncodedWindow? = nil
            if language == nil {
                let (ready, window) = try transcriber.firstWindow(feed, options: detection)
                guard ready else { return out }
                // The first window as the loop sees it (frames past the audio are zeros), reused there.
                let detected = window.map { whisper.detectLanguage(audio: $0.audio) }
                language = detected?.code ?? "en"
                languageProbability = detected?.probability ?? 1
                first = window
            }
            let language = self.language ?? "en"
            run = WhisperTranscriber.Run(sotSequence: whisper.sotSequence(language: language, translate: options.translate),
                                         options: whisper.transcribeOptions(options, language: language), firstWindow: first)
        }
        while true {
            switch try transcriber.step(&run!, feed: feed) {
            case .needAudio:
                return out
            case .decoded(let s):
                segments += s
                out += s
            case .done:
                done = true
                return out
            }
        }
    }
}

extension Whisper {
    /// A live transcription with these options: samples pushed as they arrive, one pass, the
    /// same loop and seeking as a file (see `WhisperTranscription`). Throws for an unusable
    /// request.
    public func live(options: WhisperOptions = WhisperOptions()) throws -> WhisperTranscription {
        try WhisperTranscription(whisper: self, options: options)
    }
}
