import Foundation
import TensorCore

// Whisper's transcription as five stages behind protocols, each with a default that is
// today's openai-whisper algorithm, injected into `WhisperTranscriber` (the loop) through
// `WhisperStages`. Batched decoding replaces `encoder` and `decoder`, a test double any one
// of them; the loop does not change. Silero VAD (`transcribe --vad`) works as faster-whisper's
// `vad_filter`: it joins the speech before the loop (`SpeechFilter`, Models/VAD) and maps the
// segments back, so the loop sees one shorter recording; `speech` is for detectors that
// choose windows within the recording instead.
//
//     samples (streamed) ─ features ─▶ WhisperFeatureStream ─┐
//     samples (streamed) ─ speech ───▶ regions ──────────────┴─ seeker.window ─▶ WhisperWindow
//       ─ feature stream.window ─▶ mel [nMels, 3000] ─ encoder ─▶ audio [1, nAudioCtx, d]
//       ─ decoder ─▶ WhisperDecodedWindow ─ seeker.segments ─▶ WhisperSeekStep ─▶ next window
//
// The audio is never held whole: the loop pulls samples into the feature stream until the
// next window is ready and drops what lies before the seek (which only moves forward). A file
// is read twice: a first pass (`Whisper.scan`) finds its length, its log-mel maximum (the
// floor of every window, as openai-whisper takes it over the whole recording) and its speech
// regions; the second pass transcribes. Live input has one pass (see `LogMelStream`).
//
// The loop checks for a stop (`WhisperTranscribeOptions.shouldStop`, or the current task
// cancelled) before it enters each stage, and throws `CancellationError` then.

// MARK: - What the stages pass each other

/// A span of mel frames decoded as one 30 s window.
public struct WhisperWindow: Sendable, Equatable, CustomStringConvertible {
    /// First mel frame (10 ms each).
    public var start: Int
    /// Frames of audio in the window, at most 3000; the encoder input is zero past them.
    public var frames: Int

    public init(start: Int, frames: Int) {
        self.start = start
        self.frames = frames
    }

    public var end: Int { start + frames }
    /// Seconds from the start of the recording to the window.
    public var timeOffset: Double { Double(start) * WhisperTranscriber.secondsPerFrame }
    public var duration: Double { Double(frames) * WhisperTranscriber.secondsPerFrame }
    public var description: String { "frames \(start)..<\(end)" }
}

/// Text decoding's output for one window: the best candidate, the temperature it was
/// accepted at, and its text's compression ratio.
public struct WhisperDecodedWindow: Sendable {
    public var result: WhisperDecodingResult
    public var temperature: Float
    public var compressionRatio: Double

    public init(result: WhisperDecodingResult, temperature: Float, compressionRatio: Double) {
        self.result = result
        self.temperature = temperature
        self.compressionRatio = compressionRatio
    }
}

/// What seeking makes of a decoded window.
public enum WhisperSeekStep: Sendable, Equatable {
    /// Nothing of the window is kept (no speech; or a likely hallucination after a silence,
    /// decoded again from `seek`); the prompt is left as it was.
    case skip(seek: Int)
    /// The window's segments (ids not set yet; empty and zero-length ones are dropped by
    /// the loop), and the frame the next window starts from.
    case segments([WhisperSegment], seek: Int)
}

/// What seeking knows of the whole transcription and carries from window to window.
public struct WhisperSeekContext: Sendable {
    /// The recording's frames; for live input before its end, `WhisperSeekContext.unknownLength`
    /// (nothing is cut at an end not reached yet).
    public var contentFrames: Int
    public let options: WhisperTranscribeOptions
    /// End of the last word before the current window (word timestamps), in seconds.
    public var lastSpeech: Double = 0
    /// The recording's length in seconds once known (segment times are clamped to it).
    public var duration: Double? = nil

    /// The `contentFrames` of a stream whose end has not come yet.
    public static let unknownLength = Int(Int32.max)

    public init(contentFrames: Int, options: WhisperTranscribeOptions) {
        self.contentFrames = contentFrames
        self.options = options
    }
}

// MARK: - The stages

