#!/usr/bin/env python3
"""Side-by-side transcription benchmark, run by `scripts/bench transcribe`.

Builds a 3-minute English recording from the LibriVox clips of Debian's
pocketsphinx-testdata (all five, repeated), then transcribes it with mmpipe and with
faster-whisper (pip, in .build-bench/venv) on the same CTranslate2 weights from
Models/, same beam size (5), same thread count, in one run, in each mode of
BENCH_MODES (default "float32,int8"; all four: BENCH_MODES=float32,int8,batched-int8,batched-float32):
  float32          ours `--compute-type default` (float16 storage, float32 products)
                   against faster-whisper's WhisperModel(compute_type="float32").transcribe;
  int8             `--compute-type int8` against compute_type="int8" (its recommended CPU setting);
  batched-int8     `--compute-type int8 --batch-size B` against faster-whisper's
                   BatchedInferencePipeline(model).transcribe(audio, language="en", beam_size=5,
                   batch_size=B) on compute_type="int8" (everything else at its defaults: VAD
                   chunks of up to 30 s, no conditioning on previous text);
  batched-float32  the same with `--compute-type default` against compute_type="float32".
B is BENCH_BATCH (default 8). Each mode is compared with faster-whisper's same mode: in a
batched mode the word difference is against their batched output of the same compute type.
Prints the machine first (CPU model from /proc/cpuinfo, the first lines of
`mmpipe --compute-info`, the peer's versions), then for each model and mode: wall time
including model load, real-time factor (processing seconds per audio second), the ratio
(faster-whisper time / ours: above 1 means we are faster), peak RSS (highest over the
runs), and how far the two transcripts differ (word edit distance, and as a word error
rate). Medians of BENCH_RUNS runs (default 3), the two sides interleaved. When one side of
a mode fails, its row says so ("ours failed: <first line of its stderr>"), the other
side's numbers are still printed, and the run goes on.

With BENCH_SHORT=1, also many short files: 50 pieces of 1-8 s cut from the same clips,
transcribed in one process by each side (ours: one `mmpipe transcribe` over all of them,
transcripts read from its --output-dir, with --batch-size B in a batched mode;
faster-whisper: one model looping over the files, in a batched mode one batched
transcribe per file, as its pipeline takes one file at a time), files per second in
each mode.
"""
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

root = pathlib.Path(__file__).resolve().parent.parent
work = root / ".build-bench" / "transcribe"
ours_bin = sys.argv[1]
venv_python = sys.argv[2]
models = sys.argv[3:] or ["tiny.en"]
threads = int(os.environ.get("MMPIPE_THREADS", str(os.cpu_count() or 1)))
runs = int(os.environ.get("BENCH_RUNS", "3"))
batch = int(os.environ.get("BENCH_BATCH", "8"))
modes = [m for m in os.environ.get("BENCH_MODES", "float32,int8").split(",") if m]
# mode: (our --compute-type, faster-whisper's compute_type, batched)
MODES = {
    "float32": ("default", "float32", False),
    "int8": ("int8", "int8", False),
    "batched-int8": ("int8", "int8", True),
    "batched-float32": ("default", "float32", True),
}
folders = {"tiny.en": "whisper-tiny.en", "base": "whisper-base"}

# The peer: one model, one line of transcript per file (one file: the long recording;
# many: the short pieces, in one process). batch 0: WhisperModel.transcribe; above 0: the
# batched pipeline, one file per call.
FW = r'''
import sys
from faster_whisper import BatchedInferencePipeline, WhisperModel
path, threads, compute_type, batch, files = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5:]
m = WhisperModel(path, device="cpu", compute_type=compute_type, cpu_threads=threads, num_workers=1)
if batch:
    pipeline = BatchedInferencePipeline(m)
    run = lambda f: pipeline.transcribe(f, language="en", beam_size=5, batch_size=batch)
else:
    run = lambda f: m.transcribe(f, beam_size=5, language="en", vad_filter=False, word_timestamps=False)
for f in files:
    segments, info = run(f)
    print(" ".join(s.text.strip() for s in segments).strip())
'''


