#!/usr/bin/env python3
"""Whisper word-level timestamp reference fixtures, from openai-whisper's own code
(whisper/transcribe.py, whisper/timing.py, whisper/decoding.py) running on the same
CTranslate2 weights mmpipe loads (Models/whisper-tiny.en/, and Models/whisper-base/ when
present).

Regenerate (from the repository root; needs the models fetched by scripts/fetch-models,
Debian's python3-torch and python3-numpy, ffmpeg is NOT needed, and pocketsphinx-testdata
for the LibriVox clips in /usr/share/pocketsphinx/test/data/librivox/):

    apt-get install python3-torch python3-numpy pocketsphinx-testdata
    /usr/bin/python3 -m pip install --break-system-packages --no-deps openai-whisper==20250625
    #   (or the cached sdist: Models/cache/openai-whisper/openai_whisper-20250625.tar.gz)
    /usr/bin/python3 -m pip install --break-system-packages tiktoken more-itertools tqdm
    /usr/bin/python3 scripts/gen-whisper-word-fixtures.py

--no-deps keeps pip from pulling triton, numba and a newer torch/numpy. numba is NOT
installed: before whisper is imported this script puts a stub `numba` module into
sys.modules whose `jit(...)` returns the function unchanged, so timing.py's `dtw_cpu` and
`backtrace` run as plain Python/numpy (same arithmetic as the numba build: float64 input,
float32 cost and trace arrays). The stub is always used, even when numba is installed.
Written with Python 3.11.2, torch 1.13.0a0 (Debian, CPU), numpy 1.24.2, openai-whisper
20250625, tiktoken 0.14.0 (all recorded in words.json). Takes about 7 minutes on 2 cores.

Weights: model.bin (CTranslate2 binary version 6, WhisperSpec) is read here in numpy
(layout as in Sources/TensorCore/WeightFiles/CTranslate2File.swift), fp16 widened to float32, and
mapped to openai-whisper's state dict as WhisperLoader.swift does: the fused self-attention
`linear_0` is Q, K, V stacked by rows, the cross-attention `linear_1` is K, V, the key
rows' bias (zeros in CTranslate2) is dropped; nothing is rescaled (CTranslate2 stores the
Hugging Face projections as they are; openai-whisper scales q and k by d_head^-0.25 at run
time). `Whisper(ModelDimensions(...)).load_state_dict(strict=True)`, then
`set_alignment_heads` with the gzip+base85 blob of config.json's `alignment_heads`.
Sanity check: greedy `whisper.decode` without timestamps on Samples/speech.wav must give
SANITY_TEXT for tiny.en (the script stops otherwise).

Audio: 16 kHz mono 16-bit WAVs read with `wave`, samples / 32768 as float32 (what mmpipe
uses), passed to transcribe as an array (load_audio / ffmpeg is not used). Inputs:
  speech           Samples/speech.wav (a copy of LibriVox clip 0870, so 0870 is not repeated)
  librivox-0880, librivox-0930    the LibriVox clips
  long             0870, 0880, 0890, 0920, 0930, 0870 again, with 16000 zero samples
                   (1 s) between consecutive clips: 589,280 samples, 36.8 s, two windows,
                   the last clip straddling the 30 s mark
  silence          0870 + 320000 zero samples (20 s) + 0890: 32.4 s
  gaps             0870, 1 s, 0880, 15 s, 0890, 15 s, 0920 (silences as zero samples): 52.4 s;
                   base repeats "He was not an ill-disposed young man." into the silences
                   without hallucination_silence_threshold and drops the repeats with it
  gaps2            0870, 5 s, 0880, 5 s, 0890, 20 s, 0930: 48.7 s; with the threshold tiny.en
                   seeks to the last word's end (seek 4646 instead of 4640)
Each input's recipe (parts in order) and the sha256 of its int16 little-endian PCM are
recorded, so the Swift tests rebuild the same samples from the same files; no audio is
written.

Runs (per model): every input with `whisper.transcribe(model, audio, language="en",
task="transcribe", word_timestamps=True, beam_size=5, best_of=5,
temperature=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0), condition_on_previous_text=True, fp16=False,
verbose=None)` and the rest at openai-whisper's defaults (compression_ratio_threshold 2.4,
logprob_threshold -1, no_speech_threshold 0.6, suppress_tokens "-1", suppress_blank,
default punctuation sets, clip_timestamps "0"); plus `gaps-hst2` and `gaps2-hst2`: those
inputs again with hallucination_silence_threshold=2.0 (on `silence` the threshold changes
nothing for either model, so that run is not repeated). torch.manual_seed(0) before each
run (only a temperature > 0 fallback samples; each segment records its temperature; tiny.en's
`silence` run ends with an empty segment decoded at temperature 0.2). Two runs of this
script wrote byte-identical files.

Note for comparisons: transcribe computes the log-mel of the whole input followed by 30 s of
zero samples, takes the window's frames mel[:, seek : seek + segment_size] and pads them
to 3000 frames with 0.0 in log-mel space (pad_or_trim on the mel), which is not the same
as the log-mel of zero-padded audio (the sanity decode uses the latter).

Writes Tests/ModelsTests/Fixtures/whisper/words.json (only that file):
  versions, options, inputs (recipe, sample count, PCM sha256), and per model: dims,
  alignment heads (and whether they equal openai-whisper's built-in table), the key-bias and
  positional-encoding checks, the sanity decode, and per run: text, language, segments
  (id, seek, start, end, text, tokens, temperature, avg_logprob, compression_ratio,
  no_speech_prob, words: word, start, end, probability). Also, for the speech run, the
  raw `find_alignment` data of each window: its seek (frames), the text tokens, num_frames,
  medfilt_width, qk_scale, the tokens of the forward pass, the DTW matrix shape, the path
  (text_indices, time_indices as returned by timing.dtw), text_token_probs (softmax over
  logits[:, :eot] of the forward pass in find_alignment), and the WordTiming list it
  returned (before merge_punctuations and the duration heuristics; start/end relative to
  the window). Floats other than times are rounded to 6 decimals.
"""

