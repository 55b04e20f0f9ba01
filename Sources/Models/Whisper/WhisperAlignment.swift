import Foundation
import TensorCore

/// A word with its time span in the audio (openai-whisper's `words` entries).
public struct WhisperWord: Sendable, Equatable, Codable {
    public var word: String
    public var start: Double
    public var end: Double
    public var probability: Float

    public init(word: String, start: Double, end: Double, probability: Float) {
        self.word = word
        self.start = start
        self.end = end
        self.probability = probability
    }
}

/// Word-level timestamps as openai-whisper's `timing.py` computes them: the text tokens
/// of a window are run once more through the decoder (after the bare start-of-transcript
/// sequence and `<|notimestamps|>`), the cross-attention of the model's alignment heads is
/// normalised per audio frame and median-filtered, and dynamic time warping through it
/// gives each token its first audio frame; words start where their first token does.
public struct WhisperWordAligner: Sendable {
    public let model: WhisperModel
    public let alignmentHeads: [(layer: Int, head: Int)]
    /// `<|startoftranscript|>` (+ language and task), without any prompt.
    public let sotSequence: [Int]
    public let noTimestamps: Int
    public let eot: Int
    /// Splits text tokens (+ `<|endoftext|>`) into words (the tokenizer's `split_to_word_tokens`).
    public let splitWords: @Sendable ([Int]) -> [WhisperTokenizer.WordTokens]
    public var medianFilterWidth = 7
    public var prependPunctuations = WhisperWordAligner.defaultPrependPunctuations
    public var appendPunctuations = WhisperWordAligner.defaultAppendPunctuations
    public static let defaultPrependPunctuations = "\"'“¿([{-"
    public static let defaultAppendPunctuations = "\"'.。,，!！?？:：”)]}、"

    public static let tokensPerSecond = 50.0

    public init(model: WhisperModel, alignmentHeads: [(layer: Int, head: Int)], sotSequence: [Int], noTimestamps: Int,
                eot: Int, splitWords: @escaping @Sendable ([Int]) -> [WhisperTokenizer.WordTokens]) {
        self.model = model
        self.alignmentHeads = alignmentHeads
        self.sotSequence = sotSequence
        self.noTimestamps = noTimestamps
        self.eot = eot
        self.splitWords = splitWords
    }

    /// One word of the alignment, times relative to the window start.
    public struct Timing: Equatable {
        public var word: String
        public var tokens: [Int]
        public var start: Double
        public var end: Double
        public var probability: Float
    }

    /// The token-to-frame path: for each text token (and the final `<|endoftext|>`), the
    /// DTW path's indices, as `find_alignment` gets them before grouping into words.
    public func alignmentPath(audio: Tensor, textTokens: [Int], frames: Int) -> (text: [Int], time: [Int], tokenProbs: [Float]) {
        let tokens = sotSequence + [noTimestamps] + textTokens + [eot]
        let t = tokens.count
        let dh = model.dims.nTextState / model.dims.nTextHead
        let usable = max(1, min(frames / 2, model.dims.nAudioCtx))
        let cross = model.crossKV(audio)
        let caches = model.makeCaches(batch: 1)
        let scale = 1 / Float(dh).squareRoot()
        let heads = alignmentHeads.filter { $0.layer < model.dims.nTextLayer && $0.head < model.dims.nTextHead }
        // Attention weights of each alignment head over the usable frames, [T, F] each.
        var weights = [[Float]](repeating: [], count: heads.count)
        let start = sotSequence.count
        let logits = model.decode([tokens], cross: cross, caches: caches, positions: Array(start..<(start + textTokens.count)),
                                  crossQueries: { layer, q in
            for (i, h) in heads.enumerated() where h.layer == layer {
                let qh = q.slice(axis: 0, 0..<1).slice(axis: 1, h.head..<(h.head + 1)).reshaped([t, dh])
                let kh = cross.layers[layer].key.slice(axis: 0, 0..<1).slice(axis: 1, h.head..<(h.head + 1))
                    .reshaped([model.dims.nAudioCtx, dh]).slice(axis: 0, 0..<usable)
                let scores = (Tensor.matmul(qh, kh.transposed()) * scale).softmax()
                weights[i] = scores.contiguous().scalars
            }
        }).contiguous()
        // Probability of each text token, softmax over the text vocabulary (ids < eot).
        var tokenProbs: [Float] = []
        let vocab = model.dims.nVocab
        for (i, tok) in textTokens.enumerated() {
            let row = logits.pointer + i * vocab
            var m = -Float.infinity
            for j in 0..<eot { m = max(m, row[j]) }
            var sum: Float = 0
            for j in 0..<eot { sum += Foundation.exp(row[j] - m) }
            tokenProbs.append(Foundation.exp(row[tok] - m) / sum)
        }
        // Normalise each frame over tokens, median-filter over time, average the heads.
        var matrix = [Float](repeating: 0, count: t * usable)
        for var w in weights where !w.isEmpty {
            WhisperWordAligner.standardiseColumns(&w, rows: t, cols: usable)
            w = WhisperWordAligner.medianFilter(w, rows: t, cols: usable, width: medianFilterWidth)
            for k in 0..<matrix.count { matrix[k] += w[k] }
        }
        let n = Float(max(1, heads.count))
        // Rows from `<|notimestamps|>` (it predicts the first text token) to the last text token.
        let rows = textTokens.count + 1
        var cost = [Float](repeating: 0, count: rows * usable)
        for r in 0..<rows {
            for c in 0..<usable { cost[r * usable + c] = -matrix[(start + r) * usable + c] / n }
        }
        let path = WhisperWordAligner.dtw(cost, rows: rows, cols: usable)
        return (path.text, path.time, tokenProbs)
    }

