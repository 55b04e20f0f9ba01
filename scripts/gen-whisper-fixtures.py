#!/usr/bin/env python3
"""Whisper reference fixtures from the reference implementation (CTranslate2 running the
same CT2 weights mmpipe loads), for the Models tests.

Regenerate (from the repository root, after scripts/bootstrap --models, which installs
pocketsphinx-testdata and fetches whisper-tiny.en and whisper-assets):

    pip install ctranslate2            # CPU wheel, needs only numpy
    scripts/fetch-models whisper-base  # optional: base fixtures are written when present
    python3 scripts/gen-whisper-fixtures.py

Written with ctranslate2 4.8.5 and numpy 2.4 (recorded in reference.json); takes about
2 minutes on 2 cores.

Clips (16 kHz mono 16-bit wav): Samples/speech.wav and two LibriVox clips of Debian's
pocketsphinx-testdata (/usr/share/pocketsphinx/test/data/librivox/, public domain).

Front end, whisper's algorithm in numpy (float64, saved as float32): samples / 32768,
zero-padded to 480000 samples (30 s); periodic Hann window of 400; frames every 160
samples with the signal reflect-padded by 200 on both sides (torch.stft center=True);
|rfft|^2, dropping the last frame (3001 -> 3000); mel_80 filters of
Models/whisper-assets/mel_filters.npz; log10(max(x, 1e-10)); max(x, x.max() - 8);
(x + 4) / 4. Result [80, 3000]. (openai-whisper pads 30 s of zeros after the audio
instead of up to 30 s; for clips shorter than 30 s the first 3000 frames are the same.)

Reference model: ctranslate2.models.Whisper(dir, device="cpu", compute_type="float32")
(fp16 weights widened to fp32, as mmpipe does), 2 intra threads.

Writes Tests/ModelsTests/Fixtures/whisper/:
  reference.json   versions; per clip: file name, sample count, the ground-truth
                   transcription, mel summary file; per model and clip: the greedy
                   decoding without timestamps and with timestamps (prompt ids, generated
                   ids without the prompt and without <|endoftext|>, decoded text,
                   CTranslate2's score = cumulative log-prob / len(tokens) (length_penalty 1;
                   faster-whisper's sum_logprob is score * len(tokens)), no-speech
                   probability) and encoder output statistics (mean, std, max |x| over
                   the whole [1500, d] output).
  mel-speech-full.npy
                   float32 [80, 3000]: the full log-mel of Samples/speech.wav.
  mel-summary-<clip>.npy
                   float32 [8, 80]: the frames MEL_FRAMES of the log-mel, then the
                   per-bin mean and std over all 3000 frames.
  encoder-<model>-<clip>.npy
                   float32 [8, d]: rows ENCODER_ROWS of the encoder output [1500, d], then
                   the per-column mean and std over all 1500 rows.
Prompts: tiny.en <|startoftranscript|> (50257) [+ <|notimestamps|> (50362)]; multilingual
base <|startoftranscript|><|en|><|transcribe|> (50258, 50259, 50359) [+ <|notimestamps|>
(50363)]. The greedy run uses beam_size=1, max_length=448, CT2's defaults suppress_blank=True and
suppress_tokens=[-1] (config.json's suppress_ids), and max_initial_timestamp_index=50.
"""
import hashlib
import json
import pathlib
import wave

import numpy as np
import ctranslate2

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests/ModelsTests/Fixtures/whisper"
MODELS = ROOT / "Models"
LIBRIVOX = pathlib.Path("/usr/share/pocketsphinx/test/data/librivox")