/// 16 kHz mono samples → log-mel features, computed as the samples arrive, and one
/// window's encoder input. Default: `LogMelSpectrogram` (its stream: `LogMelStream`).
public protocol WhisperFeatureExtracting: Sendable {
    /// The features of one recording. `maximum`: its log-mel maximum from a first pass
    /// (`WhisperScan.maximum`); nil for live input (see `LogMelStream`).
    func stream(maximum: Float?) -> any WhisperFeatureStream
    /// The features of one chunk of a batched transcription alone, `[nMels, frames]`
    /// (see `LogMelSpectrogram.chunk`); the default throws (no batched form).
    func chunk(_ samples: [Float]) throws -> Tensor
}

extension WhisperFeatureExtracting {
    public func chunk(_ samples: [Float]) throws -> Tensor {
        throw WhisperError("these features have no form for a chunk alone: batched transcription needs them")
    }
}

/// One recording's features as its samples arrive; windows are read from it in order.
/// Only the frames from the last `discard` on are kept.
public protocol WhisperFeatureStream: AnyObject {
    /// The next 16 kHz mono samples.
    func append(_ samples: UnsafeBufferPointer<Float>) throws
    /// The end of the recording (30 s of zero samples follow, as openai-whisper pads).
    func finish() throws
    /// Frames whose features are ready: a window may end at this frame at the latest. Once
    /// finished, the recording's frames (samples / 160).
    var readyFrames: Int { get }
    /// The largest log-mel value so far; after `finish`, the recording's (a first pass).
    var maximum: Float { get }
    /// `[nMels, 3000]`: the window's frames, zero-padded to 30 s.
    func window(_ window: WhisperWindow) throws -> Tensor
    /// Frames before `frame` will not be asked for again.
    func discard(before frame: Int)
}

/// Mel windows → encoder output. Default: `WhisperModel`.
public protocol WhisperAudioEncoding: Sendable {
    /// `[B, nMels, 3000]` → `[B, nAudioCtx, d]`: B windows at once (the loop passes one;
    /// a batched decoder may pass several).
    func encode(windows mel: Tensor) throws -> Tensor
}

/// One window's encoder output → its text tokens. Default: `WhisperFallbackDecoder`
/// (faster-whisper's `generate_with_fallback`).
public protocol WhisperTextDecoding: Sendable {
    /// `audio` `[1, nAudioCtx, d]`; `prompt` the previous text (after `<|startofprev|>`),
    /// the SOT sequence and `<|notimestamps|>` when asked for. The result is decoded with
    /// `options.decoding` at each of `options.temperatures` until one is accepted.
    func decode(audio: Tensor, prompt: [Int], options: WhisperTranscribeOptions) throws -> WhisperDecodedWindow
    /// B windows at once, `audio` `[B, nAudioCtx, d]`, with the same prompt: one pass at
    /// `options.temperatures[0]`, no fallback (faster-whisper's batched pipeline), each
    /// with the compression ratio of its whole text as decoded (not stripped). The default
    /// decodes window by window.
    func decode(windows audio: Tensor, prompt: [Int], options: WhisperTranscribeOptions) throws -> [WhisperDecodedWindow]
}

extension WhisperTextDecoding {
    public func decode(windows audio: Tensor, prompt: [Int], options: WhisperTranscribeOptions) throws -> [WhisperDecodedWindow] {
        var o = options
        o.temperatures = Array(options.temperatures.prefix(1))
        return try (0..<audio.shape[0]).map { try decode(audio: audio.slice(axis: 0, $0..<($0 + 1)), prompt: prompt, options: o) }
    }
}

/// Which spans of the audio are decoded, how a decoded window becomes segments, and where
/// the next window starts. Default: `WhisperSeeker` (openai-whisper's consecutive 30 s
/// windows, seeking to the last complete timestamp pair).
public protocol WhisperSegmentSeeking: Sendable {
    /// The next window at or after frame `seek` inside `regions` (mel frames, in order),
    /// or nil when every region is done.
    func window(seek: Int, regions: [Range<Int>], contentFrames: Int) throws -> WhisperWindow?
    /// The segments of a decoded window (times in seconds from the start of the
    /// recording) and the frame to seek to. `audio` is the window's encoder output (word
    /// alignment reads its cross-attention).
    func segments(of decoded: WhisperDecodedWindow, in window: WhisperWindow, audio: Tensor,
                  context: inout WhisperSeekContext) throws -> WhisperSeekStep
}

