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

    /// Frames per block: bounds the GEMM scratch (block x 402 floats) for long recordings.
    static let block = 4096

    /// log-mel of `signal` followed by `padding` zeros.
    func compute(_ signal: UnsafeBufferPointer<Float>, padding: Int) -> Tensor {
        let nFFT = LogMelSpectrogram.nFFT, hop = LogMelSpectrogram.hopLength, bins = LogMelSpectrogram.bins
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
                let spectrum = Tensor.matmul(frameMatrix, basis)          // [count, 402]
                let power = Tensor(shape: [count, bins]) { p in
                    spectrum.withUnsafeBufferPointer { s in
                        for t in 0..<count {
                            let re = s.baseAddress! + t * 2 * bins, im = re + bins, q = p.baseAddress! + t * bins
                            for k in 0..<bins { q[k] = re[k] * re[k] + im[k] * im[k] }
                        }
                    }
                }
                let mel = Tensor.matmul(filters, power.transposed())      // [mels, count]
                mel.withUnsafeBufferPointer { m in
                    for r in 0..<mels {
                        (dst.baseAddress! + r * frames + t0).update(from: m.baseAddress! + r * count, count: count)
                    }
                }
                t0 += count
            }

            // log10(clamp(x, 1e-10)), floor at max - 8, (x + 4) / 4
            let total = dst.count
            let chunks = max(1, min(Compute.threads, total / 65_536))
            var maxima = [Float](repeating: -.infinity, count: chunks)
            maxima.withUnsafeMutableBufferPointer { mx in
                Compute.parallelFor(chunks) { c in
                    let lo = total * c / chunks, hi = total * (c + 1) / chunks
                    var m: Float = -.infinity
                    for i in lo..<hi {
                        let v = log10f(max(dst[i], 1e-10))
                        dst[i] = v
                        m = max(m, v)
                    }
                    mx[c] = m
                }
            }
            let floor = maxima.max()! - 8
            Compute.parallelFor(chunks) { c in
                let lo = total * c / chunks, hi = total * (c + 1) / chunks
                for i in lo..<hi { dst[i] = (max(dst[i], floor) + 4) / 4 }
            }
        }
        return out
    }
}
