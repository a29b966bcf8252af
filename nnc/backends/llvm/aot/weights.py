"""Weights files of a C library: nnc's checkpoint format 1 (docs/checkpoints.md) with a CRC-32 of the data.

Written here by `nnc compile` and by the library's PREFIX_save, byte for byte the same layout (tensors
sorted by key, contiguous; the JSON header padded with spaces to 8 bytes; metadata "nnc", "nnc.crc32",
"nnc.format"), so `nnc.train.checkpoint.load_checkpoint` and `Trainer.load` read them too.
"""
from __future__ import annotations

import json
import struct
import zlib

import numpy as np

from ...base import Role
from .entry import Entry

ST_DTYPE = {"f32": "F32", "f64": "F64", "i32": "I32", "i64": "I64", "bool": "BOOL"}
SECTION = {Role.PARAM: "params/", Role.STATE: "state/", Role.SLOT: "optim/"}


def _np_dtype(dtype: str):
    return {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64, "bool": np.bool_}[dtype]


def weights_file(e: Entry, values: dict[str, np.ndarray], seed: int, step: int = 0) -> bytes:
    """The weights file of `e` holding `values` (by port name; a held tensor missing from it is zero)."""
    tensors = []
    for p in e.inputs:
        if p.role not in SECTION or p.derived:  # the derived tensors are computed, never stored
            continue
        a = values.get(p.name)
        a = np.zeros(p.dims, _np_dtype(p.dtype)) if a is None else np.ascontiguousarray(a, _np_dtype(p.dtype))
        if list(a.shape) != p.dims:
            raise ValueError(f"{p.name} has the shape {a.shape}, the {e.kind} needs {tuple(p.dims)}")
        tensors.append((SECTION[p.role] + p.name, p, a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()))
    tensors.sort(key=lambda t: t[0].encode())
    body = b"".join(t[2] for t in tensors)
    meta = json.dumps({e.kind: e.name, "seed": int(seed), "step": int(step),
                       "rng": {"generator": "philox4x32-10", "key": int(seed), "counter": int(step)},
                       "writer": "nnc library"})
    head = ('{"__metadata__":{"nnc":' + json.dumps(meta) + f',"nnc.crc32":"{zlib.crc32(body):08x}",'
            '"nnc.format":"1"}')
    offset = 0
    for key, p, data in tensors:
        shape = ",".join(str(d) for d in p.dims)
        head += (f',{json.dumps(key)}:{{"dtype":"{ST_DTYPE[p.dtype]}","shape":[{shape}],'
                 f'"data_offsets":[{offset},{offset + len(data)}]}}')
        offset += len(data)
    head += "}"
    head += " " * (-len(head) % 8)
    raw = head.encode()
    return struct.pack("<Q", len(raw)) + raw + body
