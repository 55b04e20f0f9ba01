import Foundation
import TensorCore

/// openai-whisper's seeking (`transcribe()`'s loop body): windows of up to 30 s one after
/// the other inside each region (its `clip_timestamps`); a window's tokens split into
/// segments at consecutive timestamp pairs, and the next window starts at the last
/// complete pair (or after the window when it ends on a single timestamp or has none).
/// With word timestamps, the next window starts at the last word's end, and with
/// `hallucinationSilenceThreshold` likely hallucinations around long silences are dropped
/// or skipped.
///
/// Two rules of mmpipe's own, where the references decode past the audio:
/// - Times are clamped to the audio: no segment or word starts or ends after its end
///   (`WhisperSeekContext.duration`, else the last content frame) (openai-whisper and faster-whisper give a 1.095 s clip a segment
///   ending at 2.00 s); a segment that would start there is dropped (zero length).
/// - A window that holds the end of its region (less than 30 s of audio left), whose text
///   ends with a closed segment (two timestamps, then the end) less than 1 s before the
///   region's end, finishes the region: the model has seen all the audio left and said
///   nothing follows. The references seek back to that last timestamp and decode the
///   leftover again (0.12 s in the first 60 s of the LibriVox clips), a window of almost
///   only padding and the previous text as prompt; faster-whisper then samples a repeat of
///   the prompt at temperature 0.2, kept or dropped by chance (with CTranslate2 seeds 0 to
///   19, 14 runs keep "He was (not) an ill-disposed young man." 59.88 → 60.88 s, 6 drop it;
///   scripts/gen-whisper-fw-fixtures.py).
///   whisper.cpp never decodes the last second (`if (seek + 100 >= seek_end) break`); here
///   only that case is skipped, so a leftover that may hold a word is still decoded.
public struct WhisperSeeker: WhisperSegmentSeeking {
    public let special: WhisperSpecialTokens
    /// Token ids → text (special and timestamp tokens dropped).
    public let decodeText: @Sendable (_ tokens: [Int]) -> String

    public init(special: WhisperSpecialTokens, decodeText: @escaping @Sendable ([Int]) -> String) {
        self.special = special
        self.decodeText = decodeText
    }

    public func window(seek: Int, regions: [Range<Int>], contentFrames: Int) throws -> WhisperWindow? {
        for region in regions where seek < region.upperBound {
            let start = max(seek, region.lowerBound)
            let frames = min(WhisperTranscriber.framesPerWindow, contentFrames - start, region.upperBound - start)
            if frames > 0 { return WhisperWindow(start: start, frames: frames) }
        }
        return nil
    }

