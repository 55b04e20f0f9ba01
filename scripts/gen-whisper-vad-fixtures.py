#!/usr/bin/env python3
"""faster-whisper's transcription with vad_filter=True, for the `transcribe --vad` tests
(Tests/CLITests/TranscribeVADCLITests.swift).

Regenerate (from the repository root; faster-whisper 1.2.1 in the bench venv, see
scripts/bench-transcribe.py; the models fetched by scripts/fetch-models; Debian's
pocketsphinx-testdata for the LibriVox clips):

    .build-bench/venv/bin/python scripts/gen-whisper-vad-fixtures.py

Takes about a minute on 2 cores. Writes Tests/CLITests/Fixtures/whisper-vad.json.

Model: faster_whisper.WhisperModel(Models/whisper-tiny.en, device="cpu",
compute_type="float32", cpu_threads=2) on the CTranslate2 weights mmpipe loads.
transcribe(audio, language="en", beam_size=5, vad_filter=True) with VadOptions' defaults,
once without and once with word_timestamps; the rest at faster-whisper's defaults. Audio:
16 kHz mono int16 / 32768 as float32 (what mmpipe decodes from a 16-bit WAV), passed as
an array. The speech regions get_speech_timestamps finds are recorded too.

Inputs (recipes; no audio is written; the sha256 of the int16 little-endian PCM is recorded
so the test can check it rebuilt the same samples):
  gaps    3 s of silence, LibriVox clip 0870, 40 s of silence, clip 0880, 0.5 s of
          silence, clip 0890, 3 s of silence (62.65 s; two regions, the 0.5 s gap inside
          the second)
  silence 20 s of zeros
"""
import hashlib
import json
import pathlib
import sys
import wave

import numpy as np
import ctranslate2
import faster_whisper
from faster_whisper import WhisperModel
from faster_whisper.vad import VadOptions, get_speech_timestamps

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests/CLITests/Fixtures/whisper-vad.json"
LIBRIVOX = pathlib.Path("/usr/share/pocketsphinx/test/data/librivox")
OPTIONS = dict(language="en", beam_size=5, vad_filter=True)


def clip(name):
    path = LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{name}.wav"
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == 16000, path
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def build(recipe):
    """recipe: ("silence", seconds) or ("clip", name) parts, in order."""
    pcm = []
    for kind, value in recipe:
        pcm.append(np.zeros(int(round(value * 16000)), dtype="<i2") if kind == "silence" else clip(value))
    pcm = np.concatenate(pcm)
    info = {"recipe": [{kind: value} for kind, value in recipe], "samples": int(len(pcm)),
            "pcm_sha256": hashlib.sha256(pcm.astype("<i2").tobytes()).hexdigest()}
    return info, pcm.astype(np.float32) / 32768.0


INPUTS = {
    "gaps": build([("silence", 3), ("clip", "0870"), ("silence", 40), ("clip", "0880"), ("silence", 0.5),
                   ("clip", "0890"), ("silence", 3)]),
    "silence": build([("silence", 20)]),
}


def segments_of(model, audio, words):
    segments, info = model.transcribe(audio, word_timestamps=words, **OPTIONS)
    out = []
    for s in segments:
        d = {"start": s.start, "end": s.end, "text": s.text, "tokens": list(s.tokens), "seek": s.seek}
        if words:
            d["words"] = [{"word": w.word, "start": w.start, "end": w.end} for w in s.words]
        out.append(d)
    return {"duration": info.duration, "duration_after_vad": info.duration_after_vad, "segments": out}


def main():
    model = WhisperModel(str(ROOT / "Models/whisper-tiny.en"), device="cpu", compute_type="float32", cpu_threads=2,
                         num_workers=1)
    out = {
        "generator": "scripts/gen-whisper-vad-fixtures.py",
        "versions": {"faster-whisper": faster_whisper.__version__, "ctranslate2": ctranslate2.__version__,
                     "numpy": np.__version__, "python": sys.version.split()[0]},
        "transcribe_options": OPTIONS | {"vad_parameters": "VadOptions() defaults", "compute_type": "float32"},
        "model": "whisper-tiny.en",
        "inputs": {},
    }
    for name, (info, audio) in INPUTS.items():
        entry = dict(info)
        entry["speech_regions"] = get_speech_timestamps(audio.copy(), VadOptions())
        entry["without_words"] = segments_of(model, audio, False)
        entry["with_words"] = segments_of(model, audio, True)
        out["inputs"][name] = entry
        print(name, entry["speech_regions"], len(entry["without_words"]["segments"]), "segments", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print("wrote", OUT.relative_to(ROOT))


if __name__ == "__main__":
    main()
