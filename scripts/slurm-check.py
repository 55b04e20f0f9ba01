#!/usr/bin/env python3
"""A real Slurm run of the documented array script: starts a one-node cluster
(scripts/slurm-local: Debian's slurm-wlm and munge), submits docs/slurm/embed.sbatch as a
2-task array over 40 photos, merges the parts with `mmpipe merge`, and checks the result
against a single `mmpipe embed` process: every input once, the same rows.

Usage: scripts/slurm-check.py MMPIPE_BINARY   (as root; run by Tests/CLITests/SlurmCLITests)"""
import json
import pathlib
import shutil
import struct
import subprocess
import sys
import tempfile

BIN = str(pathlib.Path(sys.argv[1]).resolve())
ROOT = pathlib.Path(__file__).resolve().parent.parent


def rows(folder):
    """path -> list of rows, read through manifest.jsonl."""
    out, shards = {}, {}
    for line in (folder / "manifest.jsonl").read_text().splitlines():
        r = json.loads(line)
        if "shard" not in r:
            continue
        if r["shard"] not in shards:
            data = (folder / r["shard"]).read_bytes()
            hlen = struct.unpack("<H", data[8:10])[0]
            shards[r["shard"]] = data[10 + hlen:]
        d, body = r["dim"], shards[r["shard"]]
        out.setdefault(r["path"], []).append(struct.unpack(f"<{d}f", body[r["row"] * d * 4:(r["row"] + 1) * d * 4]))
    return out


def main():
    subprocess.run([str(ROOT / "scripts" / "slurm-local")], check=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="mmpipe-slurm-"))
    photos = work / "photos"
    (photos / "more").mkdir(parents=True)
    for i in range(20):
        for name in ("cat", "coffee"):
            shutil.copy(ROOT / "Samples" / f"{name}.jpg", photos / ("more" if i % 4 == 0 else "") / f"{name}-{i}.jpg")
    single, sharded = work / "single", work / "sharded"
    subprocess.run([BIN, "embed", str(photos), "--output", str(single), "--quiet"], check=True)
    r = subprocess.run(["sbatch", "--wait", "--array=0-1", "--cpus-per-task=1", f"--output={work}/task-%A_%a.log",
                        f"--export=ALL,INPUT={photos},OUTPUT={sharded},MMPIPE={BIN}",
                        str(ROOT / "docs" / "slurm" / "embed.sbatch")], capture_output=True, text=True, cwd=work)
    logs = "".join(p.read_text() for p in sorted(work.glob("task-*.log")))
    print(r.stdout.strip())
    if r.returncode != 0:
        print(f"FAIL sbatch exited {r.returncode}: {r.stderr.strip()}\n{logs}")
        return 1
    parts = sorted(p.name for p in sharded.glob("manifest.shard-*.jsonl"))
    print(f"parts written by the array tasks: {parts}")
    m = subprocess.run([BIN, "merge", str(sharded)], capture_output=True, text=True)
    print(m.stdout.strip(), m.stderr.strip())
    want, got = rows(single), rows(sharded)
    ok = (parts == ["manifest.shard-0000-of-0002.jsonl", "manifest.shard-0001-of-0002.jsonl"] and m.returncode == 0
          and set(got) == set(want) and all(len(v) == 1 for v in got.values())
          and all(got[k] == want[k] for k in want))
    print(("ok   " if ok else "FAIL ") + f"Slurm array of 2 tasks + mmpipe merge: {len(got)} of {len(want)} inputs, rows "
          + ("identical to one process's" if ok else "differ or missing"))
    if ok:
        shutil.rmtree(work)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
