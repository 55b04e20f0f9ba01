#!/usr/bin/env python3
"""scripts/bench shards: one job split into shard processes on this machine, against one
process. `mmpipe embed` over 400 photos (the four samples under 100 names) with
efficientnet-lite0: one process on all cores, then 2 shard processes at once (--shard 0/2 and
1/2, each on half the cores), then `mmpipe merge`; images/s, median of 3.

Usage: bench-shards.py MMPIPE_BINARY"""
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1]
ROOT = pathlib.Path(__file__).resolve().parent.parent
CORES = int(os.environ.get("MMPIPE_THREADS", os.cpu_count() or 1))


def run_all(commands):
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c) for c in commands]
    codes = [p.wait() for p in procs]
    assert all(c == 0 for c in codes), f"exit statuses {codes}"
    return time.perf_counter() - t0


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="mmpipe-bench-shards-"))
    photos = work / "photos"
    photos.mkdir()
    for i in range(100):
        for name in ("cat", "coffee", "astronaut", "rocket"):
            shutil.copy(ROOT / "Samples" / f"{name}.jpg", photos / f"{name}-{i}.jpg")
    n = 400
    print(f"mmpipe embed, {n} photos, efficientnet-lite0, {CORES} cores; median of 3")
    one, two, merge = [], [], []
    for _ in range(3):
        for d in ("one", "two"):
            shutil.rmtree(work / d, ignore_errors=True)
        one.append(run_all([[BIN, "embed", str(photos), "--output", str(work / "one"), "--threads", str(CORES), "--quiet"]]))
        half = str(max(1, CORES // 2))
        two.append(run_all([[BIN, "embed", str(photos), "--output", str(work / "two"), "--shard", f"{i}/2", "--threads", half, "--quiet"]
                            for i in range(2)]))
        t0 = time.perf_counter()
        subprocess.run([BIN, "merge", str(work / "two")], check=True, capture_output=True)
        merge.append(time.perf_counter() - t0)
    a, b = statistics.median(one), statistics.median(two)
    print(f"  1 process, {CORES} threads:              {a:6.2f} s  {n / a:6.1f} images/s")
    print(f"  2 shard processes, {max(1, CORES // 2)} thread(s) each: {b:6.2f} s  {n / b:6.1f} images/s  ({a / b:.2f}x)")
    print(f"  mmpipe merge of the 2 parts:         {statistics.median(merge):6.3f} s")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
