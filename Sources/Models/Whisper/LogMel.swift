import Foundation
import TensorCore

/// Whisper's front end: log-mel spectrogram of 16 kHz mono audio, as openai-whisper's
/// `log_mel_spectrogram` computes it.
///
/// STFT with `center=True` (reflect padding of n_fft/2 = 200 samples each side), periodic Hann
/// window of 400, hop 160, power |X|², the last frame dropped (so L samples give L / 160
/// frames); mel = filters x power; `log10(max(mel, 1e-10))`, floored at (its maximum - 8),
/// then `(x + 4) / 4`.
///
/// The DFT is one GEMM per block of frames: frames `[T, 400]` x a `[400, 402]` basis of
/// windowed cosines and sines (built in Double, stored as Float), so BLAS does the work.
///
/// - Important: the floor (max - 8) is taken over the whole spectrogram computed by one call,
///   as openai-whisper does; a window sliced out of a long-form spectrogram therefore differs
///   from the spectrogram of that window's audio alone.
public struct LogMelSpectrogram: Sendable {
    public static let sampleRate = 16_000
    public static let nFFT = 400
    public static let hopLength = 160
    /// Samples in a 30 s window (480000) and its frames (3000).
    public static let nSamples = 480_000
    public static let nFrames = 3_000
    static let bins = nFFT / 2 + 1         // 201

    /// `[nMels, 201]` mel filter bank.
    public let filters: Tensor
    public var nMels: Int { filters.shape[0] }
    /// `[400, 402]`: columns 0..<201 are w[n] cos(2πnk/400), 201..<402 are w[n] sin(2πnk/400).
    let basis: Tensor

    public init(filters: Tensor) {
        precondition(filters.rank == 2 && filters.shape[1] == LogMelSpectrogram.bins,
                     "mel filters must be [nMels, \(LogMelSpectrogram.bins)], got \(filters.shape)")
        self.filters = filters.contiguous()
        basis = LogMelSpectrogram.makeBasis()
    }

    static func makeBasis() -> Tensor {
        let n = nFFT, k = bins
        return Tensor(shape: [n, 2 * k]) { b in
            for i in 0..<n {
                // Periodic Hann window (torch.hann_window(400), periodic=True).
                let w = 0.5 - 0.5 * cos(2 * Double.pi * Double(i) / Double(n))
                for j in 0..<k {
                    // Reduce i*j mod n first so the angle is exact in Double.
                    let angle = 2 * Double.pi * Double((i * j) % n) / Double(n)
                    b[i * 2 * k + j] = Float(w * cos(angle))
                    b[i * 2 * k + k + j] = Float(w * sin(angle))
                }
            }
        }
    }

    /// The log-mel spectrogram of one window: `samples` are zero-padded or trimmed to
    /// `frames * 160` (openai-whisper's `pad_or_trim` before `log_mel_spectrogram`), giving
    /// `[nMels, frames]`. The default is Whisper's 30 s input, 3000 frames.
    public func callAsFunction(_ samples: [Float], frames: Int = LogMelSpectrogram.nFrames) -> Tensor {
        precondition(frames >= 0, "frames must not be negative")
        let length = frames * LogMelSpectrogram.hopLength
        return samples.withUnsafeBufferPointer { s in
            compute(UnsafeBufferPointer(rebasing: s.prefix(length)), padding: length - min(s.count, length))
        }
    }

    /// The whole recording's log-mel spectrogram with `padding` zero samples appended
    /// (openai-whisper's `log_mel_spectrogram(audio, padding=N_SAMPLES)` in `transcribe`):
    /// `[nMels, (samples.count + padding) / 160]`. Slice windows out with `segment`.
    public func longForm(_ samples: [Float], padding: Int = LogMelSpectrogram.nSamples) -> Tensor {
        precondition(padding >= 0, "padding must not be negative")
        return samples.withUnsafeBufferPointer { compute($0, padding: padding) }
    }

