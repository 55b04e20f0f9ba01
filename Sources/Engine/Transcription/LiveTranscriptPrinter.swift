import Foundation
import Models

/// Live input's transcript on a text output, in the format asked for, each segment as soon as
/// it is final: what it prints in the end is exactly what `TranscriptPrinter` prints for the
/// same transcript (a file input's output). Formats that are a header and one piece per
/// segment (txt, srt, vtt, tsv) are streamed; json, or several formats, come whole at the end.
public final class LiveTranscriptPrinter: TranscriptSegmentSink, @unchecked Sendable {
    let output: TextOutput
    let formats: [TranscriptFormat]
    private let lock = NSLock()
    private var segments: [WhisperSegment] = []
    private var printed = ""

    public init(formats: [TranscriptFormat], output: TextOutput = StandardOutput.shared) {
        self.formats = formats
        self.output = output
    }

    /// The one format streamed segment by segment, if any.
    var streamed: TranscriptFormat? {
        guard formats.count == 1, let f = formats.first, f != .json else { return nil }
        return f
    }

    public func segment(_ segment: WhisperSegment, for source: SourceItem) {
        guard let format = streamed else { return }
        lock.lock(); defer { lock.unlock() }
        segments.append(segment)
        emit(format.render(WhisperTranscript(language: "", segments: segments, duration: 0)))
    }

    public func write(_ t: TranscriptRecord, for source: SourceItem) throws {
        lock.lock(); defer { lock.unlock() }
        if let format = streamed, t.segments.starts(with: segments) {
            emit(format.render(t))
        } else {
            for f in formats { output.write(f.render(t)) }
        }
        output.flush()
    }

    /// Writes what `text` has beyond what is printed (a streamed format only grows at its end).
    private func emit(_ text: String) {
        guard text.hasPrefix(printed) else { return }
        output.write(String(text.dropFirst(printed.count)))
        output.flush()
        printed = text
    }
}
