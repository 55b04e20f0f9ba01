#!/usr/bin/env python3
"""faster-whisper's BatchedInferencePipeline, for the parity tests of `transcribe --batch-size N`.

Regenerate (from the repository root; faster-whisper 1.2.1 in the bench venv, created as
scripts/bench does: `python3 -m venv .build-bench/venv && .build-bench/venv/bin/python -m pip
install -q "faster-whisper==1.2.1"`; the models fetched by scripts/fetch-models; Debian's
pocketsphinx-testdata for the LibriVox clips):

    .build-bench/venv/bin/python scripts/gen-whisper-batched-fixtures.py

Takes 15 s on 2 idle cores (90 to 105 s while a Swift build shared them). Writes
Tests/CLITests/Fixtures/whisper-batched.json; a second run writes the same bytes.

Model: faster_whisper.WhisperModel(Models/whisper-tiny.en, device="cpu",
compute_type="float32", cpu_threads=2, num_workers=1) on the CTranslate2 weights mmpipe loads.
Runs: BatchedInferencePipeline(model).transcribe(audio, language="en", beam_size=5,
batch_size=B), every other argument at its default (so vad_filter=True,
without_timestamps=True, temperature 0 only (no fallback), condition_on_previous_text off,
and the VAD at VadOptions(max_speech_duration_s=30, min_silence_duration_ms=160)):
  batch8        B=8, every input
  batch2        B=2, on "long" only; the test that results do not depend on B. "long" has
                two chunks, so B=2 is one encoder batch of 2 as with B=8; hence also
  batch1        B=1, on "long" only: two encoder batches of 1.
                `equal_to_batch8` records, for each, whether every field of every segment
                equals batch8's (all_fields) and whether tokens, text, start and end do.
  batch8_words  B=8 with word_timestamps=True, every input
Audio: 16 kHz mono int16 / 32768 as float32 (what mmpipe decodes from a 16-bit WAV),
passed as an array. CTranslate2's generator is seeded with 0 before each run
(ctranslate2.set_random_seed), as the other fixture scripts do; at temperature 0 with
beam search nothing is sampled.

Per run, each segment as the pipeline yields it (id, seek, start, end, text, tokens,
avg_logprob, no_speech_prob, compression_ratio, temperature, words: start, end, word,
probability), plus `joined`: its start and end (and its words' [start, end]) before
restore_speech_timestamps, i.e. on the time line of the speech joined end to end; and
`encoder_batches`: the shape of each batch given to the encoder.

Intermediate values, per input, to locate a failure:
  speech_regions  get_speech_timestamps(audio, VadOptions(max_speech_duration_s=30,
                  min_silence_duration_ms=160)) (sample indices)
  chunks          collect_chunks(audio, speech_regions, max_duration=30): per chunk its
                  offset and duration (s, on the joined time line), its number of samples,
                  and its features as the pipeline computes them
                  (pad_or_trim(model.feature_extractor(chunk)[..., :-1])): the shape before
                  padding, the sum (float64) / max / min of the padded [80, 3000] array (the
                  padding is zeros), and mel bins 0..4 of frame 0 and of the last real frame.
                  The script checks these are the arrays the pipeline gives the encoder.

Inputs (recipes of scripts/test_audio.py; no audio is written; the sha256 and the FNV-1a 64
of the int16 little-endian PCM are recorded, so the test can check it rebuilt the same
samples):
  gaps     3 s of silence, LibriVox clip 0870, 40 s of silence, clip 0880, 0.5 s of
           silence, clip 0890, 3 s of silence (62.65 s; as in gen-whisper-vad-fixtures.py)
  long     the five LibriVox clips (0870 0880 0890 0920 0930) with 0.3 s of silence
           between them, that sequence twice (0.3 s between the two); 52.16 s; two
           chunks of 26.0 and 25.968 s (the clips' silences split the speech at every
           clip; no region reaches 30 s, so VAD's max_speech_duration_s split never
           happens with these clips)
  silence  20 s of zeros
  single   LibriVox clip 0870 alone (7.1 s, one chunk)
"""
import hashlib
import json
import pathlib
import sys
import time

