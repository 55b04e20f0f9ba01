#!/usr/bin/env python3
"""Side-by-side transcription benchmark, run by `scripts/bench transcribe`.

Builds a 3-minute English recording from the LibriVox clips of Debian's
pocketsphinx-testdata (all five, repeated), then transcribes it with mmpipe and with
faster-whisper (pip, in .build-bench/venv) on the same CTranslate2 weights from
Models/, same beam size (5), same thread count, in one run, in each mode of
BENCH_MODES (default "float32,int8"): float32 is ours `--compute-type default` (float16
storage, float32 products) against faster-whisper's compute_type="float32"; int8 is
`--compute-type int8` against compute_type="int8" (its recommended CPU setting).
Prints, for each model and mode: wall time including model load, real-time factor
(processing seconds per audio second), the ratio (faster-whisper time / ours: above
1 means we are faster), peak RSS, and how far the two transcripts differ (word edit
distance, and as a word error rate). Medians of BENCH_RUNS runs (default 3).

With BENCH_SHORT=1, also many short files: 50 pieces of 1-8 s cut from the same clips,
transcribed in one process by each side (ours: one `mmpipe transcribe` over all of them;
faster-whisper: one model looping over the files), files per second in each mode.
"""
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import time

root = pathlib.Path(__file__).resolve().parent.parent
work = root / ".build-bench" / "transcribe"
ours_bin = sys.argv[1]
venv_python = sys.argv[2]
models = sys.argv[3:] or ["tiny.en"]
threads = int(os.environ.get("MMPIPE_THREADS", str(os.cpu_count() or 1)))
runs = int(os.environ.get("BENCH_RUNS", "3"))
modes = [m for m in os.environ.get("BENCH_MODES", "float32,int8").split(",") if m]
OURS_TYPE = {"float32": "default", "int8": "int8"}
folders = {"tiny.en": "whisper-tiny.en", "base": "whisper-base"}

FW = r'''
import sys, time
from faster_whisper import WhisperModel
path, audio, threads, compute_type = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
m = WhisperModel(path, device="cpu", compute_type=compute_type, cpu_threads=threads, num_workers=1)
segments, info = m.transcribe(audio, beam_size=5, language="en", vad_filter=False, word_timestamps=False)
print("".join(s.text for s in segments).strip())
'''


def build_audio():
    work.mkdir(parents=True, exist_ok=True)
    out = work / "librivox-3min.wav"
    if not out.exists():
        clips = sorted(pathlib.Path("/usr/share/pocketsphinx/test/data/librivox").glob("*.wav"))
        subprocess.run(["sox", *map(str, clips * 7), str(out)], check=True)   # 7 x 27 s = 3:10
    return out


def timed(cmd, env=None):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = p.communicate()
    _, status, usage = os.wait4(p.pid, 0) if p.returncode is None else (0, 0, None)
    elapsed = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {err.decode()[-2000:]}")
    return elapsed, out.decode().strip()


FW_MANY = r'''
import sys
from faster_whisper import WhisperModel
path, threads, compute_type, files = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
m = WhisperModel(path, device="cpu", compute_type=compute_type, cpu_threads=threads, num_workers=1)
for f in files:
    segments, info = m.transcribe(f, beam_size=5, language="en", vad_filter=False, word_timestamps=False)
    print("".join(s.text for s in segments).strip())
'''


def short_clips():
    """50 pieces of 1-8 s of the LibriVox clips (as long as each clip allows)."""
    out = work / "short"
    out.mkdir(parents=True, exist_ok=True)
    clips = sorted(pathlib.Path("/usr/share/pocketsphinx/test/data/librivox").glob("*.wav"))
    files = []
    for i in range(50):
        f = out / f"piece-{i:02d}.wav"
        if not f.exists():
            d = 1.0 + (i * 0.61) % 7.0
            subprocess.run(["sox", "-V1", str(clips[i % len(clips)]), str(f), "trim", "0", f"{d:.2f}"], check=True)
        files.append(f)
    return files


