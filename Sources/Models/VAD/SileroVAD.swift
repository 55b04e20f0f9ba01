import TensorCore

/// Silero VAD v6 (16 kHz): the probability that each 32 ms window of audio is speech.
///
/// The graph of `silero_vad_v6.onnx`, the file faster-whisper ships, one window of 512 samples
/// with the 64 before it (576 in all):
///
/// ```
/// reflect-pad 128 each side → frames of 256, hop 128 (the first dropped: 4 frames)
///   → |STFT| by the stored basis (hann-windowed DFT, 258 = 129 real + 129 imaginary rows)
///   → conv 129→128 k3 → ReLU → conv 128→64 k3 stride 2 → ReLU → conv 64→64 k3 stride 2 → ReLU
///   → conv 64→128 k3 → ReLU                                (one step of 128 features per window)
///   → LSTM 128 (its state carried from window to window)
///   → ReLU → 1x1 conv 128→1 → sigmoid
/// ```
///
/// Everything before the LSTM is independent per window, so many windows go through it
/// as one matrix product per layer; only the LSTM's recurrent product is step by step.
public struct SileroVAD: Sendable {
    public static let sampleRate = 16_000
    public static let windowSamples = 512
    public static let contextSamples = 64
    static let inputSamples = windowSamples + contextSamples
    static let frameLength = 256, hop = 128, frames = 4, bins = 129
    public static let hidden = 128

    /// `[258, 256]`: rows 0..<129 the real parts, 129..<258 the imaginary parts.
    let basis: Tensor
    /// The convolutions as matrices over (tap, channel) columns: `[out, 3 * in]` (the last
    /// only its middle tap: its input is one step long, so the other taps see padding).
    let conv0: (w: Tensor, b: Tensor)
    let conv1: (w: Tensor, b: Tensor)
    let conv2: (w: Tensor, b: Tensor)
    let conv3: (w: Tensor, b: Tensor)
    /// ONNX `W` `[512, 128]`, `R` `[512, 128]`, and `Wb + Rb` `[512]`.
    let lstmW: Tensor
    let lstmR: Tensor
    let lstmBias: Tensor
    /// The decoder's 1x1 convolution: `[1, 128]` and its bias.
    let head: Tensor
    let headBias: Tensor

    /// The model from its tensors under the ONNX file's names (the converted file's names):
    /// `encoder.feature_extractor.forward_basis_buffer`, `encoder.conv_layers.{0..3}.{weight,bias}`,
    /// `decoder.conv1d.{weight,bias}`, the STFT's power (the graph constant
    /// `/encoder/feature_extractor/Constant_17_output_0`, 2), and the LSTM's `onnx::LSTM_209` (W), `onnx::LSTM_210`
    /// (R), `onnx::LSTM_211` (B).
    public init(_ t: inout CheckedTensors) throws {
        basis = try t.take("encoder.feature_extractor.forward_basis_buffer", [258, 1, 256]).reshaped([258, 256]).contiguous()
        func conv(_ i: Int, _ out: Int, _ inC: Int) throws -> (Tensor, Tensor) {
            let w = try t.take("encoder.conv_layers.\(i).weight", [out, inC, 3])
            let b = try t.take("encoder.conv_layers.\(i).bias", [out])
            return (w.permuted([0, 2, 1]).contiguous().reshaped([out, 3 * inC]), b)
        }
        conv0 = try conv(0, 128, 129)
        conv1 = try conv(1, 64, 128)
        conv2 = try conv(2, 64, 64)
        let (w3, b3) = try conv(3, 128, 64)
        conv3 = (w3.slice(axis: 1, 64..<128).contiguous(), b3)
        lstmW = try t.take("onnx::LSTM_209", [1, 512, 128]).reshaped([512, 128])
        lstmR = try t.take("onnx::LSTM_210", [1, 512, 128]).reshaped([512, 128]).contiguous()
        let b = try t.take("onnx::LSTM_211", [1, 1024]).reshaped([2, 512])
        lstmBias = b.select(axis: 0, 0) + b.select(axis: 0, 1)
        head = try t.take("decoder.conv1d.weight", [1, 128, 1]).reshaped([1, 128])
        headBias = try t.take("decoder.conv1d.bias", [1])
        // The graph's one float constant: the power of the magnitude (|X|^2 summed, then sqrt).
        let power = try t.take("/encoder/feature_extractor/Constant_17_output_0", [])
        guard power.scalars == [2] else {
            throw WeightFileError(path: t.path, "the STFT power is \(power.scalars), expected 2: another Silero VAD graph")
        }
        try t.checkAllTaken()
    }

