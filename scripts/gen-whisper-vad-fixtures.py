#!/usr/bin/env python3
"""faster-whisper's transcription with vad_filter=True, for the `transcribe --vad` tests
(Tests/CLITests/VADCLITests.swift), and on noise and music also with vad_filter=False
(Tests/CLITests/TranscribeNoiseCLITests.swift).

Regenerate (from the repository root; faster-whisper 1.2.1 in the bench venv, see
scripts/bench-transcribe.py; the models fetched by scripts/fetch-models; Debian's
pocketsphinx-testdata for the LibriVox clips):

    .build-bench/venv/bin/python scripts/gen-whisper-vad-fixtures.py

Takes about two minutes on 2 cores. Writes Tests/CLITests/Fixtures/whisper-vad.json.

Model: faster_whisper.WhisperModel(Models/whisper-tiny.en, device="cpu",
compute_type="float32", cpu_threads=2) on the CTranslate2 weights mmpipe loads.
transcribe(audio, language="en", beam_size=5, vad_filter=True) with VadOptions' defaults,
once without and once with word_timestamps; the rest at faster-whisper's defaults. Audio:
16 kHz mono int16 / 32768 as float32 (what mmpipe decodes from a 16-bit WAV), passed as
an array. The speech regions get_speech_timestamps finds are recorded too. CTranslate2's
sampling generator is seeded with 0 before each transcription (ctranslate2.set_random_seed),
so the windows that fall back to temperatures above 0 are reproducible here; faster-whisper
itself seeds it at random.

Inputs (recipes of scripts/test_audio.py; no audio is written; the sha256 of the int16
little-endian PCM is recorded, and for the inputs added with the recipes, their FNV-1a 64
as well, so the test can check it rebuilt the same samples):
  gaps    3 s of silence, LibriVox clip 0870, 40 s of silence, clip 0880, 0.5 s of
          silence, clip 0890, 3 s of silence (62.65 s; two regions, the 0.5 s gap inside
          the second)
  silence 20 s of zeros
  noise   60 s of pink noise (seed 7, amplitude 0.5); also without_vad: vad_filter=False
  melody  72 s of the test tune (amplitude 0.5); also without_vad
"""
import hashlib
import json
import pathlib
import sys

import numpy as np
import ctranslate2

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import test_audio  # noqa: E402
import faster_whisper
from faster_whisper import WhisperModel
from faster_whisper.vad import VadOptions, get_speech_timestamps

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests/CLITests/Fixtures/whisper-vad.json"
OPTIONS = dict(language="en", beam_size=5, vad_filter=True)


def build(recipe):
    """recipe: test_audio's parts ({"silence": seconds}, {"clip": name}, {"pink": {...}}, ...)."""
    pcm = np.asarray(test_audio.build(recipe), dtype="<i2")
    info = {"recipe": recipe, "samples": int(len(pcm)),
            "pcm_sha256": hashlib.sha256(pcm.astype("<i2").tobytes()).hexdigest()}
    return info, pcm.astype(np.float32) / 32768.0


INPUTS = {
    "gaps": build([{"silence": 3}, {"clip": "0870"}, {"silence": 40}, {"clip": "0880"}, {"silence": 0.5},
                   {"clip": "0890"}, {"silence": 3}]),
    "silence": build([{"silence": 20}]),
    "noise": build([{"pink": {"seconds": 60, "seed": 7, "amplitude": 0.5}}]),
    "melody": build([{"melody": {"seconds": 72, "amplitude": 0.5}}]),
}
# Inputs transcribed with vad_filter=False too (whose samples carry their FNV-1a hash).
WITHOUT_VAD = {"noise", "melody"}


def segments_of(model, audio, words, vad=True):
    ctranslate2.set_random_seed(0)
    segments, info = model.transcribe(audio, word_timestamps=words, **(OPTIONS | {"vad_filter": vad}))
    out = []
    for s in segments:
        d = {"start": s.start, "end": s.end, "text": s.text, "tokens": list(s.tokens), "seek": s.seek}
        if not vad:
            d |= {"temperature": s.temperature, "avg_logprob": s.avg_logprob,
                  "compression_ratio": s.compression_ratio, "no_speech_prob": s.no_speech_prob}
        if words:
            d["words"] = [{"word": w.word, "start": w.start, "end": w.end} for w in s.words]
        out.append(d)
    result = {"duration": info.duration, "duration_after_vad": info.duration_after_vad, "segments": out}
    if not vad:
        del result["duration_after_vad"]
    return result


def main():
    model = WhisperModel(str(ROOT / "Models/whisper-tiny.en"), device="cpu", compute_type="float32", cpu_threads=2,
                         num_workers=1)
    out = {
        "generator": "scripts/gen-whisper-vad-fixtures.py",
        "versions": {"faster-whisper": faster_whisper.__version__, "ctranslate2": ctranslate2.__version__,
                     "numpy": np.__version__, "python": sys.version.split()[0]},
        "transcribe_options": OPTIONS | {"vad_parameters": "VadOptions() defaults", "compute_type": "float32",
                                          "ctranslate2_random_seed": 0},
        "model": "whisper-tiny.en",
        "inputs": {},
    }
    for name, (info, audio) in INPUTS.items():
        entry = dict(info)
        entry["speech_regions"] = get_speech_timestamps(audio.copy(), VadOptions())
        entry["without_words"] = segments_of(model, audio, False)
        entry["with_words"] = segments_of(model, audio, True)
        if name in WITHOUT_VAD:
            entry["fnv1a64"] = test_audio.fnv1a64(test_audio.build(info["recipe"]))
            entry["without_vad"] = segments_of(model, audio, False, vad=False)
        out["inputs"][name] = entry
        print(name, entry["speech_regions"], len(entry["without_words"]["segments"]), "segments", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print("wrote", OUT.relative_to(ROOT))


if __name__ == "__main__":
    main()
