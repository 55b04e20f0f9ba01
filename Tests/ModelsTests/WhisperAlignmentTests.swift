import Foundation
import Testing
@testable import Models

/// The pieces of word-level timestamps, against values worked out by hand from
/// openai-whisper's `timing.py` (`dtw_cpu` + `backtrace`, `median_filter`,
/// `merge_punctuations`) and openai-whisper's `is_segment_anomaly`.
@Suite("Whisper word alignment: DTW, median filter, punctuation")
struct WhisperAlignmentTests {
    @Test func dtwFollowsTheCheapestMonotonicPath() {
        // Row i is cheap at column 2i (and 2i+1): the path walks the diagonal in steps of two.
        let rows = 3, cols = 6
        var x = [Float](repeating: 1, count: rows * cols)
        for i in 0..<rows { x[i * cols + 2 * i] = -1; x[i * cols + 2 * i + 1] = -1 }
        let path = WhisperWordAligner.dtw(x, rows: rows, cols: cols)
        #expect(path.text == [0, 0, 1, 1, 2, 2])
        #expect(path.time == [0, 1, 2, 3, 4, 5])
    }

    @Test func dtwTiesPreferTheHorizontalStep() {
        // Flat cost: where the three predecessors tie, the reference takes c2 (same row,
        // next frame); worked out by hand: (0,0) → (1,0) → (1,1) → (1,2).
        let path = WhisperWordAligner.dtw([Float](repeating: 0, count: 2 * 3), rows: 2, cols: 3)
        #expect(path.text == [0, 1, 1, 1])
        #expect(path.time == [0, 0, 1, 2])
    }

    @Test func medianFilterReflectsAtTheEdges() {
        // Width 3 (pad 1, reflect): [5, 1, 4, 2, 3] → padded [1, 5, 1, 4, 2, 3, 2].
        let out = WhisperWordAligner.medianFilter([5, 1, 4, 2, 3], rows: 1, cols: 5, width: 3)
        #expect(out == [1, 4, 2, 3, 2])
        // Width 7 on a spike: removed.
        var spike = [Float](repeating: 0, count: 10)
        spike[4] = 9
        #expect(WhisperWordAligner.medianFilter(spike, rows: 1, cols: 10, width: 7) == [Float](repeating: 0, count: 10))
        // Rows too short for the padding stay as they are (the reference would fail there).
        #expect(WhisperWordAligner.medianFilter([3, 1], rows: 1, cols: 2, width: 7) == [3, 1])
    }

    @Test func columnsAreStandardised() {
        var w: [Float] = [1, 10, 3, 30]            // 2 rows × 2 columns
        WhisperWordAligner.standardiseColumns(&w, rows: 2, cols: 2)
        #expect(w == [-1, -1, 1, 1])
    }

    static func timing(_ word: String, _ tokens: [Int]) -> WhisperWordAligner.Timing {
        WhisperWordAligner.Timing(word: word, tokens: tokens, start: 0, end: 0, probability: 1)
    }

    @Test func punctuationJoinsItsWord() {
        var a = [Self.timing(" \"", [1]), Self.timing("Hello", [2]), Self.timing(",", [3]),
                 Self.timing(" world", [4]), Self.timing(".", [5]), Self.timing("\"", [6])]
        WhisperWordAligner.mergePunctuations(&a, prepend: WhisperWordAligner.defaultPrependPunctuations,
                                             append: WhisperWordAligner.defaultAppendPunctuations)
        #expect(a.map(\.word) == ["", " \"Hello,", "", " world.\"", "", ""])
        #expect(a.map(\.tokens) == [[], [1, 2, 3], [], [4, 5, 6], [], []])
    }

    @Test func anomalousSegmentsAreShortImprobableWords() {
        func segment(_ words: [WhisperWord]) -> WhisperSegment {
            var s = WhisperSegment(id: 0, seek: 0, start: 0, end: 1, text: "", tokens: [], temperature: 0,
                                   avgLogprob: 0, compressionRatio: 1, noSpeechProb: 0)
            s.words = words
            return s
        }
        let normal = segment([WhisperWord(word: " Hello", start: 0, end: 0.4, probability: 0.9),
                              WhisperWord(word: " there", start: 0.4, end: 0.8, probability: 0.8)])
        #expect(!WhisperTranscriber.isAnomaly(normal))
        // One improbable, very short word: score 1 + (0.133 - 0.02) * 15 ≥ 1 word.
        let odd = segment([WhisperWord(word: " You", start: 1, end: 1.02, probability: 0.1)])
        #expect(WhisperTranscriber.isAnomaly(odd))
        // Punctuation does not count; a segment without words is not an anomaly.
        #expect(!WhisperTranscriber.isAnomaly(segment([])))
    }

}