    /// `find_alignment`: the words of `textTokens` with times relative to the window.
    public func findAlignment(audio: Tensor, textTokens: [Int], frames: Int) -> [Timing] {
        if textTokens.isEmpty || alignmentHeads.isEmpty { return [] }
        let (textIndex, timeIndex, probs) = alignmentPath(audio: audio, textTokens: textTokens, frames: frames)
        let words = splitWords(textTokens + [eot])
        if words.count <= 1 { return [] }
        var jumpTimes: [Double] = []
        for i in 0..<textIndex.count where i == 0 || textIndex[i] != textIndex[i - 1] {
            jumpTimes.append(Double(timeIndex[i]) / WhisperWordAligner.tokensPerSecond)
        }
        var boundaries = [0]
        for w in words.dropLast() { boundaries.append(boundaries.last! + w.tokens.count) }
        var out: [Timing] = []
        for i in 0..<(words.count - 1) {
            let a = boundaries[i], b = boundaries[i + 1]
            guard b < jumpTimes.count, b <= probs.count else { break }
            let p = a < b ? probs[a..<b].reduce(0, +) / Float(b - a) : .nan
            out.append(Timing(word: words[i].word, tokens: words[i].tokens, start: jumpTimes[a], end: jumpTimes[b], probability: p))
        }
        return out
    }

    /// `(x - mean) / std` down each column (population std), as `torch.std_mean(dim=-2)`.
    static func standardiseColumns(_ w: inout [Float], rows: Int, cols: Int) {
        for c in 0..<cols {
            var mean: Float = 0
            for r in 0..<rows { mean += w[r * cols + c] }
            mean /= Float(rows)
            var v: Float = 0
            for r in 0..<rows { let d = w[r * cols + c] - mean; v += d * d }
            let std = (v / Float(rows)).squareRoot()
            for r in 0..<rows { w[r * cols + c] = (w[r * cols + c] - mean) / std }
        }
    }

    /// Median over a window of `width` along each row, the row reflect-padded by `width / 2`
    /// (openai-whisper's `median_filter`); rows shorter than the padding are left as they are.
    static func medianFilter(_ x: [Float], rows: Int, cols: Int, width: Int) -> [Float] {
        let pad = width / 2
        guard width > 1, cols > pad else { return x }
        var out = x
        var window = [Float](repeating: 0, count: width)
        for r in 0..<rows {
            let row = r * cols
            for c in 0..<cols {
                for k in 0..<width {
                    var j = c + k - pad
                    if j < 0 { j = -j }
                    if j >= cols { j = 2 * (cols - 1) - j }
                    window[k] = x[row + j]
                }
                window.sort()
                out[row + c] = window[pad]
            }
        }
        return out
    }

    /// Dynamic time warping of a cost matrix `[rows, cols]` (row-major), as openai-whisper's
    /// `dtw_cpu` + `backtrace`: returns the path's row and column indices from (0, 0).
    static func dtw(_ x: [Float], rows n: Int, cols m: Int) -> (text: [Int], time: [Int]) {
        let w = m + 1
        var cost = [Float](repeating: .infinity, count: (n + 1) * w)
        var trace = [Int8](repeating: -1, count: (n + 1) * w)
        cost[0] = 0
        for j in 1...max(1, m) where m > 0 {
            for i in 1...max(1, n) where n > 0 {
                let c0 = cost[(i - 1) * w + j - 1], c1 = cost[(i - 1) * w + j], c2 = cost[i * w + j - 1]
                let c: Float, t: Int8
                if c0 < c1 && c0 < c2 { c = c0; t = 0 } else if c1 < c0 && c1 < c2 { c = c1; t = 1 } else { c = c2; t = 2 }
                cost[i * w + j] = x[(i - 1) * m + j - 1] + c
                trace[i * w + j] = t
            }
        }
        for j in 0...m { trace[j] = 2 }
        for i in 0...n { trace[i * w] = 1 }
        var i = n, j = m
        var text: [Int] = [], time: [Int] = []
        while i > 0 || j > 0 {
            text.append(i - 1)
            time.append(j - 1)
            switch trace[i * w + j] {
            case 0: i -= 1; j -= 1
            case 1: i -= 1
            default: j -= 1
            }
        }
        return (text.reversed(), time.reversed())
    }

