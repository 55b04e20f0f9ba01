#!/usr/bin/env python3
"""Side-by-side media benchmark, run by `scripts/bench media`.

Builds a photo set from Samples/ (each photo at its own size and upscaled 3x, as JPEG q90
and PNG) and two 3-minute audio files (44.1 kHz stereo WAV and MP3) under .build-bench/,
then times, on the same files in the same run:
  images: decode + shorter side to 224 (bicubic) + center crop 224
          ours (mmpipe-bench media) vs Pillow, on 1 worker and on all cores;
  audio:  decode + mono + resample to 16 kHz, ours vs the ffmpeg CLI (-f f32le to /dev/null).
Medians of 3; prints rates and ratios (ours / peer: above 1 means we are faster).
"""
import multiprocessing as mp
import os
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np
from PIL import Image

root = pathlib.Path(__file__).resolve().parent.parent
work = root / ".build-bench" / "media"
photos = work / "photos"
ours_bin = sys.argv[1]
rounds = int(os.environ.get("BENCH_ROUNDS", "3"))


def build_inputs():
    photos.mkdir(parents=True, exist_ok=True)
    for src in sorted((root / "Samples").glob("*.jpg")):
        img = Image.open(src).convert("RGB")
        big = img.resize((img.width * 3, img.height * 3), Image.LANCZOS)
        for name, im in ((src.stem, img), (src.stem + "_x3", big)):
            if not (photos / f"{name}.jpg").exists():
                im.save(photos / f"{name}.jpg", quality=90)
                im.save(photos / f"{name}.png")
    wav, mp3 = work / "speech-3min.wav", work / "speech-3min.mp3"
    if not wav.exists():
        # 26 copies of the 7.1 s sample = 3 min 5 s, as 44.1 kHz stereo.
        reps = [str(root / "Samples/speech.wav")] * 26
        subprocess.run(["sox", *reps, "-r", "44100", "-c", "2", str(wav)], check=True)
    if not mp3.exists():
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-b:a", "128k", str(mp3)], check=True)
    return [wav, mp3]


def pil_prepare(path):
    img = Image.open(path).convert("RGB")
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(224 * long / short)
    size = (224, new_long) if w <= h else (new_long, 224)
    img = img.resize(size, Image.BICUBIC)
    left, top = int(round((size[0] - 224) / 2.0)), int(round((size[1] - 224) / 2.0))
    return np.asarray(img.crop((left, top, left + 224, top + 224)))


def pil_rate(files, workers):
    todo = files * rounds
    t0 = time.perf_counter()
    if workers == 1:
        for f in todo:
            pil_prepare(f)
    else:
        with mp.Pool(workers) as pool:
            pool.map(pil_prepare, todo, chunksize=4)
    return len(todo) / (time.perf_counter() - t0)


def ffmpeg_rate(path, seconds_of_audio):
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-ac", "1", "-ar", "16000",
                        "-f", "f32le", "-y", "/dev/null"], check=True)
        times.append(time.perf_counter() - t0)
    return seconds_of_audio / statistics.median(times)


def main():
    audio = build_inputs()
    cores = os.cpu_count() or 1
    out = subprocess.run([ours_bin, "media", str(photos), *map(str, audio)], check=True,
                         capture_output=True, text=True, env={**os.environ, "BENCH_ROUNDS": str(rounds)}).stdout
    ours = {}
    for line in out.splitlines():
        parts = line.split()
        ours[" ".join(parts[1:-1])] = float(parts[-1])
    print(f"images: decode + shorter side 224 bicubic + center crop; {len(list(photos.glob('*.jpg')))} photos per format "
          f"({', '.join(sorted({f'{Image.open(p).width}x{Image.open(p).height}' for p in photos.glob('*.jpg')}))}), "
          f"x{rounds}, median of 3")
    print(f"{'':22}{'ours img/s':>12}{'Pillow img/s':>14}{'ratio':>8}")
    for ext in ("jpg", "png"):
        files = sorted(str(p) for p in photos.glob(f"*.{ext}"))
        pil_rate(files, 1)   # warm-up
        for label, workers in (("1-worker", 1), ("all-cores", cores)):
            peer = statistics.median(pil_rate(files, workers) for _ in range(3))
            mine = ours[f"{ext} {label}"]
            print(f"{ext + ' ' + label + f' ({workers})':22}{mine:12.1f}{peer:14.1f}{mine / peer:8.2f}")
    print("\naudio: decode + mono + resample to 16 kHz; seconds of audio per second, median of 3")
    print(f"{'':22}{'ours':>12}{'ffmpeg CLI':>14}{'ratio':>8}")
    for path in audio:
        seconds = float(subprocess.run(["soxi", "-D", str(audio[0])], capture_output=True, text=True).stdout)
        peer = ffmpeg_rate(path, seconds)
        mine = ours[f"audio {path.name}"]
        print(f"{path.name:22}{mine:12.0f}{peer:14.0f}{mine / peer:8.2f}")


if __name__ == "__main__":
    main()
