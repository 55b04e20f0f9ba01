import Foundation
import TensorCore

/// The special token ids decoding needs (from the tokenizer).
public struct WhisperSpecialTokens: Sendable, Equatable {
    public var eot: Int
    public var sot: Int
    public var transcribe: Int
    public var translate: Int
    public var sotPrev: Int
    public var noSpeech: Int
    public var noTimestamps: Int
    public var timestampBegin: Int
    public var firstLanguage: Int?          // nil for English-only models

    public init(eot: Int, sot: Int, transcribe: Int, translate: Int, sotPrev: Int, noSpeech: Int,
                noTimestamps: Int, timestampBegin: Int, firstLanguage: Int?) {
        self.eot = eot; self.sot = sot; self.transcribe = transcribe; self.translate = translate
        self.sotPrev = sotPrev; self.noSpeech = noSpeech; self.noTimestamps = noTimestamps
        self.timestampBegin = timestampBegin; self.firstLanguage = firstLanguage
    }
}

/// Options of one decoding pass (openai-whisper's `DecodingOptions`).
public struct WhisperDecodingOptions: Sendable {
    public var temperature: Float = 0
    public var sampleLength: Int? = nil           // default nTextCtx / 2
    public var bestOf: Int? = nil                 // candidates when sampling (temperature > 0)
    public var beamSize: Int? = nil               // beam search at temperature 0 (nil = greedy)
    public var patience: Float? = nil
    public var lengthPenalty: Float? = nil        // nil = divide by length
    public var withoutTimestamps = false
    public var maxInitialTimestamp: Float? = 1.0
    public var suppressBlank = true
    /// Token ids never produced (the checkpoint's suppress list plus non-speech tokens).
    public var suppressTokens: [Int] = []
    public var seed: UInt64 = 0

    public init() {}
}

/// One decoded candidate.
public struct WhisperDecodingResult: Sendable {
    public var tokens: [Int]                      // sampled tokens only (no prompt, no eot)
    public var sumLogprob: Float
    public var avgLogprob: Float
    public var noSpeechProb: Float

    public init(tokens: [Int], sumLogprob: Float, avgLogprob: Float, noSpeechProb: Float) {
        self.tokens = tokens
        self.sumLogprob = sumLogprob
        self.avgLogprob = avgLogprob
        self.noSpeechProb = noSpeechProb
    }
}

/// faster-whisper's `generate_with_fallback`: decodes at each temperature in turn until the
/// result is neither too repetitive (compression ratio) nor too unlikely (average
/// log-probability), unless it is silence. Beam search at temperature 0, sampling
/// `bestOf` candidates above it.
///
/// Two details where it differs from openai-whisper's `decode_with_fallback`, followed here:
/// - When every temperature fails, the window keeps the attempt with the highest average
///   log-probability among those under the compression-ratio threshold (among all when
///   none is), not the last one; it is reported at the last temperature (so the prompt is
///   reset after it, as `prompt_reset_on_temperature` does).
/// - The compression ratio is that of the text without its leading and trailing whitespace
///   (`tokenizer.decode(tokens).strip()`).
public struct WhisperFallbackDecoder: WhisperTextDecoding {
    public let model: WhisperModel
    public let special: WhisperSpecialTokens
    /// Token ids → text (special and timestamp tokens dropped).
    public let decodeText: @Sendable (_ tokens: [Int]) -> String
    /// zlib compression ratio of a text (the fallback check), injected by the caller.
    public let compressionRatio: @Sendable (_ text: String) -> Double

    public init(model: WhisperModel, special: WhisperSpecialTokens, decodeText: @escaping @Sendable ([Int]) -> String,
                compressionRatio: @escaping @Sendable (String) -> Double) {
        self.model = model
        self.special = special
        self.decodeText = decodeText
        self.compressionRatio = compressionRatio
    }