    /// `merge_punctuations`: opening marks join the word after them, closing marks the word before.
    static func mergePunctuations(_ a: inout [Timing], prepend prependPunctuations: String, append appendPunctuations: String) {
        guard a.count >= 2 else { return }
        var i = a.count - 2, j = a.count - 1
        while i >= 0 {
            let previous = a[i]
            let stripped = previous.word.trimmingCharacters(in: .whitespacesAndNewlines)
            if previous.word.hasPrefix(" ") && WhisperWordAligner.pythonContains(prependPunctuations, stripped) {
                a[j].word = previous.word + a[j].word
                a[j].tokens = previous.tokens + a[j].tokens
                a[i].word = ""
                a[i].tokens = []
            } else {
                j = i
            }
            i -= 1
        }
        i = 0
        j = 1
        while j < a.count {
            if !a[i].word.hasSuffix(" ") && WhisperWordAligner.pythonContains(appendPunctuations, a[j].word) {
                a[i].word += a[j].word
                a[i].tokens += a[j].tokens
                a[j].word = ""
                a[j].tokens = []
            } else {
                i = j
            }
            j += 1
        }
    }

    /// Python's `needle in haystack` for strings (a substring test; "" is in everything).
    static func pythonContains(_ haystack: String, _ needle: String) -> Bool {
        needle.isEmpty || haystack.contains(needle)
    }

    static func round2(_ x: Double) -> Double { (x * 100).rounded() / 100 }

    /// `add_word_timestamps`: fills `words` of this window's segments and adjusts their
    /// start and end as the reference does. `lastSpeech` is the end of the last word before
    /// this window, updated by the caller.
    public func addWordTimestamps(_ segments: inout [WhisperSegment], audio: Tensor, frames: Int, lastSpeech: Double) {
        guard let first = segments.first else { return }
        let perSegment = segments.map { $0.tokens.filter { $0 < eot } }
        let textTokens = perSegment.flatMap { $0 }
        var alignment = findAlignment(audio: audio, textTokens: textTokens, frames: frames)
        let durations = alignment.map { $0.end - $0.start }.filter { $0 != 0 }
        var median = 0.0
        if !durations.isEmpty {
            let s = durations.sorted()
            median = s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
        median = min(0.7, median)
        let maxDuration = median * 2
        if !durations.isEmpty {
            let sentenceEnd = ".。!！?？"
            for i in 1..<max(1, alignment.count) where alignment[i].end - alignment[i].start > maxDuration {
                if WhisperWordAligner.pythonContains(sentenceEnd, alignment[i].word) {
                    alignment[i].end = alignment[i].start + maxDuration
                } else if WhisperWordAligner.pythonContains(sentenceEnd, alignment[i - 1].word) {
                    alignment[i].start = alignment[i].end - maxDuration
                }
            }
        }
        WhisperWordAligner.mergePunctuations(&alignment, prepend: prependPunctuations, append: appendPunctuations)
        let timeOffset = Double(first.seek) * WhisperTranscriber.secondsPerFrame
        var lastSpeech = lastSpeech
        var wordIndex = 0
        for (si, tokens) in perSegment.enumerated() {
            var saved = 0
            var words: [WhisperWord] = []
            while wordIndex < alignment.count && saved < tokens.count {
                let timing = alignment[wordIndex]
                if !timing.word.isEmpty {
                    words.append(WhisperWord(word: timing.word, start: WhisperWordAligner.round2(timeOffset + timing.start),
                                             end: WhisperWordAligner.round2(timeOffset + timing.end), probability: timing.probability))
                }
                saved += timing.tokens.count
                wordIndex += 1
            }
            if !words.isEmpty {
                // The first words after a pause are not longer than twice the median word.
                if words[0].end - lastSpeech > median * 4
                    && (words[0].end - words[0].start > maxDuration
                        || (words.count > 1 && words[1].end - words[0].start > maxDuration * 2)) {
                    if words.count > 1 && words[1].end - words[1].start > maxDuration {
                        let boundary = max(words[1].end / 2, words[1].end - maxDuration)
                        words[0].end = boundary
                        words[1].start = boundary
                    }
                    words[0].start = max(0, words[0].end - maxDuration)
                }
                // Prefer the segment's timestamps where the first or last word is too long.
                var s = segments[si]
                if s.start < words[0].end && s.start - 0.5 > words[0].start {
                    words[0].start = max(0, min(words[0].end - median, s.start))
                } else {
                    s.start = words[0].start
                }
                if s.end > words[words.count - 1].start && s.end + 0.5 < words[words.count - 1].end {
                    words[words.count - 1].end = max(words[words.count - 1].start + median, s.end)
                } else {
                    s.end = words[words.count - 1].end
                }
                lastSpeech = s.end
                segments[si] = s
            }
            segments[si].words = words
        }
    }
}