# (name, file, its id in the LibriVox transcription file; speech.wav is a copy of 0870)
CLIPS = [
    ("speech", ROOT / "Samples/speech.wav", "sense_and_sensibility_01_austen_64kb-0870"),
    ("librivox-0890", LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0890.wav", "sense_and_sensibility_01_austen_64kb-0890"),
    ("librivox-0920", LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0920.wav", "sense_and_sensibility_01_austen_64kb-0920"),
]
MEL_FRAMES = [0, 1, 100, 200, 350, 2999]
ENCODER_ROWS = [0, 1, 100, 200, 750, 1499]

N_FFT, HOP, N_SAMPLES, N_FRAMES = 400, 160, 480000, 3000


def read_wav(path):
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == 16000, path
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.astype(np.float64) / 32768.0


def log_mel(samples, filters):
    x = np.zeros(N_SAMPLES)
    x[: min(len(samples), N_SAMPLES)] = samples[:N_SAMPLES]
    x = np.pad(x, (N_FFT // 2, N_FFT // 2), mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    n_frames = 1 + (len(x) - N_FFT) // HOP  # 3001
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    power = np.abs(np.fft.rfft(x[idx] * window, axis=1)) ** 2  # [3001, 201]
    mel = filters.astype(np.float64) @ power[:-1].T  # [80, 3000]
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)


def summary(matrix, rows):
    """matrix [T, C] -> [len(rows) + 2, C]: the chosen rows, column means, column stds."""
    m = matrix.astype(np.float64)
    return np.concatenate([m[rows], m.mean(0, keepdims=True), m.std(0, keepdims=True)]).astype(np.float32)


def byte_decoder():
    """GPT-2's byte-level BPE alphabet, inverted (printable stand-in char -> byte)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


BYTES = byte_decoder()


def decode(ids, vocab):
    """Token ids -> text; special tokens (<|...|>) are kept as they are."""
    out, pending = [], bytearray()
    for i in ids:
        tok = vocab[i]
        if tok.startswith("<|") and tok.endswith("|>"):
            out.append(pending.decode("utf-8", errors="replace"))
            pending = bytearray()
            out.append(tok)
        else:
            pending.extend(BYTES[c] for c in tok)
    out.append(pending.decode("utf-8", errors="replace"))
    return "".join(out)


def prompts(vocab):
    ids = {tok: i for i, tok in enumerate(vocab)}
    sot = ids["<|startoftranscript|>"]
    multilingual = len(vocab) >= 51865
    base = [sot, ids["<|en|>"], ids["<|transcribe|>"]] if multilingual else [sot]
    return base + [ids["<|notimestamps|>"]], base


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    filters = np.load(MODELS / "whisper-assets/mel_filters.npz")["mel_80"]
    truth = {}
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        text, _, fid = line.rpartition(" (")
        truth[fid.rstrip(")")] = text.replace("<s>", "").replace("</s>", "").strip()

    ref = {
        "generator": "scripts/gen-whisper-fixtures.py",
        "ctranslate2": ctranslate2.__version__,
        "numpy": np.__version__,
        "compute_type": "float32",
        "mel_frames": MEL_FRAMES,
        "encoder_rows": ENCODER_ROWS,
        "clips": [],
        "models": {},
    }
    features = {}
    for name, path, fid in CLIPS:
        samples = read_wav(path)
        mel = log_mel(samples, filters)
        features[name] = mel
        if name == "speech":
            np.save(OUT / "mel-speech-full.npy", mel)
        np.save(OUT / f"mel-summary-{name}.npy", summary(mel.T, MEL_FRAMES))
        ref["clips"].append({
            "name": name,
            "file": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
            "samples": int(len(samples)),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "transcription": truth[fid],
            "mel_summary": f"mel-summary-{name}.npy",
        })

    for model_name in ["whisper-tiny.en", "whisper-base"]:
        model_dir = MODELS / model_name
        if not (model_dir / "model.bin").exists():
            print(f"skipping {model_name}: {model_dir}/model.bin not found")
            continue
        vocab = (model_dir / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
        if vocab[-1] == "":
            vocab.pop()
        model = ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="float32", intra_threads=2)
        short = model_name.removeprefix("whisper-")
        no_ts, with_ts = prompts(vocab)
        results = {}
        for name, _, _ in CLIPS:
            sv = ctranslate2.StorageView.from_array(features[name][None])
            enc = np.array(model.encode(sv, to_cpu=True))[0]  # [1500, d]
            np.save(OUT / f"encoder-{short}-{name}.npy", summary(enc, ENCODER_ROWS))
            entry = {
                "encoder_summary": f"encoder-{short}-{name}.npy",
                "encoder_mean": float(enc.astype(np.float64).mean()),
                "encoder_std": float(enc.astype(np.float64).std()),
                "encoder_max_abs": float(np.abs(enc).max()),
            }
            for key, prompt in [("greedy", no_ts), ("greedy_timestamps", with_ts)]:
                r = model.generate(sv, [prompt], beam_size=1, max_length=448, return_scores=True,
                                   return_no_speech_prob=True)[0]
                ids = list(r.sequences_ids[0])
                entry[key] = {
                    "prompt": prompt,
                    "tokens": ids,
                    "text": decode(ids, vocab),
                    "score": float(r.scores[0]),
                    "no_speech_prob": float(r.no_speech_prob),
                }
                print(f"{model_name} {name} {key}: {entry[key]['text']!r}")
            results[name] = entry
        ref["models"][model_name] = {
            "n_vocab": len(vocab),
            "d_model": int(enc.shape[1]),
            "clips": results,
        }
    (OUT / "reference.json").write_text(json.dumps(ref, indent=1, ensure_ascii=False) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {OUT.relative_to(ROOT)}: {total} bytes")


if __name__ == "__main__":
    main()
