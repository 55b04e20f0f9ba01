#!/usr/bin/env python3
"""scripts/bench serve: `mmpipe serve` under load, and against the CLI on the same files.

1. The 7 s sample (Samples/speech.wav) transcribed over HTTP (POST /v1/audio/transcriptions,
   tiny.en, the server's default compute type) by 1, 2 and 4 concurrent clients: requests per
   second and the p50 / p95 latency (BENCH_REQUESTS requests per level, default 24).
2. Throughput on a set of files (16 LibriVox pieces of 3-8 s): the CLI transcribing them in one
   process (`mmpipe transcribe FILES --output-dir D`, model load included) against the server
   answering them with 4 clients (model loaded at start). Target: the server at least 0.95 of
   the CLI's files per second.
3. Small jobs beside a large one: one-text /v1/embeddings requests (one every 0.1 s) while a
   60 s transcription runs. Target: their p95 latency at most 0.5 s, and the transcription
   slower than alone by no more than the embeddings' own compute (their latency alone, summed).

Usage: bench-serve.py MMPIPE_BINARY   (MMPIPE_THREADS: the compute threads of both)"""
import http.client
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BIN = sys.argv[1]
ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEECH = ROOT / "Samples" / "speech.wav"
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "24"))
THREADS = os.environ.get("MMPIPE_THREADS")


def start_server():
    args = [BIN, "serve", "--port", "0", "--preload", "tiny.en", "--preload", "all-minilm-l6-v2", "--queue", "64"]
    if THREADS:
        args += ["--threads", THREADS]
    p = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if "serving on http://" in line:
            port = int(line.split("serving on http://")[1].split()[0].rsplit(":", 1)[1])
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            return p, port
    raise SystemExit("the server did not start")


def form(path):
    boundary = "bench-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="response_format"\r\n\r\ntext\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n\r\n').encode()
    body += path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def post(port, body, headers):
    t0 = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("POST", "/v1/audio/transcriptions", body=body, headers=headers)
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    if r.status != 200:
        raise RuntimeError(f"HTTP {r.status}: {text[:200]}")
    return time.perf_counter() - t0, text


def load(port, bodies, clients):
    """Sends every body once, `clients` at a time; returns (wall seconds, latencies, texts)."""
    latencies, texts, lock, next_ = [], {}, threading.Lock(), [0]

    def worker():
        while True:
            with lock:
                i = next_[0]
                next_[0] += 1
            if i >= len(bodies):
                return
            dt, text = post(port, *bodies[i])
            with lock:
                latencies.append(dt)
                texts[i] = text

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, latencies, texts


