import Foundation
import TensorCore

/// openai-whisper's `assets/mel_filters.npz` (librosa's Slaney mel filters for 16 kHz,
/// n_fft 400): `mel_80` `[80, 201]` and `mel_128` `[128, 201]` (large-v3), float32.
public enum WhisperMelFilterLoader {
    /// `url` is the npz file (the caller knows where its model store keeps it).
    public static func load(_ url: URL, nMels: Int = 80) throws -> Tensor {
        guard nMels == 80 || nMels == 128 else {
            throw WeightFileError(path: url.path, "Whisper has 80 or 128 mel bins, not \(nMels)")
        }
        let array = try NPZ.read(url, array: "mel_\(nMels)")
        guard array.shape == [nMels, LogMelSpectrogram.nFFT / 2 + 1] else {
            throw WeightFileError(path: url.path, "mel_\(nMels) has shape \(array.shape), expected [\(nMels), \(LogMelSpectrogram.nFFT / 2 + 1)]")
        }
        return array.tensor
    }
}
