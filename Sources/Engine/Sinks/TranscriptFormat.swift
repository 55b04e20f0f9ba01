import Foundation
import Models

/// Transcript output formats, as openai-whisper writes them.
public enum TranscriptFormat: String, CaseIterable, Sendable {
    case txt, srt, vtt, json, tsv

    /// The transcript in this format; `subtitles` shapes srt and vtt cues (`SubtitleOptions`).
    public func render(_ t: WhisperSession.Transcript, subtitles: SubtitleOptions = SubtitleOptions()) -> String {
        switch self {
        case .txt:
            return t.segments.map { $0.text.trimmingCharacters(in: .whitespaces) + "\n" }.joined()
        case .srt:
            return SubtitleLayout.cues(t, subtitles).enumerated().map { i, c in
                "\(i + 1)\n\(TranscriptFormat.clock(ms: c.start, comma: true)) --> \(TranscriptFormat.clock(ms: c.end, comma: true))\n" + c.text + "\n\n"
            }.joined()
        case .vtt:
            return "WEBVTT\n\n" + SubtitleLayout.cues(t, subtitles).map { c in
                "\(TranscriptFormat.clock(ms: c.start, comma: false, alwaysHours: false)) --> \(TranscriptFormat.clock(ms: c.end, comma: false, alwaysHours: false))\n"
                    + c.text + "\n\n"
            }.joined()
        case .tsv:
            return "start\tend\ttext\n" + t.segments.map { s in
                "\(Int((s.start * 1000).rounded()))\t\(Int((s.end * 1000).rounded()))\t"
                    + s.text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "\t", with: " ") + "\n"
            }.joined()
        case .json:
            return ((try? RecordJSON.line(TranscriptJSON(t))) ?? "{}") + "\n"
        }
    }

    /// `HH:MM:SS,mmm` (SRT) or `[HH:]MM:SS.mmm` (VTT).
    public static func clock(_ seconds: Double, comma: Bool, alwaysHours: Bool = true) -> String {
        clock(ms: SubtitleLayout.ms(seconds), comma: comma, alwaysHours: alwaysHours)
    }

    static func clock(ms: Int, comma: Bool, alwaysHours: Bool = true) -> String {
        let h = ms / 3_600_000, m = ms / 60_000 % 60, s = ms / 1000 % 60, f = ms % 1000
        let sep = comma ? "," : "."
        if !alwaysHours && h == 0 { return String(format: "%02d:%02d%@%03d", m, s, sep, f) }
        return String(format: "%02d:%02d:%02d%@%03d", h, m, s, sep, f)
    }
}

/// The `json` transcript, as openai-whisper writes it (numbers as `JSONValue` writes them).
struct TranscriptJSON: Encodable {
    struct Word: Encodable {
        let word: String, start: Double, end: Double, probability: Double
    }
    struct Segment: Encodable {
        let id: Int, seek: Int, start: Double, end: Double, text: String, tokens: [Int]
        let temperature: Double, avg_logprob: Double, compression_ratio: Double, no_speech_prob: Double
        let words: [Word]
    }
    let text: String, language: String, duration: Double
    /// faster-whisper's `language_probability` (1 when the language was given).
    let language_probability: Double
    let segments: [Segment]

    init(_ t: WhisperSession.Transcript) {
        text = t.text
        language = t.language
        language_probability = JSONValue.decimal(t.languageProbability)
        duration = JSONValue.seconds(t.duration)
        segments = t.segments.map { s in
            Segment(id: s.id, seek: s.seek, start: JSONValue.seconds(s.start), end: JSONValue.seconds(s.end), text: s.text, tokens: s.tokens,
                    temperature: JSONValue.decimal(s.temperature), avg_logprob: JSONValue.decimal(s.avgLogprob),
                    compression_ratio: s.compressionRatio, no_speech_prob: JSONValue.decimal(s.noSpeechProb),
                    words: s.words.map { Word(word: $0.word, start: JSONValue.seconds($0.start), end: JSONValue.seconds($0.end),
                                              probability: JSONValue.decimal($0.probability)) })
        }
    }
}