    /// `mel[:, start ..< start + count]` zero-padded to `frames` columns (openai-whisper's
    /// `pad_or_trim(mel[:, seek:seek + segment_size], N_FRAMES)`); `count` defaults to as
    /// many as there are, at most `frames`.
    public static func segment(_ mel: Tensor, start: Int, count: Int? = nil, frames: Int = nFrames) -> Tensor {
        precondition(mel.rank == 2 && start >= 0, "segment needs a [nMels, T] spectrogram and start >= 0")
        let available = max(0, mel.shape[1] - start)
        let n = min(count ?? frames, available, frames)
        var out = Tensor(zeros: [mel.shape[0], frames])
        if n > 0 {
            let src = mel.slice(axis: 1, start..<(start + n)).contiguous()      // [nMels, n]
            out.withUnsafeMutableBufferPointer { dst in
                for m in 0..<mel.shape[0] {
                    (dst.baseAddress! + m * frames).update(from: src.pointer + m * n, count: n)
                }
            }
        }
        return out
    }

    /// The largest `log10(max(mel, 1e-10))` of `longForm(samples, padding:)`: its floor + 8.
    func logMelMaximum(_ samples: [Float], padding: Int = LogMelSpectrogram.nSamples) -> Float {
        samples.withUnsafeBufferPointer { compute($0, padding: padding, normalised: false) }.scalars.max() ?? -.infinity
    }

    /// Frames per block: bounds the GEMM scratch (block x 402 floats) for long recordings.
    static let block = 4096

    /// log-mel of `signal` followed by `padding` zeros (`normalised` false: the raw
    /// `log10(max(mel, 1e-10))`, before the floor and the scaling).
    func compute(_ signal: UnsafeBufferPointer<Float>, padding: Int, normalised: Bool = true) -> Tensor {
        let nFFT = LogMelSpectrogram.nFFT, hop = LogMelSpectrogram.hopLength
        let length = signal.count + padding
        let frames = length / hop                   // STFT gives length/hop + 1; the last is dropped
        let mels = nMels
        var out = Tensor(uninitializedShape: [mels, frames])
        if frames == 0 { return out }

        // Centre padding: sample i of the padded signal is x[i - 200] with x reflected at both
        // ends of signal+zeros (numpy's reflect mode, repeated when the signal is shorter than
        // the pad). Frames inside the signal are copied straight, only edge frames map indices.
        let half = nFFT / 2
        let period = 2 * (length - 1)
        func padded(_ i: Int) -> Float {
            var j = i - half
            if j < 0 || j >= length {
                if length == 1 { j = 0 } else {
                    j = ((j % period) + period) % period
                    if j >= length { j = period - j }
                }
            }
            return j < signal.count ? signal[j] : 0
        }

        out.withUnsafeMutableBufferPointer { dst in
            var t0 = 0
            while t0 < frames {
                let count = min(LogMelSpectrogram.block, frames - t0)
                let frameMatrix = Tensor(shape: [count, nFFT]) { f in
                    for t in 0..<count {
                        let row = f.baseAddress! + t * nFFT
                        let first = (t0 + t) * hop - half          // signal index of the row's first sample
                        if first >= 0 && first + nFFT <= signal.count {
                            row.update(from: signal.baseAddress! + first, count: nFFT)
                        } else if first >= signal.count && first + nFFT <= length {
                            row.initialize(repeating: 0, count: nFFT)     // inside the zero padding
                        } else {
                            for n in 0..<nFFT { row[n] = padded((t0 + t) * hop + n) }
                        }
                    }
                }
                let mel = logMel(frames: frameMatrix)                      // [mels, count]
                mel.withUnsafeBufferPointer { m in
                    for r in 0..<mels {
                        (dst.baseAddress! + r * frames + t0).update(from: m.baseAddress! + r * count, count: count)
                    }
                }
                t0 += count
            }
            if !normalised { return }

            // Floor at max - 8, then (x + 4) / 4.
            let total = dst.count
            let chunks = max(1, min(Compute.threads, total / 65_536))
            var maxima = [Float](repeating: -.infinity, count: chunks)
            maxima.withUnsafeMutableBufferPointer { mx in
                Compute.parallelFor(chunks) { c in
                    let lo = total * c / chunks, hi = total * (c + 1) / chunks
                    var m: Float = -.infinity
                    for i in lo..<hi { m = max(m, dst[i]) }
                    mx[c] = m
                }
            }
            let floor = maxima.max()! - 8
            Compute.parallelFor(chunks) { c in
                let lo = total * c / chunks, hi = total * (c + 1) / chunks
                for i in lo..<hi { dst[i] = LogMelSpectrogram.normalise(dst[i], floor: floor) }
            }
        }
        return out
    }

