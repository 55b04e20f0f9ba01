#!/usr/bin/env python3
"""End-to-end check of `mmpipe serve` with the official `openai` Python client, curl-style raw
HTTP and real sockets: starts the servers itself (port 0), compares every answer with the CLI's
own output on the same files, and stops them with SIGTERM.

Usage: scripts/serve-check.py MMPIPE_BINARY     (run by Tests/CLITests/ServeCLITests.swift
in a venv with openai installed: scripts/test makes .build-venv)
Exit status 0 when every check passed; each check prints one line."""
import base64
import http.client
import json
import os
import pathlib
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import wave

import openai

BIN = sys.argv[1]
ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEECH = ROOT / "Samples" / "speech.wav"
KEY = "test-key-123"
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def cli(*args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"mmpipe {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


class Server:
    def __init__(self, *args):
        self.proc = subprocess.Popen([BIN, "serve", "--port", "0", *args], stderr=subprocess.PIPE, text=True)
        self.port = None
        self.log = []
        deadline = time.time() + 120
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line)
            if "serving on http://" in line:
                self.port = int(line.split("serving on http://")[1].split()[0].rsplit(":", 1)[1])
                break
        if self.port is None:
            raise RuntimeError("server did not start: " + "".join(self.log))
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=120)


def raw(port, method, path, body=b"", headers=None, key=KEY):
    h = {"Authorization": f"Bearer {key}"} if key else {}
    h.update(headers or {})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict(r.getheaders()), data


def multipart(fields, files):
    boundary = "mmpipe-check-boundary"
    out = b""
    for k, v in fields:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
    for k, name, data in files:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{name}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def error_of(data):
    try:
        e = json.loads(data)["error"]
        return e if isinstance(e, dict) and "message" in e and "type" in e else None
    except Exception:
        return None


def npy_rows(path):
    data = pathlib.Path(path).read_bytes()
    assert data[:6] == b"\x93NUMPY"
    hlen = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + hlen].decode()
    shape = tuple(int(x) for x in header.split("'shape': (")[1].split(")")[0].split(",") if x.strip())
    floats = struct.unpack(f"<{shape[0] * shape[1]}f", data[10 + hlen:])
    return [list(floats[i * shape[1]:(i + 1) * shape[1]]) for i in range(shape[0])]


