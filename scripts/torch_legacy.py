#!/usr/bin/env python3
"""Read PyTorch checkpoints (torch.save) and write them as safetensors, without torch.

Usage: scripts/torch_legacy.py IN.pth OUT.safetensors [--list]

Two container formats are read:

- legacy (torch < 1.6, or `_use_new_zipfile_serialization=False`): five pickles and the raw
  storages in one stream: the magic number 0x1950a86a20f9469cfc6c, the protocol version 1001,
  a sys_info dict, then the object itself (storages stand in as persistent ids
  `('storage', StorageType, key, location, numel[, view_metadata])`), then the list of
  storage keys in the order their data follows; each storage's data is an 8-byte
  little-endian element count followed by the elements (little-endian, as written on x86).
- zip (torch >= 1.6 default): `<name>/data.pkl` with the same persistent ids, and each
  storage's bytes in `<name>/data/<key>`.

Tensors are rebuilt from `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`
(and `_rebuild_tensor`, `_rebuild_parameter`); strided views are gathered into contiguous
row-major data. The object must be a state dict: a (possibly nested) dict of tensors; nested
keys are joined with '.'. Non-tensor entries (e.g. `_metadata`, epoch counters) are skipped
and listed on stderr.

The safetensors writer follows the format exactly: an 8-byte little-endian header length,
a JSON header (keys sorted, `__metadata__` {"format": "pt"}, each tensor's dtype, shape and
`data_offsets` relative to the data section), padded with spaces so the data starts 8-byte
aligned, then the tensors' bytes back to back in header order. The output is written
atomically (temporary file in the same folder + os.replace).

Standard library only.
"""

import io
import json
import os
import pickle
import struct
import sys
import tempfile
import zipfile

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# torch storage class name -> (safetensors dtype, element size, struct code)
STORAGE_TYPES = {
    "FloatStorage": ("F32", 4, "f"),
    "DoubleStorage": ("F64", 8, "d"),
    "HalfStorage": ("F16", 2, "e"),
    "BFloat16Storage": ("BF16", 2, None),
    "LongStorage": ("I64", 8, "q"),
    "IntStorage": ("I32", 4, "i"),
    "ShortStorage": ("I16", 2, "h"),
    "CharStorage": ("I8", 1, "b"),
    "ByteStorage": ("U8", 1, "B"),
    "BoolStorage": ("BOOL", 1, "?"),
}

# torch dtype names (as pickled by newer torch: torch.float32 is `torch.float32`) -> storage kind
DTYPE_NAMES = {
    "float32": "FloatStorage", "float": "FloatStorage", "float64": "DoubleStorage", "double": "DoubleStorage",
    "float16": "HalfStorage", "half": "HalfStorage", "bfloat16": "BFloat16Storage",
    "int64": "LongStorage", "long": "LongStorage", "int32": "IntStorage", "int": "IntStorage",
    "int16": "ShortStorage", "short": "ShortStorage", "int8": "CharStorage", "uint8": "ByteStorage",
    "bool": "BoolStorage",
}


class FormatError(Exception):
    """The file is not a checkpoint this reader understands; the message says why."""


class StorageType:
    """Stands in for `torch.FloatStorage` etc. in the pickle."""

    def __init__(self, name):
        if name not in STORAGE_TYPES:
            raise FormatError(f"unsupported storage type torch.{name}")
        self.name = name
        self.dtype, self.itemsize, self.code = STORAGE_TYPES[name]


class DType:
    """Stands in for `torch.float32` etc. (zip checkpoints of torch >= 2 pickle the dtype)."""

    def __init__(self, name):
        if name not in DTYPE_NAMES:
            raise FormatError(f"unsupported dtype torch.{name}")
        self.storage = StorageType(DTYPE_NAMES[name])


class Storage:
    """One storage: its element type, element count and (once read) its bytes."""

    def __init__(self, kind, key, numel):
        self.kind = kind
        self.key = key
        self.numel = numel
        self.data = None


