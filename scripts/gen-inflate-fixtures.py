#!/usr/bin/env python3
"""Raw DEFLATE streams from zlib for TensorCore's Deflate (gunzip, raw inflate) and the .npz reader.

    python3 scripts/gen-inflate-fixtures.py     # writes Tests/TensorCoreTests/Fixtures/inflate/

Each case is `<name>.deflate` (raw deflate, wbits -15) plus an entry in `cases.json` with the
size and CRC-32 of the original bytes (the test checks both; CRC32 itself is checked against
the standard check value). Cases cover stored, fixed-Huffman and dynamic blocks, several
blocks with flushes, runs (length 258, distance 1) and a distance near 32 KiB.
Also `stored.npz` (np.savez, members not compressed) and `deflated.npz` (np.savez_compressed)
holding a = arange(6, float32).reshape(2, 3) and b = [1, 2, 3] int64, for the .npz reader.
"""
import json
import pathlib
import random
import zlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests/TensorCoreTests/Fixtures/inflate"


def deflate(data, level=9, strategy=zlib.Z_DEFAULT_STRATEGY, chunks=1, flush=zlib.Z_FULL_FLUSH):
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 9, strategy)
    out = b""
    step = max(1, len(data) // chunks)
    for i in range(0, len(data), step):
        out += c.compress(data[i:i + step])
        if chunks > 1:
            out += c.flush(flush)
    return out + c.flush()


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(5)
    text = "".join(f"Line {i}: the quick brown fox jumps over the lazy dog ({i * 7919 % 1000}).\n" for i in range(300)).encode()
    noise = bytes(rnd.randrange(256) for _ in range(4000))
    far = noise[:2000] + bytes(28000) + noise[:2000]
    cases = {
        "empty": (b"", {}),
        "hello-fixed": (b"hello, hello, hello world", {"strategy": zlib.Z_FIXED}),
        "text-dynamic": (text, {}),
        "text-stored": (text[:6000], {"level": 0}),
        "text-fixed": (text, {"strategy": zlib.Z_FIXED}),
        "text-huffman-only": (text, {"strategy": zlib.Z_HUFFMAN_ONLY}),
        "text-rle": (text, {"strategy": zlib.Z_RLE}),
        "text-many-blocks": (text, {"chunks": 7}),
        "text-sync-flush": (text, {"chunks": 5, "flush": zlib.Z_SYNC_FLUSH, "level": 1}),
        "noise": (noise, {}),
        "run": (b"a" * 100000, {}),
        "far-match": (far, {}),
        "utf8": ("日本語のテキスト 😀 naïve café ".encode() * 40, {}),
    }
    manifest = []
    for name, (data, kw) in cases.items():
        stream = deflate(data, **kw)
        assert zlib.decompress(stream, -15) == data
        (OUT / f"{name}.deflate").write_bytes(stream)
        manifest.append({"name": name, "size": len(data), "crc32": zlib.crc32(data),
                         "text": data.decode() if len(data) < 64 else None})
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2, 3], dtype=np.int64)}
    np.savez(OUT / "stored.npz", **arrays)
    np.savez_compressed(OUT / "deflated.npz", **arrays)
    (OUT / "cases.json").write_text(json.dumps({"generator": "scripts/gen-inflate-fixtures.py", "cases": manifest}, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{OUT.relative_to(ROOT)}: {len(manifest)} cases, {total} bytes")


if __name__ == "__main__":
    main()