    public func decode(audio: Tensor, prompt: [Int], options: WhisperTranscribeOptions) throws -> WhisperDecodedWindow {
        var all: [WhisperDecodedWindow] = [], belowRatio: [WhisperDecodedWindow] = []
        for t in options.temperatures {
            try options.checkStop()
            var o = options.decoding
            o.temperature = t
            if t > 0 { o.beamSize = nil; o.patience = nil } else { o.bestOf = nil }
            let result = try WhisperDecoder(model: model, special: special, options: o)
                .decode(audio: audio, prompt: prompt, checkStop: options.checkStop)
            let text = decodeText(result.tokens.filter { $0 < special.eot }).trimmingCharacters(in: .whitespacesAndNewlines)
            let decoded = WhisperDecodedWindow(result: result, temperature: t, compressionRatio: compressionRatio(text))
            all.append(decoded)
            var needsFallback = false
            if let c = options.compressionRatioThreshold, decoded.compressionRatio > c {
                needsFallback = true
            } else {
                belowRatio.append(decoded)
            }
            if let l = options.logprobThreshold, result.avgLogprob < l { needsFallback = true }
            // Silence: likely no speech *and* an unlikely text (both, as the reference).
            if let n = options.noSpeechThreshold, result.noSpeechProb > n,
               let l = options.logprobThreshold, result.avgLogprob < l {
                needsFallback = false
            }
            if !needsFallback { return decoded }
        }
        // Every temperature failed: the likeliest attempt (Python's max keeps the first of equals).
        let candidates = belowRatio.isEmpty ? all : belowRatio
        guard let last = all.last, var best = candidates.first else { throw WhisperError.noTemperatures }
        for c in candidates.dropFirst() where c.result.avgLogprob > best.result.avgLogprob { best = c }
        best.temperature = last.temperature
        return best
    }

    /// Beam search (or greedy) over every window at once, at temperature 0 whatever
    /// `options.temperatures` says (as faster-whisper's batched pipeline, whose beam search
    /// does not sample).
    public func decode(windows audio: Tensor, prompt: [Int], options: WhisperTranscribeOptions) throws -> [WhisperDecodedWindow] {
        var o = options.decoding
        o.temperature = 0
        o.bestOf = nil
        let results = try WhisperDecoder(model: model, special: special, options: o)
            .decode(windows: audio, prompt: prompt, checkStop: options.checkStop)
        return results.map { r in
            WhisperDecodedWindow(result: r, temperature: 0, compressionRatio: compressionRatio(decodeText(r.tokens.filter { $0 < special.eot })))
        }
    }
}

/// Decoding over one window: logit filters, greedy / sampling / beam search, ranking.
public struct WhisperDecoder {
    public let model: WhisperModel
    public let special: WhisperSpecialTokens
    public let options: WhisperDecodingOptions

    public init(model: WhisperModel, special: WhisperSpecialTokens, options: WhisperDecodingOptions) {
        self.model = model
        self.special = special
        self.options = options
    }

    // MARK: logit filters

    /// Applies suppress-blank, suppress-tokens and timestamp rules to one row's logits.
    /// `sampled` are the tokens produced after the prompt so far.
    func filter(_ logits: UnsafeMutablePointer<Float>, sampled: [Int]) {
        let ninf = -Float.infinity
        let vocab = model.dims.nVocab
        if options.suppressBlank && sampled.isEmpty {
            logits[220] = ninf          // " " (a space alone)
            logits[special.eot] = ninf
        }
        for t in options.suppressTokens where t >= 0 && t < vocab { logits[t] = ninf }
        guard !options.withoutTimestamps else { return }
        let tb = special.timestampBegin
        logits[special.noTimestamps] = ninf
        let lastWasTimestamp = sampled.count >= 1 && sampled[sampled.count - 1] >= tb
        let penultimateWasTimestamp = sampled.count < 2 || sampled[sampled.count - 2] >= tb
        if lastWasTimestamp {
            if penultimateWasTimestamp {
                for i in tb..<vocab { logits[i] = ninf }          // a text token must follow
            } else {
                for i in 0..<special.eot { logits[i] = ninf }     // a timestamp or the end
            }
        }
        if let lastTimestamp = sampled.last(where: { $0 >= tb }) {
            // Timestamps never decrease; after a closed pair, they must increase.
            let limit = lastWasTimestamp && !penultimateWasTimestamp ? lastTimestamp : lastTimestamp + 1
            for i in tb..<min(limit, vocab) { logits[i] = ninf }
        }
        if sampled.isEmpty {
            for i in 0..<tb { logits[i] = ninf }                  // start with a timestamp
            if let m = options.maxInitialTimestamp {
                let lastAllowed = tb + Int((m / 0.02).rounded())
                if lastAllowed + 1 < vocab { for i in (lastAllowed + 1)..<vocab { logits[i] = ninf } }
            }
        }
        // If timestamps together are likelier than any text token, force a timestamp.
        let maxText = VectorMath.max(logits, tb), maxTs = VectorMath.max(logits + tb, vocab - tb)
        let maxAll = max(maxText, maxTs)
        guard maxAll > -Float.infinity else { return }
        let tsTotal = maxTs > -Float.infinity ? VectorMath.sumExp(logits + tb, vocab - tb, shift: maxAll) : 0
        let total = VectorMath.sumExp(logits, tb, shift: maxAll) + tsTotal
        let logTotal = log(total)
        let tsLogprob = tsTotal > 0 ? log(tsTotal) - logTotal : -Double.infinity
        let maxTextLogprob = Double(maxText - maxAll) - logTotal
        if tsLogprob > maxTextLogprob {
            for i in 0..<tb { logits[i] = ninf }
        }
    }