def rss_of(cmd, env=None):
    """Peak RSS (MB) of a command, via wait4."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, _, usage = os.wait4(p.pid, 0)
    return usage.ru_maxrss / 1024


def words(t):
    return re.sub(r"[^a-z' ]", " ", t.lower().replace("-", " ")).split()


def distance(a, b):
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(b) + 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
    return d[len(b)]


def main():
    audio = build_audio()
    seconds = float(subprocess.run(["soxi", "-D", str(audio)], capture_output=True, text=True).stdout)
    env = {**os.environ, "MMPIPE_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    fw_script = work / "fw.py"
    fw_script.write_text(FW)
    print(f"audio: {audio.name}, {seconds:.0f} s; beam 5; {threads} threads; modes {', '.join(modes)}; median of {runs}")
    print(f"{'model':10}{'mode':9}{'ours s':>9}{'ours RTF':>10}{'fw s':>9}{'fw RTF':>9}{'fw/ours':>9}{'ours MB':>9}{'fw MB':>8}"
          f"{'word diff':>11}{'WER':>7}")
    for name in models:
        folder = root / "Models" / folders[name]
        for mode in modes:
            ours_cmd = [ours_bin, "transcribe", str(audio), "--model", name, "--beam-size", "5", "--threads", str(threads),
                        "--compute-type", OURS_TYPE[mode], "--quiet"]
            fw_cmd = [venv_python, str(fw_script), str(folder), str(audio), str(threads), mode]
            ours_t, fw_t = [], []
            ours_text = fw_text = ""
            for _ in range(runs):       # interleaved, so drift hits both alike
                t, ours_text = timed(ours_cmd, env)
                ours_t.append(t)
                t, fw_text = timed(fw_cmd, env)
                fw_t.append(t)
            o, f = statistics.median(ours_t), statistics.median(fw_t)
            ours_mb, fw_mb = rss_of(ours_cmd, env), rss_of(fw_cmd, env)
            wo, wf = words(ours_text), words(fw_text)
            d = distance(wo, wf)
            print(f"{name:10}{mode:9}{o:9.2f}{o / seconds:10.4f}{f:9.2f}{f / seconds:9.4f}{f / o:9.2f}{ours_mb:9.0f}{fw_mb:8.0f}"
                  f"{d:6d}/{len(wf):<4}{100 * d / max(1, len(wf)):6.1f}%", flush=True)

    if os.environ.get("BENCH_SHORT") == "1":
        files = short_clips()
        total = sum(float(subprocess.run(["soxi", "-D", str(f)], capture_output=True, text=True).stdout) for f in files)
        many = work / "fw_many.py"
        many.write_text(FW_MANY)
        print(f"\nmany short files: {len(files)} pieces, {total:.1f} s in all; one process each side; median of {runs}")
        print(f"{'model':10}{'mode':9}{'ours s':>9}{'files/s':>9}{'fw s':>9}{'files/s':>9}{'fw/ours':>9}{'word diff':>11}")
        for name in models:
            folder = root / "Models" / folders[name]
            for mode in modes:
                out_dir = work / "short-out"
                ours_cmd = [ours_bin, "transcribe", *map(str, files), "--model", name, "--beam-size", "5",
                            "--threads", str(threads), "--compute-type", OURS_TYPE[mode], "--quiet",
                            "--output-dir", str(out_dir), "--overwrite"]
                fw_cmd = [venv_python, str(many), str(folder), str(threads), mode, *map(str, files)]
                ours_t, fw_t = [], []
                fw_text = ""
                for _ in range(runs):
                    t, _ = timed(ours_cmd, env)
                    ours_t.append(t)
                    t, fw_text = timed(fw_cmd, env)
                    fw_t.append(t)
                ours_text = " ".join((out_dir / f"{f.stem}.txt").read_text() for f in files)
                o, f = statistics.median(ours_t), statistics.median(fw_t)
                wo, wf = words(ours_text), words(fw_text)
                print(f"{name:10}{mode:9}{o:9.2f}{len(files) / o:9.2f}{f:9.2f}{len(files) / f:9.2f}{f / o:9.2f}"
                      f"{distance(wo, wf):6d}/{len(wf)}", flush=True)


if __name__ == "__main__":
    main()
