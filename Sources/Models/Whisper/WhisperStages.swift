import Foundation
import TensorCore

// Whisper's transcription as five stages behind protocols, each with a default that is
// today's openai-whisper algorithm, injected into `WhisperTranscriber` (the loop) through
// `WhisperStages`. Voice-activity detection replaces `speech`, batched decoding `encoder`
// and `decoder`, a test double any one of them; the loop does not change.
//
//     samples ─ features ─▶ WhisperFeatures ─┐
//     samples ─ speech ───▶ regions ─────────┴─ seeker.window ─▶ WhisperWindow
//       ─ features.window ─▶ mel [nMels, 3000] ─ encoder ─▶ audio [1, nAudioCtx, d]
//       ─ decoder ─▶ WhisperDecodedWindow ─ seeker.segments ─▶ WhisperSeekStep ─▶ next window
//
// The loop checks for a stop (`WhisperTranscribeOptions.shouldStop`, or the current task
// cancelled) before it enters each stage, and throws `CancellationError` then.

// MARK: - What the stages pass each other

/// Feature extraction's output: the recording's log-mel spectrogram.
public struct WhisperFeatures: Sendable {
    /// `[nMels, frames]`: the whole recording followed by 30 s of zero samples (the floor at
    /// max - 8 is taken over all of it, as openai-whisper does).
    public var mel: Tensor
    /// Frames that hold audio; the rest of `mel` is the padding.
    public var contentFrames: Int

    public init(mel: Tensor, contentFrames: Int) {
        self.mel = mel
        self.contentFrames = contentFrames
    }
}

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
    public let contentFrames: Int
    public let options: WhisperTranscribeOptions
    /// End of the last word before the current window (word timestamps), in seconds.
    public var lastSpeech: Double = 0

    public init(contentFrames: Int, options: WhisperTranscribeOptions) {
        self.contentFrames = contentFrames
        self.options = options
    }
}

// MARK: - The stages

/// 16 kHz mono samples → log-mel features, and one window's encoder input.
/// Default: `LogMelSpectrogram`.
public protocol WhisperFeatureExtracting: Sendable {
    /// The whole recording's features (long form).
    func features(samples: [Float]) throws -> WhisperFeatures
    /// `[nMels, 3000]`: the window's frames of `features`, zero-padded to 30 s.
    func window(_ window: WhisperWindow, of features: WhisperFeatures) throws -> Tensor
}

/// Mel windows → encoder output. Default: `WhisperModel`.
public protocol WhisperAudioEncoding: Sendable {
    /// `[B, nMels, 3000]` → `[B, nAudioCtx, d]`: B windows at once (the loop passes one;
    /// a batched decoder may pass several).
    func encode(windows mel: Tensor) throws -> Tensor
}

/// One window's encoder output → its text tokens. Default: `WhisperFallbackDecoder`
/// (openai-whisper's `decode_with_fallback`).
public protocol WhisperTextDecoding: Sendable {
    /// `audio` `[1, nAudioCtx, d]`; `prompt` the previous text (after `<|startofprev|>`),
    /// the SOT sequence and `<|notimestamps|>` when asked for. The result is decoded with
    /// `options.decoding` at each of `options.temperatures` until one is accepted.
    func decode(audio: Tensor, prompt: [Int], options: WhisperTranscribeOptions) throws -> WhisperDecodedWindow
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
/// a voice-activity detector returns the speech regions instead.
public protocol WhisperSpeechDetecting: Sendable {
    /// Regions of mel frames (10 ms each), in order, not overlapping, within `0..<contentFrames`.
    func speechRegions(samples: [Float], contentFrames: Int) throws -> [Range<Int>]
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
    public func features(samples: [Float]) throws -> WhisperFeatures {
        let mel = longForm(samples)
        return WhisperFeatures(mel: mel, contentFrames: mel.shape[1] - LogMelSpectrogram.nFrames)
    }

    public func window(_ window: WhisperWindow, of features: WhisperFeatures) throws -> Tensor {
        LogMelSpectrogram.segment(features.mel, start: window.start, count: window.frames)
    }
}

extension WhisperModel: WhisperAudioEncoding {
    public func encode(windows mel: Tensor) throws -> Tensor { encode(mel) }
}

/// Every frame of the recording is transcribed (no voice-activity detection).
public struct WhisperWholeRecording: WhisperSpeechDetecting {
    public init() {}
    public func speechRegions(samples: [Float], contentFrames: Int) throws -> [Range<Int>] { [0..<contentFrames] }
}

extension WhisperTranscribeOptions {
    /// Throws `CancellationError` when the caller asked to stop or the current task is cancelled.
    public func checkStop() throws {
        if Task.isCancelled || shouldStop?() == true { throw CancellationError() }
    }
}