    /// log-softmax of one row, in Double for the sums.
    static func logSoftmax(_ x: UnsafePointer<Float>, _ n: Int, into out: UnsafeMutablePointer<Float>) {
        let m = VectorMath.max(x, n)
        let lse = m + Float(log(VectorMath.sumExp(x, n, shift: m)))
        for i in 0..<n { out[i] = x[i] - lse }
    }

    // MARK: decoding

    /// Decodes one window. `audio` is the encoder output `[1, nAudioCtx, d]`; `prompt` the
    /// initial tokens (previous text + SOT sequence). Returns the best candidate.
    public func decode(audio: Tensor, prompt: [Int]) -> WhisperDecodingResult {
        decode(audio: audio, prompt: prompt, checkStop: {})
    }

    /// `decode(audio:prompt:)` that calls `checkStop` before each token step (and before
    /// the prompt's pass), so a stop request ends a long beam search or sampling run
    /// within one decoder step: `checkStop` throws (`CancellationError`) to stop.
    public func decode(audio: Tensor, prompt: [Int], checkStop: () throws -> Void) rethrows -> WhisperDecodingResult {
        try decode(windows: audio, prompt: prompt, checkStop: checkStop)[0]
    }

    /// Decodes B windows at once with the same prompt: `audio` `[B, nAudioCtx, d]`, one
    /// result per window, each the one `decode(audio:prompt:)` gives for that window alone.
    /// Beam search runs every window's beams as the rows of one decoder pass per token
    /// (a window whose search ends leaves the batch); sampling runs window by window.
    public func decode(windows audio: Tensor, prompt: [Int], checkStop: () throws -> Void = {}) rethrows -> [WhisperDecodingResult] {
        try checkStop()
        let cross = model.crossKV(audio)
        let sampleLen = options.sampleLength ?? model.dims.nTextCtx / 2
        let maxLen = min(model.dims.nTextCtx, prompt.count + sampleLen)
        let sotIndex = prompt.lastIndex(of: special.sot) ?? 0
        if options.temperature == 0, let beams = options.beamSize, beams > 1 {
            return try beamSearch(cross: cross, prompt: prompt, beams: beams, maxLen: maxLen, sotIndex: sotIndex, checkStop: checkStop)
        }
        let n = options.temperature > 0 ? max(1, options.bestOf ?? 1) : 1
        return try (0..<cross.batch).map { w in
            try sample(cross: cross.batch == 1 ? cross : cross.rows([w]), prompt: prompt, rows: n, maxLen: maxLen,
                       sotIndex: sotIndex, checkStop: checkStop)
        }
    }