import base64
import copy
import gzip
import hashlib
import json
import pathlib
import platform
import re
import struct
import sys
import types
import wave

import numpy as np


def _install_numba_stub():
    stub = types.ModuleType("numba")

    def jit(*args, **kwargs):
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]
        return lambda f: f

    stub.jit = jit
    stub.njit = jit
    stub.__version__ = "stub"
    sys.modules["numba"] = stub


_install_numba_stub()

import torch  # noqa: E402
import whisper  # noqa: E402
import whisper.timing  # noqa: E402
from whisper.model import ModelDimensions, Whisper, sinusoids  # noqa: E402
from whisper.tokenizer import get_tokenizer  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests/ModelsTests/Fixtures/whisper/words.json"
MODELS = ROOT / "Models"
LIBRIVOX = pathlib.Path("/usr/share/pocketsphinx/test/data/librivox")
SR = 16000

SANITY_TEXT = ("And Mr. John Dashwood had then leisure to consider how much there might be "
               "prudently in his power to do for them.")


def lv(n):
    return str(LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{n:04d}.wav")


def silence(seconds):
    return {"silence_samples": int(round(seconds * SR))}


# name -> parts in order: {"file": path} (repository-relative or absolute) or {"silence_samples": n}
INPUTS = {
    "speech": [{"file": "Samples/speech.wav"}],
    "librivox-0880": [{"file": lv(880)}],
    "librivox-0930": [{"file": lv(930)}],
    "long": [{"file": lv(870)}, silence(1), {"file": lv(880)}, silence(1), {"file": lv(890)}, silence(1),
             {"file": lv(920)}, silence(1), {"file": lv(930)}, silence(1), {"file": lv(870)}],
    "silence": [{"file": lv(870)}, silence(20), {"file": lv(890)}],
    "gaps": [{"file": lv(870)}, silence(1), {"file": lv(880)}, silence(15), {"file": lv(890)}, silence(15),
             {"file": lv(920)}],
    "gaps2": [{"file": lv(870)}, silence(5), {"file": lv(880)}, silence(5), {"file": lv(890)}, silence(20),
              {"file": lv(930)}],
}

TRANSCRIBE_OPTIONS = dict(
    language="en", task="transcribe", word_timestamps=True, beam_size=5, best_of=5,
    temperature=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0), condition_on_previous_text=True, fp16=False,
)

