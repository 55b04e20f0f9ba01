import Foundation
import TensorCore

/// Live audio (a pipe, a microphone) through the same loop as a file: samples are pushed
/// as they arrive and each 30 s of pending audio is transcribed with
/// `Whisper.transcribe(samples:options:)`. What follows the last segment's end is kept for
/// the next window (as the reference's seek keeps it), so a word cut at the window's edge
/// is decoded whole; segments become final when their window is done.
///
/// Segment ids count from 0 over the whole stream and `start`, `end` and word times are
/// seconds from the start of the stream; `seek` stays the window's frame inside the audio
/// that window was transcribed from.
///
/// - Important: the segments depend only on the audio, not on how it is cut into pushes.
public struct WhisperLiveTranscription: Sendable {
    public let whisper: Whisper
    public let options: WhisperOptions
    /// The language of the last window transcribed (nil before the first).
    public private(set) var language: String?

    var pending: [Float] = []
    /// Seconds of the stream before `pending`.
    var offset = 0.0
    var nextID = 0

    /// Samples in a live window (30 s at 16 kHz).
    public static let window = LogMelSpectrogram.nSamples

    public init(whisper: Whisper, options: WhisperOptions = WhisperOptions()) {
        self.whisper = whisper
        self.options = options
    }

    /// Adds 16 kHz mono samples; returns the segments that became final (often none).
    public mutating func push(_ samples: [Float]) throws -> [WhisperSegment] {
        pending.append(contentsOf: samples)
        return try flush(final: false)
    }

    /// The end of the stream: transcribes what is pending and returns its segments.
    public mutating func finish() throws -> [WhisperSegment] {
        try flush(final: true)
    }

    mutating func flush(final: Bool) throws -> [WhisperSegment] {
        let rate = LogMelSpectrogram.sampleRate
        let window = WhisperLiveTranscription.window
        var out: [WhisperSegment] = []
        while pending.count >= window || (final && !pending.isEmpty) {
            let take = min(window, pending.count)
            let t = try whisper.transcribe(samples: Array(pending.prefix(take)), options: options)
            language = t.language
            // Keep audio after the last segment's end for the next window; at the end,
            // everything is final.
            var consumed = take
            if !final, take == window, let last = t.segments.last, last.end < 29 {
                consumed = max(rate, Int(last.end * Double(rate)))
            }
            for var s in t.segments where final || s.end * Double(rate) <= Double(consumed) + 1 {
                s.id = nextID
                nextID += 1
                s.start += offset
                s.end += offset
                for w in s.words.indices {
                    s.words[w].start += offset
                    s.words[w].end += offset
                }
                out.append(s)
            }
            pending.removeFirst(consumed)
            offset += Double(consumed) / Double(rate)
            if final && pending.count < rate / 10 { pending.removeAll() }
        }
        return out
    }
}

extension Whisper {
    /// A live transcription with these options (see `WhisperLiveTranscription`).
    public func live(options: WhisperOptions = WhisperOptions()) -> WhisperLiveTranscription {
        WhisperLiveTranscription(whisper: self, options: options)
    }
}