import numpy as np
import ctranslate2

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import test_audio  # noqa: E402
import faster_whisper
import faster_whisper.transcribe as fw_transcribe
from faster_whisper import BatchedInferencePipeline, WhisperModel
from faster_whisper.audio import pad_or_trim
from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests/CLITests/Fixtures/whisper-batched.json"
OPTIONS = dict(language="en", beam_size=5)
VAD = dict(max_speech_duration_s=30, min_silence_duration_ms=160)
CLIPS = ["0870", "0880", "0890", "0920", "0930"]


def build(recipe):
    """recipe: test_audio's parts ({"silence": seconds}, {"clip": name}, ...)."""
    samples = test_audio.build(recipe)
    pcm = np.asarray(samples, dtype="<i2")
    info = {"recipe": recipe, "samples": int(len(pcm)),
            "pcm_sha256": hashlib.sha256(pcm.astype("<i2").tobytes()).hexdigest(),
            "fnv1a64": test_audio.fnv1a64(samples)}
    return info, pcm.astype(np.float32) / 32768.0


def long_recipe():
    once = []
    for i, clip in enumerate(CLIPS):
        once += ([{"silence": 0.3}] if i else []) + [{"clip": clip}]
    return once + [{"silence": 0.3}] + once


INPUTS = {
    "gaps": build([{"silence": 3}, {"clip": "0870"}, {"silence": 40}, {"clip": "0880"}, {"silence": 0.5},
                   {"clip": "0890"}, {"silence": 3}]),
    "long": build(long_recipe()),
    "silence": build([{"silence": 20}]),
    "single": build([{"clip": "0870"}]),
}
# Inputs also transcribed with these batch sizes.
OTHER_BATCH_SIZES = {"long": [2, 1]}


def chunks_of(model, audio):
    """The pipeline's VAD regions, chunks and per-chunk features (summarised), and the features."""
    regions = get_speech_timestamps(audio.copy(), VadOptions(**VAD))
    audio_chunks, metadata = collect_chunks(audio, regions, max_duration=30)
    chunks, features = [], []
    for chunk, meta in zip(audio_chunks, metadata):
        c = {"offset": meta["offset"], "duration": meta["duration"], "samples": int(len(chunk))}
        if regions:  # with no speech the pipeline computes no features (duration_after_vad == 0)
            raw = model.feature_extractor(chunk)[..., :-1]
            padded = pad_or_trim(raw)
            n = raw.shape[-1]
            c["features"] = {
                "shape_before_padding": list(raw.shape), "shape": list(padded.shape),
                "sum": float(padded.astype(np.float64).sum()), "max": float(padded.max()), "min": float(padded.min()),
                "frame0_bins0to4": [float(v) for v in padded[:5, 0]],
                "last_frame_index": n - 1,
                "last_frame_bins0to4": [float(v) for v in padded[:5, min(n, 3000) - 1]],
            }
            features.append(padded)
        chunks.append(c)
    return regions, chunks, features


