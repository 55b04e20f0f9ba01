#!/usr/bin/env python3
"""Small weight/array files written by the reference libraries, for the TensorCore
reader tests. Regenerate with:

    pip install numpy safetensors
    python3 scripts/gen-weightfile-fixtures.py

Writes Tests/TensorCoreTests/Fixtures/weightfiles/:
  f32_2x3.npy        float32 [[0,1,2],[3,4,5]] * 0.5 - 1        (np.save, format 1.0)
  i64_5.npy          int64 [-2, -1, 0, 1, 2**40]
  f64_fortran.npy    float64 3x4 arange, Fortran order
  f32_v2.npy         float32 [2,2], format 2.0 (np.lib.format.write_array version=(2,0))
  scalar.npy         float32 scalar 7.25
  mixed.safetensors  safetensors.numpy.save_file: "a" F32 [2,3], "b" F16 [4], "c" F32 [] scalar,
                     metadata {"format": "np"}
  bf16.safetensors   built by hand (numpy has no bfloat16): "w" BF16 [3] = [1.0, -2.5, 0.15625]
The expected values are restated in Tests/TensorCoreTests/WeightFileTests.swift.
"""
import json
import pathlib
import struct

import numpy as np
from safetensors.numpy import save_file

out = pathlib.Path(__file__).resolve().parent.parent / "Tests/TensorCoreTests/Fixtures/weightfiles"
out.mkdir(parents=True, exist_ok=True)

np.save(out / "f32_2x3.npy", (np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5 - 1))
np.save(out / "i64_5.npy", np.array([-2, -1, 0, 1, 2**40], dtype=np.int64))
np.save(out / "f64_fortran.npy", np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)))
with open(out / "f32_v2.npy", "wb") as f:
    np.lib.format.write_array(f, np.array([[1.5, -2], [3, 4]], dtype=np.float32), version=(2, 0))
np.save(out / "scalar.npy", np.float32(7.25))

save_file({"a": np.arange(6, dtype=np.float32).reshape(2, 3),
           "b": np.array([0.5, -1, 65504, 6.1035156e-05], dtype=np.float16),
           "c": np.array(3.0, dtype=np.float32)},
          str(out / "mixed.safetensors"), metadata={"format": "np"})

# BF16 = the top 16 bits of the float32 pattern (these values are exact in bf16).
vals = np.array([1.0, -2.5, 0.15625], dtype=np.float32)
bf16 = (vals.view(np.uint32) >> 16).astype("<u2").tobytes()
header = json.dumps({"w": {"dtype": "BF16", "shape": [3], "data_offsets": [0, len(bf16)]}}).encode()
header += b" " * (-len(header) % 8)
(out / "bf16.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bf16)
print("wrote", sorted(p.name for p in out.iterdir()))
