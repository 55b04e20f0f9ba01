import ArgumentParser
import Foundation
import Media
import Models
import Engine
import TensorCore

struct Transcribe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Transcribe speech in audio and video files with Whisper.",
        discussion: """
            Audio and video files alike (the audio track is used); long files are transcribed \
            in consecutive 30 s windows as openai-whisper does (beam search, temperature \
            fallback, timestamps, conditioning on the previous text).

            With one input and no --output-dir the transcript goes to standard output. With \
            --output-dir, each input gets <name>.<format> files there (written atomically), \
            and running the same command again skips inputs already transcribed.

            Examples:
              mmpipe transcribe Samples/speech.wav
              mmpipe transcribe talk.mp4 --format srt
              mmpipe transcribe recordings/ --model base --format all --output-dir transcripts/
              ffmpeg -i rtsp://camera/stream -f wav - | mmpipe transcribe --audio-stdin
            """)

    @Argument(help: "Audio or video files, directories, or - for a list of paths on stdin.")
    var inputs: [String] = []

    @Option(help: "Whisper model: tiny.en (default) or base, or a folder with model.bin / model.safetensors.")
    var model: String = WhisperSession.defaultModel

    @Option(help: "Spoken language (e.g. en, de, French), or auto to detect it (multilingual models).")
    var language: String = "auto"

    @Option(help: "transcribe, or translate (to English; multilingual models).")
    var task: String = "transcribe"

    @Option(help: "Beams for beam search at temperature 0 (1 = greedy).")
    var beamSize: Int = 5

    @Option(help: "Candidates sampled at each non-zero temperature.")
    var bestOf: Int = 5

    @Option(help: "Beam search patience (1.0 = stop when beam-size sequences finished).")
    var patience: Float?

    @Option(help: "Temperature of the first attempt.")
    var temperature: Float = 0

    @Option(help: "Temperature added on each fallback (0 = no fallback).")
    var temperatureIncrement: Float = 0.2

    @Option(help: "Text to condition the first window on (names, spelling, style).")
    var initialPrompt: String?

    @Flag(inversion: .prefixedEnableDisable, help: "Give the previous window's text as a prompt to the next.")
    var conditionOnPreviousText = true

    @Option(help: "Output format: txt, srt, vtt, json, tsv, or all.")
    var format: String = "txt"

    @Option(help: "Write <name>.<format> files here (one per input and format).")
    var outputDir: String?

    @Flag(help: "Transcribe again inputs already done in --output-dir.")
    var overwrite = false

    @Flag(help: "Read audio from standard input (WAV or any stream FFmpeg demuxes) and print each segment as soon as it is final.")
    var audioStdin = false

    @Flag(help: "Word-level timestamps (JSON 'words') from the alignment heads' cross-attention.")
    var wordTimestamps = false

    @Option(help: ArgumentHelp("Skip silences longer than this many seconds around a likely hallucination (computes word timestamps).",
                               valueName: "seconds"))
    var hallucinationSilenceThreshold: Double?

    @OptionGroup var runOptions: RunOptions

    var formats: [TranscriptFormat] {
        format == "all" ? TranscriptFormat.allCases : [TranscriptFormat(rawValue: format)].compactMap { $0 }
    }

    func validate() throws {
        if format != "all" && TranscriptFormat(rawValue: format) == nil {
            throw ValidationError("--format must be txt, srt, vtt, json, tsv or all")
        }
        if task != "transcribe" && task != "translate" { throw ValidationError("--task must be transcribe or translate") }
        if audioStdin && !inputs.isEmpty { throw ValidationError("--audio-stdin reads standard input: give no input files with it") }
        if !audioStdin && inputs.isEmpty { throw ValidationError("give at least one file, directory or - (or --audio-stdin)") }
        if let h = hallucinationSilenceThreshold, !(h >= 0) {
            throw ValidationError("--hallucination-silence-threshold must be a number of seconds >= 0")
        }
        if beamSize < 1 || bestOf < 1 { throw ValidationError("--beam-size and --best-of must be at least 1") }
        if language != "auto" && WhisperTokenizer.languageCode(for: language) == nil {
            throw ValidationError("unknown language '\(language)'")
        }
    }

    func request() -> WhisperSession.Request {
        var r = WhisperSession.Request()
        r.language = language == "auto" ? nil : WhisperTokenizer.languageCode(for: language)
        r.translate = task == "translate"
        r.beamSize = beamSize
        r.bestOf = bestOf
        r.patience = patience
        r.temperatures = temperatureIncrement > 0
            ? Array(stride(from: temperature, through: 1.0 + 1e-6, by: temperatureIncrement))
            : [temperature]
        r.initialPrompt = initialPrompt
        r.conditionOnPreviousText = conditionOnPreviousText
        r.wordTimestamps = wordTimestamps
        r.hallucinationSilenceThreshold = hallucinationSilenceThreshold
        return r
    }

    func run() throws {
        _ = runOptions.applyThreads()
        let session: WhisperSession
        do {
            session = try WhisperSession(model: model, store: try ModelStore())
        } catch {
            throw jobFailure(error)
        }
        if (language != "auto" && WhisperTokenizer.languageCode(for: language) != "en" || task == "translate")
            && !session.tokenizer.isMultilingual {
            throw ValidationError("model \(model) is English-only: use --model base for other languages or translation")
        }
        if audioStdin { return try streamStdin(session) }
        try batch(session)
    }

    /// Many inputs through the stage graph: decode audio (one thread) while the previous
    /// file is transcribed (BLAS on all threads).
    func batch(_ session: WhisperSession) throws {
        let request = self.request()
        let outDir = outputDir.map { URL(fileURLWithPath: $0) }
        let manifest = try outDir.map {
            try JSONLinesOutput(url: $0.appendingPathComponent(".mmpipe-transcribe.jsonl"), overwrite: overwrite)
        }
        let single = inputs.count == 1 && inputs[0] != "-" && !isDirectory(inputs[0])
        let job = Job(window: 4, progress: .automatic(quiet: runOptions.quiet || (outDir == nil && single)))
        Interrupts.cancel(job)
        let summary = job.source(InputPaths(inputs) { MediaFormat.hasExtension($0, of: [.audio, .video]) }) { manifest?.isDone($0) ?? false }
            .map("decode", workers: 1) { _, item in try decodeAudio(path: item.path, sampleRate: 16_000) }
            .map("transcribe", workers: 1) { samples, _ in session.transcribe(samples, request) }
            .sink { e in
                guard case .success(let transcript) = e.value else { return }
                if let outDir {
                    do {
                        let written = try write(transcript, for: e.source.path, to: outDir)
                        var record = JSONLinesOutput.sourceFields(e.source)
                        record["outputs"] = written
                        record["language"] = transcript.language
                        try manifest?.append(record)
                    } catch {
                        job.progress.failed(ItemFailure(path: e.source.path, error: error))
                    }
                } else {
                    if !single { print("==> \(e.source.path) <==") }
                    for f in formats { print(f.render(transcript), terminator: "") }
                }
            }
        try manifest?.commit()
        runOptions.report(summary)
        let status = exitStatus(summary)
        if status != .success { throw status }
    }

    /// Writes one file per format, each to a temporary name renamed into place.
    func write(_ t: WhisperSession.Transcript, for input: String, to dir: URL) throws -> [String] {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let stem = ((input as NSString).lastPathComponent as NSString).deletingPathExtension
        return try formats.map { f in
            let url = dir.appendingPathComponent("\(stem).\(f.rawValue)")
            try AtomicFile.write(Data(f.render(t).utf8), to: url)
            return url.path
        }
    }

    func isDirectory(_ p: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: p, isDirectory: &d) && d.boolValue
    }

    /// Live audio from a pipe: decoded as it arrives, transcribed in 30 s windows, each
    /// segment printed as soon as its window is done.
    func streamStdin(_ session: WhisperSession) throws {
        let reader: AudioReader
        do { reader = try AudioReader(fileDescriptor: STDIN_FILENO, name: "<stdin>", sampleRate: 16_000) } catch {
            throw jobFailure(error)
        }
        let request = self.request()
        var pending: [Float] = []
        var offset = 0.0
        var segmentID = 0
        let window = 30 * 16_000
        func flush(final: Bool) {
            while pending.count >= window || (final && !pending.isEmpty) {
                let take = min(window, pending.count)
                let chunk = Array(pending.prefix(take))
                let t = session.transcribe(chunk, request)
                // Keep audio after the last segment's end for the next window, as the
                // reference's seek does; at the end, everything is final.
                var consumed = take
                if !final, take == window, let last = t.segments.last, last.end < 29 {
                    consumed = max(16_000, Int(last.end * 16_000))
                }
                for s in t.segments where final || s.end * 16_000 <= Double(consumed) + 1 {
                    var s = s
                    s.id = segmentID; segmentID += 1
                    s.start += offset; s.end += offset
                    let line = formats.first == .txt
                        ? s.text.trimmingCharacters(in: .whitespaces)
                        : "[\(TranscriptFormatClock.vtt(s.start)) --> \(TranscriptFormatClock.vtt(s.end))] \(s.text.trimmingCharacters(in: .whitespaces))"
                    print(line)
                    fflush(stdout)
                }
                pending.removeFirst(consumed)
                offset += Double(consumed) / 16_000
                if final && pending.count < 1600 { pending.removeAll() }
            }
        }
        while let chunk = try reader.read(maxFrames: 16_000) {
            pending.append(contentsOf: chunk)
            flush(final: false)
        }
        flush(final: true)
    }
}

enum TranscriptFormatClock {
    static func vtt(_ s: Double) -> String {
        let ms = Int((max(s, 0) * 1000).rounded())
        return String(format: "%02d:%02d:%02d.%03d", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
    }
}
