#!/usr/bin/env python3
"""faster-whisper reference segments for the last window of a recording and for segment
ends past the audio (issue 14 item 8), for Tests/ModelsTests/WhisperLastWindowTests.swift.

Regenerate (from the repository root; faster-whisper 1.2.1 in the bench venv, see
scripts/bench-transcribe.py; the models fetched by scripts/fetch-models; Debian's
pocketsphinx-testdata for the LibriVox clips):

    .build-bench/venv/bin/python scripts/gen-whisper-fw-fixtures.py

Takes about 2 minutes on 2 cores. Writes Tests/ModelsTests/Fixtures/whisper/faster-whisper.json.

Model: faster_whisper.WhisperModel(Models/<model>, device="cpu", compute_type="float32",
cpu_threads=2) on the same CTranslate2 weights mmpipe loads. Transcription as our bench
runs it: transcribe(audio, language="en", beam_size=5, vad_filter=False,
word_timestamps=False), the rest at faster-whisper's defaults (best_of 5, temperatures 0
to 1 by 0.2, compression ratio 2.4, log-prob -1, no-speech 0.6, condition on previous
text). Audio: 16 kHz mono 16-bit WAVs read with `wave`, samples / 32768 as float32 (what
mmpipe decodes), passed as an array.

Inputs (each one's recipe and the sha256 of its int16 little-endian PCM are recorded; no
audio is written):
  clip-1.095s   the first 17,520 samples (1.095 s) of Samples/speech.wav: faster-whisper
                ends its only segment at 2.00 s, past the audio
  librivox-60s  the five LibriVox clips (0870, 0880, 0890, 0920, 0930) three times in a
                row, cut to the first 960,000 samples (60 s): windows at 0, 25.04 and
                49.80 s, the last one ending on a closed segment at 59.88 s; the 0.12 s left
                is decoded once more, at temperature 0 a 224-token repetition (compression
                ratio above 2.4), then sampled at 0.2.

A window decoded at temperature 0 is deterministic; a sampled one (temperature > 0) is
not: CTranslate2 draws from its own generator. For each sampled window the script decodes
it again with ctranslate2.set_random_seed(0..SEEDS-1) and records each distinct outcome
(text, times, whether faster-whisper keeps it: the no-speech rule skips it when
no_speech_prob > 0.6 and avg_logprob <= -1) with the seeds that gave it. `segments` holds
the segments of the deterministic windows only; the script stops if a sampled window is
followed by another (later windows would depend on the draw).

Written with faster-whisper 1.2.1, ctranslate2 4.x, numpy (versions recorded).
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

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests/ModelsTests/Fixtures/whisper/faster-whisper.json"
LIBRIVOX = pathlib.Path("/usr/share/pocketsphinx/test/data/librivox")
SEEDS = 20
OPTIONS = dict(language="en", beam_size=5, vad_filter=False, word_timestamps=False)
CLIPS = ["0870", "0880", "0890", "0920", "0930"]


def read_wav(path):
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == 16000, path
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def build(recipe, total):
    """recipe: files in order; the concatenation cut to `total` samples."""
    parts, pcm, left = [], [], total
    for f in recipe:
        if left <= 0:
            break
        s = read_wav(f)[:left]
        rel = str(pathlib.Path(f).relative_to(ROOT)) if str(f).startswith(str(ROOT)) else str(f)
        parts.append({"file": rel, "samples": int(len(s))})
        pcm.append(s)
        left -= len(s)
    pcm = np.concatenate(pcm)
    assert len(pcm) == total
    info = {"parts": parts, "samples": int(total), "seconds": total / 16000,
            "pcm_sha256": hashlib.sha256(pcm.astype("<i2").tobytes()).hexdigest()}
    return info, pcm.astype(np.float32) / 32768.0


INPUTS = {
    "clip-1.095s": build([ROOT / "Samples/speech.wav"], 17520),
    "librivox-60s": build([LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{c}.wav" for c in CLIPS] * 3, 960000),
}


def kept(result, avg_logprob):
    """faster-whisper's no-speech skip, inverted (generate_segments)."""
    return not (result.no_speech_prob > 0.6 and not avg_logprob > -1.0)


def run(model, audio):
    m = WhisperModel(str(model), device="cpu", compute_type="float32", cpu_threads=2, num_workers=1)
    original = m.generate_with_fallback
    windows = []

    def recorded(encoder_output, prompt, tokenizer, options):
        result = original(encoder_output, prompt, tokenizer, options)
        entry = {"temperature": result[2], "prompt": list(prompt)}
        if result[2] > 0:
            outcomes = {}
            for seed in range(SEEDS):
                ctranslate2.set_random_seed(seed)
                r = original(encoder_output, prompt, tokenizer, options)
                tokens = r[0].sequences_ids[0]
                key = tuple(tokens)
                o = outcomes.setdefault(key, {
                    "text": tokenizer.decode([t for t in tokens if t < tokenizer.eot]),
                    "tokens_with_timestamps": tokenizer.decode_with_timestamps(tokens),
                    "temperature": r[2], "avg_logprob": round(float(r[1]), 4),
                    "no_speech_prob": round(float(r[0].no_speech_prob), 4),
                    "kept": kept(r[0], r[1]), "seeds": []})
                o["seeds"].append(seed)
            entry["outcomes"] = sorted(outcomes.values(), key=lambda o: o["seeds"][0])
        windows.append(entry)
        return result

    m.generate_with_fallback = recorded
    segments, info = m.transcribe(audio, **OPTIONS)
    segments = list(segments)
    seeks = sorted({s.seek for s in segments})
    deterministic, sampled = [], []
    for s in segments:
        d = {"seek": s.seek, "start": round(s.start, 3), "end": round(s.end, 3), "text": s.text,
             "tokens": list(s.tokens), "temperature": s.temperature}
        (deterministic if s.temperature == 0 else sampled).append(d)
    sampled_windows = [w for w in windows if "outcomes" in w]
    if sampled_windows and windows.index(sampled_windows[0]) != len(windows) - 1:
        sys.exit("a sampled window is followed by others: the fixture would depend on the draw")
    for w in sampled_windows:
        del w["prompt"]
    return {"duration": info.duration, "segments": deterministic,
            "segments_of_this_run_from_sampled_windows": sampled,
            "sampled_windows": sampled_windows, "windows": len(windows)}


def main():
    out = {
        "generator": "scripts/gen-whisper-fw-fixtures.py",
        "versions": {"faster-whisper": faster_whisper.__version__, "ctranslate2": ctranslate2.__version__,
                     "numpy": np.__version__, "python": sys.version.split()[0]},
        "transcribe_options": OPTIONS | {"other": "faster-whisper defaults", "compute_type": "float32", "cpu_threads": 2},
        "sample_conversion": "int16 / 32768 as float32; audio passed to transcribe as an array",
        "seeds_per_sampled_window": SEEDS,
        "inputs": {k: v[0] for k, v in INPUTS.items()},
        "models": {},
    }
    for folder in ["whisper-tiny.en"]:
        model = ROOT / "Models" / folder
        runs = {}
        for name, (_, audio) in INPUTS.items():
            runs[name] = run(model, audio)
            print(folder, name, len(runs[name]["segments"]), "segments;",
                  [(o["text"], o["kept"], len(o["seeds"])) for w in runs[name]["sampled_windows"] for o in w["outcomes"]],
                  flush=True)
        out["models"][folder] = {"runs": runs}
    OUT.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print("wrote", OUT.relative_to(ROOT))


if __name__ == "__main__":
    main()
