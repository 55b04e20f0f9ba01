#!/usr/bin/python3
"""Side-by-side sentence-embedding benchmark: mmpipe vs transformers, in one run.

Usage: scripts/bench-text.py [MMPIPE_BENCH_BINARY]   (default .build/release/mmpipe-bench)

Runs `mmpipe-bench text` (SentenceEncoder.embed, all-MiniLM-L6-v2 from Models/, batch 32,
2 threads), which also writes its fixed set of 500 sentences of mixed lengths and its
embeddings under .build-bench/text/; then times transformers on the same sentences the way
sentence-transformers' encode does (longest first, batch 32, BertTokenizerFast with
padding and truncation to 256, BertModel, mean pooling, L2 norm) with torch on 2 threads.
The two alternate, BENCH_RUNS times each (default 3; ours in a fresh process each time,
after a warm-up), so load from other processes hits both alike. Prints both rates
(sentences/s, median and best), the ratios (ours / transformers: above 1 means we are
faster) and how far the two sets of embeddings differ (min cosine, max abs error).

Needs /usr/bin/python3 with Debian's python3-torch and transformers==4.36.2 (see
scripts/gen-bert-fixtures.py).
"""
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

root = pathlib.Path(__file__).resolve().parent.parent
work = root / ".build-bench" / "text"
ours_bin = sys.argv[1] if len(sys.argv) > 1 else str(root / ".build" / "release" / "mmpipe-bench")
model_dir = pathlib.Path(os.environ.get("MMPIPE_MODELS_DIR", root / "Models")) / "all-minilm-l6-v2"
threads = int(os.environ.get("MMPIPE_THREADS", "2"))
runs = int(os.environ.get("BENCH_RUNS", "3"))
BATCH, MAX_LENGTH = 32, 256


def ours(first):
    """One timed `embed` of the 500 sentences in a fresh mmpipe-bench process (after its
    warm-up); the first call also writes the sentences and our embeddings."""
    work.mkdir(parents=True, exist_ok=True)
    extra = ["--sentences-out", str(work / "sentences.json"), "--embeddings-out", str(work / "ours.npy")] if first else []
    out = subprocess.run([ours_bin, "text", str(model_dir), *extra], check=True, capture_output=True, text=True,
                         env={**os.environ, "MMPIPE_THREADS": str(threads), "BENCH_RUNS": "1"}).stdout
    if first:
        print("\n".join("  " + line for line in out.splitlines() if not line.startswith("ours text")))
    return next(float(line.split()[-1]) for line in out.splitlines() if line.startswith("ours text sentences/s"))


def transformers_encode(tok, model, sentences):
    """sentence-transformers' encode: longest first, batches, mean pooling, normalise."""
    order = sorted(range(len(sentences)), key=lambda i: -len(sentences[i]))
    out = [None] * len(sentences)
    with torch.inference_mode():
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            enc = tok([sentences[i] for i in idx], padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
            hidden = model(**enc)[0]
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            emb = torch.nn.functional.normalize(pooled, p=2, dim=1)
            for j, i in enumerate(idx):
                out[i] = emb[j]
    return torch.stack(out).numpy()


def main():
    torch.set_num_threads(threads)
    rates = {"mmpipe": [ours(True)], "transformers": []}
    sentences = json.loads((work / "sentences.json").read_text())
    our_emb = np.load(work / "ours.npy")
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    transformers_encode(tok, model, sentences[:64])   # warm-up
    ref = None
    # Alternate the two, so a load change on the machine hits both alike.
    for r in range(runs):
        t0 = time.perf_counter()
        ref = transformers_encode(tok, model, sentences)
        rates["transformers"].append(len(sentences) / (time.perf_counter() - t0))
        if r > 0:
            rates["mmpipe"].append(ours(False))
    cos = (our_emb * ref).sum(1) / (np.linalg.norm(our_emb, axis=1) * np.linalg.norm(ref, axis=1))
    print(f"all-MiniLM-L6-v2, {len(sentences)} sentences, batch {BATCH}, max length {MAX_LENGTH}, {threads} threads, "
          f"{runs} runs each, alternating; torch {torch.__version__}")
    print(f"{'sentences/s':16}{'median':>10}{'best':>10}")
    for name, rs in rates.items():
        print(f"{name:16}{statistics.median(rs):10.1f}{max(rs):10.1f}")
    med = statistics.median(rates["mmpipe"]) / statistics.median(rates["transformers"])
    best = max(rates["mmpipe"]) / max(rates["transformers"])
    print(f"ratio (mmpipe / transformers): median {med:.2f}, best {best:.2f}")
    print(f"embeddings: min cosine {cos.min():.7f}, max abs error {np.abs(our_emb - ref).max():.2e}")


if __name__ == "__main__":
    main()
