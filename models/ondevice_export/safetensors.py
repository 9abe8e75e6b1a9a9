"""Test sets in the safetensors format (huggingface/safetensors), written without the library.

A set of tensor rows (audio frames, images) is about 4 bytes a float32 here against about 10-20
characters in JSON. The browser reads it with src/gate/safetensors.ts. Layout: an 8-byte little-endian
header length, a JSON header ({name: {dtype, shape, data_offsets}}, plus __metadata__ of strings), the
tensors' bytes in header order.

write_set(path, rows, metadata=None, expected=None, targets=None)
    rows: {input name: array [n, ...one example]}; expected: {"probabilities" | "features" | "value" |
    "outputs.<name>": array [n, ...]}; metadata: the set's JSON parts (labels, sequence, expected labels),
    stored as one JSON string under __metadata__["set"].
"""
import json
import struct

import numpy as np

DTYPES = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("float16"): "F16", np.dtype("int32"): "I32",
          np.dtype("int64"): "I64", np.dtype("int8"): "I8", np.dtype("uint8"): "U8", np.dtype("bool"): "BOOL"}


def write_set(path, rows, metadata=None, expected=None, targets=None, pixels=None):
    tensors = {f"rows.{name}": np.asarray(value) for name, value in rows.items()}
    for name, value in (pixels or {}).items():  # an image input's 0-255 pixels, [n, height, width, channels]
        tensors[f"pixels.{name}"] = np.asarray(value, dtype=np.uint8)
    for key, value in (expected or {}).items():
        tensors[f"expected.{key}"] = np.asarray(value)
    if targets is not None:
        tensors["targets"] = np.asarray(targets, dtype=np.float64)
    write(path, tensors, {"set": json.dumps(metadata or {}, separators=(",", ":"))})


def write(path, tensors, metadata):
    header, blobs, at = {"__metadata__": metadata}, [], 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        if array.dtype not in DTYPES:
            raise ValueError(f"tensor {name}: dtype {array.dtype} has no safetensors name here")
        blob = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": DTYPES[array.dtype], "shape": list(array.shape), "data_offsets": [at, at + len(blob)]}
        blobs.append(blob)
        at += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