    /// A stream over one recording (its own LSTM state).
    public func stream() -> SileroVADStream { SileroVADStream(self) }

    /// The probabilities of a whole recording as faster-whisper computes them
    /// (`get_speech_timestamps`: one per window, the last one partly or all padding).
    public func probabilities(_ audio: [Float]) -> [Float] {
        let s = stream()
        var p = audio.withUnsafeBufferPointer { s.append($0) }
        p += s.finish()
        return p
    }

    /// Speech probabilities of `n` inputs of 576 samples each (context, then window), in
    /// order, carrying `state` through them.
    func forward(_ inputs: UnsafePointer<Float>, count n: Int, state: inout LSTMState) -> [Float] {
        guard n > 0 else { return [] }
        let L = SileroVAD.inputSamples, F = SileroVAD.frames, K = SileroVAD.frameLength
        // Frames 1...4 of the reflect-padded input start at samples 0, 128, 256, 384 of the
        // input itself; the last runs 64 samples past its end, into the reflection.
        let frames = Tensor(shape: [n * F, K]) { out in
            for w in 0..<n {
                let x = inputs + w * L
                for f in 0..<F {
                    let o = out.baseAddress! + (w * F + f) * K, s = f * SileroVAD.hop
                    let inside = min(K, L - s)
                    o.update(from: x + s, count: inside)
                    for i in inside..<K { o[i] = x[2 * (L - 1) - (s + i)] }
                }
            }
        }
        let spectrum = Tensor.linear(frames, weight: basis)         // [n*4, 258]
        let B = SileroVAD.bins
        var a0 = Tensor(zeros: [n * F, 3 * B])                      // conv0's columns (tap, bin)
        spectrum.withUnsafeBufferPointer { sp in
            a0.withUnsafeMutableBufferPointer { ap in
                let s = sp.baseAddress!, a = ap.baseAddress!
                for w in 0..<n {
                    for t in 0..<F {
                        let row = s + (w * F + t) * 2 * B
                        for tap in 0..<3 {
                            let dst = t - tap + 1                   // the output step this input step feeds at `tap`
                            guard dst >= 0 && dst < F else { continue }
                            let o = a + (w * F + dst) * 3 * B + tap * B
                            for k in 0..<B {
                                let re = row[k], im = row[B + k]
                                o[k] = (re * re + im * im).squareRoot()
                            }
                        }
                    }
                }
            }
        }
        let y0 = Tensor.linear(a0, weight: conv0.w, bias: conv0.b).relu()                           // [n*4, 128]
        let y1 = Tensor.linear(SileroVAD.columns(y0, steps: F, stride: 2), weight: conv1.w, bias: conv1.b).relu()   // [n*2, 64]
        let y2 = Tensor.linear(SileroVAD.columns(y1, steps: 2, stride: 2), weight: conv2.w, bias: conv2.b).relu()   // [n, 64]
        let y3 = Tensor.linear(y2, weight: conv3.w, bias: conv3.b).relu()                          // [n, 128]
        let gates = Tensor.linear(y3, weight: lstmW, bias: lstmBias)                              // [n, 512]
        let hs = Tensor.lstm(inputGates: gates, recurrent: lstmR, state: &state).relu()         // [n, 128]
        let logits = Tensor.linear(hs, weight: head, bias: headBias)                              // [n, 1]
        return logits.sigmoid().scalars
    }

