import Foundation
import Models

/// How subtitles (srt, vtt) are cut into cues and lines from the words' times, as
/// openai-whisper's writers do it (`--max-line-width`, `--max-line-count`,
/// `--highlight-words`, `--max-words-per-line`; all need word timestamps). With none set,
/// each segment is one cue.
public struct SubtitleOptions: Sendable, Equatable {
    /// Characters in a line before it breaks.
    public var maxLineWidth: Int?
    /// Lines in a cue (with `maxLineWidth`); a pause of more than 3 s starts a cue too.
    public var maxLineCount: Int?
    /// Underline each word (`<u>...</u>`) while it is spoken: one cue per word.
    public var highlightWords = false
    /// Words in a cue (no effect with `maxLineWidth`).
    public var maxWordsPerLine: Int?

    public init(maxLineWidth: Int? = nil, maxLineCount: Int? = nil, highlightWords: Bool = false, maxWordsPerLine: Int? = nil) {
        self.maxLineWidth = maxLineWidth
        self.maxLineCount = maxLineCount
        self.highlightWords = highlightWords
        self.maxWordsPerLine = maxWordsPerLine
    }

    /// Nothing set: one cue per segment.
    public var isDefault: Bool { maxLineWidth == nil && maxLineCount == nil && !highlightWords && maxWordsPerLine == nil }

    /// What a transcript's files depend on besides the transcript (none by default, so
    /// files made before these options existed still count as the same request's).
    public var fields: [(name: String, value: String)] {
        isDefault ? [] : [("max_line_width", maxLineWidth.map(String.init) ?? "none"), ("max_line_count", maxLineCount.map(String.init) ?? "none"),
                          ("highlight_words", "\(highlightWords)"), ("max_words_per_line", maxWordsPerLine.map(String.init) ?? "none")]
    }

    /// Each value set is at least 1.
    public func validate() throws {
        for (name, v) in [("--max-line-width", maxLineWidth), ("--max-line-count", maxLineCount), ("--max-words-per-line", maxWordsPerLine)] {
            if let v, v < 1 { throw RequestError("\(name) must be at least 1, not \(v)") }
        }
    }
}

/// One subtitle: times in whole milliseconds (as they are written) and its text (lines
/// separated by newlines).
struct SubtitleCue: Equatable {
    let start: Int, end: Int, text: String
}

enum SubtitleLayout {
    static func ms(_ s: Double) -> Int { Int((max(s, 0) * 1000).rounded()) }

    /// The cues of a transcript: one per segment, or shaped from the words' times when the
    /// options ask for it and the segments have words.
    static func cues(_ t: WhisperTranscript, _ options: SubtitleOptions) -> [SubtitleCue] {
        guard !options.isDefault, t.segments.contains(where: { !$0.words.isEmpty }) else {
            return t.segments.map {
                SubtitleCue(start: ms($0.start), end: ms($0.end),
                            text: $0.text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "-->", with: "->"))
            }
        }
        var out: [SubtitleCue] = []
        for group in groups(t.segments, options) {
            let text = group.map(\.word).joined()
            let (start, end) = (ms(group[0].start), ms(group[group.count - 1].end))
            guard options.highlightWords else {
                out.append(SubtitleCue(start: start, end: end, text: text))
                continue
            }
            // One cue per word with that word underlined, and the plain text over any gap
            // between words.
            var last = start
            for (i, w) in group.enumerated() {
                let (ws, we) = (ms(w.start), ms(w.end))
                if last != ws { out.append(SubtitleCue(start: last, end: ws, text: text)) }
                let marked = group.enumerated().map { j, o in j == i ? underline(o.word) : o.word }.joined()
                out.append(SubtitleCue(start: ws, end: we, text: marked))
                last = we
            }
        }
        return out
    }

    /// `<u>` around a word, after its leading whitespace (a line break included).
    static func underline(_ word: String) -> String {
        let lead = word.prefix { $0.isWhitespace || $0.isNewline }
        return lead + "<u>" + word.dropFirst(lead.count) + "</u>"
    }

    struct Placed { var word: String, start: Double, end: Double }

    /// The words grouped into cues, each word as it is written (a line's first word without
    /// its leading space, after a newline when it starts a line below the first).
    static func groups(_ segments: [WhisperSegment], _ o: SubtitleOptions) -> [[Placed]] {
        // Whether each segment starts a cue of its own: unless both the width and the line
        // count are set (then cues run across segments).
        let keepSegments = o.maxLineCount == nil || o.maxLineWidth == nil
        let width = o.maxLineWidth ?? 1000, perLine = o.maxWordsPerLine ?? 1000
        var out: [[Placed]] = [], cue: [Placed] = []
        var lineLength = 0, lines = 1
        var last = segments.lazy.flatMap(\.words).first?.start ?? segments.first?.start ?? 0
        for segment in segments {
            var from = 0
            while from < segment.words.count {
                let chunk = segment.words[from..<min(from + perLine, segment.words.count)]
                for (i, w) in chunk.enumerated() {
                    var p = Placed(word: w.word, start: w.start, end: w.end)
                    let pause = !keepSegments && p.start - last > 3.0
                    // Lengths in code points, as openai-whisper's len().
                    let fits = lineLength + p.word.unicodeScalars.count <= width
                    let segmentBreak = i == 0 && !cue.isEmpty && keepSegments
                    if lineLength > 0 && fits && !pause && !segmentBreak {
                        lineLength += p.word.unicodeScalars.count
                    } else {
                        p.word = p.word.trimmingCharacters(in: .whitespacesAndNewlines)
                        if (!cue.isEmpty && o.maxLineCount != nil && (pause || lines >= o.maxLineCount!)) || segmentBreak {
                            out.append(cue)
                            cue = []
                            lines = 1
                        } else if lineLength > 0 {
                            lines += 1
                            p.word = "\n" + p.word
                        }
                        lineLength = p.word.trimmingCharacters(in: .whitespacesAndNewlines).unicodeScalars.count
                    }
                    cue.append(p)
                    last = p.start
                }
                from += perLine
            }
        }
        if !cue.isEmpty { out.append(cue) }
        return out
    }
}
