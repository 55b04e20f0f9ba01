import ArgumentParser
import Engine
import Foundation
import Models

/// faster-whisper's `VadOptions` as flags (the same in `mmpipe vad` and `transcribe --vad`).
struct VADFlags: ParsableArguments {
    @Option(name: .customLong("vad-threshold"), parsing: .unconditional,
            help: "Speech probability at which a region starts (0...1; default 0.5).")
    var threshold: Double?

    @Option(name: .customLong("vad-neg-threshold"), parsing: .unconditional,
            help: "Probability below which speech counts as ended (0...1; default: threshold - 0.15, at least 0.01).")
    var negThreshold: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("Drop speech regions this short or shorter (default 0).", valueName: "ms"))
    var minSpeechDurationMs: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Split speech regions longer than this (default: no limit).", valueName: "s"))
    var maxSpeechDurationS: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("Silence that ends a region (default 2000).", valueName: "ms"))
    var minSilenceDurationMs: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Audio kept on each side of a region (default 400).", valueName: "ms"))
    var speechPadMs: Int?

    /// True when any flag is given.
    var given: Bool {
        threshold != nil || negThreshold != nil || minSpeechDurationMs != nil || maxSpeechDurationS != nil
            || minSilenceDurationMs != nil || speechPadMs != nil
    }

    var options: VADOptions { options(over: VADOptions()) }

    /// The flags given, over `base`'s values.
    func options(over base: VADOptions) -> VADOptions {
        var o = base
        if let threshold { o.threshold = threshold }
        o.negThreshold = negThreshold
        if let minSpeechDurationMs { o.minSpeechDurationMs = minSpeechDurationMs }
        if let maxSpeechDurationS { o.maxSpeechDurationS = maxSpeechDurationS }
        if let minSilenceDurationMs { o.minSilenceDurationMs = minSilenceDurationMs }
        if let speechPadMs { o.speechPadMs = speechPadMs }
        return o
    }
}

extension VADFormat: ExpressibleByArgument {}

struct VAD: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vad",
        abstract: "Find the speech in audio and video files (Silero VAD, as faster-whisper does).",
        discussion: """
            Speech regions in seconds, as faster-whisper's get_speech_timestamps finds them \
            with Silero VAD v6 (the model file faster-whisper ships; scripts/fetch-models \
            installs it): a region starts where the speech probability of a 32 ms window \
            reaches --vad-threshold and ends after --min-silence-duration-ms below \
            --vad-neg-threshold; each is widened by --speech-pad-ms. Long files are read in \
            one-second chunks. Output: one JSON object per input ({"path", "duration", \
            "speech": [{"start", "end"}]}), or --format tsv (path, start, end per region). \
            With --output FILE the JSON lines go to FILE and a second run skips inputs \
            already there.

            Examples:
              mmpipe vad Samples/speech.wav
              mmpipe vad recordings/ --format tsv
              mmpipe vad talk.mp4 --min-silence-duration-ms 500 --output speech.jsonl
            """)

    @Argument(help: "Audio or video files, directories, or - for a list of paths on stdin.")
    var inputs: [String] = []

    @Option(help: "Voice-activity model: silero-vad (the default).")
    var model: String = VADSession.defaultModel

    @Option(help: "Weights from elsewhere: the converted silero_vad_v6.safetensors or a folder holding it.")
    var weights: String?

    @Option(help: "json or tsv.")
    var format: VADFormat = .json

    @OptionGroup var vad: VADFlags
    @OptionGroup var runOptions: RunOptions
    @OptionGroup var out: OutputOptions
    @OptionGroup var sharding: ShardOptions

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("give at least one file, directory or -") }
        if sharding.shard != nil && out.output == nil { throw ValidationError("--shard writes each part to a file: give --output") }
    }

    func run() throws {
        try runOptions.execute(load: { () throws -> VADTask in
            var r = VADRequest(inputs: inputs)
            r.model = model
            r.weights = weights
            r.options = vad.options
            r.shard = try sharding.resolve()
            return try VADTask(r, store: try ModelStore())
        }) { task in
            let file = try out.resultsFile(request: task.identity, shard: try sharding.resolve())
            return try task.run(into: format.sink(file: file), progress: runOptions.progress(quiet: file == nil))
        }
    }
}
