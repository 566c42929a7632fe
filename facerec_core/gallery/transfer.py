"""The gallery's export/import format: ``facerec-gallery`` version 1.

A UTF-8 JSON document::

    {
      "format": "facerec-gallery",
      "format_version": 1,
      "backbone": "facenet",            # embeddings only compare within one backbone
      "embedding_size": 128,
      "exported": "2024-01-01T12:00:00+00:00",
      "people": [
        {"name": "Ada Lovelace", "notes": "", "created": "…", "updated": "…",
         "samples": [
           {"embedding": "<base64 of embedding_size little-endian float32, unit length>",
            "det_score": 0.999, "source": "ada1.jpg", "content_hash": "<sha256 hex or null>",
            "thumbnail": "<base64 JPEG or null>", "created": "…"}]}]
    }

:func:`import_file` refuses a file made with another backbone, validates everything
before writing anything, merges people by name (case-insensitive) and skips duplicate samples.
"""
from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GalleryError
from .records import ImportReport, NewSample
from .store import DUPLICATE_COSINE, GalleryStore, clean_name, embedding_blob, utc_now

EXPORT_FORMAT = "facerec-gallery"
EXPORT_VERSION = 1


def export_data(store: GalleryStore, backbone: str) -> dict[str, Any]:
    """The whole gallery for ``backbone`` in the export format (see the module docstring)."""
    people = store.dump(backbone)
    dims = {s["dim"] for p in people for s in p["samples"]}
    return {
        "format": EXPORT_FORMAT, "format_version": EXPORT_VERSION, "backbone": backbone,
        "embedding_size": dims.pop() if len(dims) == 1 else None, "exported": utc_now(),
        "people": [{"name": p["name"], "notes": p["notes"], "created": p["created"], "updated": p["updated"],
                    "samples": [{"embedding": base64.b64encode(s["embedding"]).decode("ascii"),
                                 "det_score": float(s["det_score"]), "source": s["source"],
                                 "content_hash": s["content_hash"],
                                 "thumbnail": None if s["thumbnail"] is None
                                 else base64.b64encode(s["thumbnail"]).decode("ascii"),
                                 "created": s["created"]} for s in p["samples"]]} for p in people],
    }


def export_bytes(store: GalleryStore, backbone: str) -> bytes:
    """:func:`export_data` as UTF-8 JSON."""
    return json.dumps(export_data(store, backbone), indent=1).encode("utf-8")


def export_file(store: GalleryStore, path: str | os.PathLike, backbone: str) -> Path:
    """Write the export to ``path`` (mode 0600; replaced atomically)."""
    path = Path(path)
    data = export_bytes(store, backbone)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)
    return path


def import_data(store: GalleryStore, data: dict[str, Any] | bytes | str, backbone: str,
                duplicate_cosine: float = DUPLICATE_COSINE) -> ImportReport:
    """Merge an export into ``store`` in one transaction. Refuses (changing nothing) a file of
    another format or backbone, or with any malformed entry."""
    return store.add_people(_parse_export(data, backbone), duplicate_cosine=duplicate_cosine)


def import_file(store: GalleryStore, path: str | os.PathLike, backbone: str) -> ImportReport:
    """:func:`import_data` from a file written by :func:`export_file`."""
    path = Path(path)
    if not path.is_file():
        raise GalleryError(f"{path}: no such file")
    return import_data(store, path.read_bytes(), backbone)


def _parse_export(data: dict[str, Any] | bytes | str, backbone: str) -> list[dict]:
    """Validate an export document; returns people with :class:`NewSample` lists."""
    if isinstance(data, (bytes, str)):
        try:
            data = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise GalleryError(f"not a gallery export: invalid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise GalleryError(f"not a gallery export (expected \"format\": \"{EXPORT_FORMAT}\")")
    if data.get("format_version") != EXPORT_VERSION:
        raise GalleryError(f"gallery export version {data.get('format_version')!r} is not supported "
                           f"(this facerec reads version {EXPORT_VERSION})")
    if data.get("backbone") != backbone:
        raise GalleryError(f"the export was made with backbone {data.get('backbone')!r}, not {backbone!r}: "
                           "its embeddings cannot be compared; import it with that backbone or re-enroll")
    size = data.get("embedding_size")
    people, seen = [], set()
    for i, entry in enumerate(data.get("people") or []):
        try:
            name = clean_name(entry["name"])
            if name.casefold() in seen:
                raise GalleryError(f"{name!r} appears twice")
            seen.add(name.casefold())
            samples = []
            for j, s in enumerate(entry.get("samples") or []):
                vec = np.frombuffer(base64.b64decode(s["embedding"], validate=True), dtype="<f4")
                if size is not None and vec.size != size:
                    raise GalleryError(f"sample {j}: {vec.size} values, expected {size}")
                embedding_blob(vec)
                thumb = s.get("thumbnail")
                samples.append(NewSample(vec.copy(), backbone, float(s.get("det_score", 0.0)),
                                         str(s.get("source") or ""), s.get("content_hash"),
                                         None if thumb is None else base64.b64decode(thumb, validate=True),
                                         s.get("created")))
        except (KeyError, TypeError, ValueError, GalleryError) as exc:
            raise GalleryError(f"gallery export: person #{i + 1} is malformed ({exc}); nothing was imported") from None
        people.append({"name": name, "notes": str(entry.get("notes") or ""), "created": entry.get("created"),
                       "samples": samples})
    return people