    /// Runs the prompt once for each of the B windows of `cross` and copies each window's
    /// cache to its `rows` decoding rows (`caches` hold B x rows). Returns the next-token
    /// logits `[B, nVocab]` (one row per window) and each window's no-speech probability at
    /// the SOT position.
    func prefill(prompt: [Int], sotIndex: Int, cross: WhisperModel.CrossKV, caches: [KVCache]) -> (Tensor, [Float]) {
        let windows = cross.batch
        let single = model.makeCaches(batch: windows, positions: prompt.count)
        let first = model.decode(Array(repeating: prompt, count: windows), cross: cross, caches: single,
                                 positions: [sotIndex, prompt.count - 1])                 // [B, 2, vocab]
        for (c, s) in zip(caches, single) { c.fill(from: s) }
        let sot = first.select(axis: 1, 0).contiguous()
        let noSpeech = (0..<windows).map { noSpeechProb(sot.select(axis: 0, $0)) }
        return (first.select(axis: 1, 1).contiguous(), noSpeech)
    }

    /// Probability of <|nospeech|> from the logits at the SOT position (`[nVocab]` or `[1, nVocab]`).
    func noSpeechProb(_ sotLogits: Tensor) -> Float {
        let vocab = model.dims.nVocab
        let row = sotLogits.contiguous()
        let buf = UnsafeMutablePointer<Float>.allocate(capacity: vocab)
        defer { buf.deallocate() }
        WhisperDecoder.logSoftmax(row.pointer, vocab, into: buf)
        return Foundation.exp(buf[special.noSpeech])
    }

    /// Greedy (temperature 0) or sampling with `rows` candidates of one window (`cross` of
    /// batch 1); ranked like the reference.
    func sample(cross: WhisperModel.CrossKV, prompt: [Int], rows: Int, maxLen: Int, sotIndex: Int,
                checkStop: () throws -> Void = {}) rethrows -> WhisperDecodingResult {
        let vocab = model.dims.nVocab
        let caches = model.makeCaches(batch: rows, positions: maxLen + 1)
        var rng = SplitMix64(seed: options.seed)
        var sequences = [[Int]](repeating: [], count: rows)
        var sums = [Float](repeating: 0, count: rows)
        var finished = [Bool](repeating: false, count: rows)
        var (logits, noSpeech) = prefill(prompt: prompt, sotIndex: sotIndex, cross: cross, caches: caches)
        let row = UnsafeMutablePointer<Float>.allocate(capacity: vocab)
        let lp = UnsafeMutablePointer<Float>.allocate(capacity: vocab)
        defer { row.deallocate(); lp.deallocate() }
        var length = prompt.count
        var first = true
        while true {
            var next = [Int](repeating: special.eot, count: rows)
            for r in 0..<rows {
                if finished[r] { continue }
                row.update(from: logits.pointer + (first ? 0 : r) * vocab, count: vocab)    // the prompt's logits: one row
                filter(row, sampled: sequences[r])
                WhisperDecoder.logSoftmax(row, vocab, into: lp)
                var token: Int
                if options.temperature == 0 {
                    token = 0
                    for i in 1..<vocab where row[i] > row[token] { token = i }
                } else {
                    token = WhisperDecoder.draw(row, vocab, temperature: options.temperature, rng: &rng)
                }
                sums[r] += lp[token]
                next[r] = token
                if token == special.eot { finished[r] = true } else { sequences[r].append(token) }
            }
            first = false
            length += 1
            if finished.allSatisfy({ $0 }) || length >= maxLen { break }
            try checkStop()
            logits = model.decode(next.map { [$0] }, cross: cross, caches: caches).contiguous()
        }
        return rank(sequences.indices.map { (sequences[$0], sums[$0]) }, noSpeech: noSpeech[0])
    }

    static func draw(_ logits: UnsafePointer<Float>, _ n: Int, temperature: Float, rng: inout SplitMix64) -> Int {
        var m = -Float.infinity
        for i in 0..<n { m = max(m, logits[i]) }
        var total = 0.0
        for i in 0..<n { total += Double(Foundation.exp((logits[i] - m) / temperature)) }
        var u = Double(rng.next() >> 11) / Double(1 << 53) * total
        for i in 0..<n {
            u -= Double(Foundation.exp((logits[i] - m) / temperature))
            if u <= 0 { return i }
        }
        return n - 1
    }