    /// The columns of a kernel-3, padding-1 convolution over `steps` steps per window with
    /// `stride`: `x` `[n * steps, C]` → `[n * outSteps, 3 * C]` (tap-major).
    static func columns(_ x: Tensor, steps: Int, stride: Int) -> Tensor {
        let c = x.shape[1], n = x.shape[0] / steps
        let outSteps = (steps - 1) / stride + 1
        let xc = x.contiguous()
        return xc.withUnsafeBufferPointer { xp in
            Tensor(shape: [n * outSteps, 3 * c]) { out in
                let o = out.baseAddress!, src = xp.baseAddress!
                for w in 0..<n {
                    for t in 0..<outSteps {
                        for tap in 0..<3 {
                            let s = t * stride + tap - 1
                            let dst = o + (w * outSteps + t) * 3 * c + tap * c
                            if s >= 0 && s < steps {
                                dst.update(from: src + (w * steps + s) * c, count: c)
                            } else {
                                dst.update(repeating: 0, count: c)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Silero VAD over one recording as its samples arrive, exactly as faster-whisper feeds the
/// model (`SileroVADModel.__call__` on the audio `get_speech_timestamps` pads): window `i`
/// is samples `512 i ..< 512 (i + 1)` with the 64 before it as context (zeros for the
/// first); the recording is padded with zeros to the next multiple of 512, one whole window
/// of zeros when it already is one, and that last window's own last 64 samples are zeroed.
/// So every complete window is scored as soon as it arrives, and `finish` scores the last.
public final class SileroVADStream {
    let model: SileroVAD
    var state = LSTMState(hidden: SileroVAD.hidden)
    /// Samples not yet in a scored window, after the 64 of context before them.
    var pending: [Float] = [Float](repeating: 0, count: SileroVAD.contextSamples)
    /// Samples appended so far.
    public private(set) var samples = 0
    /// Windows scored so far.
    public private(set) var windows = 0
    public private(set) var isFinished = false

    init(_ model: SileroVAD) { self.model = model }

    /// Adds samples (16 kHz mono, any count); returns the probabilities of the windows they complete.
    public func append(_ chunk: UnsafeBufferPointer<Float>) -> [Float] {
        guard !isFinished, !chunk.isEmpty else { return [] }
        samples += chunk.count
        pending.append(contentsOf: chunk)
        let W = SileroVAD.windowSamples, C = SileroVAD.contextSamples
        let complete = (pending.count - C) / W
        guard complete > 0 else { return [] }
        // Inputs overlap by their context: lay them out one after another.
        var inputs = [Float](repeating: 0, count: complete * SileroVAD.inputSamples)
        pending.withUnsafeBufferPointer { p in
            inputs.withUnsafeMutableBufferPointer { o in
                for w in 0..<complete {
                    (o.baseAddress! + w * SileroVAD.inputSamples).update(from: p.baseAddress! + w * W, count: SileroVAD.inputSamples)
                }
            }
        }
        pending.removeFirst(complete * W)
        windows += complete
        return inputs.withUnsafeBufferPointer { model.forward($0.baseAddress!, count: complete, state: &state) }
    }

    /// The end of the recording: the probability of the last, padded window.
    public func finish() -> [Float] {
        guard !isFinished else { return [] }
        isFinished = true
        var input = pending
        input += [Float](repeating: 0, count: SileroVAD.inputSamples - input.count)
        for i in (SileroVAD.inputSamples - SileroVAD.contextSamples)..<SileroVAD.inputSamples { input[i] = 0 }
        pending = []
        windows += 1
        return input.withUnsafeBufferPointer { model.forward($0.baseAddress!, count: 1, state: &state) }
    }
}
