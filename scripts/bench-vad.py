#!/usr/bin/env python3
"""Side-by-side voice-activity benchmark: mmpipe's Silero VAD v6 vs onnxruntime, in one run.

Usage: scripts/bench-vad.py MMPIPE_BENCH MMPIPE   (scripts/bench vad runs it in the bench venv)

The recording: 10 x (3 s silence, LibriVox clip 0870, 40 s silence, clip 0880, 0.5 s, clip
0890, 3 s) = 618.9 s, built by scripts/test_audio.py into .build-bench/vad/long.wav.

- Model + regions, audio already decoded, one thread each: ours is `mmpipe-bench vad` (the
  stream fed a second at a time and the region tracker, as `mmpipe vad` runs them); theirs is
  faster-whisper's own path, `get_speech_timestamps(audio)` (onnxruntime on the same ONNX file,
  intra- and inter-op threads 1, as faster-whisper sets them). Medians of BENCH_RUNS (default 5)
  each, in alternating rounds (3), so other load hits both alike.
- Whole command, file to regions: `mmpipe vad long.wav` (MMPIPE_THREADS=1) against a Python
  process doing `get_speech_timestamps(decode_audio(path))`; medians of 3.
Also checks that the two agree: max |probability difference| and identical regions.
"""
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np

root = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root / "scripts"))
import test_audio  # noqa: E402

from faster_whisper.vad import SileroVADModel, get_speech_timestamps  # noqa: E402
import faster_whisper.vad as fv  # noqa: E402

bench_bin, cli_bin = sys.argv[1], sys.argv[2]
work = root / ".build-bench" / "vad"
models = pathlib.Path(os.environ.get("MMPIPE_MODELS_DIR", root / "Models"))
runs = int(os.environ.get("BENCH_RUNS", "5"))
RECIPE = [{"silence": 3}, {"clip": "0870"}, {"silence": 40}, {"clip": "0880"}, {"silence": 0.5},
          {"clip": "0890"}, {"silence": 3}] * 10


def recording():
    work.mkdir(parents=True, exist_ok=True)
    path = work / "long.wav"
    pcm = test_audio.build(RECIPE)
    if not path.exists() or path.stat().st_size != 44 + 2 * len(pcm):
        test_audio.write_wav(path, pcm)
    return path, test_audio.floats(pcm)


def ours(path, first):
    extra = ["--probabilities-out", str(work / "ours.npy")] if first else []
    out = subprocess.run([bench_bin, "vad", "--model", str(models / "silero-vad"), *extra, str(path)], check=True,
                         capture_output=True, text=True, env={**os.environ, "MMPIPE_THREADS": "1", "BENCH_RUNS": str(runs)}).stdout
    seconds = next(float(l.split()[-1]) for l in out.splitlines() if l.startswith("ours vad seconds"))
    regions = next(l.split()[-1] for l in out.splitlines() if l.startswith("ours vad regions"))
    if first:
        print("\n".join("  " + l for l in out.splitlines() if not l.startswith("ours vad")))
    return seconds, [[int(x) for x in r.split("-")] for r in regions.split(",") if r]


def theirs(audio):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        regions = get_speech_timestamps(audio)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), [[r["start"], r["end"]] for r in regions]


def command(args, env=None):
    t0 = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, env={**os.environ, **(env or {})})
    return time.perf_counter() - t0


def main():
    path, audio = recording()
    seconds = len(audio) / 16000
    model = SileroVADModel(str(models / "silero-vad" / "silero_vad_v6.onnx"))
    fv.get_vad_model = lambda: model
    print(f"recording: {path.relative_to(root)}, {seconds:.1f} s, {len(audio) // 512 + 1} windows; one thread each")
    ours_t, theirs_t = [], []
    for round_ in range(3):
        s, our_regions = ours(path, round_ == 0)
        ours_t.append(s)
        s, their_regions = theirs(audio)
        theirs_t.append(s)
    probs_ours = np.load(work / "ours.npy")
    probs_ort = model(np.pad(audio, (0, 512 - len(audio) % 512))).reshape(-1)
    diff = float(np.abs(probs_ours - probs_ort).max()) if probs_ours.shape == probs_ort.shape else float("nan")
    o, t = statistics.median(ours_t), statistics.median(theirs_t)
    print(f"model + regions   ours {o:.3f} s ({seconds / o:.0f} s of audio/s, {o / len(probs_ort) * 1e6:.1f} us/window)   "
          f"onnxruntime {t:.3f} s ({seconds / t:.0f} s/s, {t / len(probs_ort) * 1e6:.1f} us/window)   ours/theirs speed {t / o:.2f}x")
    print(f"agreement         max |p_ours - p_onnxruntime| {diff:.2e}; regions {'identical' if our_regions == their_regions else 'DIFFER'} "
          f"({len(our_regions)})")
    py = sys.executable
    script = ("import sys; from faster_whisper.audio import decode_audio; from faster_whisper.vad import get_speech_timestamps; "
              "print(len(get_speech_timestamps(decode_audio(sys.argv[1]))))")
    oc = statistics.median([command([cli_bin, "vad", str(path)], {"MMPIPE_THREADS": "1"}) for _ in range(3)])
    tc = statistics.median([command([py, "-c", script, str(path)]) for _ in range(3)])
    print(f"whole command     mmpipe vad {oc:.3f} s   python get_speech_timestamps(decode_audio) {tc:.3f} s   ours/theirs speed {tc / oc:.2f}x")


if __name__ == "__main__":
    main()
