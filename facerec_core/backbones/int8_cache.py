"""The built int8 FaceNet, kept on disk so that a new process skips FX's prepare and convert.

Building the int8 model (trace, insert observers, convert, lower to oneDNN) took 10-21 s of
every CLI call and every dashboard start, most of it Python graph rewriting; the result is the
same every time for the same weights, calibration and torch. So the converted model is written
once to ``<cache_dir>/int8/facenet-<key>.bin`` and later processes rebuild it from that file in a
fraction of a second.

Nothing in the file can execute code (this project's rule: no pickle from disk, no TorchScript):

- The file is a data description, not a pickled module: a magic number, a JSON header (the key,
  the graph's nodes, each module's type and constructor arguments) and raw little-endian arrays
  (int8 weights, their per-channel scales, biases), read with ``numpy.frombuffer``.
- The graph is rebuilt node by node with ``torch.fx``; every function, method and module type it
  names must be in a fixed allowlist (:data:`FUNCTIONS`, :data:`METHODS`, :data:`MODULES`), every
  name and module path must be a plain identifier path, and every constant a number, a bool,
  ``None``, an allowed dtype or an allowed attribute name. FX generates the forward code from
  those checked nodes, as it does when it converts; nothing from the file is evaluated.
- The last 32 bytes are the SHA-256 of everything before them, recorded at build and checked
  before anything is parsed: a truncated or altered file is rebuilt, never trusted. The key
  (weights' SHA-256, calibration's SHA-256, torch version, engine, :data:`FORMAT_VERSION`) is in
  the file name and again in the header, and must match.
- The folder is ``0700`` and the file ``0600`` (:mod:`facerec_core.secure_files`); a file that is
  not owner-only or belongs to another user is not read.
- Finally the rebuilt model embeds a fixed synthetic batch and must give back the embeddings
  recorded at build (a different torch or CPU that packs differently is caught here); the same
  batch shape as a one-face request with its mirror image, so this also warms oneDNN's kernels
  for the first answer.

Any failure is logged and answered ``None``: the caller builds the model again and rewrites the file.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import struct
from pathlib import Path

import numpy as np

from ..secure_files import is_private, private_dir, write_private
from .int8_graph import CacheInvalid, Unsupported, describe, rebuild

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""Bump when this file's layout or the way the model is built changes: old files are ignored."""
MAGIC = b"FRINT8\x00\x01"
_HEADER_LEN = struct.Struct("<Q")
_DIGEST_SIZE = 32
MAX_FILE_BYTES = 256 * 1024 * 1024
"""A cache file larger than this is not read (FaceNet's is about 24 MB)."""
MAX_HEADER_BYTES = 8 * 1024 * 1024

_DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "int32": np.int32, "int8": np.int8,
           "uint8": np.uint8}
FINGERPRINT_SHAPE = (2, 3, 160, 160)
FINGERPRINT_TOLERANCE = 1e-3


@dataclasses.dataclass(frozen=True)
class CacheKey:
    """Everything the built int8 model depends on: a change of any of them is a new file."""

    weights_sha256: str
    calibration_sha256: str
    torch_version: str
    engine: str
    format_version: int = FORMAT_VERSION

    @property
    def digest(self) -> str:
        """A short stable name for this key (the file name)."""
        blob = json.dumps(dataclasses.asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:24]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def cache_file(cache_dir: Path, key: CacheKey) -> Path:
    """Where the int8 model for ``key`` lives inside the cache folder."""
    return Path(cache_dir) / "int8" / f"facenet-{key.digest}.bin"


# -- the file ------------------------------------------------------------------------------------
def fingerprint(model) -> np.ndarray:
    """The model's output for a fixed synthetic batch of standardised faces (checks a rebuilt
    model against the one that was built)."""
    import torch

    n = int(np.prod(FINGERPRINT_SHAPE))
    x = torch.sin(torch.arange(n, dtype=torch.float32) * 0.0137).reshape(FINGERPRINT_SHAPE)
    with torch.inference_mode():
        return model(x.contiguous(memory_format=torch.channels_last)).float().numpy()


def encode_file(key: CacheKey, model) -> bytes:
    """The bytes of a cache file for the converted ``model`` (raises :class:`Unsupported`)."""
    graph, arrays = describe(model)
    table, chunks, offset = [], [], 0
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        dtype = array.dtype.name
        if dtype not in _DTYPES:
            raise Unsupported(f"array {name} of dtype {dtype}")
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        table.append({"name": name, "dtype": dtype, "shape": list(array.shape), "offset": offset,
                      "length": len(data)})
        chunks.append(data)
        offset += len(data)
    header = json.dumps({"format": FORMAT_VERSION, "key": key.as_dict(), "graph": graph, "arrays": table,
                         "fingerprint": fingerprint(model).tolist()}, separators=(",", ":")).encode()
    body = MAGIC + _HEADER_LEN.pack(len(header)) + header + b"".join(chunks)
    return body + hashlib.sha256(body).digest()


