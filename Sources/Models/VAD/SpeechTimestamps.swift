import Foundation

/// faster-whisper's `VadOptions`, with its defaults.
public struct VADOptions: Sendable, Equatable {
    /// A window with at least this probability is speech (a region starts there).
    public var threshold: Double = 0.5
    /// Below this, speech has ended; nil: `max(threshold - 0.15, 0.01)`.
    public var negThreshold: Double? = nil
    /// Regions ended by silence this short or shorter are dropped.
    public var minSpeechDurationMs: Int = 0
    /// Regions longer than this are split (at the last silence over 98 ms if there is one).
    public var maxSpeechDurationS: Double = .infinity
    /// Silence this long ends a region.
    public var minSilenceDurationMs: Int = 2000
    /// Samples kept each side of a region.
    public var speechPadMs: Int = 400

    public init() {}

    /// The threshold below which speech ends.
    public var effectiveNegThreshold: Double { negThreshold ?? max(threshold - 0.15, 0.01) }

    /// Throws a `VADOptionsError` naming the first option out of range.
    public func validate() throws {
        func fail(_ s: String) -> VADOptionsError { VADOptionsError(message: s) }
        guard threshold.isFinite, (0...1).contains(threshold) else { throw fail("VAD threshold \(threshold) is out of range: use 0 to 1") }
        if let n = negThreshold, !(n.isFinite && (0...1).contains(n)) {
            throw fail("VAD negative threshold \(n) is out of range: use 0 to 1")
        }
        // Durations of a day or more would overflow sample counts; nobody means them.
        let day = 86_400_000
        for (name, ms) in [("min speech duration", minSpeechDurationMs), ("min silence duration", minSilenceDurationMs),
                           ("speech pad", speechPadMs)] where ms < 0 || ms >= day {
            throw fail("VAD \(name) \(ms) ms is out of range: use 0 to \(day - 1)")
        }
        guard maxSpeechDurationS > 0, !maxSpeechDurationS.isNaN else {
            throw fail("VAD max speech duration \(maxSpeechDurationS) s is out of range: it must be more than 0")
        }
    }
}

public struct VADOptionsError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// A span of a recording, in samples: `start ..< end`.
public struct SpeechRegion: Sendable, Codable, Equatable, CustomStringConvertible {
    public var start: Int
    public var end: Int
    public init(start: Int, end: Int) {
        self.start = start
        self.end = end
    }
    public var description: String { "[\(start), \(end))" }
}

/// faster-whisper's `get_speech_timestamps` as a state machine fed one window's probability
/// at a time: the same regions, each reported as soon as nothing later can change it.
///
/// The loop (`push`) is theirs line for line: a region starts at a window of at least
/// `threshold`, ends at the first of a run of windows below the negative threshold once
/// that run reaches `min_silence_duration_ms` (kept if longer than
/// `min_speech_duration_ms`), and is split when it outgrows `max_speech_duration_s`. Their
/// padding pass (`speech_pad_ms` each side, the gap shared half and half between regions
/// closer than twice that) runs here as soon as it can: a region's padded start is known
/// when it opens (it depends on the region before), its padded end once the next kept
/// region's start is known or no later start could come near it.
///
/// Comparisons are in float32, as numpy 2 makes them between the model's float32
/// probabilities and Python floats; sample counts compare with their float thresholds.
public final class SpeechRegionTracker {
    let threshold: Float
    let negThreshold: Float
    let minSpeechSamples: Double
    let maxSpeechSamples: Double
    let minSilenceSamples: Double
    let minSilenceAtMaxSpeech: Double
    let padSamples: Double
    static let window = SileroVAD.windowSamples

    // The loop's state, named as theirs (`currentStart` is `current_speech["start"]`).
    var triggered = false
    var currentStart: Int? = nil
    var tempEnd = 0
    var prevEnd = 0
    var nextStart = 0
    /// The next window's index.
    var index = 0

    /// Kept regions, unpadded, with their padded starts; `paddedEnds` holds the padded
    /// ends known so far (all but at most the last).
    var raw: [SpeechRegion] = []
    var paddedStarts: [Int] = []
    var paddedEnds: [Int] = []
    public private(set) var isFinished = false
    var totalSamples = 0