# run name -> (input, extra transcribe options)
RUNS = {
    "speech": ("speech", {}),
    "librivox-0880": ("librivox-0880", {}),
    "librivox-0930": ("librivox-0930", {}),
    "long": ("long", {}),
    "silence": ("silence", {}),
    "gaps": ("gaps", {}),
    "gaps-hst2": ("gaps", {"hallucination_silence_threshold": 2.0}),
    "gaps2": ("gaps2", {}),
    "gaps2-hst2": ("gaps2", {"hallucination_silence_threshold": 2.0}),
}
RAW_ALIGNMENT_RUN = "speech"

MODEL_DIRS = [("whisper-tiny.en", True), ("whisper-base", False)]  # (folder, required)


# ---------------------------------------------------------------- CTranslate2 model.bin

CT2_DTYPES = {0: "<f4", 1: "i1", 2: "<i2", 3: "<i4", 4: "<f2", 5: "bfloat16"}


def read_ct2(path):
    """(spec name, revision, {name: np.ndarray}, {alias: target}) of a CTranslate2 model.bin
    of binary version 4 to 6 (the versions CTranslate2 3.x/4.x write)."""
    data = pathlib.Path(path).read_bytes()
    off = 0

    def take(fmt):
        nonlocal off
        vals = struct.unpack_from(fmt, data, off)
        off += struct.calcsize(fmt)
        return vals[0]

    def string():
        nonlocal off
        n = take("<H")
        raw = data[off:off + n]
        off += n
        return raw.split(b"\0", 1)[0].decode("utf-8")

    version = take("<I")
    if not 4 <= version <= 6:
        raise SystemExit(f"{path}: CTranslate2 binary version {version}, this reader knows 4 to 6")
    spec, revision = string(), take("<I")
    variables = {}
    for _ in range(take("<I")):
        name = string()
        shape = [take("<I") for _ in range(take("<B"))]
        dtype, nbytes = take("<B"), take("<I")
        raw = data[off:off + nbytes]
        off += nbytes
        if dtype not in CT2_DTYPES:
            raise SystemExit(f"{path}: variable {name}: unknown dtype id {dtype}")
        if CT2_DTYPES[dtype] == "bfloat16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=CT2_DTYPES[dtype])
        count = int(np.prod(shape)) if shape else 1
        if arr.size != count:
            raise SystemExit(f"{path}: variable {name}: {nbytes} bytes for shape {shape}")
        if name in variables:
            raise SystemExit(f"{path}: variable {name} appears twice")
        variables[name] = arr.reshape(shape)
    aliases = {}
    for _ in range(take("<I")):
        alias = string()
        aliases[alias] = string()
    if off != len(data):
        raise SystemExit(f"{path}: {len(data) - off} unexpected bytes after the alias table")
    return spec, revision, variables, aliases