def run(pipeline, audio, batch_size, words, regions, features):
    """One transcription; segments as yielded, with their times before restore_speech_timestamps."""
    joined = []
    encoder_batches = []
    original_restore = fw_transcribe.restore_speech_timestamps
    original_encode = pipeline.model.encode

    def restore(segments, speech_chunks, sampling_rate):
        assert speech_chunks == regions, "the pipeline's VAD regions differ from get_speech_timestamps'"

        def tap():
            for s in segments:
                j = {"start": s.start, "end": s.end}
                if s.words is not None:
                    j["words"] = [[w.start, w.end] for w in s.words]
                joined.append(j)
                yield s
        return original_restore(tap(), speech_chunks, sampling_rate)

    def encode(batch):
        k = sum(b[0] for b in encoder_batches)
        assert np.array_equal(batch, np.stack(features[k:k + batch.shape[0]])), "features differ"
        encoder_batches.append(list(batch.shape))
        return original_encode(batch)

    fw_transcribe.restore_speech_timestamps = restore
    pipeline.model.encode = encode
    try:
        ctranslate2.set_random_seed(0)
        segments, info = pipeline.transcribe(audio, batch_size=batch_size, word_timestamps=words, **OPTIONS)
        segments = list(segments)
    finally:
        fw_transcribe.restore_speech_timestamps = original_restore
        del pipeline.model.encode
    out = []
    for s, j in zip(segments, joined, strict=True):
        d = {"id": s.id, "seek": s.seek, "start": s.start, "end": s.end, "text": s.text, "tokens": list(s.tokens),
             "avg_logprob": s.avg_logprob, "no_speech_prob": s.no_speech_prob,
             "compression_ratio": s.compression_ratio, "temperature": s.temperature}
        if words:
            d["words"] = [{"start": w.start, "end": w.end, "word": w.word, "probability": w.probability}
                          for w in s.words]
        d["joined"] = j
        out.append(d)
    assert sum(b[0] for b in encoder_batches) == (len(features) if info.duration_after_vad else 0)
    return {"batch_size": batch_size, "word_timestamps": words, "duration": info.duration,
            "duration_after_vad": info.duration_after_vad, "encoder_batches": encoder_batches, "segments": out}


def main():
    started = time.monotonic()
    model = WhisperModel(str(ROOT / "Models/whisper-tiny.en"), device="cpu", compute_type="float32", cpu_threads=2,
                         num_workers=1)
    pipeline = BatchedInferencePipeline(model)
    out = {
        "generator": "scripts/gen-whisper-batched-fixtures.py",
        "versions": {"faster-whisper": faster_whisper.__version__, "ctranslate2": ctranslate2.__version__,
                     "numpy": np.__version__, "python": sys.version.split()[0]},
        "model": "whisper-tiny.en",
        "model_call": 'WhisperModel("Models/whisper-tiny.en", device="cpu", compute_type="float32", cpu_threads=2, '
                      'num_workers=1)',
        "calls": {
            "batch8": 'BatchedInferencePipeline(model).transcribe(audio, language="en", beam_size=5, batch_size=8)',
            "batch2": 'BatchedInferencePipeline(model).transcribe(audio, language="en", beam_size=5, batch_size=2)',
            "batch1": 'BatchedInferencePipeline(model).transcribe(audio, language="en", beam_size=5, batch_size=1)',
            "batch8_words": 'BatchedInferencePipeline(model).transcribe(audio, language="en", beam_size=5, '
                            'batch_size=8, word_timestamps=True)',
            "speech_regions": "get_speech_timestamps(audio, VadOptions(max_speech_duration_s=30, "
                              "min_silence_duration_ms=160))",
            "chunks": "collect_chunks(audio, speech_regions, max_duration=30)",
            "features": "pad_or_trim(model.feature_extractor(chunk)[..., :-1]) (padding: zeros)",
        },
        "ctranslate2_random_seed": 0,
        "inputs": {},
    }
    for name, (info, audio) in INPUTS.items():
        t0 = time.monotonic()
        entry = dict(info)
        regions, chunks, features = chunks_of(model, audio)
        entry["speech_regions"] = regions
        entry["chunks"] = chunks
        entry["batch8"] = run(pipeline, audio, 8, False, regions, features)
        for b in OTHER_BATCH_SIZES.get(name, []):
            other = entry[f"batch{b}"] = run(pipeline, audio, b, False, regions, features)

            def key(r):
                return [(s["tokens"], s["text"], s["start"], s["end"]) for s in r["segments"]]
            entry.setdefault("equal_to_batch8", {})[f"batch{b}"] = {
                "all_fields": other["segments"] == entry["batch8"]["segments"],
                "tokens_text_start_end": key(other) == key(entry["batch8"])}
        entry["batch8_words"] = run(pipeline, audio, 8, True, regions, features)
        out["inputs"][name] = entry
        print(name, f"{time.monotonic() - t0:.1f}s", regions, [(c["offset"], c["duration"]) for c in chunks],
              len(entry["batch8"]["segments"]), "segments", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print("wrote", OUT.relative_to(ROOT), f"in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
