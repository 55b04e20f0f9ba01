#!/usr/bin/env python3
"""Write the float32 initializers (weights) of an ONNX model as safetensors, without onnx.

Usage: scripts/onnx_initializers.py IN.onnx OUT.safetensors [--expect-ops OP,OP,...]
       scripts/onnx_initializers.py IN.onnx --list

An ONNX file is a protobuf ModelProto; this reads the few fields it needs with the standard
library: ModelProto.graph (7) -> GraphProto.node (1, NodeProto.op_type 4) and
GraphProto.initializer (5) -> TensorProto dims (1), data_type (2), float_data (4), name (8),
raw_data (9), data_location (14). float32 initializers are written under their ONNX names
(sorted); the graph's integer constants (pads, slice bounds, shapes) are not weights and are
left out. With --expect-ops the graph's operator sequence must be exactly that list, so a
file of another architecture is refused instead of converted. Initializers stored outside
the file (external data) are refused.

Used by scripts/fetch-models (convert kind "onnx-to-safetensors") for Silero VAD v6.
"""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_legacy import write_safetensors  # noqa: E402

FLOAT = 1


class FormatError(Exception):
    pass


def fields(buf, what):
    """Yields (field number, wire type, value) of one protobuf message."""
    i, n = 0, len(buf)

    def varint():
        nonlocal i
        shift = result = 0
        while True:
            if i >= n:
                raise FormatError(f"truncated varint in {what}")
            b = buf[i]
            i += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise FormatError(f"bad varint in {what}")

    while i < n:
        key = varint()
        num, wire = key >> 3, key & 7
        if wire == 0:
            yield num, wire, varint()
        elif wire == 1:
            if i + 8 > n:
                raise FormatError(f"truncated field {num} in {what}")
            yield num, wire, buf[i:i + 8]
            i += 8
        elif wire == 2:
            length = varint()
            if i + length > n:
                raise FormatError(f"field {num} of {what} runs past the end ({length} bytes)")
            yield num, wire, buf[i:i + length]
            i += length
        elif wire == 5:
            if i + 4 > n:
                raise FormatError(f"truncated field {num} in {what}")
            yield num, wire, buf[i:i + 4]
            i += 4
        else:
            raise FormatError(f"unsupported wire type {wire} (field {num}) in {what}")


def packed_varints(data):
    out, i = [], 0
    while i < len(data):
        shift = v = 0
        while True:
            b = data[i]
            i += 1
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
        out.append(v - (1 << 64) if v >= 1 << 63 else v)
    return out


def tensor(buf):
    t = {"dims": [], "type": 0, "name": "", "raw": None, "floats": [], "external": False}
    for num, wire, v in fields(buf, "a tensor"):
        if num == 1:
            t["dims"] += packed_varints(v) if wire == 2 else [v]
        elif num == 2:
            t["type"] = v
        elif num == 4:
            t["floats"] += list(struct.unpack(f"<{len(v) // 4}f", v)) if wire == 2 else [struct.unpack("<f", v)[0]]
        elif num == 8:
            t["name"] = bytes(v).decode("utf-8")
        elif num == 9:
            t["raw"] = bytes(v)
        elif num == 14:
            t["external"] = v == 1
    return t


def read(path):
    """(operator types in graph order, initializers) of the model at `path`."""
    with open(path, "rb") as f:
        data = f.read()
    graph = None
    try:
        for num, wire, v in fields(data, "the model"):
            if num == 7 and wire == 2:
                graph = v
    except FormatError as e:
        raise FormatError(f"not an ONNX model: {e}")
    if graph is None:
        raise FormatError("not an ONNX model (no graph)")
    ops, inits = [], []
    for num, wire, v in fields(graph, "the graph"):
        if num == 1 and wire == 2:
            for n2, w2, v2 in fields(v, "a node"):
                if n2 == 4 and w2 == 2:
                    ops.append(bytes(v2).decode("utf-8"))
        elif num == 5 and wire == 2:
            inits.append(tensor(v))
    return ops, inits


def convert(in_path, out_path, expect_ops=None):
    ops, inits = read(in_path)
    if expect_ops is not None and ops != expect_ops:
        raise FormatError(f"the graph's operators are {','.join(ops)}, expected {','.join(expect_ops)}: another model or version")
    items = []
    for t in sorted(inits, key=lambda t: t["name"]):
        if t["type"] != FLOAT:
            continue
        if t["external"]:
            raise FormatError(f"initializer {t['name']} is stored outside the file (external data)")
        count = 1
        for d in t["dims"]:
            count *= d
        raw = t["raw"] if t["raw"] is not None else struct.pack(f"<{len(t['floats'])}f", *t["floats"])
        if len(raw) != 4 * count:
            raise FormatError(f"initializer {t['name']} has {len(raw)} bytes for shape {t['dims']}")
        items.append((t["name"], "F32", t["dims"], raw))
    if not items:
        raise FormatError("no float32 initializers")
    write_safetensors(items, out_path, metadata={"format": "onnx-initializers", "source": os.path.basename(in_path)})
    return len(items)


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    expect = None
    if "--expect-ops" in argv:
        k = argv.index("--expect-ops")
        if k + 1 >= len(argv):
            print("onnx_initializers: --expect-ops needs a list", file=sys.stderr)
            return 2
        expect = argv[k + 1].split(",")
        args = [a for a in args if a != argv[k + 1]]
    if "-h" in argv or "--help" in argv:
        print(__doc__.strip())
        return 0
    try:
        if "--list" in argv and len(args) == 1:
            ops, inits = read(args[0])
            print("ops: " + ",".join(ops))
            for t in inits:
                print(f"{t['name']}\ttype {t['type']}\t{t['dims']}")
            return 0
        if len(args) != 2:
            print("usage: onnx_initializers.py IN.onnx OUT.safetensors [--expect-ops OPS] | IN.onnx --list", file=sys.stderr)
            return 2
        n = convert(args[0], args[1], expect)
    except (FormatError, OSError, UnicodeDecodeError) as e:
        print(f"onnx_initializers: {args[0]}: {e}", file=sys.stderr)
        return 1
    print(f"onnx_initializers: wrote {n} tensors to {args[1]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