def load_model(folder):
    """The CTranslate2 Whisper model in `folder` as an openai-whisper `Whisper`, plus notes."""
    spec, revision, v, aliases = read_ct2(folder / "model.bin")
    assert spec == "WhisperSpec" and revision <= 3, (spec, revision)
    assert aliases in ({}, {"decoder/projection/weight": "decoder/embeddings/weight"}), aliases
    scalars = {k: float(a.reshape(())) for k, a in v.items() if a.ndim == 0}
    # Whisper needs these (as WhisperLoader.swift checks); 3 = GELU in CTranslate2's enum.
    for k, want in {"decoder/pre_norm": 1, "decoder/scale_embeddings": 0, "decoder/activation": 3,
                    "decoder/alibi": 0, "decoder/start_from_zero_embedding": 0}.items():
        if k in scalars:
            assert scalars[k] == want, (k, scalars[k], want)
    used = set(k for k in v if v[k].ndim == 0)

    def t(name):
        used.add(name)
        a = v[name]
        if a.dtype.kind in "iu":  # quantised: q = round(w * scale)
            used.add(name + "_scale")
            scale = v[name + "_scale"].astype(np.float32)
            a = a.astype(np.float32) / (scale.reshape(-1, *([1] * (a.ndim - 1))) if scale.ndim else scale)
        return np.ascontiguousarray(a, dtype=np.float32)

    def layer_count(part):
        numbers = {int(m.group(1)) for k in v for m in [re.match(rf"{part}/layer_(\d+)/", k)] if m}
        assert numbers == set(range(len(numbers))) and numbers, (part, sorted(numbers))
        return len(numbers)

    n_audio_layer, n_text_layer = layer_count("encoder"), layer_count("decoder")
    conv1 = v["encoder/conv1/weight"]
    emb = v["decoder/embeddings/weight"]
    dims = ModelDimensions(
        n_mels=conv1.shape[1], n_audio_ctx=v["encoder/position_encodings/encodings"].shape[0],
        n_audio_state=conv1.shape[0], n_audio_head=int(scalars["encoder/num_heads"]), n_audio_layer=n_audio_layer,
        n_vocab=emb.shape[0], n_text_ctx=v["decoder/position_encodings/encodings"].shape[0],
        n_text_state=emb.shape[1], n_text_head=int(scalars["decoder/num_heads"]), n_text_layer=n_text_layer)

    sd = {}
    key_bias_max = 0.0

    def linear(dst, src):
        sd[f"{dst}.weight"] = t(f"{src}/weight")
        sd[f"{dst}.bias"] = t(f"{src}/bias")

    def norm(dst, src):
        sd[f"{dst}.weight"] = t(f"{src}/gamma")
        sd[f"{dst}.bias"] = t(f"{src}/beta")

    def split(dst, src, parts, d):
        nonlocal key_bias_max
        w, b = t(f"{src}/weight"), t(f"{src}/bias")
        assert w.shape[0] == len(parts) * d and b.shape == (len(parts) * d,), (src, w.shape, b.shape)
        for i, part in enumerate(parts):
            sd[f"{dst}.{part}.weight"] = w[i * d:(i + 1) * d]
            if part == "key":
                key_bias_max = max(key_bias_max, float(np.abs(b[i * d:(i + 1) * d]).max()))
            else:
                sd[f"{dst}.{part}.bias"] = b[i * d:(i + 1) * d]

    dA, dT = dims.n_audio_state, dims.n_text_state
    linear("encoder.conv1", "encoder/conv1")
    linear("encoder.conv2", "encoder/conv2")
    sd["encoder.positional_embedding"] = t("encoder/position_encodings/encodings")
    for i in range(n_audio_layer):
        p, q = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        split(f"{q}.attn", f"{p}/self_attention/linear_0", ["query", "key", "value"], dA)
        linear(f"{q}.attn.out", f"{p}/self_attention/linear_1")
        norm(f"{q}.attn_ln", f"{p}/self_attention/layer_norm")
        linear(f"{q}.mlp.0", f"{p}/ffn/linear_0")
        linear(f"{q}.mlp.2", f"{p}/ffn/linear_1")
        norm(f"{q}.mlp_ln", f"{p}/ffn/layer_norm")
    norm("encoder.ln_post", "encoder/layer_norm")
    sd["decoder.token_embedding.weight"] = t("decoder/embeddings/weight")
    sd["decoder.positional_embedding"] = t("decoder/position_encodings/encodings")
    for i in range(n_text_layer):
        p, q = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        split(f"{q}.attn", f"{p}/self_attention/linear_0", ["query", "key", "value"], dT)
        linear(f"{q}.attn.out", f"{p}/self_attention/linear_1")
        norm(f"{q}.attn_ln", f"{p}/self_attention/layer_norm")
        linear(f"{q}.cross_attn.query", f"{p}/attention/linear_0")
        split(f"{q}.cross_attn", f"{p}/attention/linear_1", ["key", "value"], dT)
        linear(f"{q}.cross_attn.out", f"{p}/attention/linear_2")
        norm(f"{q}.cross_attn_ln", f"{p}/attention/layer_norm")
        linear(f"{q}.mlp.0", f"{p}/ffn/linear_0")
        linear(f"{q}.mlp.2", f"{p}/ffn/linear_1")
        norm(f"{q}.mlp_ln", f"{p}/ffn/layer_norm")
    norm("decoder.ln", "decoder/layer_norm")
    if "decoder/projection/weight" in v:  # an untied copy must equal the embedding
        assert np.array_equal(t("decoder/projection/weight"), sd["decoder.token_embedding.weight"])
    unused = sorted(set(v) - used)
    assert not unused, f"{folder}: unused CTranslate2 variables {unused[:5]}"

    model = Whisper(dims)
    model.load_state_dict({k: torch.from_numpy(a.copy()) for k, a in sd.items()}, strict=True)
    model.eval()

    config = json.loads((folder / "config.json").read_text())
    heads = [tuple(h) for h in config["alignment_heads"]]
    mask = np.zeros((dims.n_text_layer, dims.n_text_head), dtype=bool)
    for layer, head in heads:
        mask[layer, head] = True
    model.set_alignment_heads(base64.b85encode(gzip.compress(mask.tobytes())))
    builtin = {"whisper-tiny.en": "tiny.en", "whisper-base": "base"}.get(folder.name)
    same_as_builtin = None
    if builtin in whisper._ALIGNMENT_HEADS:
        ref = np.frombuffer(gzip.decompress(base64.b85decode(whisper._ALIGNMENT_HEADS[builtin])), dtype=bool)
        same_as_builtin = bool(np.array_equal(ref, mask.reshape(-1)))

    pos_diff = float(np.abs(sd["encoder.positional_embedding"]
                            - sinusoids(dims.n_audio_ctx, dA).numpy()).max())
    notes = {
        "model_bin_sha256": hashlib.sha256((folder / "model.bin").read_bytes()).hexdigest(),
        "ct2_spec": f"{spec} revision {revision}",
        "weight_dtypes": sorted({str(a.dtype) for a in v.values() if a.ndim > 0}),
        "dims": dims.__dict__,
        "alignment_heads": [list(h) for h in heads],
        "alignment_heads_equal_openai_builtin": same_as_builtin,
        "openai_builtin_name": builtin,
        "ct2_key_bias_max_abs": key_bias_max,
        "encoder_positions_max_abs_diff_from_sinusoids": pos_diff,
    }
    return model, notes