def embed(port, text):
    t0 = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("POST", "/v1/embeddings", body=json.dumps({"model": "all-minilm-l6-v2", "input": text}),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status != 200:
        raise RuntimeError(f"HTTP {r.status}: {data[:200]}")
    return time.perf_counter() - t0


def beside(port, long_body):
    """A long transcription alone, then with one-text embeddings every 0.1 s beside it:
    (seconds alone, seconds beside, embedding latencies beside, embedding latencies alone)."""
    alone = [embed(port, f"a short text number {i}") for i in range(20)]
    solo = []
    for _ in range(2):
        dt, _ = post(port, *long_body)
        solo.append(dt)
    done, lat = threading.Event(), []

    def small():
        i = 0
        while not done.is_set():
            lat.append(embed(port, f"a photo of thing {i}"))
            i += 1
            time.sleep(0.1)

    t = threading.Thread(target=small)
    t.start()
    time.sleep(0.05)
    dt, _ = post(port, *long_body)
    done.set()
    t.join()
    return min(solo), dt, lat, alone


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def pieces(folder):
    clips = sorted(pathlib.Path("/usr/share/pocketsphinx/test/data/librivox").glob("*.wav"))
    out = []
    for i in range(16):
        f = folder / f"piece-{i:02d}.wav"
        d = 3.0 + (i * 0.77) % 5.0
        subprocess.run(["sox", "-V1", str(clips[i % len(clips)]), str(f), "trim", "0", f"{d:.2f}"], check=True)
        out.append(f)
    return out


def main():
    info = subprocess.run([BIN, "--compute-info"], capture_output=True, text=True).stdout.splitlines()
    print("\n".join(l for l in info if l.startswith(("cpu:", "threads:"))))
    server, port = start_server()
    try:
        body = form(SPEECH)
        post(port, *body)                      # warm: the first request's allocations
        print(f"POST /v1/audio/transcriptions, {SPEECH.name} (7.1 s), tiny.en, {REQUESTS} requests per level")
        print(f"{'clients':>8}{'req/s':>9}{'p50 s':>9}{'p95 s':>9}")
        for clients in (1, 2, 4):
            wall, lat, texts = load(port, [body] * REQUESTS, clients)
            assert len(set(texts.values())) == 1, "answers differ between requests"
            print(f"{clients:>8}{REQUESTS / wall:>9.2f}{statistics.median(lat):>9.3f}{pct(lat, 0.95):>9.3f}", flush=True)

        work = pathlib.Path(tempfile.mkdtemp(prefix="mmpipe-bench-serve-"))
        files = pieces(work)
        seconds = sum(float(subprocess.run(["soxi", "-D", str(f)], capture_output=True, text=True).stdout) for f in files)
        runs_cli, runs_srv = [], []
        for _ in range(3):
            out = work / "cli-out"
            subprocess.run(["rm", "-rf", str(out)])
            t0 = time.perf_counter()
            args = [BIN, "transcribe", *map(str, files), "--output-dir", str(out), "--format", "txt", "--quiet"]
            if THREADS:
                args += ["--threads", THREADS]
            subprocess.run(args, check=True)
            runs_cli.append(time.perf_counter() - t0)
            wall, _, texts = load(port, [form(f) for f in files], 4)
            runs_srv.append(wall)
        cli_texts = [(work / "cli-out" / (f.stem + ".txt")).read_text() for f in files]
        same = all(" ".join(cli_texts[i].split()) == " ".join(texts[i].split()) for i in range(len(files)))
        c, s = statistics.median(runs_cli), statistics.median(runs_srv)
        print(f"\n{len(files)} files, {seconds:.1f} s of speech; median of 3")
        print(f"  CLI, one process (model load included): {c:.2f} s, {len(files) / c:.2f} files/s")
        print(f"  server, 4 clients (model loaded):        {s:.2f} s, {len(files) / s:.2f} files/s")
        print(f"  server / CLI throughput: {c / s:.2f} (target 0.95); transcripts {'identical' if same else 'DIFFER'}")

        clips = sorted(pathlib.Path("/usr/share/pocketsphinx/test/data/librivox").glob("*.wav"))
        minute = work / "minute.wav"
        subprocess.run(["sox", "-V1", *map(str, clips * 4), str(minute), "trim", "0", "60"], check=True)
        rounds = [beside(port, form(minute)) for _ in range(3)]
        solo = statistics.median(r[0] for r in rounds)
        with_small = statistics.median(r[1] for r in rounds)
        lat = [x for r in rounds for x in r[2]]
        alone = [x for r in rounds for x in r[3]]
        own = statistics.median(alone) * len(lat) / len(rounds)
        print(f"\nA 60 s transcription with a one-text embedding every 0.1 s beside it (3 rounds, {len(lat)} embeddings; medians)")
        print(f"  embedding latency alone: p50 {statistics.median(alone) * 1000:.1f} ms; beside the transcription: "
              f"p50 {statistics.median(lat) * 1000:.1f} ms, p95 {pct(lat, 0.95) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms (target p95 <= 500 ms)")
        print(f"  transcription alone {solo:.2f} s, beside {with_small:.2f} s: {with_small - solo:+.2f} s "
              f"(the embeddings' own compute, at their latency alone: {own:.2f} s per round)")
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
