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

/// Options of a whole transcription (openai-whisper's `transcribe()` arguments).
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

    public init() {}
}

/// Long-form transcription as the reference does it: consecutive 30 s windows over the
/// whole file's log-mel, each decoded with temperature fallback, seeking to the last
/// complete timestamp pair; previous text conditions the next window.
public struct WhisperTranscriber {
    public let model: WhisperModel
    public let special: WhisperSpecialTokens
    /// Token ids → text (special and timestamp tokens dropped).
    public let decodeText: (_ tokens: [Int]) -> String
    /// zlib compression ratio of a text (the fallback check), injected by the caller.
    public let compressionRatio: (_ text: String) -> Double

    public static let framesPerWindow = 3000
    public static let secondsPerFrame = 0.01           // hop 160 at 16 kHz
    public static let secondsPerToken = 0.02            // timestamp resolution
    public static let inputStride = 2                   // mel frames per audio position

    public init(model: WhisperModel, special: WhisperSpecialTokens,
                decodeText: @escaping ([Int]) -> String, compressionRatio: @escaping (String) -> Double) {
        self.model = model
        self.special = special
        self.decodeText = decodeText
        self.compressionRatio = compressionRatio
    }

    /// `sotSequence`: `<|startoftranscript|>` (+ language and task for multilingual models).
    /// `mel` is the log-mel of the whole audio plus 30 s of padding, `[nMels, frames]`;
    /// `contentFrames` the frames that hold audio. `onSegment` sees each segment as soon as
    /// its window is decoded.
    /// `firstWindow`: the encoder output of the window at frame 0 when the caller already has
    /// it (language detection), so it is not computed twice.
    public func transcribe(mel: Tensor, contentFrames: Int, sotSequence: [Int], options: WhisperTranscribeOptions,
                           firstWindow: Tensor? = nil,
                           onSegment: (WhisperSegment) -> Void = { _ in }) -> [WhisperSegment] {
        var segments: [WhisperSegment] = []
        var allTokens = options.initialPrompt
        var promptResetSince = 0
        var seek = 0
        var lastSpeech = 0.0
        let tb = special.timestampBegin
        let contentDuration = Double(contentFrames) * WhisperTranscriber.secondsPerFrame
        while seek < contentFrames {
            let windowStart = seek
            let timeOffset = Double(seek) * WhisperTranscriber.secondsPerFrame
            let windowEnd = Double(seek + WhisperTranscriber.framesPerWindow) * WhisperTranscriber.secondsPerFrame
            let segmentSize = min(WhisperTranscriber.framesPerWindow, contentFrames - seek)
            let segmentDuration = Double(segmentSize) * WhisperTranscriber.secondsPerFrame
            let audio = seek == 0 && firstWindow != nil ? firstWindow!
                : model.encode(LogMelSpectrogram.segment(mel, start: seek, count: segmentSize).unsqueezed(0))

            let previous = Array(allTokens[promptResetSince...].suffix(model.dims.nTextCtx / 2 - 1))
            let prompt = (previous.isEmpty ? [] : [special.sotPrev] + previous) + sotSequence
                + (options.decoding.withoutTimestamps ? [special.noTimestamps] : [])
            let (result, temperature, ratio) = decodeWithFallback(audio: audio, prompt: prompt, options: options)

            if let threshold = options.noSpeechThreshold, result.noSpeechProb > threshold,
               !(options.logprobThreshold.map { result.avgLogprob > $0 } ?? false) {
                seek += segmentSize          // silence: skip the window
                continue
            }

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
                               temperature: temperature, avgLogprob: result.avgLogprob,
                               compressionRatio: ratio, noSpeechProb: result.noSpeechProb)
            }
            if let aligner = options.wordAligner {
                aligner.addWordTimestamps(&current, audio: audio, frames: segmentSize, lastSpeech: lastSpeech)
                let frame = { (t: Double) in Int((t / WhisperTranscriber.secondsPerFrame).rounded(.toNearestOrEven)) }
                if !singleTimestampEnding, let lastWordEnd = WhisperTranscriber.end(of: current), lastWordEnd > timeOffset {
                    seek = frame(lastWordEnd)
                }
                if let threshold = options.hallucinationSilenceThreshold {
                    if !singleTimestampEnding, let lastWordEnd = WhisperTranscriber.end(of: current), lastWordEnd > timeOffset {
                        seek = windowEnd - lastWordEnd > threshold ? frame(lastWordEnd) : windowStart + segmentSize
                    }
                    // A likely hallucination first: skip the silence before it and decode again from there.
                    if let first = current.first(where: { !$0.words.isEmpty }), WhisperTranscriber.isAnomaly(first) {
                        let gap = first.start - timeOffset
                        if gap > threshold {
                            seek = windowStart + frame(gap)
                            continue
                        }
                    }
                    // Drop a likely hallucination surrounded by silence, and all after it.
                    var lastEnd = lastSpeech
                    for si in current.indices where !current[si].words.isEmpty {
                        let s = current[si]
                        if WhisperTranscriber.isAnomaly(s) {
                            let next = current[(si + 1)...].first { !$0.words.isEmpty }
                            let nextStart = next?.words[0].start ?? timeOffset + segmentDuration
                            let silenceBefore = s.start - lastEnd > threshold || s.start < threshold || s.start - timeOffset < 2
                            let silenceAfter = nextStart - s.end > threshold || next.map(WhisperTranscriber.isAnomaly) == true
                                || windowEnd - s.end < 2
                            if silenceBefore && silenceAfter {
                                seek = frame(max(timeOffset + 1, s.start))
                                if contentDuration - s.end < threshold { seek = contentFrames }
                                current.removeSubrange(si...)
                                break
                            }
                        }
                        lastEnd = s.end
                    }
                }
                if let e = WhisperTranscriber.end(of: current) { lastSpeech = e }
            }

            for var segment in current {
                // Zero-length or empty segments are dropped (the reference blanks them).
                if segment.start == segment.end || segment.text.trimmingCharacters(in: .whitespaces).isEmpty { continue }
                segment.id = segments.count
                segments.append(segment)
                onSegment(segment)
                allTokens.append(contentsOf: segment.tokens)
            }
            if !options.conditionOnPreviousText || temperature > 0.5 {
                promptResetSince = allTokens.count
            }
        }
        return segments
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

    /// Decodes at each temperature in turn until the result is neither too repetitive
    /// (compression ratio) nor too unlikely (average log-probability), unless it is silence.
    func decodeWithFallback(audio: Tensor, prompt: [Int], options: WhisperTranscribeOptions)
        -> (WhisperDecodingResult, Float, Double) {
        var last: (WhisperDecodingResult, Float, Double)?
        for t in options.temperatures {
            var o = options.decoding
            o.temperature = t
            if t > 0 { o.beamSize = nil; o.patience = nil } else { o.bestOf = nil }
            let result = WhisperDecoder(model: model, special: special, options: o).decode(audio: audio, prompt: prompt)
            let ratio = compressionRatio(decodeText(result.tokens.filter { $0 < special.eot }))
            last = (result, t, ratio)
            var needsFallback = false
            if let c = options.compressionRatioThreshold, ratio > c { needsFallback = true }
            if let l = options.logprobThreshold, result.avgLogprob < l { needsFallback = true }
            // Silence: likely no speech *and* an unlikely text (both, as the reference).
            if let n = options.noSpeechThreshold, result.noSpeechProb > n,
               let l = options.logprobThreshold, result.avgLogprob < l {
                needsFallback = false
            }
            if !needsFallback { break }
        }
        return last!
    }
}