# ---------------------------------------------------------------- audio

def read_wav(path):
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SR), path
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def build_input(parts):
    pcm = []
    recipe = []
    for part in parts:
        if "file" in part:
            path = pathlib.Path(part["file"])
            samples = read_wav(path if path.is_absolute() else ROOT / path)
            recipe.append({"file": part["file"], "samples": int(samples.size),
                           "sha256": hashlib.sha256(samples.tobytes()).hexdigest()})
        else:
            samples = np.zeros(part["silence_samples"], dtype="<i2")
            recipe.append(dict(part))
        pcm.append(samples)
    pcm = np.concatenate(pcm).astype("<i2")
    audio = (pcm.astype(np.float32) / 32768.0).astype(np.float32)
    info = {"parts": recipe, "samples": int(pcm.size), "seconds": pcm.size / SR,
            "pcm_sha256": hashlib.sha256(pcm.tobytes()).hexdigest()}
    return audio, info


# ---------------------------------------------------------------- capture of find_alignment

class AlignmentCapture:
    """Wraps whisper.timing.find_alignment and whisper.timing.dtw (looked up as module
    globals by add_word_timestamps / find_alignment) and whisper/transcribe.py's imported
    add_word_timestamps (for the window's seek), and hooks Whisper.forward (called only by
    find_alignment; decoding calls the encoder and decoder directly)."""

    def __init__(self, model, tokenizer):
        self.model, self.tokenizer = model, tokenizer
        self.records = []

    def __enter__(self):
        self.orig_find, self.orig_dtw = whisper.timing.find_alignment, whisper.timing.dtw
        self.transcribe_module = sys.modules["whisper.transcribe"]
        self.orig_add = self.transcribe_module.add_word_timestamps
        self.seek = None
        self.current = None

        def dtw(x):
            result = self.orig_dtw(x)
            if self.current is not None:
                self.current["text_indices"] = [int(i) for i in result[0]]
                self.current["time_indices"] = [int(i) for i in result[1]]
                self.current["matrix_shape"] = list(x.shape)
            return result

        def add_word_timestamps(*, segments, **kwargs):
            self.seek = segments[0]["seek"] if segments else None
            return self.orig_add(segments=segments, **kwargs)

        def find_alignment(model, tokenizer, text_tokens, mel, num_frames, medfilt_width=7, qk_scale=1.0):
            self.current = {"seek": self.seek, "text_tokens": list(map(int, text_tokens)),
                            "num_frames": int(num_frames), "medfilt_width": medfilt_width, "qk_scale": qk_scale}
            timings = self.orig_find(model, tokenizer, text_tokens, mel, num_frames,
                                     medfilt_width=medfilt_width, qk_scale=qk_scale)
            self.current["words"] = [
                {"word": w.word, "tokens": list(map(int, w.tokens)), "start": float(w.start),
                 "end": float(w.end), "probability": r6(w.probability)} for w in copy.deepcopy(timings)]
            self.records.append(self.current)
            self.current = None
            return timings

        def hook(_module, inputs, logits):
            if self.current is None:
                return
            tok = self.tokenizer
            text_tokens = self.current["text_tokens"]
            # the same three lines as find_alignment
            sampled_logits = logits[0][len(tok.sot_sequence):, : tok.eot]
            token_probs = sampled_logits.softmax(dim=-1)
            probs = token_probs[np.arange(len(text_tokens)), text_tokens].tolist()
            self.current["forward_tokens"] = [int(i) for i in inputs[1][0].tolist()]
            self.current["text_token_probs"] = [r6(p) for p in probs]

        whisper.timing.find_alignment, whisper.timing.dtw = find_alignment, dtw
        self.transcribe_module.add_word_timestamps = add_word_timestamps
        self.handle = self.model.register_forward_hook(hook)
        return self

    def __exit__(self, *exc):
        whisper.timing.find_alignment, whisper.timing.dtw = self.orig_find, self.orig_dtw
        self.transcribe_module.add_word_timestamps = self.orig_add
        self.handle.remove()


