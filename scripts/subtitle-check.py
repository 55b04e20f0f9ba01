#!/usr/bin/env python3
"""Subtitle shaping against openai-whisper's own writers: `mmpipe transcribe --word-timestamps`
with --max-line-width, --max-line-count, --highlight-words and --max-words-per-line must
write the srt and vtt that openai-whisper's WriteSRT / WriteVTT write for the same
transcript (mmpipe's JSON with its words). The writers come from the openai-whisper source
distribution scripts/fetch-models keeps in Models/cache (their module needs no torch).

Usage: scripts/subtitle-check.py MMPIPE_BINARY   (run by Tests/CLITests/NewUserCLITests.swift)"""
import glob
import importlib.util
import io
import os
import json
import pathlib
import subprocess
import sys
import tarfile
import tempfile

BIN = sys.argv[1]
ROOT = pathlib.Path(__file__).resolve().parent.parent
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def writers():
    models = pathlib.Path(os.environ.get("MMPIPE_MODELS_DIR") or ROOT / "Models")
    sdist = sorted(glob.glob(str(models / "cache/openai-whisper/openai_whisper-*.tar.gz")))
    if not sdist:
        sys.exit(f"no openai-whisper source distribution in {models}/cache/openai-whisper: run scripts/fetch-models")
    with tarfile.open(sdist[-1]) as t:
        member = next(m for m in t.getmembers() if m.name.endswith("/whisper/utils.py"))
        source = t.extractfile(member).read()
    path = pathlib.Path(tempfile.mkdtemp()) / "whisper_utils.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("whisper_utils", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(*args):
    r = subprocess.run([BIN, *args, "--quiet"], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"mmpipe {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def main():
    utils = writers()
    with tempfile.TemporaryDirectory() as tmp:
        # Two clips joined: several segments, and a pause of more than 3 s between them.
        speech = ROOT / "Samples" / "speech.wav"
        padded = pathlib.Path(tmp) / "pause.wav"
        subprocess.run(["sox", str(speech), str(padded), "pad", "0", "4"], check=True)
        joined = pathlib.Path(tmp) / "joined.wav"
        subprocess.run(["sox", str(padded), str(speech), str(joined)], check=True)
        cases = [
            {},
            {"max_line_width": 42, "max_line_count": 2},
            {"max_line_width": 20, "max_line_count": 1},
            {"max_line_width": 30},
            {"max_words_per_line": 3},
            {"highlight_words": True},
            {"highlight_words": True, "max_line_width": 24, "max_line_count": 2},
            {"max_line_count": 2},
        ]
        audios = [joined]
        # A minute of LibriVox (many segments), where scripts/bootstrap installed it.
        librivox = sorted(glob.glob("/usr/share/pocketsphinx/test/data/librivox/*.wav"))
        if librivox:
            minute = pathlib.Path(tmp) / "minute.wav"
            subprocess.run(["sox", "-V1", *librivox, str(minute), "trim", "0", "60"], check=True)
            audios.append(minute)
        for audio in audios:
            transcript = json.loads(run("transcribe", str(audio), "--word-timestamps", "--format", "json", "--beam-size", "1"))
            check(len(transcript["segments"]) >= 2 and all(s["words"] for s in transcript["segments"]),
                  f"{audio.name}: {len(transcript['segments'])} segments with words")
            for options in cases:
                flags = []
                for k, v in options.items():
                    flags += [f"--{k.replace('_', '-')}"] + ([] if v is True else [str(v)])
                full = {"max_line_width": None, "max_line_count": None, "highlight_words": False, "max_words_per_line": None}
                full.update(options)
                for fmt, writer in [("srt", utils.WriteSRT(tmp)), ("vtt", utils.WriteVTT(tmp))]:
                    ours = run("transcribe", str(audio), "--word-timestamps", "--format", fmt, "--beam-size", "1", *flags)
                    buf = io.StringIO()
                    writer.write_result(transcript, file=buf, options=full)
                    theirs = buf.getvalue()
                    if not options:
                        # No shaping: one cue per segment (openai-whisper joins the words; the
                        # segment text is the same words).
                        check(ours.count("-->") == len(transcript["segments"]), f"{fmt} {options}: one cue per segment")
                        continue
                    check(ours == theirs, f"{fmt} {options or 'default'}: openai-whisper's {fmt} ({theirs.count('-->')} cues)"
                          + ("" if ours == theirs else f"\n--- ours\n{ours[:600]}\n--- theirs\n{theirs[:600]}"))
    print(f"{'all checks passed' if not failures else f'{len(failures)} check(s) failed'}", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
