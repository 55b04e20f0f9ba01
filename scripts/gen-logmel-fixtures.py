#!/usr/bin/env python3
"""Reference fixtures for Models' LogMelSpectrogram: openai-whisper's `log_mel_spectrogram`
re-done in numpy, float32 throughout as torch computes it.

    python3 -m pip install numpy                    # made with numpy 2.4
    scripts/fetch-models whisper-assets             # mel_filters.npz
    python3 scripts/gen-logmel-fixtures.py          # writes Tests/ModelsTests/Fixtures/logmel/

The algorithm (openai-whisper 20250625 `whisper/audio.py`): optional right zero padding;
`torch.stft(audio, 400, 160, window=torch.hann_window(400), center=True)` (reflect padding
of 200 samples each side, periodic Hann window, 1 + L // 160 frames); power `|X|^2` with the
last frame dropped; `filters @ power`; `log10(clamp(x, 1e-10))`; `max(x, x.max() - 8)`;
`(x + 4) / 4`. A 30 s window is `pad_or_trim(audio, 480000)` first; long-form transcription
computes the whole file with `padding=480000`.

Cases (inputs: `Samples/speech.wav` as whisper's loader gives it, int16 / 32768, and a
synthetic chirp defined by a formula the Swift test recomputes):
  speech-80      speech.wav, 30 s window, 80 mels          (3000 frames, first 800 stored)
  chirp-long-80  5 s chirp, long form + 30 s padding, 80   (3500 frames, first 600 stored)
  chirp-128      5 s chirp, 30 s window, 128 mels          (3000 frames, first 520 stored)
Each stores the first frames as `<name>.npy` ([nMels, head] float32) plus per-mel max / min
over all frames and the global max in `cases.json`. `mel_filters.npz` is copied alongside
(4 KB, MIT, openai-whisper) so the Swift tests do not need the fetched assets.
"""
import json
import math
import pathlib
import shutil
import wave

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests/ModelsTests/Fixtures/logmel"
FILTERS = ROOT / "Models/whisper-assets/mel_filters.npz"

N_FFT, HOP, N_SAMPLES = 400, 160, 480000


def log_mel(audio, filters, padding=0, dtype=np.float32):
    """`dtype` float32 is the reference; float64 only measures float32's own rounding."""
    audio = np.asarray(audio, dtype=dtype)
    if padding:
        audio = np.concatenate([audio, np.zeros(padding, dtype)])
    n = np.arange(N_FFT, dtype=dtype)
    window = (0.5 - 0.5 * np.cos(2 * dtype(math.pi) * n / dtype(N_FFT))).astype(dtype)
    padded = np.pad(audio, N_FFT // 2, mode="reflect")
    frames = 1 + (len(padded) - N_FFT) // HOP
    index = np.arange(N_FFT)[None, :] + HOP * np.arange(frames)[:, None]
    spectrum = np.fft.rfft(padded[index] * window, axis=-1)          # float32 in, complex64 out
    assert spectrum.real.dtype == dtype, spectrum.dtype
    power = (np.abs(spectrum[:-1]) ** 2).T.astype(dtype)             # [201, frames - 1]
    mel = filters.astype(dtype) @ power
    log_spec = np.log10(np.maximum(mel, dtype(1e-10)))
    log_spec = np.maximum(log_spec, log_spec.max() - dtype(8.0))
    return ((log_spec + dtype(4.0)) / dtype(4.0)).astype(dtype)


def pad_or_trim(audio, length=N_SAMPLES):
    audio = audio[:length]
    return np.pad(audio, (0, length - len(audio)))


def chirp(seconds=5.0, rate=16000, f0=20.0, f1=7900.0):
    """0.5 * sin of a linear chirp f0 -> f1, the last 0.5 s at amplitude 0.001; computed in
    float64 per sample index, then rounded to float32 (the Swift test does the same)."""
    count = int(seconds * rate)
    t = np.arange(count, dtype=np.float64) / rate
    phase = 2 * math.pi * (f0 * t + (f1 - f0) * t * t / (2 * seconds))
    amplitude = np.where(np.arange(count) < count - rate // 2, 0.5, 0.001)
    return (amplitude * np.sin(phase)).astype(np.float32)


def speech():
    with wave.open(str(ROOT / "Samples/speech.wav")) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FILTERS, OUT / "mel_filters.npz")
    with np.load(FILTERS) as f:
        filters = {80: f["mel_80"], 128: f["mel_128"]}
    s, c = speech(), chirp()
    cases = [
        ("speech-80", "speech.wav", s, 80, "window", 800, lambda x, fb, dt: log_mel(pad_or_trim(x), fb, dtype=dt)),
        ("chirp-long-80", "chirp", c, 80, "long", 600, lambda x, fb, dt: log_mel(x, fb, padding=N_SAMPLES, dtype=dt)),
        ("chirp-128", "chirp", c, 128, "window", 520, lambda x, fb, dt: log_mel(pad_or_trim(x), fb, dtype=dt)),
    ]
    manifest = []
    for name, source, audio, n_mels, mode, head, fn in cases:
        spec = fn(audio, filters[n_mels], np.float32)
        np.save(OUT / f"{name}.npy", np.ascontiguousarray(spec[:, :head]))
        exact = fn(audio, filters[n_mels], np.float64)
        manifest.append({
            "name": name, "input": source, "samples": int(len(audio)),
            "input_sum": float(audio.astype(np.float64).sum()), "n_mels": n_mels, "mode": mode,
            "frames": int(spec.shape[1]), "head": head,
            "row_max": spec.max(axis=1).tolist(), "row_min": spec.min(axis=1).tolist(),
            "max": float(spec.max()),
        })
        print(f"{name}: {spec.shape} head {head} -> {(OUT / f'{name}.npy').stat().st_size} bytes; "
              f"float32 vs float64 max abs {np.abs(spec - exact).max():.2e}")
    (OUT / "cases.json").write_text(json.dumps({"generator": "scripts/gen-logmel-fixtures.py", "cases": manifest}) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{OUT.relative_to(ROOT)}: {total} bytes in all")


if __name__ == "__main__":
    main()