# ---------------------------------------------------------------- output

def r6(x):
    return round(float(x), 6)


def to_json(obj, indent=0):
    """JSON with one key per line but lists of scalars (tokens, paths) on one line."""
    pad, inner = " " * indent, " " * (indent + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {to_json(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)):
        if all(not isinstance(x, (dict, list, tuple)) for x in obj):
            return "[" + ", ".join(json.dumps(x, ensure_ascii=False) for x in obj) + "]"
        return "[\n" + ",\n".join(inner + to_json(x, indent + 1) for x in obj) + "\n" + pad + "]"
    return json.dumps(obj, ensure_ascii=False)


def segment_json(s):
    return {
        "id": s["id"], "seek": s["seek"], "start": s["start"], "end": s["end"], "text": s["text"],
        "tokens": [int(t) for t in s["tokens"]], "temperature": s["temperature"],
        "avg_logprob": r6(s["avg_logprob"]), "compression_ratio": r6(s["compression_ratio"]),
        "no_speech_prob": r6(s["no_speech_prob"]),
        "words": [{"word": w["word"], "start": w["start"], "end": w["end"], "probability": r6(w["probability"])}
                  for w in s.get("words", [])],
    }


def main():
    import tiktoken

    torch.set_grad_enabled(False)
    inputs, audio = {}, {}
    for name, parts in INPUTS.items():
        audio[name], inputs[name] = build_input(parts)

    out = {
        "generator": "scripts/gen-whisper-word-fixtures.py",
        "versions": {"openai-whisper": whisper.__version__, "torch": torch.__version__, "numpy": np.__version__,
                     "tiktoken": tiktoken.__version__, "python": platform.python_version(),
                     "numba": "stub: jit returns the function unchanged (dtw_cpu/backtrace in plain Python)"},
        "transcribe_options": {**{k: list(v) if isinstance(v, tuple) else v for k, v in TRANSCRIBE_OPTIONS.items()},
                               "verbose": None, "other": "openai-whisper 20250625 defaults"},
        "sample_conversion": "int16 / 32768 as float32; audio passed to transcribe as an array",
        "inputs": inputs,
        "runs": {name: {"input": inp, "extra_options": extra} for name, (inp, extra) in RUNS.items()},
        "models": {},
    }

    for folder_name, required in MODEL_DIRS:
        folder = MODELS / folder_name
        if not (folder / "model.bin").exists():
            if required:
                raise SystemExit(f"{folder}/model.bin is missing: run scripts/fetch-models first")
            print(f"skipping {folder_name}: not fetched", file=sys.stderr)
            continue
        print(f"== {folder_name}", file=sys.stderr)
        model, notes = load_model(folder)
        tokenizer = get_tokenizer(model.is_multilingual, num_languages=model.num_languages,
                                  language="en", task="transcribe")

        # Sanity: greedy decoding without timestamps of the first 30 s of speech.wav.
        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(audio["speech"])), model.dims.n_mels)
        result = whisper.decode(model, mel, whisper.DecodingOptions(
            language="en", without_timestamps=True, fp16=False, temperature=0.0))
        sanity = {"options": "DecodingOptions(language='en', without_timestamps=True, fp16=False, "
                             "temperature=0.0) (greedy) on log_mel_spectrogram(pad_or_trim(speech))",
                  "text": result.text.strip(), "tokens": [int(t) for t in result.tokens],
                  "avg_logprob": r6(result.avg_logprob), "sum_logprob": r6(result.avg_logprob * (len(result.tokens) + 1)),
                  "no_speech_prob": r6(result.no_speech_prob)}
        print(f"sanity: {sanity['text']!r}", file=sys.stderr)
        if folder_name == "whisper-tiny.en" and sanity["text"] != SANITY_TEXT:
            raise SystemExit(f"sanity check failed: tiny.en greedy decode gave {sanity['text']!r}")

        entry = {**notes, "sanity_greedy": sanity, "runs": {}}
        for run, (inp, extra) in RUNS.items():
            torch.manual_seed(0)
            capture = AlignmentCapture(model, tokenizer)
            with capture:
                res = whisper.transcribe(model, audio[inp], verbose=None, **TRANSCRIBE_OPTIONS, **extra)
            run_json = {"text": res["text"], "language": res["language"],
                        "segments": [segment_json(s) for s in res["segments"]]}
            if run == RAW_ALIGNMENT_RUN:
                run_json["find_alignment"] = capture.records
            entry["runs"][run] = run_json
            print(f"{run}: {res['text']!r}", file=sys.stderr)
            for s in res["segments"]:
                print(f"  [{s['start']:.2f}-{s['end']:.2f}] T={s['temperature']} {s['text']!r}", file=sys.stderr)
        out["models"][folder_name] = entry

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(to_json(out) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