def build_audio():
    work.mkdir(parents=True, exist_ok=True)
    out = work / "librivox-3min.wav"
    if not out.exists():
        clips = sorted(pathlib.Path("/usr/share/pocketsphinx/test/data/librivox").glob("*.wav"))
        subprocess.run(["sox", *map(str, clips * 7), str(out)], check=True)   # 7 x 27 s = 3:10
    return out


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


def first_line(text):
    line = next((l.strip() for l in text.splitlines() if l.strip()), "(no message)")
    return line if len(line) <= 100 else line[:97] + "..."


def timed(cmd, env):
    """One run: (wall seconds, peak RSS in MB, stdout, None), or (.., .., .., first line of
    stderr) when the command failed."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        try:
            p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        except OSError as e:                                  # not built, not executable
            return 0.0, 0.0, "", f"{e.strerror}: {cmd[0]}"
        _, status, usage = os.wait4(p.pid, 0)
        elapsed = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)     # reaped here; Popen must not wait again
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    error = None
    if p.returncode != 0:
        error = first_line(stderr) if stderr.strip() else f"exit status {p.returncode}"
    return elapsed, usage.ru_maxrss / 1024, stdout.strip(), error


class Side:
    """One side's runs of one mode: median time, highest peak RSS, the last transcript,
    or the error that stopped it."""

    def __init__(self, name):
        self.name, self.times, self.mbs, self.text, self.error = name, [], [], "", None

    def add(self, result):
        t, mb, text, error = result
        if error:
            self.error = f"{self.name} failed: {error}"
        else:
            self.times.append(t)
            self.mbs.append(mb)
            self.text = text

    @property
    def ok(self):
        return self.error is None and bool(self.times)

    @property
    def time(self):
        return statistics.median(self.times) if self.ok else None

    @property
    def mb(self):
        return max(self.mbs) if self.ok else None


def measure(ours_cmd, fw_cmd, env):
    """Both sides, `runs` times each, interleaved so drift hits both alike; a side that
    fails is not run again."""
    ours, fw = Side("ours"), Side("faster-whisper")
    for _ in range(runs):
        for side, cmd in ((ours, ours_cmd), (fw, fw_cmd)):
            if side.error is None:
                side.add(timed(cmd, env))
    return ours, fw


def num(value, width, spec):
    return f"{value:{width}{spec}}" if value is not None else f"{'-':>{width}}"


def errors(*sides):
    said = [s.error for s in sides if s.error]
    return ("  " + "; ".join(said)) if said else ""


def words(t):
    return re.sub(r"[^a-z' ]", " ", t.lower().replace("-", " ")).split()


def distance(a, b):
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(b) + 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
    return d[len(b)]


def machine(env):
    """The CPU, our compute set-up and the peer's versions, so the numbers carry their machine."""
    info = {}
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set(info.get("flags", "").split())
    simd = " ".join(f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16")
                    if f in flags)
    print(f"cpu: {info.get('model name', 'unknown')} (family {info.get('cpu family', '?')}, "
          f"model {info.get('model', '?')}, stepping {info.get('stepping', '?')}), {os.cpu_count()} logical CPUs; "
          f"{simd or 'no AVX2'}")
    try:
        p = subprocess.run([ours_bin, "--compute-info"], capture_output=True, text=True, env=env)
        lines, error = p.stdout.splitlines()[:8], (p.returncode != 0 and first_line(p.stderr))
    except OSError as e:
        lines, error = [], f"{e.strerror}: {ours_bin}"
    for line in lines if not error else []:
        print(f"ours --compute-info: {line}")
    if error:
        print(f"ours --compute-info failed: {error}")
    p = subprocess.run([venv_python, "-c", "import faster_whisper, ctranslate2; "
                        "print(f'faster-whisper {faster_whisper.__version__}, ctranslate2 {ctranslate2.__version__}')"],
                       capture_output=True, text=True)
    print(f"peer: {p.stdout.strip()}" if p.returncode == 0 else f"peer: import failed: {first_line(p.stderr)}")