def words_of(text):
    return " ".join(text.split())


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="mmpipe-serve-check-"))
    # A minute of speech (the sample 8 times) for the in-flight and disconnect checks.
    with wave.open(str(SPEECH)) as w:
        params, frames = w.getparams(), w.readframes(w.getnframes())
    long_wav = work / "long.wav"
    with wave.open(str(long_wav), "wb") as w:
        w.setparams(params)
        w.writeframes(frames * 8)
    (work / "garbage.wav").write_bytes(os.urandom(50_000))
    (work / "empty.wav").write_bytes(b"")

    # The translation checks need a multilingual model: fetch it as a user would (fetch-models
    # holds a lock, so a fetch by another test at the same time is waited for, not repeated).
    cli("models", "fetch", "whisper-base")

    # What the CLI says about the same file (the server must say exactly the same).
    cli_txt = cli("transcribe", str(SPEECH), "--format", "txt", "--quiet")
    cli_srt = cli("transcribe", str(SPEECH), "--format", "srt", "--quiet")
    cli_vtt = cli("transcribe", str(SPEECH), "--format", "vtt", "--quiet")
    cli_json = json.loads(cli("transcribe", str(SPEECH), "--format", "json", "--word-timestamps", "--quiet"))
    texts = ["a cat sitting on a sofa", "Whisper transcribes speech.", "hello world"]
    emb_dir = work / "emb"
    cli("embed", *sum((["--text", t] for t in texts), []), "--output", str(emb_dir), "--quiet")
    cli_rows = npy_rows(emb_dir / "features-00000.npy")

    cat, coffee = ROOT / "Samples" / "cat.jpg", ROOT / "Samples" / "coffee.jpg"
    cli_classes = [json.loads(l) for l in cli("classify", str(cat), str(coffee), "--top-k", "3", "--format", "json", "-q").splitlines()]
    cli_zero = [json.loads(l) for l in cli("classify", str(cat), "--labels", "a cat,a dog,a cup of coffee", "--format", "json", "-q").splitlines()]
    img_dir = work / "img"
    cli("embed", str(cat), str(coffee), "--output", str(img_dir), "--quiet")
    cli_img_rows = npy_rows(img_dir / "features-00000.npy")

    # Heads made by mmpipe train: one on image embeddings (copies of the sample photos), one on
    # text embeddings (a dozen short reviews); the server serves both by name.
    photos = work / "photos"
    for label, names in [("cat", ["cat"]), ("cup", ["coffee"]), ("space", ["astronaut", "rocket"])]:
        (photos / label).mkdir(parents=True)
        for i in range(3):
            for n in names:
                shutil.copy(ROOT / "Samples" / f"{n}.jpg", photos / label / f"{n}-{i}.jpg")
    reviews = work / "reviews.tsv"
    good = ["a wonderful, moving film", "I loved every minute of it", "brilliant acting and a great story", "a delight from start to finish"]
    bad = ["a dull and tedious mess", "I hated every minute of it", "terrible acting and a boring story", "a waste of two hours"]
    reviews.write_text("text\tlabel\n" + "".join(f"{t}\tpositive\n" for t in good) + "".join(f"{t}\tnegative\n" for t in bad))
    pets_head, sentiment_head = work / "pets.safetensors", work / "sentiment.safetensors"
    cli("train", str(photos), "--output", str(pets_head), "--no-features", "-q")
    cli("train", str(reviews), "--model", "all-minilm-l6-v2", "--output", str(sentiment_head), "--no-features", "-q")
    review_texts = ["an absolute joy to watch", "boring and far too long"]
    cli_head = [json.loads(l) for l in cli("classify", str(cat), str(coffee), "--head", str(pets_head), "--format", "json", "-q").splitlines()]
    cli_sentiment = [json.loads(l) for l in cli("classify", "--head", str(sentiment_head), *sum((["--text", t] for t in review_texts), []),
                                                 "--format", "json", "-q").splitlines()]

    server = Server("--api-key", KEY, "--queue", "4", "--max-body-mb", "2", "--timeout", "120", "--preload", "tiny.en", "efficientnet-lite0",
                    "--head", f"pets={pets_head}", "--head", str(sentiment_head))
    port = server.port
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0, timeout=300)
    try:
        # --- models and health
        ids = [m.id for m in client.models.list().data]
        check({"whisper-1", "tiny.en", "all-minilm-l6-v2"} <= set(ids), f"models.list has whisper-1, tiny.en, all-minilm-l6-v2 ({len(ids)} ids)")
        status, _, body = raw(port, "GET", "/health", key=None)
        check(status == 200 and json.loads(body)["status"] == "ok", "GET /health without a key: 200")

        # --- transcriptions, every response_format
        with open(SPEECH, "rb") as f:
            t = client.audio.transcriptions.create(model="whisper-1", file=f)
        check(words_of(t.text) == words_of(cli_txt), f"json: text equals the CLI's ({t.text[:40]!r}...)")
        with open(SPEECH, "rb") as f:
            t = client.audio.transcriptions.create(model="tiny.en", file=f, response_format="text")
        check(words_of(t) == words_of(cli_txt), "text: equals the CLI's")
        with open(SPEECH, "rb") as f:
            t = client.audio.transcriptions.create(model="whisper-1", file=f, response_format="srt")
        check(t == cli_srt, "srt: byte for byte the CLI's --format srt")
        with open(SPEECH, "rb") as f:
            t = client.audio.transcriptions.create(model="whisper-1", file=f, response_format="vtt")
        check(t == cli_vtt, "vtt: byte for byte the CLI's --format vtt")
        with open(SPEECH, "rb") as f:
            v = client.audio.transcriptions.create(model="whisper-1", file=f, response_format="verbose_json",
                                                   timestamp_granularities=["word", "segment"])
        cli_words = [(w["word"].strip(), w["start"], w["end"]) for s in cli_json["segments"] for w in s["words"]]
        got_words = [(w.word, w.start, w.end) for w in (v.words or [])]
        check(v.task == "transcribe" and v.language == "english" and abs(v.duration - cli_json["duration"]) < 1e-6,
              f"verbose_json: task, language ({v.language}), duration ({v.duration})")
        check([(s.start, s.end, s.text) for s in v.segments] == [(s["start"], s["end"], s["text"]) for s in cli_json["segments"]],
              f"verbose_json: {len(v.segments)} segments equal the CLI's json")
        check(got_words == cli_words and len(got_words) > 5, f"verbose_json words: {len(got_words)} words and times equal the CLI's --word-timestamps")

        # --- streaming: segments as server-sent events, then the whole text
        with open(SPEECH, "rb") as f:
            events = list(client.audio.transcriptions.create(model="whisper-1", file=f, stream=True))
        deltas = "".join(e.delta for e in events if e.type == "transcript.text.delta")
        done = [e for e in events if e.type == "transcript.text.done"]
        check(len(done) == 1 and words_of(done[0].text) == words_of(cli_txt) and words_of(deltas) == words_of(cli_txt),
              f"stream=true: {len(events) - 1} delta event(s) and a done event with the CLI's text")

        # --- translations (English-only model: a clear 400; base translates)
        try:
            with open(SPEECH, "rb") as f:
                client.audio.translations.create(model="tiny.en", file=f)
            check(False, "translations with tiny.en: refused")
        except openai.BadRequestError as e:
            check("English-only" in str(e), f"translations with tiny.en: 400 ({e.body['message'][:60]})")
        with open(SPEECH, "rb") as f:
            tr = client.audio.translations.create(model="base", file=f, response_format="verbose_json")
        check(tr.task == "translate" and "Dashwood" in tr.text, f"translations with base: task translate ({tr.text[:40]!r}...)")

        # --- embeddings: the CLI's vectors, base64 (the client's default) and float
        e = client.embeddings.create(input=texts, model="all-minilm-l6-v2")
        diff = max(abs(a - b) for row, ref in zip(e.data, cli_rows) for a, b in zip(row.embedding, ref))
        check(len(e.data) == 3 and [d.index for d in e.data] == [0, 1, 2] and diff == 0.0,
              f"embeddings (base64): 3 vectors equal mmpipe embed's (max |diff| {diff})")
        e = client.embeddings.create(input=texts[0], model="all-minilm-l6-v2", encoding_format="float")
        # JSON carries each float32 as its shortest decimal: rounded back to float32, it is the value.
        f32 = lambda x: struct.unpack("<f", struct.pack("<f", x))[0]
        diff = max(abs(f32(a) - b) for a, b in zip(e.data[0].embedding, cli_rows[0]))
        # Alone here, padded in a batch of three for the CLI: the same floats.
        check(len(e.data[0].embedding) == 384 and diff == 0.0 and e.usage.prompt_tokens > 2,
              f"embeddings (float): one vector, 384 floats, max |diff| {diff} to its row in a batch, usage {e.usage.prompt_tokens} tokens")

        # --- bad requests through the client
        for what, call, kind in [
            ("unknown model", lambda: client.audio.transcriptions.create(model="gpt-4o", file=open(SPEECH, "rb")), openai.NotFoundError),
            ("garbage audio", lambda: client.audio.transcriptions.create(model="whisper-1", file=open(work / "garbage.wav", "rb")), openai.BadRequestError),
            ("empty file", lambda: client.audio.transcriptions.create(model="whisper-1", file=open(work / "empty.wav", "rb")), openai.BadRequestError),
            ("bad response_format", lambda: client.audio.transcriptions.create(model="whisper-1", file=open(SPEECH, "rb"), response_format="xml"), openai.BadRequestError),
            ("unknown embedding model", lambda: client.embeddings.create(input="x", model="text-embedding-3-small"), openai.NotFoundError),
            ("wrong key", lambda: openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong", max_retries=0).models.list(), openai.AuthenticationError),
        ]:
            try:
                call()
                check(False, f"{what}: refused")
            except kind as ex:
                body = ex.body if isinstance(ex.body, dict) else {}
                check(bool(body.get("message")), f"{what}: {ex.status_code} {body.get('message', '')[:70]}")

        # --- streaming a file that is not audio: the HTTP error itself, not a 200 and an event
        try:
            list(client.audio.transcriptions.create(model="whisper-1", file=open(work / "garbage.wav", "rb"), stream=True))
            check(False, "stream=true with garbage audio: refused")
        except openai.BadRequestError as ex:
            check("garbage.wav" in ex.body.get("message", ""), f"stream=true with garbage audio: {ex.status_code} before any event")
        # --- a model registered but not installed here, an unknown language
        absent = next((m for m in ["clip-vit-b-32", "clip-vit-l-14-336", "vit-l-16"] if m not in ids), None)
        if absent:   # a registered model whose weights this machine does not have
            try:
                client.embeddings.create(input="x", model=absent)
                check(False, f"{absent} (not installed): refused")
            except openai.NotFoundError as ex:
                check("not installed" in ex.body.get("message", "") and ex.body.get("code") == "model_not_found",
                      f"{absent}, registered but without weights here: 404 ({ex.body.get('message', '')[:50]})")
            check("resnet50" not in ids or "vit-l-16" not in ids, "models.list leaves out models whose weights are not here")
        try:
            client.audio.transcriptions.create(model="base", file=open(SPEECH, "rb"), language="xx")
            check(False, "language xx: refused")
        except openai.BadRequestError as ex:
            check(ex.body.get("param") == "language", f"unknown language: 400 with param language ({ex.body.get('message', '')[:50]})")

        # --- bad requests as raw HTTP
        body, h = multipart([("model", "whisper-1")], [("audio", "speech.wav", SPEECH.read_bytes())])
        status, _, data = raw(port, "POST", "/v1/audio/transcriptions", body, h)
        check(status == 400 and "'file'" in error_of(data)["message"], f"wrong field name (audio for file): {status} {error_of(data)['message'][:60]}")
        status, _, data = raw(port, "POST", "/v1/audio/transcriptions", b"--x\r\nnot a form", {"Content-Type": "multipart/form-data; boundary=x"})
        check(status == 400 and error_of(data) is not None, f"malformed multipart: {status} {error_of(data)['message'][:60]}")
        status, _, data = raw(port, "POST", "/v1/audio/transcriptions", b"{}", {"Content-Type": "application/json"})
        check(status == 400 and "multipart" in error_of(data)["message"], f"not multipart: {status}")
        # A truncated WAV (header: 2.0 s, file: 1.0 s of speech.wav): the answer carries the
        # CLI's warning, in the JSON and as a header.
        cut = bytearray(SPEECH.read_bytes()[:44 + 32000])
        cut[40:44] = (64000).to_bytes(4, "little")
        cut[4:8] = (36 + 64000).to_bytes(4, "little")
        body, h = multipart([("model", "whisper-1")], [("file", "cut.wav", bytes(cut))])
        status, headers, data = raw(port, "POST", "/v1/audio/transcriptions", body, h)
        warned = json.loads(data).get("warnings", []) if status == 200 else []
        check(status == 200 and warned == ["truncated: header says 2.00 s, file holds 1.00 s"]
              and "truncated" in headers.get("X-Mmpipe-Warning", headers.get("x-mmpipe-warning", "")),
              f"a truncated WAV: 200 with the warning ({warned}, header {headers.get('x-mmpipe-warning')})")
        body, h = multipart([("model", "whisper-1")], [("file", "big.wav", b"\0" * (3 << 20))])
        status, _, data = raw(port, "POST", "/v1/audio/transcriptions", body, h)
        check(status == 413 and error_of(data) is not None, f"3 MB body over --max-body-mb 2: {status}")
        status, _, data = raw(port, "POST", "/v1/embeddings", b"{not json", {"Content-Type": "application/json"})
        check(status == 400 and error_of(data) is not None, f"embeddings with a body that is not JSON: {status}")
        status, _, data = raw(port, "GET", "/v1/models", key=None)
        check(status == 401 and error_of(data)["code"] == "invalid_api_key", f"no key: {status}")
        status, _, data = raw(port, "GET", "/v1/nothing")
        check(status == 404 and error_of(data) is not None, f"unknown endpoint: {status}")

        # --- 8 clients at once on a queue of 4: each answer exact, or 429 with Retry-After
        results = []

        def one():
            try:
                with open(SPEECH, "rb") as f:
                    r = client.audio.transcriptions.with_raw_response.create(model="whisper-1", file=f)
                results.append(("ok", r.parse().text))
            except openai.RateLimitError as ex:
                results.append(("429", ex.response.headers.get("retry-after")))
            except Exception as ex:   # noqa: BLE001 - reported as a failed check
                results.append(("error", repr(ex)))

        threads = [threading.Thread(target=one) for _ in range(8)]
        for t_ in threads:
            t_.start()
        for t_ in threads:
            t_.join()
        oks = [r for r in results if r[0] == "ok"]
        busy = [r for r in results if r[0] == "429"]
        check(len(results) == 8 and len(oks) + len(busy) == 8 and len(oks) >= 4
              and all(words_of(r[1]) == words_of(cli_txt) for r in oks) and all(r[1] and int(r[1]) >= 1 for r in busy),
              f"8 concurrent clients, queue 4: {len(oks)} exact answers, {len(busy)} told 429 with Retry-After")

        # --- a client that goes away: its work is cancelled (the queue empties long before
        # the minute of audio would be done)
        body, h = multipart([("model", "whisper-1")], [("file", "long.wav", long_wav.read_bytes())])
        s = socket.create_connection(("127.0.0.1", port))
        head = (f"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
                f"Content-Type: {h['Content-Type']}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        s.sendall(head + body)
        t0 = time.time()
        while time.time() - t0 < 30 and json.loads(raw(port, "GET", "/health")[2])["queue"] == 0:
            time.sleep(0.05)          # until its job is queued (the upload parsed)
        time.sleep(0.5)
        depth_before = json.loads(raw(port, "GET", "/health")[2])["queue"]
        t0 = time.time()
        s.close()
        while time.time() - t0 < 20 and json.loads(raw(port, "GET", "/health")[2])["queue"] > 0:
            time.sleep(0.1)
        stopped = time.time() - t0
        # Cancelled, not run to its end: the request is counted as 499 (how long the job takes to
        # notice depends on the machine's load: it stops at its next segment).
        cancelled = [l for l in raw(port, "GET", "/metrics")[2].decode().splitlines() if l.startswith("hb_requests{")
                     and "/v1/audio/transcriptions" in l and 'http_response_status_code="499"' in l]
        check(depth_before == 1 and cancelled and stopped < 10,
              f"client disconnect: its job (1 in the queue) was cancelled {stopped:.1f} s after it left, counted as 499")

        # --- the image endpoints, with curl
        def curl(*args):
            r = subprocess.run(["curl", "-s", "-H", f"Authorization: Bearer {KEY}", *args], capture_output=True, text=True, timeout=300)
            return json.loads(r.stdout)

        url = f"http://127.0.0.1:{port}"
        got = curl("-F", f"file=@{cat}", "-F", f"file=@{coffee}", "-F", "top_k=3", f"{url}/v1/images/classifications")
        same = [{k: v for k, v in r.items() if k != "path"} for r in got.get("data", [])] == [{k: v for k, v in r.items() if k != "path"} for r in cli_classes]
        check(same and [r["path"] for r in got["data"]] == ["cat.jpg", "coffee.jpg"],
              f"curl classifications (ImageNet): records equal the CLI's JSON ({got['data'][0]['predictions'][0]['label'] if same else got})")
        got = curl("-F", f"file=@{cat}", "-F", "labels=a cat,a dog,a cup of coffee", f"{url}/v1/images/classifications")
        same = [{k: v for k, v in r.items() if k != "path"} for r in got.get("data", [])] == [{k: v for k, v in r.items() if k != "path"} for r in cli_zero]
        check(same, f"curl classifications (zero-shot labels, {got.get('model')}): the CLI's scores")
        got = curl("-F", f"file=@{cat}", "-F", f"file=@{coffee}", "-F", f"file=@{SPEECH}", f"{url}/v1/images/embeddings")
        rows = [d["embedding"] for d in got.get("data", []) if "embedding" in d]
        failed = [d for d in got.get("data", []) if "error" in d]
        diff = max((abs(a - b) for r, ref in zip(rows, cli_img_rows) for a, b in zip(r, ref)), default=1.0)
        check(len(rows) == 2 and diff < 1e-6 and len(failed) == 1 and failed[0]["path"] == "speech.wav",
              f"curl image embeddings: 2 rows equal mmpipe embed's (max |diff| {diff}), the audio file named with its error")
        got = curl("-F", f"file=@{cat}", "-F", "encoding_format=base64", f"{url}/v1/images/embeddings")
        v = struct.unpack(f"<{len(cli_img_rows[0])}f", base64.b64decode(got["data"][0]["embedding"]))
        check(max(abs(a - b) for a, b in zip(v, cli_img_rows[0])) < 1e-6, "curl image embeddings, base64: the same floats")
        # --- heads from mmpipe train: images by form field, texts as JSON
        got = curl("-F", f"file=@{cat}", "-F", f"file=@{coffee}", "-F", "head=pets", f"{url}/v1/images/classifications")
        same = [{k: v for k, v in r.items() if k != "path"} for r in got.get("data", [])] == [{k: v for k, v in r.items() if k != "path"} for r in cli_head]
        check(same and got["data"][0]["labels"][0]["label"] == "cat" and got["data"][1]["labels"][0]["label"] == "cup",
              f"curl classifications with head=pets: the CLI's classify --head records ({got.get('data', [{}])[0].get('labels', [{}])[0] if same else got})")
        status, _, data = raw(port, "POST", "/v1/classifications", json.dumps({"head": "sentiment", "input": review_texts}).encode(),
                              {"Content-Type": "application/json"})
        got = json.loads(data)
        mine = [{k: v for k, v in r.items() if k != "index"} for r in got.get("data", [])]
        theirs = [{k: v for k, v in r.items() if k != "path"} for r in cli_sentiment]
        check(status == 200 and mine == theirs and [r["labels"][0]["label"] for r in mine] == ["positive", "negative"],
              f"POST /v1/classifications with head=sentiment: the CLI's classify --head --text records ({[r['labels'][0]['label'] for r in mine] if mine else data[:200]})")
        got = curl("-F", f"file=@{cat}", "-F", "head=nope", f"{url}/v1/images/classifications")
        check(got.get("error", {}).get("code") == "head_not_found" and "pets" in got["error"]["message"],
              f"unknown head: 404 naming the heads ({got.get('error', {}).get('message')})")
        got = curl("-F", f"file=@{cat}", "-F", "head=sentiment", f"{url}/v1/images/classifications")
        check("/v1/classifications" in got.get("error", {}).get("message", ""), f"a text head on images: 400 ({got.get('error', {}).get('message')})")
        status, _, data = raw(port, "POST", "/v1/classifications", b'{"head": "sentiment", "input": 5}', {"Content-Type": "application/json"})
        check(status == 400 and b"input" in data, f"/v1/classifications with a number for input: {status}")
        answers = [raw(port, "POST", "/v1/classifications", body, {"Content-Type": "application/json"})[0] for body in [b"42", b"[]", b"null"]]
        check(answers == [400, 400, 400], f"/v1/classifications with JSON that is not an object: {answers}")

        got = curl("-F", f"file=@{SPEECH}", f"{url}/v1/images/classifications")
        check("error" in got and "not an image" in got["error"]["message"], f"curl classifications of audio only: {got.get('error', {}).get('message')}")
        got = curl("-F", f"file=@{cat}", "-F", "labels=only one", f"{url}/v1/images/classifications")
        check("error" in got and "two labels" in got["error"]["message"], f"one label without multi_label: {got.get('error', {}).get('message')}")
        spec = curl(f"{url}/openapi.json")
        check(spec.get("openapi", "").startswith("3.") and "/v1/images/classifications" in spec.get("paths", {}), "GET /openapi.json: OpenAPI 3 with the image endpoints")

        # --- metrics
        status, _, data = raw(port, "GET", "/metrics")
        text = data.decode()
        check(status == 200 and "mmpipe_queue_depth" in text and "mmpipe_model_loads_total" in text and "hb_requests" in text,
              "GET /metrics: Prometheus text with queue depth, model loads and request counts")
        notfound = [l for l in text.splitlines() if l.startswith("hb_requests{") and 'http_route="/v1/nothing"' not in l
                    and 'http_response_status_code="404"' in l]
        wrong = [l for l in text.splitlines() if l.startswith("hb_requests{") and 'http_response_status_code="500"' in l]
        check(notfound and not wrong, f"/metrics counts the 404s as 404 ({len(notfound)} series) and no request as 500")

        # --- still serving correctly after all that
        with open(SPEECH, "rb") as f:
            t = client.audio.transcriptions.create(model="whisper-1", file=f)
        check(words_of(t.text) == words_of(cli_txt), "after the bad requests: still the CLI's text")

        # --- SIGTERM with a request in flight: it is answered in full, then the server exits 0
        answer = {}

        def long_request():
            with open(long_wav, "rb") as f:
                answer["text"] = client.audio.transcriptions.create(model="whisper-1", file=f).text

        th = threading.Thread(target=long_request)
        th.start()
        time.sleep(1.5)
        code = server.stop()
        th.join()
        check(code == 0 and len(answer.get("text", "").split()) > 100,
              f"SIGTERM with a minute of audio in flight: answered ({len(answer.get('text', '').split())} words), exit status {code}")
    finally:
        if server.proc.poll() is None:
            server.proc.kill()

    # --- a slow client: its body must arrive within --timeout (408)
    slow = Server("--timeout", "2")
    try:
        s = socket.create_connection(("127.0.0.1", slow.port))
        s.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                  b"Content-Length: 100000\r\n\r\n--b\r\n")
        s.settimeout(30)
        reply = b""
        try:
            while b"\r\n\r\n" not in reply:
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
        except socket.timeout:
            pass
        s.close()
        first = reply.split(b"\r\n")[0].decode() if reply else "no answer"
        check(reply.startswith(b"HTTP/1.1 408"), f"slow client (100 kB promised, 5 bytes sent): {first}")
        status, _, _ = raw(slow.port, "GET", "/health", key=None)
        check(status == 200, "the server still answers after the slow client")
        # A connection that stops inside its request head is closed (after the body timeout + 5 s).
        s = socket.create_connection(("127.0.0.1", slow.port))
        s.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n")
        s.settimeout(30)
        t0 = time.time()
        try:
            closed = s.recv(4096) == b""
        except (socket.timeout, ConnectionResetError):
            closed = False
        s.close()
        check(closed and time.time() - t0 < 20, f"a stalled request head: connection closed after {time.time() - t0:.1f} s")
    finally:
        slow.stop()

    print(f"{'all checks passed' if not failures else f'{len(failures)} check(s) failed'}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