    /// Picks the best candidate: highest sum of log-probabilities divided by the length
    /// (or by ((5 + length) / 6) ^ penalty when a length penalty is set).
    func rank(_ candidates: [([Int], Float)], noSpeech: Float) -> WhisperDecodingResult {
        func score(_ c: ([Int], Float)) -> Float {
            let length = Float(max(c.0.count, 1))   // text tokens, without the end token
            let penalty = options.lengthPenalty.map { Float(pow((5 + Double(length)) / 6, Double($0))) } ?? length
            return c.1 / penalty
        }
        let best = candidates.max { score($0) < score($1) } ?? ([], 0)
        return WhisperDecodingResult(tokens: best.0, sumLogprob: best.1,
                                     avgLogprob: best.1 / Float(best.0.count + 1), noSpeechProb: noSpeech)
    }

    /// One window's beams between steps.
    struct Beams {
        var sequences: [[Int]]
        var sums: [Float]
        /// Spare rows (fewer continuations than beams): they propose nothing.
        var dead: [Bool]
        var finished: [[Int]: Float] = [:]

        init(_ beams: Int) {
            sequences = Array(repeating: [], count: beams)
            sums = Array(repeating: 0, count: beams)
            dead = Array(repeating: false, count: beams)
        }
    }

    /// Beam search as faster-whisper's (CTranslate2's `BeamSearch`), for each window of
    /// `cross`: the `2 x beams` best continuations over all beams are ranked; each of the
    /// first `beams` that ends the text is a finished hypothesis, and its place goes to the
    /// next continuation in the ranking that does not; the search ends once
    /// `round(beams * patience)` hypotheses are finished (or at the length limit, where the
    /// first `beams` all count as finished). An end further down the ranking is not a
    /// hypothesis (openai-whisper's search takes those too, and so stops sooner, sometimes
    /// before a longer and likelier text ends). Every window's beams are rows of one decoder
    /// pass per token; a window whose search ends leaves the batch (its rows and its audio's
    /// keys are dropped).
    ///
    /// - Important: each window keeps `beams` rows. When fewer continuations than `beams`
    ///   are possible (a filter leaves fewer tokens, e.g. `--beam-size 52` on the first
    ///   step, where 51 timestamps are allowed), the spare rows repeat the best beam marked
    ///   dead: they propose nothing and are replaced at the next step.
    func beamSearch(cross: WhisperModel.CrossKV, prompt: [Int], beams: Int, maxLen: Int, sotIndex: Int,
                    checkStop: () throws -> Void = {}) rethrows -> [WhisperDecodingResult] {
        let vocab = model.dims.nVocab
        let windows = cross.batch
        // Room for maxLen positions (prompt and sampled tokens), not the whole text context:
        // 40 rows of that are 110 MB for tiny.
        var caches = model.makeCaches(batch: windows * beams, positions: maxLen + 1)
        var live = Array(0..<windows)                 // the windows in the batch, in row order
        var liveCross = cross
        let patience = Double(options.patience ?? 1)
        let maxCandidates = patience.isFinite ? max(1, Int(min(Double(beams) * patience, 1e6).rounded())) : 1_000_000
        var state = [Beams](repeating: Beams(beams), count: windows)
        var results = [WhisperDecodingResult?](repeating: nil, count: windows)
        var (logits, noSpeech) = prefill(prompt: prompt, sotIndex: sotIndex, cross: cross, caches: caches)
        let rowBuf = UnsafeMutablePointer<Float>.allocate(capacity: windows * beams * vocab)
        let lpBuf = UnsafeMutablePointer<Float>.allocate(capacity: windows * beams * vocab)
        defer { rowBuf.deallocate(); lpBuf.deallocate() }
        var length = prompt.count
        var firstStep = true
        while true {
            // On the first step every beam is the same prompt (one logits row per window):
            // expand only one of them. Beams are filtered and ranked in parallel (a few
            // vocabulary-wide passes each).
            let active = firstStep ? 1 : beams
            var proposals = [[(score: Float, source: Int, token: Int)]](repeating: [], count: live.count * active)
            proposals.withUnsafeMutableBufferPointer { out in
                Compute.parallelFor(live.count * active) { p in
                    let i = p / active, b = p % active, s = state[live[i]]
                    if s.dead[b] { return }
                    let row = rowBuf + p * vocab, lp = lpBuf + p * vocab
                    row.update(from: logits.pointer + (firstStep ? i : i * beams + b) * vocab, count: vocab)
                    filter(row, sampled: s.sequences[b])
                    WhisperDecoder.logSoftmax(row, vocab, into: lp)
                    out[p] = WhisperDecoder.topIndices(lp, vocab, 2 * beams).map { (s.sums[b] + lp[$0], b, $0) }
                }
            }
            firstStep = false
            length += 1
            let lastStep = length >= maxLen
            var continuing: [Int] = [], sources: [Int] = [], tokens: [Int] = []
            for (i, w) in live.enumerated() {
                // The 2 x beams best, highest score first; equal scores keep beam-then-rank order.
                let ranked = Array(proposals[(i * active)..<((i + 1) * active)].joined().enumerated()
                    .sorted { $0.element.score != $1.element.score ? $0.element.score > $1.element.score : $0.offset < $1.offset }
                    .map(\.element).prefix(2 * beams))
                var s = state[w]
                var nextSeqs: [[Int]] = [], nextSums: [Float] = [], from: [Int] = [], nextTokens: [Int] = []
                var secondary = beams
                for k in 0..<min(beams, ranked.count) {
                    var c = ranked[k]
                    if c.token == special.eot || lastStep {
                        let hypothesis = s.sequences[c.source] + (c.token == special.eot ? [] : [c.token])
                        if s.finished[hypothesis] == nil { s.finished[hypothesis] = c.score }
                        guard let j = (secondary..<ranked.count).first(where: { ranked[$0].token != special.eot }) else { continue }
                        c = ranked[j]
                        secondary = j + 1
                    }
                    nextSeqs.append(s.sequences[c.source] + [c.token]); nextSums.append(c.score)
                    from.append(c.source); nextTokens.append(c.token)
                }
                if s.finished.count >= maxCandidates || lastStep || nextSeqs.isEmpty {
                    results[w] = rank(s.finished.map { ($0.key, $0.value) }, noSpeech: noSpeech[w])
                    continue
                }
                // Fewer continuations than rows: the spare rows repeat the best one, dead.
                s.dead = [Bool](repeating: false, count: nextSeqs.count) + [Bool](repeating: true, count: beams - nextSeqs.count)
                while nextSeqs.count < beams {
                    nextSeqs.append(nextSeqs[0]); nextSums.append(-.infinity); from.append(from[0]); nextTokens.append(nextTokens[0])
                }
                s.sequences = nextSeqs
                s.sums = nextSums
                state[w] = s
                // Rows in the batch as it will be after the finished windows leave it.
                sources += from.map { continuing.count * beams + $0 }
                tokens += nextTokens
                continuing.append(i)
            }
            if continuing.isEmpty { break }
            try checkStop()
            if continuing.count < live.count {
                let rows = continuing.flatMap { i in (0..<beams).map { i * beams + $0 } }
                caches = caches.map { KVCache(rows: rows, of: $0) }
                liveCross = liveCross.rows(continuing)
                live = continuing.map { live[$0] }
            }
            for c in caches { c.reorder(sources) }
            logits = model.decode(tokens.map { [$0] }, cross: liveCross, caches: caches).contiguous()
        }
        return results.map { $0! }
    }

    static func topIndices(_ x: UnsafePointer<Float>, _ n: Int, _ k: Int) -> [Int] {
        var best: [Int] = []
        guard k > 0 else { return best }
        var i = 0
        while i < n {
            // Once k are held, only a value above the k-th can enter: the scan for the next
            // one runs 8 at a time (nearly all of a 51 864-entry vocabulary is skipped).
            if best.count == k {
                i = VectorMath.firstIndex(x + i, n - i, above: x[best[k - 1]]) + i
                if i == n { break }
            }
            if x[i] > -Float.infinity {
                if best.count < k {
                    best.append(i)
                    best.sort { x[$0] > x[$1] }
                } else {
                    best[k - 1] = i
                    best.sort { x[$0] > x[$1] }
                }
            }
            i += 1
        }
        return best
    }
}
