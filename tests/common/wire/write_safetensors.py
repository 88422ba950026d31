#!/usr/bin/python3
"""An independent safetensors writer for the C++ reader's tests.

Follows the format's specification (github.com/huggingface/safetensors,
README "Format"): 8-byte little-endian header length N, N bytes of a JSON
header {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
{str: str}} padded with spaces to a multiple of 8, then the little-endian,
row-major byte buffer. Uses only struct, json and numpy (Debian ships no
safetensors package), so it shares no code with the reader under test.

  write_safetensors.py known OUT       the known-answer file (see below)
  write_safetensors.py model OUT SPEC  SPEC: JSON list of [name, dtype, shape]
                                       (dtype F32/F64/F16/I64); values drawn
                                       from numpy's default_rng(SEED=7)
                                       standard normal times 0.1
"""
import json
import struct
import sys

import numpy as np


def write(path, tensors, metadata=None):
    """tensors: list of (name, dtype string, shape, raw little-endian bytes)."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, _, raw in tensors:
            f.write(raw)


def bf16(values):
    bits = np.asarray(values, dtype="<f4").view("<u4") >> 16
    return bits.astype("<u2").tobytes()


def known(path):
    a = (np.arange(6, dtype="<f4") / 4 - 0.5).reshape(2, 3)
    write(path, [
        ("a", "F32", a.shape, a.tobytes()),
        ("b", "F64", (3,), np.array([1 / 3, -2.5, 1e-3], dtype="<f8").tobytes()),
        ("c", "F16", (2, 2),
         np.array([0.5, -1.25, 65504.0, 2.0 ** -24], dtype="<f2").tobytes()),
        ("d", "BF16", (2,), bf16([1.5, -3.0])),
        ("e", "I64", (2,), np.array([7, -7], dtype="<i8").tobytes()),
        ("s", "F32", (), np.array(2.0, dtype="<f4").tobytes()),
    ], metadata={"format": "pt", "writer": "write_safetensors.py"})


def model(path, spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    rng = np.random.default_rng(7)
    numpy_dtype = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8"}
    tensors = []
    for name, dtype, shape in spec:
        values = rng.standard_normal(int(np.prod(shape, dtype=np.int64))) * 0.1
        raw = values.astype(numpy_dtype[dtype]).reshape(shape).tobytes()
        tensors.append((name, dtype, shape, raw))
    write(path, tensors)


if __name__ == "__main__":
    if sys.argv[1] == "known":
        known(sys.argv[2])
    else:
        model(sys.argv[2], sys.argv[3])
