import Foundation
import Media
import TensorCore

/// The ranges of the numeric settings of every job but Whisper's (whose options
/// `WhisperOptions` checks): each check throws a `RequestError` that names the option, the
/// range and the value given, before any model loads. Front ends map their options onto
/// these types and call `validate()` (the tasks call it too).
enum Check {
    static func range<T: Comparable>(_ value: T, _ range: ClosedRange<T>, _ name: String) throws {
        guard range.contains(value) else {
            throw RequestError("\(name) must be between \(range.lowerBound) and \(range.upperBound) (got \(value))")
        }
    }

    static func finite(_ value: Double, in range: ClosedRange<Double>, open lower: Bool = false, _ name: String) throws {
        guard value.isFinite, range.contains(value), !(lower && value == range.lowerBound) else {
            let low = lower ? "above \(Check.number(range.lowerBound))" : "at least \(Check.number(range.lowerBound))"
            throw RequestError("\(name) must be \(low) and at most \(Check.number(range.upperBound)) (got \(Check.number(value)))")
        }
    }

    static func number(_ x: Double) -> String {
        x.isFinite && x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : "\(x)"
    }
}

extension RunSettings {
    /// `MMPIPE_ISA` set to a word that is no instruction set, or to one above this CPU's
    /// best: the one line that says so (nil when it is unset or usable).
    public static var instructionSetProblem: String? { CPUFeatures.problem }

    /// Most compute threads a job may ask for.
    public static let maxThreads = 1024

    /// `threads` in 1...1024; without it, `MMPIPE_THREADS` (when set) must be such a number
    /// too (a value that is not would otherwise be ignored without a word).
    public func validate(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        if let problem = RunSettings.instructionSetProblem { throw RequestError(problem) }
        if let threads {
            try Check.range(threads, 1...RunSettings.maxThreads, "--threads")
        } else if let text = environment["MMPIPE_THREADS"] {
            guard let n = Int(text.trimmingCharacters(in: .whitespaces)), (1...RunSettings.maxThreads).contains(n) else {
                throw RequestError("MMPIPE_THREADS=\(text) is not a number of threads (1...\(RunSettings.maxThreads)); unset it or give --threads")
            }
        }
    }
}

extension ImageInputs {
    /// `--batch-size` 1...1024, `--fps` above 0 and at most 1000, `--max-frames` 1...10^6.
    public func validate() throws {
        try Check.range(batchSize, 1...1024, "--batch-size")
        try Check.finite(fps, in: 0...1000, open: true, "--fps")
        try Check.range(maxFrames, 1...1_000_000, "--max-frames")
    }
}

extension ClassifyRequest {
    /// The image settings, `--top-k` 1...1000, and the zero-shot options: labels (two, or
    /// one with multi-label), `--threshold` in -1...1 (a cosine or a probability), and
    /// `--multi-label` / `--threshold` / `--explain` only with labels (with a head:
    /// `--multi-label` and its `--threshold`).
    public func validate() throws {
        try images.validate()
        if let topK { try Check.range(topK, 1...1000, "--top-k") }
        if let labels {
            if labels.count < (multiLabel ? 1 : 2) {
                throw RequestError(labels.isEmpty ? "no labels given (blank lines and # comments are skipped)"
                                                  : "give at least two labels (or one with --multi-label)")
            }
        } else if head != nil {
            if explain { throw RequestError("--explain shows the ImageNet classes behind lite0-minilm's zero-shot labels; a --head has none") }
            if threshold != nil && !multiLabel { throw RequestError("--threshold is for --multi-label (the head's classes whose probability reaches it)") }
            if templates != "default" || templateList != nil { throw RequestError("--templates is for zero-shot labels, not --head") }
            if weights != nil { throw RequestError("--weights does not go with --head: the head names the weights it was trained on (see its .json)") }
        } else if multiLabel || threshold != nil || explain {
            throw RequestError("--multi-label, --threshold and --explain need --labels or --labels-file")
        }
        if let threshold { try Check.finite(Double(threshold), in: -1...1, "--threshold") }
    }

    /// Refuses an output format that would drop part of the request: `--explain`'s classes
    /// have no CSV column.
    public func check(format: RecordFormat) throws {
        if explain && format == .csv {
            throw RequestError("--explain adds the ImageNet classes behind each label, which CSV has no column for: use --format json or table")
        }
    }
}

extension EmbedRequest {
    /// The image settings (texts have none to check).
    public func validate() throws {
        if case .images(let images) = input { try images.validate() }
    }
}

extension ProbeRequest {
    /// `--max-pixels` at least 1, `--max-duration` above 0.
    public func validate() throws {
        if limits.maxPixels < 1 { throw RequestError("--max-pixels must be at least 1 (got \(limits.maxPixels))") }
        if let d = limits.maxAudioSeconds { try Check.finite(d, in: 0...1e9, open: true, "--max-duration") }
    }
}