class TensorRef:
    """A tensor as the pickle describes it: a view of a storage."""

    def __init__(self, storage, offset, size, stride):
        self.storage = storage
        self.offset = int(offset)
        self.size = tuple(int(s) for s in size)
        self.stride = tuple(int(s) for s in stride)

    @property
    def dtype(self):
        return self.storage.kind.dtype

    def numel(self):
        n = 1
        for s in self.size:
            n *= s
        return n

    def contiguous_bytes(self):
        """The elements in row-major order of `size`, as bytes."""
        st = self.storage
        item = st.kind.itemsize
        n = self.numel()
        if n == 0:
            return b""
        data = st.data
        # Row-major strides of `size` (size-1 dims may carry any stride).
        expected, row_major = 1, True
        for s, d in zip(reversed(self.size), reversed(self.stride)):
            if s != 1 and d != expected:
                row_major = False
                break
            expected *= s
        last = self.offset + sum((s - 1) * d for s, d in zip(self.size, self.stride))
        if self.offset < 0 or last >= st.numel or any(d < 0 for d in self.stride):
            raise FormatError(f"tensor view (offset {self.offset}, size {self.size}, stride {self.stride}) "
                              f"outside its storage of {st.numel} elements")
        if row_major:
            return bytes(data[self.offset * item:(self.offset + n) * item])
        # Strided view: gather element by element (odometer over the dims).
        out = bytearray(n * item)
        mv = memoryview(data)
        idx = [0] * len(self.size)
        src = self.offset
        for i in range(n):
            out[i * item:(i + 1) * item] = mv[src * item:(src + 1) * item]
            k = len(self.size) - 1
            while k >= 0:
                idx[k] += 1
                src += self.stride[k]
                if idx[k] < self.size[k]:
                    break
                src -= self.stride[k] * self.size[k]
                idx[k] = 0
                k -= 1
        return bytes(out)


def _rebuild_tensor(storage, storage_offset, size, stride, *_rest):
    if not isinstance(storage, Storage):
        raise FormatError("tensor rebuilt from something that is not a storage")
    return TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *_rest):
    return data


