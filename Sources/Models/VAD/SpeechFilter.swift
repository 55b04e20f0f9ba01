import Foundation

/// faster-whisper's `vad_filter` as a stream: Silero VAD's probabilities → speech regions
/// (`SpeechRegionTracker`, `get_speech_timestamps`) → the speech samples joined end to end
/// (`collect_chunks`), each released as soon as nothing that arrives later can change whether
/// it is kept. The joined audio is what Whisper transcribes; `map` takes its times back onto
/// the recording (`restore_speech_timestamps`).
///
/// Two ways to run it:
/// - `init(vad:options:)` finds the regions as the samples arrive (a file's first pass, live
///   input). Memory: the samples not decided yet, at most about `min_silence_duration_ms` +
///   `speech_pad_ms` of audio, or `max_speech_duration_s` when that is finite.
/// - `init(regions:)` joins regions already found (a file's second pass): the same samples out.
///
/// Whatever the chunk sizes pushed, the joined samples are the same: those of
/// `faster_whisper.vad.collect_chunks(audio, get_speech_timestamps(audio, options))`.
public final class SpeechFilter {
    private let stream: SileroVADStream?
    private let tracker: SpeechRegionTracker?
    private let known: [SpeechRegion]?
    /// Samples from `bufferStart` on that may still be released.
    private var buffer: [Float] = []
    private var bufferStart = 0
    /// Samples appended so far.
    public private(set) var samples = 0
    /// Every sample before this position of the recording is released or dropped.
    private var emitted = 0
    /// The next final region to release samples from.
    private var next = 0
    /// Samples released (the joined audio's length so far).
    public private(set) var joinedSamples = 0
    public private(set) var isFinished = false
    private var finalRegions: [SpeechRegion] = []

    /// Finds the speech regions with `vad` as the samples arrive.
    public init(vad: SileroVAD, options: VADOptions) {
        stream = vad.stream()
        tracker = SpeechRegionTracker(options: options)
        known = nil
    }

    /// Joins regions found before (by a first pass over the same samples).
    public init(regions: [SpeechRegion]) {
        stream = nil
        tracker = nil
        known = regions
        finalRegions = regions
    }

    /// Adds the next 16 kHz mono samples; returns the joined samples they decide (often none).
    public func append(_ chunk: [Float]) -> [Float] {
        guard !chunk.isEmpty, !isFinished else { return [] }
        buffer += chunk
        samples += chunk.count
        if let stream, let tracker {
            tracker.push(chunk.withUnsafeBufferPointer { stream.append($0) })
            finalRegions = tracker.final
            return release(open: tracker.open, decided: tracker.decided)
        }
        return release(open: nil, decided: samples)     // the regions are known: every sample is decided
    }

    /// The end of the recording: the rest of the joined samples.
    public func finish() -> [Float] {
        guard !isFinished else { return [] }
        isFinished = true
        if let stream, let tracker {
            tracker.push(stream.finish())
            finalRegions = tracker.finish(totalSamples: samples)
        }
        return release(open: nil, decided: samples)
    }

    /// The speech regions final so far (all of them once finished), padded, in samples.
    public var regions: [SpeechRegion] { finalRegions }

    /// Joined-audio time → recording time, for what is released so far: the final regions
    /// and the part of an open one already released.
    public var map: SpeechTimestampsMap {
        var r = finalRegions.filter { $0.start < $0.end }
        if !isFinished, let tracker, let start = tracker.open?.start, emitted > start {
            r.append(SpeechRegion(start: start, end: emitted))
        }
        return SpeechTimestampsMap(regions: r, sampleRate: SileroVAD.sampleRate)
    }

    /// Releases the samples of the final regions not released yet, then of the open region
    /// (`open`: its start and how far it is certainly kept), and forgets what is decided.
    private func release(open: (start: Int, keptUntil: Int)?, decided: Int) -> [Float] {
        var out: [Float] = []
        func take(_ from: Int, _ to: Int) {
            let a = max(from, emitted, bufferStart), b = min(to, samples)
            guard a < b else { return }
            out.append(contentsOf: buffer[(a - bufferStart)..<(b - bufferStart)])
            emitted = b
        }
        while next < finalRegions.count {
            let r = finalRegions[next]
            take(r.start, r.end)
            if r.end > samples { break }               // the rest of it has not arrived yet
            emitted = max(emitted, r.end)
            next += 1
        }
        if next == finalRegions.count, let open { take(open.start, open.keptUntil) }
        // Before `decided` every sample is released or dropped; before `emitted`, released.
        var keepFrom = max(emitted, min(decided, samples))
        if next < finalRegions.count { keepFrom = min(keepFrom, max(emitted, finalRegions[next].start)) }
        if let open, next == finalRegions.count { keepFrom = min(keepFrom, max(emitted, open.start)) }
        if keepFrom - bufferStart > 1 << 16 || keepFrom >= samples {
            let drop = min(keepFrom, samples) - bufferStart
            if drop > 0 {
                buffer.removeFirst(drop)
                bufferStart += drop
            }
        }
        joinedSamples += out.count
        return out
    }
}

extension SpeechTimestampsMap {
    /// One segment of a transcription of the joined speech on the recording's timeline, as
    /// faster-whisper's `restore_speech_timestamps`: with words, each word's chunk is the one
    /// holding its midpoint and the segment spans its first word's start to its last word's
    /// end; without, the start maps as a start and the end as an end.
    public func restore(_ segment: WhisperSegment) -> WhisperSegment {
        var s = segment
        if !s.words.isEmpty {
            s.words = s.words.map { w in
                var w = w
                let chunk = chunkIndex((w.start + w.end) / 2, isEnd: false)
                w.start = originalTime(w.start, chunk: chunk)
                w.end = originalTime(w.end, chunk: chunk)
                return w
            }
            s.start = s.words[0].start
            s.end = s.words[s.words.count - 1].end
        } else {
            s.start = originalTime(s.start, isEnd: false)
            s.end = originalTime(s.end, isEnd: true)
        }
        return s
    }
}

/// The speech of `source` joined (see `SpeechFilter`), as a source: each call gives the next
/// joined samples, nil at the end.
public func joinedSpeech(_ source: @escaping WhisperSampleSource, filter: SpeechFilter) -> WhisperSampleSource {
    final class State: @unchecked Sendable { var ended = false }
    let state = State()
    return {
        while !state.ended {
            if let chunk = try source() {
                let out = filter.append(chunk)
                if !out.isEmpty { return out }
            } else {
                state.ended = true
                let out = filter.finish()
                if !out.isEmpty { return out }
            }
        }
        return nil
    }
}