/// The spans of a recording worth transcribing (speech). Default: `WhisperWholeRecording`;
/// a detector that picks windows within the recording returns its regions instead (Silero
/// VAD does not come this way: see `SpeechFilter`). A detector sees the samples
/// as they arrive: in a file's first pass (`Whisper.scan`), or along with the features of
/// live input.
public protocol WhisperSpeechDetecting: Sendable {
    /// A detector for one recording.
    func detector() -> any WhisperSpeechDetector
}

/// The speech regions of one recording, found as its samples arrive.
public protocol WhisperSpeechDetector: AnyObject {
    /// The next 16 kHz mono samples.
    func append(_ samples: UnsafeBufferPointer<Float>) throws
    /// The end of the recording: every region is final.
    func finish() throws
    /// Regions of mel frames (10 ms each), in order, not overlapping. Regions before
    /// `decidedFrames` are final; the last may still grow while it ends there.
    var regions: [Range<Int>] { get }
    /// Frames decided so far (the recording's frames once finished).
    var decidedFrames: Int { get }
}

/// The stages a `WhisperTranscriber` runs: replace any one to change that step alone.
public struct WhisperStages: Sendable {
    public var features: any WhisperFeatureExtracting
    public var speech: any WhisperSpeechDetecting
    public var encoder: any WhisperAudioEncoding
    public var decoder: any WhisperTextDecoding
    public var seeker: any WhisperSegmentSeeking

    public init(features: any WhisperFeatureExtracting, speech: any WhisperSpeechDetecting = WhisperWholeRecording(),
                encoder: any WhisperAudioEncoding, decoder: any WhisperTextDecoding, seeker: any WhisperSegmentSeeking) {
        self.features = features
        self.speech = speech
        self.encoder = encoder
        self.decoder = decoder
        self.seeker = seeker
    }

    /// openai-whisper's algorithm: log-mel with `melFilters`, the whole recording, the
    /// model's encoder, decoding with temperature fallback, timestamp-driven seeking.
    /// `compressionRatio` is the zlib ratio of a text (the fallback's repetition check).
    public static func standard(model: WhisperModel, tokenizer: WhisperTokenizer, melFilters: Tensor,
                                compressionRatio: @escaping @Sendable (String) -> Double) -> WhisperStages {
        let special = tokenizer.specialTokens
        let text: @Sendable ([Int]) -> String = { [tokenizer] in tokenizer.decode($0) }
        return WhisperStages(
            features: LogMelSpectrogram(filters: melFilters), speech: WhisperWholeRecording(), encoder: model,
            decoder: WhisperFallbackDecoder(model: model, special: special, decodeText: text, compressionRatio: compressionRatio),
            seeker: WhisperSeeker(special: special, decodeText: text))
    }
}

// MARK: - Defaults

extension LogMelSpectrogram: WhisperFeatureExtracting {
    public func stream(maximum: Float?) -> any WhisperFeatureStream { LogMelStream(self, knownMaximum: maximum) }
}

extension WhisperModel: WhisperAudioEncoding {
    public func encode(windows mel: Tensor) throws -> Tensor { encode(mel) }
}

/// Every frame of the recording is transcribed (no voice-activity detection).
public struct WhisperWholeRecording: WhisperSpeechDetecting {
    public init() {}
    public func detector() -> any WhisperSpeechDetector { Detector() }

    final class Detector: WhisperSpeechDetector {
        var samples = 0
        func append(_ samples: UnsafeBufferPointer<Float>) throws { self.samples += samples.count }
        func finish() throws {}
        var decidedFrames: Int { samples / LogMelSpectrogram.hopLength }
        var regions: [Range<Int>] { [0..<decidedFrames] }
    }
}

extension WhisperTranscribeOptions {
    /// Throws `CancellationError` when the caller asked to stop or the current task is cancelled.
    public func checkStop() throws {
        if Task.isCancelled || shouldStop?() == true { throw CancellationError() }
    }
}