class _Ignored:
    """Any other global the pickle names: constructible, but never a tensor."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


class CheckpointUnpickler(pickle.Unpickler):
    def __init__(self, fileobj, storages):
        super().__init__(fileobj)
        self.storages = storages  # key -> Storage

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            import collections
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name.endswith("Storage"):
            return StorageType(name)
        if module == "torch" and name in DTYPE_NAMES:
            return DType(name)
        if module in ("builtins", "__builtin__") and name in ("set", "frozenset", "dict", "list", "tuple", "slice"):
            return getattr(__import__("builtins"), name)
        return _Ignored

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise FormatError(f"unexpected persistent id {pid!r}")
        kind, key, _location, numel = pid[1], str(pid[2]), pid[3], pid[4]
        if isinstance(kind, DType):
            kind = kind.storage
        if not isinstance(kind, StorageType):
            raise FormatError(f"storage {key}: unknown storage type {kind!r}")
        if len(pid) > 5 and pid[5] is not None:
            raise FormatError(f"storage {key}: storage views (view_metadata) are not supported")
        st = self.storages.get(key)
        if st is None:
            # Zip checkpoints of torch >= 2 use untyped storages: numel counts bytes then.
            st = Storage(kind, key, int(numel))
            self.storages[key] = st
        return st


def _flatten(obj, prefix, out, skipped):
    if isinstance(obj, TensorRef):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out, skipped)
    else:
        skipped.append(prefix or "<root>")


def load_legacy(f, path):
    def next_pickle():
        try:
            return pickle.load(f)
        except Exception as e:  # noqa: BLE001 - any unpickling failure means a bad file
            raise FormatError(f"{path}: not a legacy torch checkpoint ({e})")
    if next_pickle() != LEGACY_MAGIC:
        raise FormatError(f"{path}: wrong magic number, not a legacy torch checkpoint")
    protocol = next_pickle()
    if protocol != LEGACY_PROTOCOL:
        raise FormatError(f"{path}: legacy protocol {protocol}, expected {LEGACY_PROTOCOL}")
    sys_info = next_pickle()
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise FormatError(f"{path}: written on a big-endian machine, not supported")
    storages = {}
    try:
        obj = CheckpointUnpickler(f, storages).load()
    except FormatError:
        raise
    except Exception as e:  # noqa: BLE001
        raise FormatError(f"{path}: cannot unpickle the state dict ({e})")
    keys = next_pickle()
    if not isinstance(keys, list):
        raise FormatError(f"{path}: storage key list missing")
    for key in keys:
        st = storages.get(str(key))
        if st is None:
            raise FormatError(f"{path}: data for storage {key} that no tensor uses")
        head = f.read(8)
        if len(head) != 8:
            raise FormatError(f"{path}: truncated before storage {key}")
        (numel,) = struct.unpack("<q", head)
        if numel != st.numel:
            raise FormatError(f"{path}: storage {key} holds {numel} elements, the pickle says {st.numel}")
        nbytes = numel * st.kind.itemsize
        st.data = f.read(nbytes)
        if len(st.data) != nbytes:
            raise FormatError(f"{path}: storage {key} truncated ({len(st.data)} of {nbytes} bytes)")
    missing = [k for k, s in storages.items() if s.data is None]
    if missing:
        raise FormatError(f"{path}: no data for storages {missing[:5]}")
    return obj


def load_zip(path):
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise FormatError(f"{path}: zip checkpoint without exactly one data.pkl")
        root = pkl[0][: -len("data.pkl")]
        storages = {}
        try:
            obj = CheckpointUnpickler(io.BytesIO(z.read(pkl[0])), storages).load()
        except FormatError:
            raise
        except Exception as e:  # noqa: BLE001
            raise FormatError(f"{path}: cannot unpickle {pkl[0]} ({e})")
        for key, st in storages.items():
            try:
                st.data = z.read(f"{root}data/{key}")
            except KeyError:
                raise FormatError(f"{path}: storage {key} missing from the archive")
            # Untyped storages (torch >= 2) count bytes in the persistent id: trust the data.
            st.numel = len(st.data) // st.kind.itemsize
    return obj


def load(path):
    """The tensors of a checkpoint: ({name: TensorRef}, [skipped non-tensor names])."""
    if zipfile.is_zipfile(path):
        obj = load_zip(path)
    else:
        with open(path, "rb") as f:
            obj = load_legacy(f, path)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]  # a training checkpoint wrapping the state dict
    tensors, skipped = {}, []
    _flatten(obj, "", tensors, skipped)
    if not tensors:
        raise FormatError(f"{path}: no tensors found (is it a state dict?)")
    return tensors, skipped


def write_safetensors(tensors, out_path, metadata=None):
    """tensors: list of (name, dtype string, shape, bytes), in the order they are written."""
    header = {"__metadata__": dict(metadata or {"format": "pt"})}
    offset = 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    blob = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    blob += b" " * ((8 - (8 + len(blob)) % 8) % 8)
    folder = os.path.dirname(os.path.abspath(out_path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(out_path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(struct.pack("<Q", len(blob)))
            out.write(blob)
            for _, _, _, data in tensors:
                out.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def convert(in_path, out_path):
    """Converts a checkpoint to safetensors (tensor names sorted). Returns the tensor count."""
    tensors, skipped = load(in_path)
    if skipped:
        print(f"torch_legacy: skipped non-tensor entries: {', '.join(skipped[:10])}", file=sys.stderr)
    items = []
    for name in sorted(tensors):
        t = tensors[name]
        items.append((name, t.dtype, t.size, t.contiguous_bytes()))
    write_safetensors(items, out_path)
    return len(items)


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("-")]
    if "-h" in argv or "--help" in argv:
        print(__doc__.strip())
        return 0
    if "--list" in argv and len(args) == 1:
        try:
            tensors, skipped = load(args[0])
        except (FormatError, OSError) as e:
            print(f"torch_legacy: {e}", file=sys.stderr)
            return 1
        for name in sorted(tensors):
            t = tensors[name]
            print(f"{name}\t{t.dtype}\t{list(t.size)}")
        return 0
    if len(args) != 2:
        print("usage: torch_legacy.py IN.pth OUT.safetensors | IN.pth --list", file=sys.stderr)
        return 2
    try:
        n = convert(args[0], args[1])
    except (FormatError, OSError) as e:
        print(f"torch_legacy: {e}", file=sys.stderr)
        return 1
    print(f"torch_legacy: wrote {n} tensors to {args[1]}")
    return 0


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet exit when piped into head
    sys.exit(main(sys.argv))
