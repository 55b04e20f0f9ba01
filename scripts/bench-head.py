#!/usr/bin/env python3
"""scripts/bench head: fitting the logistic-regression head of `mmpipe train` on 10 000 x 1280
features in 10 classes (Gaussian clusters, seed 0; EfficientNet-Lite0's width), against
scikit-learn's LogisticRegression(lbfgs, C=1) on the same StandardScaler'd features, both fitted
to the same tolerance; same threads (MMPIPE_THREADS, OMP_NUM_THREADS).

Usage: bench-head.py MMPIPE_BENCH_BINARY PYTHON_WITH_SKLEARN"""
import os
import pathlib
import subprocess
import sys
import tempfile

BENCH, PY = sys.argv[1], sys.argv[2]
THREADS = os.environ.get("MMPIPE_THREADS", str(os.cpu_count()))
work = pathlib.Path(tempfile.mkdtemp(prefix="mmpipe-bench-head-"))
gen = f'''
import numpy as np, time
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
rng = np.random.default_rng(0)
n, d, k = 10000, 1280, 10
centers = rng.normal(0, 1, (k, d)) * 0.15
y = rng.integers(0, k, n)
x = (centers[y] + rng.normal(0, 1, (n, d))).astype(np.float32)
np.save("{work}/x.npy", x); np.save("{work}/y.npy", y.astype(np.float32))
xs = StandardScaler().fit_transform(x.astype(np.float64))
best = 1e9
for _ in range(3):
    t0 = time.perf_counter()
    lr = LogisticRegression(C=1.0, max_iter=10000, tol=1e-9).fit(xs, y)
    best = min(best, time.perf_counter() - t0)
print(f"{{best:.3f}} {{lr.n_iter_[0]}}")
'''
env = dict(os.environ, OMP_NUM_THREADS=THREADS, OPENBLAS_NUM_THREADS=THREADS, MKL_NUM_THREADS=THREADS)
sk = subprocess.run([PY, "-c", gen], capture_output=True, text=True, env=env, check=True).stdout.split()
ours = subprocess.run([BENCH, "head", str(work / "x.npy"), str(work / "y.npy")], capture_output=True, text=True,
                      env=dict(os.environ, MMPIPE_THREADS=THREADS), check=True).stdout.strip()
t = float(ours.split(": ")[1].split(" s")[0])
print(f"logistic-regression head, 10000 x 1280, 10 classes, C=1, {THREADS} threads (best of 3)")
print(f"  mmpipe:       {ours}")
print(f"  scikit-learn: fit {sk[0]} s, {sk[1]} iterations (lbfgs, tol 1e-9, on StandardScaler'd float64)")
print(f"  scikit-learn / mmpipe: {float(sk[0]) / t:.2f}   (target: mmpipe under 10 s)")
