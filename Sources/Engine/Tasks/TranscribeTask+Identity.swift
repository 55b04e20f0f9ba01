import Foundation
import Models

extension TranscribeTask {
    /// The model, weights and every Whisper option that changes a transcript (not the
    /// output formats or folder): what `TranscriptFiles` compares on resume.
    public var identity: RequestIdentity {
        let o = request.options
        func text<T>(_ v: T?) -> String { v.map { "\($0)" } ?? "none" }
        return RequestIdentity([
            ("task", o.translate ? "translate" : "transcribe"), ("model", modelName),
            ("weights", RequestIdentity.weightsStamp(session.folder)),
            ("language", o.language ?? "auto"), ("beam_size", text(o.beamSize)), ("best_of", text(o.bestOf)),
            ("patience", text(o.patience)), ("length_penalty", text(o.lengthPenalty)),
            ("temperatures", o.temperatures.map { "\($0)" }.joined(separator: ",")),
            ("without_timestamps", "\(o.withoutTimestamps)"), ("initial_prompt", text(o.initialPrompt)),
            ("condition_on_previous_text", "\(o.conditionOnPreviousText)"),
            ("compression_ratio_threshold", text(o.compressionRatioThreshold)), ("logprob_threshold", text(o.logprobThreshold)),
            ("no_speech_threshold", text(o.noSpeechThreshold)), ("word_timestamps", "\(o.wordTimestamps)"),
            ("hallucination_silence_threshold", text(o.hallucinationSilenceThreshold)),
        ] + (o.suppressTokens == [-1] ? [] : [("suppress_tokens", o.suppressTokens.map(String.init).joined(separator: ","))]) + computeFields + vadFields + batchFields)
    }

    /// int8 changes the numbers; the other compute types give float32's results, so they
    /// (and transcripts made before the option existed) count as the same request.
    var computeFields: [(name: String, value: String)] {
        request.computeType == .int8 ? [(name: "compute_type", value: "int8")] : []
    }

    /// With --vad, the detector and its options (nothing without, so transcripts made before
    /// --vad existed still count as this request's).
    var vadFields: [(name: String, value: String)] {
        guard let vad = vadSession, let options = request.vadInEffect else { return [] }
        return VADTask.identity(model: vad.name, weights: vad.weights, options: options).fields
            .filter { $0.name != "task" }.map { (name: "vad_" + $0.name, value: $0.value) }
    }

    /// Batched transcription gives other transcripts (chunks, no previous text); the batch
    /// size does not change them.
    var batchFields: [(name: String, value: String)] {
        request.batch == nil ? [] : [(name: "batched", value: "true")]
    }
}