    /// `[count, 400]` frames of samples → `[nMels, count]` `log10(max(mel, 1e-10))`: the
    /// windowed DFT as one GEMM, power, the mel filters as another GEMM.
    func logMel(frames frameMatrix: Tensor) -> Tensor {
        let count = frameMatrix.shape[0], bins = LogMelSpectrogram.bins
        let spectrum = Tensor.matmul(frameMatrix, basis)          // [count, 402]
        let power = Tensor(shape: [count, bins]) { p in
            spectrum.withUnsafeBufferPointer { s in
                for t in 0..<count {
                    let re = s.baseAddress! + t * 2 * bins, im = re + bins, q = p.baseAddress! + t * bins
                    for k in 0..<bins { q[k] = re[k] * re[k] + im[k] * im[k] }
                }
            }
        }
        var mel = Tensor.matmul(filters, power.transposed())      // [mels, count]
        mel.withUnsafeMutableBufferPointer { m in
            for i in m.indices { m[i] = log10f(max(m[i], 1e-10)) }
        }
        return mel
    }

    /// openai-whisper's last step: `(max(x, floor) + 4) / 4` with floor = maximum - 8.
    @inline(__always)
    static func normalise(_ x: Float, floor: Float) -> Float { (max(x, floor) + 4) / 4 }

    /// The smallest value `log10(max(mel, 1e-10))` takes (a frame of zero samples).
    static let silence: Float = log10f(1e-10)
}

/// The long-form log-mel spectrogram of one recording, computed as its samples arrive: the
/// values of `LogMelSpectrogram.longForm` (the recording followed by 30 s of zero samples)
/// bit for bit, in blocks of `blockFrames` frames, keeping only the frames after the last
/// `discard` (and the samples the next block needs), so memory does not grow with the
/// recording.
///
/// Each window is floored at a maximum - 8 and scaled as openai-whisper does. The maximum is
/// the recording's when a first pass gave it (`knownMaximum`: a file, exactly openai-whisper's
/// floor), else the maximum over the frames from the start up to the window's end (live input:
/// the same whatever the sizes of the appends; equal to the file's whenever the loudest frame
/// comes before the end of the window, which on speech is the first window or so).
///
/// - Important: frame `t` needs the samples up to `t * 160 + 200`, so a frame is ready once
///   those arrived (or the recording ended: what follows is the zero padding); blocks start at
///   multiples of `blockFrames`, so the values never depend on how the samples were cut.
public final class LogMelStream: WhisperFeatureStream {
    public let spectrogram: LogMelSpectrogram
    /// The recording's log-mel maximum from a first pass, or nil (live input).
    public let knownMaximum: Float?
    /// Frames per block (each block is one pair of GEMMs).
    public static let blockFrames = 256
    /// Floats held (samples and frames): what memory the stream uses.
    var keptValues: Int { buffer.count + raw.count + frameMax.count }

    let mels: Int
    /// Samples from `bufferStart` on (the signal before it is no longer needed).
    private var buffer: [Float] = []
    private var bufferStart = 0
    /// Raw `log10(max(mel, 1e-10))` of frames `rawStart..<computedFrames`, frame-major (`mels` per frame),
    /// and each frame's largest value.
    private var raw: [Float] = []
    private var frameMax: [Float] = []
    private var rawStart = 0
    private(set) public var computedFrames = 0
    /// The maximum over frames `0..<foldedFrames` (frames before `rawStart` are folded in).
    private var folded: Float = -.infinity
    private var foldedFrames = 0
    private(set) public var sampleCount = 0
    private(set) public var isFinished = false

    public init(_ spectrogram: LogMelSpectrogram, knownMaximum: Float? = nil) {
        self.spectrogram = spectrogram
        self.knownMaximum = knownMaximum
        mels = spectrogram.nMels
    }

    public func append(_ samples: UnsafeBufferPointer<Float>) throws {
        precondition(!isFinished, "samples appended after finish")
        buffer.append(contentsOf: samples)
        sampleCount += samples.count
        computeReadyBlocks()
    }

    public func finish() throws {
        guard !isFinished else { return }
        isFinished = true
        computeReadyBlocks()
    }

    /// Content frames: `samples / 160` once finished (the frames windows may use).
    public var readyFrames: Int {
        isFinished ? min(computedFrames, sampleCount / LogMelSpectrogram.hopLength) : computedFrames
    }

    /// The maximum over every frame computed so far, the padding included once finished:
    /// after `finish`, the recording's maximum (what a first pass hands the second).
    public var maximum: Float {
        var m = max(folded, frameMax.max() ?? -.infinity)
        if isFinished { m = max(m, LogMelSpectrogram.silence) }
        return m
    }