    public init(options: VADOptions) {
        let rate = Double(SileroVAD.sampleRate)
        threshold = Float(options.threshold)
        negThreshold = Float(options.effectiveNegThreshold)
        minSpeechSamples = rate * Double(options.minSpeechDurationMs) / 1000
        padSamples = rate * Double(options.speechPadMs) / 1000
        maxSpeechSamples = rate * options.maxSpeechDurationS - Double(SpeechRegionTracker.window) - 2 * padSamples
        minSilenceSamples = rate * Double(options.minSilenceDurationMs) / 1000
        minSilenceAtMaxSpeech = rate * 98 / 1000
    }

    /// The next windows' probabilities.
    public func push(_ probabilities: [Float]) {
        precondition(!isFinished, "push after finish")
        for p in probabilities { step(p) }
        settle()
    }

    private func step(_ p: Float) {
        let i = index
        index += 1
        let at = SpeechRegionTracker.window * i
        if p >= threshold && tempEnd != 0 {
            tempEnd = 0
            if nextStart < prevEnd { nextStart = at }
        }
        if p >= threshold && !triggered {
            triggered = true
            currentStart = at
            return
        }
        if triggered, let start = currentStart, Double(at - start) > maxSpeechSamples {
            if prevEnd != 0 {
                keep(start, prevEnd)
                currentStart = nil
                if nextStart < prevEnd {
                    triggered = false
                } else {
                    currentStart = nextStart
                }
                prevEnd = 0; nextStart = 0; tempEnd = 0
            } else {
                keep(start, at)
                currentStart = nil
                prevEnd = 0; nextStart = 0; tempEnd = 0
                triggered = false
                return
            }
        }
        if p < negThreshold && triggered {
            if tempEnd == 0 { tempEnd = at }
            if Double(at - tempEnd) > minSilenceAtMaxSpeech { prevEnd = tempEnd }
            if Double(at - tempEnd) < minSilenceSamples { return }
            if let start = currentStart, Double(tempEnd - start) > minSpeechSamples {
                keep(start, tempEnd)
            }
            currentStart = nil
            prevEnd = 0; nextStart = 0; tempEnd = 0
            triggered = false
        }
    }

    /// The padded start of a region starting at `start` after the kept ones so far.
    private func paddedStart(_ start: Int) -> Int {
        guard let last = raw.last else { return max(0, Int(Double(start) - padSamples)) }
        let silence = start - last.end
        if Double(silence) < 2 * padSamples { return max(0, start - silence / 2) }
        return max(0, Int(Double(start) - padSamples))
    }

    /// A region the loop keeps: the one before it gets its padded end.
    private func keep(_ start: Int, _ end: Int) {
        if let last = raw.last, paddedEnds.count < raw.count {
            let silence = start - last.end
            paddedEnds.append(Double(silence) < 2 * padSamples ? last.end + silence / 2 : Int(Double(last.end) + padSamples))
        }
        paddedStarts.append(paddedStart(start))
        raw.append(SpeechRegion(start: start, end: end))
    }

    /// A lower bound of where the open region will end (whichever way it ends).
    private var openEndBound: Int {
        var bound = tempEnd != 0 ? tempEnd : SpeechRegionTracker.window * max(0, index - 1)
        if prevEnd != 0 { bound = min(bound, prevEnd) }
        return bound
    }

    /// True when the open region will be kept whatever comes.
    private var openIsCertain: Bool {
        guard let start = currentStart else { return false }
        return Double(openEndBound - start) > minSpeechSamples
    }

    /// Pads the last kept region's end once no later start can change it.
    private func settle() {
        guard let last = raw.last, paddedEnds.count < raw.count else { return }
        if let start = currentStart, openIsCertain {
            let silence = start - last.end
            paddedEnds.append(Double(silence) < 2 * padSamples ? last.end + silence / 2 : Int(Double(last.end) + padSamples))
            return
        }
        // The next kept region starts at the open one's start or later, or (none open) at the
        // next window or later; the audio reaches at least the last window's start.
        let nextMin = currentStart ?? SpeechRegionTracker.window * index
        let audioAtLeast = SpeechRegionTracker.window * max(0, index - 1)
        if Double(nextMin - last.end) >= 2 * padSamples && Double(audioAtLeast) >= Double(last.end) + padSamples {
            paddedEnds.append(Int(Double(last.end) + padSamples))
        }
    }