    public func segments(of decoded: WhisperDecodedWindow, in window: WhisperWindow, audio: Tensor,
                         context: inout WhisperSeekContext) throws -> WhisperSeekStep {
        let options = context.options, result = decoded.result
        let windowStart = window.start, segmentSize = window.frames
        let timeOffset = window.timeOffset, segmentDuration = window.duration
        let windowEnd = Double(windowStart + WhisperTranscriber.framesPerWindow) * WhisperTranscriber.secondsPerFrame
        let contentFrames = context.contentFrames
        let contentDuration = Double(contentFrames) * WhisperTranscriber.secondsPerFrame
        let tb = special.timestampBegin
        var closedAtEnd = false          // text ends with a closed segment (see the type's doc comment)

        if let threshold = options.noSpeechThreshold, result.noSpeechProb > threshold,
           !(options.logprobThreshold.map { result.avgLogprob > $0 } ?? false) {
            return .skip(seek: windowStart + segmentSize)          // silence: skip the window
        }

        var seek = windowStart
        let tokens = result.tokens
        var newSegments: [(start: Double, end: Double, tokens: [Int])] = []
        let isTs = tokens.map { $0 >= tb }
        let singleTimestampEnding = isTs.count >= 2 && !isTs[isTs.count - 2] && isTs[isTs.count - 1]
        var consecutive: [Int] = []
        if tokens.count >= 2 { for i in 1..<tokens.count where isTs[i - 1] && isTs[i] { consecutive.append(i) } }
        if !consecutive.isEmpty {
            var slices = consecutive
            if singleTimestampEnding { slices.append(tokens.count) }
            var lastSlice = 0
            for current in slices {
                let sliced = Array(tokens[lastSlice..<current])
                let startPos = sliced[0] - tb, endPos = sliced[sliced.count - 1] - tb
                newSegments.append((timeOffset + Double(startPos) * WhisperTranscriber.secondsPerToken,
                                    timeOffset + Double(endPos) * WhisperTranscriber.secondsPerToken, sliced))
                lastSlice = current
            }
            if singleTimestampEnding {
                seek += segmentSize
            } else {
                closedAtEnd = segmentSize < WhisperTranscriber.framesPerWindow && lastSlice == tokens.count - 1
                let lastTimestampPos = tokens[lastSlice - 1] - tb
                seek += lastTimestampPos * WhisperTranscriber.inputStride
            }
        } else {
            var duration = segmentDuration
            if let last = tokens.last(where: { $0 >= tb }), last != tb {
                duration = Double(last - tb) * WhisperTranscriber.secondsPerToken
            }
            newSegments.append((timeOffset, timeOffset + duration, tokens))
            seek += segmentSize
        }

        var current = newSegments.map { s in
            WhisperSegment(id: 0, seek: windowStart, start: s.start, end: s.end,
                           text: decodeText(s.tokens.filter { $0 < special.eot }), tokens: s.tokens,
                           temperature: decoded.temperature, avgLogprob: result.avgLogprob,
                           compressionRatio: decoded.compressionRatio, noSpeechProb: result.noSpeechProb)
        }
        guard let aligner = options.wordAligner else {
            return .segments(WhisperSeeker.clamped(current, to: context.duration ?? contentDuration),
                             seek: WhisperSeeker.seek(seek, closedAtEnd: closedAtEnd, window: window))
        }

        try options.checkStop()
        aligner.addWordTimestamps(&current, audio: audio, frames: segmentSize, lastSpeech: context.lastSpeech)
        let frame = { (t: Double) in Int((t / WhisperTranscriber.secondsPerFrame).rounded(.toNearestOrEven)) }
        if !singleTimestampEnding, let lastWordEnd = WhisperSeeker.end(of: current), lastWordEnd > timeOffset {
            seek = frame(lastWordEnd)
        }
        if let threshold = options.hallucinationSilenceThreshold {
            if !singleTimestampEnding, let lastWordEnd = WhisperSeeker.end(of: current), lastWordEnd > timeOffset {
                seek = windowEnd - lastWordEnd > threshold ? frame(lastWordEnd) : windowStart + segmentSize
            }
            // A likely hallucination first: skip the silence before it and decode again from there.
            if let first = current.first(where: { !$0.words.isEmpty }), WhisperSeeker.isAnomaly(first) {
                let gap = first.start - timeOffset
                if gap > threshold { return .skip(seek: windowStart + frame(gap)) }
            }
            // Drop a likely hallucination surrounded by silence, and all after it.
            var lastEnd = context.lastSpeech
            for si in current.indices where !current[si].words.isEmpty {
                let s = current[si]
                if WhisperSeeker.isAnomaly(s) {
                    let next = current[(si + 1)...].first { !$0.words.isEmpty }
                    let nextStart = next?.words[0].start ?? timeOffset + segmentDuration
                    let silenceBefore = s.start - lastEnd > threshold || s.start < threshold || s.start - timeOffset < 2
                    let silenceAfter = nextStart - s.end > threshold || next.map(WhisperSeeker.isAnomaly) == true
                        || windowEnd - s.end < 2
                    if silenceBefore && silenceAfter {
                        seek = frame(max(timeOffset + 1, s.start))
                        if contentDuration - s.end < threshold { seek = contentFrames }
                        current.removeSubrange(si...)
                        closedAtEnd = false
                        break
                    }
                }
                lastEnd = s.end
            }
        }
        current = WhisperSeeker.clamped(current, to: context.duration ?? contentDuration)
        if let e = WhisperSeeker.end(of: current) { context.lastSpeech = e }
        return .segments(current, seek: WhisperSeeker.seek(seek, closedAtEnd: closedAtEnd, window: window))
    }

    /// Leftovers shorter than this after a window that closed its text at the end of its
    /// region are not decoded (1 s, as whisper.cpp).
    public static let minimumLeftoverFrames = 100

    /// `seek`, or the window's end when what is left of the region is such a leftover.
    static func seek(_ seek: Int, closedAtEnd: Bool, window: WhisperWindow) -> Int {
        closedAtEnd && seek < window.end && window.end - seek < minimumLeftoverFrames ? window.end : seek
    }

    /// Segment and word times no later than `duration` (the end of the audio).
    static func clamped(_ segments: [WhisperSegment], to duration: Double) -> [WhisperSegment] {
        segments.map { s in
            var s = s
            s.start = min(s.start, duration)
            s.end = min(s.end, duration)
            for i in s.words.indices {
                s.words[i].start = min(s.words[i].start, duration)
                s.words[i].end = min(s.words[i].end, duration)
            }
            return s
        }
    }

    /// The end of the last word, or of the last segment when none has words.
    static func end(of segments: [WhisperSegment]) -> Double? {
        for s in segments.reversed() { if let w = s.words.last { return w.end } }
        return segments.last?.end
    }

    /// openai-whisper's `is_segment_anomaly`: mostly improbable, very short or very long words.
    static func isAnomaly(_ segment: WhisperSegment) -> Bool {
        let punctuation = "\"'“¿([{-\"'.。,，!！?？:：”)]}、"
        let words = segment.words.filter { !WhisperWordAligner.pythonContains(punctuation, $0.word) }.prefix(8)
        guard !segment.words.isEmpty else { return false }
        var score = 0.0
        for w in words {
            let duration = w.end - w.start
            if w.probability < 0.15 { score += 1 }
            if duration < 0.133 { score += (0.133 - duration) * 15 }
            if duration > 2 { score += duration - 2 }
        }
        return score >= 3 || score + 0.01 >= Double(words.count)
    }
}