def main():
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        sys.exit(f"bench-transcribe: unknown mode {', '.join(unknown)} in BENCH_MODES (known: {', '.join(MODES)})")
    audio = build_audio()
    seconds = float(subprocess.run(["soxi", "-D", str(audio)], capture_output=True, text=True).stdout)
    env = {**os.environ, "MMPIPE_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    fw_script = work / "fw.py"
    fw_script.write_text(FW)
    machine(env)
    batched = any(MODES[m][2] for m in modes)
    print(f"audio: {audio.name}, {seconds:.0f} s; beam 5; {threads} threads; modes {', '.join(modes)}"
          f"{f'; batch {batch}' if batched else ''}; median of {runs}")
    print(f"{'model':10}{'mode':16}{'ours s':>9}{'ours RTF':>10}{'fw s':>9}{'fw RTF':>9}{'fw/ours':>9}{'ours MB':>9}{'fw MB':>8}"
          f"{'word diff':>11}{'WER':>7}")
    for name in models:
        folder = root / "Models" / folders[name]
        for mode in modes:
            ours_type, fw_type, is_batched = MODES[mode]
            extra = ["--batch-size", str(batch)] if is_batched else []
            # English given to both sides (faster-whisper's runs name it): no language detection.
            ours_cmd = [ours_bin, "transcribe", str(audio), "--model", name, "--language", "en", "--beam-size", "5",
                        "--threads", str(threads), "--compute-type", ours_type, *extra, "--quiet"]
            fw_cmd = [venv_python, str(fw_script), str(folder), str(threads), fw_type, str(batch if is_batched else 0),
                      str(audio)]
            ours, fw = measure(ours_cmd, fw_cmd, env)
            o, f = ours.time, fw.time
            diff = wer = None
            if ours.ok and fw.ok:
                wo, wf = words(ours.text), words(fw.text)
                d = distance(wo, wf)
                diff, wer = f"{d}/{len(wf)}", 100 * d / max(1, len(wf))
            print(f"{name:10}{mode:16}{num(o, 9, '.2f')}{num(o and o / seconds, 10, '.4f')}{num(f, 9, '.2f')}"
                  f"{num(f and f / seconds, 9, '.4f')}{num(o and f and f / o, 9, '.2f')}{num(ours.mb, 9, '.0f')}"
                  f"{num(fw.mb, 8, '.0f')}{diff or '-':>11}{num(wer, 6, '.1f')}{'%' if wer is not None else ' '}"
                  f"{errors(ours, fw)}", flush=True)

    if os.environ.get("BENCH_SHORT") == "1":
        files = short_clips()
        total = sum(float(subprocess.run(["soxi", "-D", str(f)], capture_output=True, text=True).stdout) for f in files)
        print(f"\nmany short files: {len(files)} pieces, {total:.1f} s in all; one process each side; median of {runs}")
        print(f"{'model':10}{'mode':16}{'ours s':>9}{'files/s':>9}{'fw s':>9}{'files/s':>9}{'fw/ours':>9}{'word diff':>11}")
        for name in models:
            folder = root / "Models" / folders[name]
            for mode in modes:
                ours_type, fw_type, is_batched = MODES[mode]
                extra = ["--batch-size", str(batch)] if is_batched else []
                out_dir = work / "short-out"
                ours_cmd = [ours_bin, "transcribe", *map(str, files), "--model", name, "--language", "en", "--beam-size", "5",
                            "--threads", str(threads), "--compute-type", ours_type, *extra, "--quiet",
                            "--output-dir", str(out_dir), "--overwrite"]
                fw_cmd = [venv_python, str(fw_script), str(folder), str(threads), fw_type,
                          str(batch if is_batched else 0), *map(str, files)]
                ours, fw = measure(ours_cmd, fw_cmd, env)
                o, f = ours.time, fw.time
                diff = None
                if ours.ok and fw.ok:
                    try:
                        ours_text = " ".join((out_dir / f"{p.stem}.txt").read_text() for p in files)
                    except OSError as e:
                        ours.error = f"ours failed: transcript missing: {e.filename}"
                    else:
                        wo, wf = words(ours_text), words(fw.text)
                        diff = f"{distance(wo, wf)}/{len(wf)}"
                print(f"{name:10}{mode:16}{num(o, 9, '.2f')}{num(o and len(files) / o, 9, '.2f')}{num(f, 9, '.2f')}"
                      f"{num(f and len(files) / f, 9, '.2f')}{num(o and f and f / o, 9, '.2f')}{diff or '-':>11}"
                      f"{errors(ours, fw)}", flush=True)


if __name__ == "__main__":
    main()