def decode_file(data: bytes, key: CacheKey) -> tuple[dict, dict[str, np.ndarray]]:
    """``(header, arrays)`` of a cache file's bytes, after the checks of the module's notes."""
    if len(data) < len(MAGIC) + _HEADER_LEN.size + _DIGEST_SIZE:
        raise CacheInvalid("the file is too short")
    body, digest = data[:-_DIGEST_SIZE], data[-_DIGEST_SIZE:]
    if hashlib.sha256(body).digest() != digest:
        raise CacheInvalid("its SHA-256 differs from the one recorded when it was built (altered or truncated)")
    if not body.startswith(MAGIC):
        raise CacheInvalid("it is not an int8 model file of this format")
    (length,) = _HEADER_LEN.unpack_from(body, len(MAGIC))
    start = len(MAGIC) + _HEADER_LEN.size
    if length > MAX_HEADER_BYTES or start + length > len(body):
        raise CacheInvalid("its header is too long")
    try:
        header = json.loads(body[start:start + length])
    except ValueError as exc:
        raise CacheInvalid(f"its header is not JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_VERSION:
        raise CacheInvalid("it was written in another format")
    if header.get("key") != key.as_dict():
        raise CacheInvalid("it was built from other weights, calibration or torch")
    payload = memoryview(body)[start + length:]
    arrays = {}
    for entry in header.get("arrays") or []:
        try:
            name, dtype, shape = str(entry["name"]), _DTYPES[entry["dtype"]], tuple(int(s) for s in entry["shape"])
            offset, size = int(entry["offset"]), int(entry["length"])
        except (KeyError, TypeError, ValueError):
            raise CacheInvalid("an array entry is malformed") from None
        itemsize = np.dtype(dtype).itemsize
        if offset < 0 or size < 0 or offset + size > len(payload) or size != itemsize * int(np.prod(shape)):
            raise CacheInvalid(f"array {name[:80]} lies outside the file or does not fit its shape")
        arrays[name] = np.frombuffer(payload[offset:offset + size], dtype=np.dtype(dtype).newbyteorder("<")
                                     ).reshape(shape)
    return header, arrays


def save(path: Path, key: CacheKey, model) -> bool:
    """Write the converted ``model`` for ``key`` to ``path`` (owner-only, atomic); ``False``, with
    a log line, when it cannot be described or written (the model still works, uncached)."""
    try:
        data = encode_file(key, model)
    except Unsupported as exc:
        log.warning("the int8 model is not cached: %s", exc)
        return False
    try:
        private_dir(path.parent)
        write_private(path, data)
    except OSError as exc:
        log.warning("cannot write the int8 model cache %s (%s): the next start builds it again", path, exc)
        return False
    log.info("int8 model cached in %s (%.1f MB)", path, len(data) / 1e6)
    return True


def load(path: Path, key: CacheKey):
    """The converted model cached for ``key`` at ``path``, or ``None`` (missing, or not
    trustworthy: the reason is logged) so that the caller builds it again."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("int8 cache %s cannot be read (%s): building the model", path, exc)
        return None
    try:
        if stat.st_uid != os.getuid() or not is_private(path) or not is_private(path.parent):
            raise CacheInvalid("it or its folder is not owner-only")
        if stat.st_size > MAX_FILE_BYTES:
            raise CacheInvalid("it is too large")
        header, arrays = decode_file(path.read_bytes(), key)
        model = rebuild(header.get("graph"), arrays)
        expected = np.asarray(header.get("fingerprint"), dtype=np.float32)
        got = fingerprint(model)
        if expected.shape != got.shape or not np.all(np.abs(expected - got) <= FINGERPRINT_TOLERANCE):
            raise CacheInvalid("the rebuilt model does not give the embeddings recorded when it was built")
    except CacheInvalid as exc:
        log.warning("int8 cache %s not used: %s; building the model again", path, exc)
        return None
    except (OSError, ValueError, TypeError, RuntimeError) as exc:  # torch rejecting malformed pieces
        log.warning("int8 cache %s not used (%s: %s); building the model again", path, type(exc).__name__, exc)
        return None
    return model