    /// The regions as `get_speech_timestamps` returns them for a recording of `totalSamples`
    /// (every window's probability pushed, the padded last one included).
    public func finish(totalSamples: Int) -> [SpeechRegion] {
        if !isFinished {
            isFinished = true
            self.totalSamples = totalSamples
            if let start = currentStart, Double(totalSamples - start) > minSpeechSamples {
                keep(start, totalSamples)
            }
            currentStart = nil
            triggered = false
            if let last = raw.last, paddedEnds.count < raw.count {
                paddedEnds.append(Int(min(Double(totalSamples), Double(last.end) + padSamples)))
            }
        }
        return final
    }

    /// Padded regions that nothing later can change (all of them once finished).
    public var final: [SpeechRegion] {
        (0..<paddedEnds.count).map { SpeechRegion(start: paddedStarts[$0], end: paddedEnds[$0]) }
    }

    /// The region not final yet, from its padded start (fixed), with how far its samples are
    /// certainly kept (`keptUntil`, at least `start`); nil when none is open.
    public var open: (start: Int, keptUntil: Int)? {
        if isFinished { return nil }
        if let last = raw.last, paddedEnds.count < raw.count {
            return (paddedStarts[raw.count - 1], last.end)
        }
        guard let start = currentStart else { return nil }
        let padded = paddedStart(start)
        return (padded, openIsCertain ? max(padded, openEndBound) : padded)
    }

    /// Every sample before this is in a final region, in the certainly kept part of the open
    /// one, or dropped for good.
    public var decided: Int {
        if isFinished { return totalSamples }
        if let open { return open.keptUntil }
        return paddedStart(SpeechRegionTracker.window * index)
    }
}

/// The regions of a whole recording's probabilities at once (`get_speech_timestamps`).
public enum SpeechTimestamps {
    public static func regions(probabilities: [Float], samples: Int, options: VADOptions) -> [SpeechRegion] {
        let t = SpeechRegionTracker(options: options)
        t.push(probabilities)
        return t.finish(totalSamples: samples)
    }
}

/// faster-whisper's `SpeechTimestampsMap`: times in the joined speech (the regions end to
/// end) back to times in the recording, rounded to 2 decimals as theirs.
public struct SpeechTimestampsMap: Sendable {
    let sampleRate: Int
    /// Per region: its end in the joined audio, and the silence before it in seconds.
    let chunkEndSample: [Int]
    let totalSilenceBefore: [Double]

    public init(regions: [SpeechRegion], sampleRate: Int) {
        self.sampleRate = sampleRate
        var ends: [Int] = [], silence: [Double] = []
        var previousEnd = 0, silent = 0
        for r in regions {
            silent += r.start - previousEnd
            previousEnd = r.end
            ends.append(r.end - silent)
            silence.append(Double(silent) / Double(sampleRate))
        }
        chunkEndSample = ends
        totalSilenceBefore = silence
    }

    public var isEmpty: Bool { chunkEndSample.isEmpty }

    /// The region a joined-audio time falls in (`get_chunk_index`): an end exactly on a
    /// region's end belongs to that region.
    public func chunkIndex(_ time: Double, isEnd: Bool) -> Int {
        let sample = Int(time * Double(sampleRate))
        if isEnd, let i = chunkEndSample.firstIndex(of: sample) { return i }
        // bisect_right
        var lo = 0, hi = chunkEndSample.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sample < chunkEndSample[mid] { hi = mid } else { lo = mid + 1 }
        }
        return min(lo, chunkEndSample.count - 1)
    }

    /// `get_original_time`: the recording's time, `round(silence_before + time, 2)`.
    public func originalTime(_ time: Double, chunk: Int? = nil, isEnd: Bool = false) -> Double {
        guard !chunkEndSample.isEmpty else { return time }
        let i = chunk ?? chunkIndex(time, isEnd: isEnd)
        return SpeechTimestampsMap.round2(totalSilenceBefore[i] + time)
    }

    /// Python's `round(x, 2)`: the nearest of the two-decimal numbers to x's exact binary
    /// value, ties to even (printf's correctly rounded `%.2f` is the same rounding).
    static func round2(_ x: Double) -> Double {
        guard x.isFinite else { return x }
        return Double(String(format: "%.2f", x)) ?? x
    }
}
