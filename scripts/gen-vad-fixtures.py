#!/usr/bin/env python3
"""Silero VAD v6 references for Tests/ModelsTests/VADParityTests.swift.

Regenerate (from the repository root; faster-whisper 1.2.1 and onnxruntime in the bench venv,
see scripts/bench; the model fetched by scripts/fetch-models silero-vad; Debian's
pocketsphinx-testdata for the LibriVox clips):

    .build-bench/venv/bin/python scripts/gen-vad-fixtures.py

Takes about 20 s. Writes Tests/ModelsTests/Fixtures/vad/reference.json.

For each input (a scripts/test_audio.py recipe; its FNV-1a hash recorded):
- `probabilities`: onnxruntime running Models/silero-vad/silero_vad_v6.onnx exactly as
  faster-whisper's get_speech_timestamps does (faster_whisper.vad.SileroVADModel on the audio
  padded to the next multiple of 512), one per window;
- `regions`: get_speech_timestamps(audio, VadOptions(**options)) for each option set below;
- `margin`: the smallest |probability - threshold| over the windows and the thresholds of
  every option set (a region test on our own probabilities is exact only above 1e-4).
And, for the "gaps" input's default regions, SpeechTimestampsMap.get_chunk_index and
get_original_time on a grid of joined-audio times, as start and as end.
"""
import json
import os
import pathlib
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_audio  # noqa: E402

import faster_whisper.vad as fv  # noqa: E402
from faster_whisper.vad import SileroVADModel, SpeechTimestampsMap, VadOptions, get_speech_timestamps  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests/ModelsTests/Fixtures/vad/reference.json"
MODEL = ROOT / "Models/silero-vad/silero_vad_v6.onnx"

INPUTS = {
    "speech": [{"wav": "Samples/speech.wav"}],
    "librivox-0890": [{"clip": "0890"}],
    "librivox-0880": [{"clip": "0880"}],
    "librivox-0920": [{"clip": "0920"}],
    # Long gaps: regions far apart, and a 0.5 s gap inside one region.
    "gaps": [{"silence": 3}, {"clip": "0870"}, {"silence": 40}, {"clip": "0880"}, {"silence": 0.5},
             {"clip": "0890"}, {"silence": 3}],
    # Short gaps: regions closer than twice the padding (their gap shared out).
    "close": [{"clip": "0920"}, {"silence": 2.3}, {"clip": "0930"}, {"silence": 1.2}, {"clip": "0870"}],
    "pink-noise": [{"pink": {"seconds": 60, "seed": 7, "amplitude": 0.5}}],
    "melody": [{"melody": {"seconds": 72, "amplitude": 0.5}}],
    "silence": [{"silence": 20}],
    # Lengths: a multiple of 512 (a whole window of padding), one more, one less, shorter than a window.
    "multiple-of-512": [{"clip": "0880"}, {"take": 512 * 80}],
    "multiple-plus-1": [{"clip": "0880"}, {"take": 512 * 80 + 1}],
    "multiple-minus-1": [{"clip": "0880"}, {"take": 512 * 80 - 1}],
    "short": [{"clip": "0880"}, {"take": 300}],
}

OPTION_SETS = {
    "default": {},
    "tight": {"min_silence_duration_ms": 300, "speech_pad_ms": 100},
    "low-threshold": {"threshold": 0.3, "min_silence_duration_ms": 500},
    "neg-threshold": {"threshold": 0.6, "neg_threshold": 0.2, "min_silence_duration_ms": 100, "speech_pad_ms": 0},
    "min-speech": {"min_speech_duration_ms": 1500, "min_silence_duration_ms": 200, "speech_pad_ms": 30},
    "max-speech": {"max_speech_duration_s": 3, "min_silence_duration_ms": 1000},
    "max-speech-hard": {"max_speech_duration_s": 1.5, "min_silence_duration_ms": 2000, "speech_pad_ms": 200},
}


def main():
    model = SileroVADModel(str(MODEL))
    fv.get_vad_model.cache_clear()
    fv.get_vad_model = lambda: model          # get_speech_timestamps runs this file
    out = {"model": "silero_vad_v6.onnx", "onnxruntime": __import__("onnxruntime").__version__,
           "faster_whisper": __import__("faster_whisper").__version__,
           "option_sets": OPTION_SETS, "inputs": {}}
    for name, recipe in INPUTS.items():
        pcm = test_audio.build(recipe)
        audio = test_audio.floats(pcm)
        padded = np.pad(audio, (0, 512 - audio.shape[0] % 512))
        probs = model(padded).reshape(-1).astype(np.float32)
        regions, margin = {}, 1.0
        for key, opts in OPTION_SETS.items():
            o = VadOptions(**opts)
            regions[key] = [[r["start"], r["end"]] for r in get_speech_timestamps(audio, o)]
            neg = o.neg_threshold if o.neg_threshold is not None else max(o.threshold - 0.15, 0.01)
            for thr in (o.threshold, neg):
                margin = min(margin, float(np.abs(probs - np.float32(thr)).min()))
        out["inputs"][name] = {
            "recipe": recipe, "samples": len(pcm), "fnv1a64": test_audio.fnv1a64(pcm),
            "probabilities": [float(f"{p:.7g}") for p in probs.tolist()],
            "regions": regions, "margin": margin,
        }
        print(f"{name}: {len(pcm)} samples, {len(probs)} windows, default regions {regions['default']}, margin {margin:.2e}")
    chunks = [{"start": s, "end": e} for s, e in out["inputs"]["gaps"]["regions"]["default"]]
    m = SpeechTimestampsMap(chunks, 16000)
    total = sum(c["end"] - c["start"] for c in chunks) / 16000
    grid = sorted(set([round(i * 0.37, 2) for i in range(int(total / 0.37) + 2)]
                      + [c / 16000 for c in m.chunk_end_sample] + [7.328, 0.0, total]))
    out["map"] = {"input": "gaps", "options": "default", "times": [
        {"time": t, "start_chunk": m.get_chunk_index(t), "end_chunk": m.get_chunk_index(t, True),
         "start": m.get_original_time(t), "end": m.get_original_time(t, is_end=True)} for t in grid]}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