    /// The maximum over frames `0..<end` (frames up to `end` must not be discarded yet).
    func maximum(before end: Int) -> Float {
        fold(to: min(end, computedFrames))
        return folded
    }

    private func fold(to end: Int) {
        guard end > foldedFrames else { return }
        for f in max(foldedFrames, rawStart)..<end { folded = max(folded, frameMax[f - rawStart]) }
        foldedFrames = end
    }

    public func window(_ window: WhisperWindow) throws -> Tensor {
        guard window.start >= rawStart, window.end <= computedFrames, window.frames <= LogMelSpectrogram.nFrames else {
            throw WhisperError("log-mel window \(window) is outside the frames kept (\(rawStart)..<\(computedFrames))")
        }
        let floor = (knownMaximum ?? maximum(before: window.end)) - 8
        let n = LogMelSpectrogram.nFrames, mels = self.mels
        var out = Tensor(zeros: [mels, n])
        out.withUnsafeMutableBufferPointer { dst in
            raw.withUnsafeBufferPointer { src in
                for i in 0..<window.frames {
                    let frame = src.baseAddress! + (window.start - rawStart + i) * mels
                    for m in 0..<mels { dst[m * n + i] = LogMelSpectrogram.normalise(frame[m], floor: floor) }
                }
            }
        }
        return out
    }

    public func discard(before frame: Int) {
        let f = min(frame, computedFrames)
        guard f > rawStart else { return }
        fold(to: f)
        let drop = f - rawStart
        // Drop in bulk: the kept part is at most a few windows.
        if drop >= 4096 || drop * 2 >= frameMax.count {
            raw.removeFirst(drop * mels)
            frameMax.removeFirst(drop)
            rawStart = f
        }
    }

    /// Computes every block whose samples are all here (or, once finished, every block that
    /// still touches the recording; blocks after it are zero padding: `silence` everywhere).
    private func computeReadyBlocks() {
        let hop = LogMelSpectrogram.hopLength, half = LogMelSpectrogram.nFFT / 2, block = LogMelStream.blockFrames
        while true {
            let t0 = computedFrames
            if isFinished {
                guard t0 * hop - half < sampleCount else { break }
            } else {
                guard sampleCount >= (t0 + block - 1) * hop + half else { break }
            }
            computeBlock(t0)
        }
        // Keep the samples the next block needs.
        let keep = min(max(0, computedFrames * hop - half), bufferStart + buffer.count)
        if keep - bufferStart >= 1 << 16, (keep - bufferStart) * 2 >= buffer.count {
            buffer.removeFirst(keep - bufferStart)
            bufferStart = keep
        }
    }

    private func computeBlock(_ t0: Int) {
        let nFFT = LogMelSpectrogram.nFFT, hop = LogMelSpectrogram.hopLength, half = nFFT / 2
        let count = LogMelStream.blockFrames, n = sampleCount, base = bufferStart
        let frameMatrix = buffer.withUnsafeBufferPointer { x in
            Tensor(shape: [count, nFFT]) { f in
                for t in 0..<count {
                    let row = f.baseAddress! + t * nFFT
                    let first = (t0 + t) * hop - half                 // signal index of the row's first sample
                    if first >= base && first + nFFT <= n {
                        row.update(from: x.baseAddress! + (first - base), count: nFFT)
                    } else if first >= n {
                        row.initialize(repeating: 0, count: nFFT)    // the zero padding
                    } else {
                        // The start (reflected: x[-j] = x[j]) or the end of the recording (zeros follow;
                        // the reflection at the very end of the padding is zeros too).
                        for k in 0..<nFFT {
                            var j = first + k
                            if j < 0 { j = -j }
                            row[k] = j < n ? x[j - base] : 0
                        }
                    }
                }
            }
        }
        let mel = spectrogram.logMel(frames: frameMatrix)           // [mels, count]
        let mels = self.mels
        raw.reserveCapacity(raw.count + count * mels)
        mel.withUnsafeBufferPointer { m in
            for t in 0..<count {
                var top: Float = -.infinity
                for r in 0..<mels {
                    let v = m[r * count + t]
                    raw.append(v)
                    top = max(top, v)
                }
                frameMax.append(top)
            }
        }
        computedFrames += count
    }
}
