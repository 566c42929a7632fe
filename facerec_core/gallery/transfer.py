"""The gallery's export/import format: ``facerec-gallery`` version 1.

A UTF-8 JSON document::

    {
      "format": "facerec-gallery",
      "format_version": 1,
      "backbone": "facenet",            # embeddings only compare within one backbone
      "embedding_size": 128,            # the backbone's; null or absent in older files
      "exported": "2024-01-01T12:00:00+00:00",
      "people": [
        {"name": "Ada Lovelace", "notes": "", "created": "…", "updated": "…",
         "samples": [
           {"embedding": "<base64 of embedding_size little-endian float32, unit length>",
            "det_score": 0.999, "source": "ada1.jpg", "content_hash": "<sha256 hex or null>",
            "thumbnail": "<base64 JPEG or PNG, or null>", "created": "…"}]}]
    }

:func:`import_file` refuses a file made with another backbone and validates everything before
writing anything: a file with one bad entry is refused whole, with a message naming the entry and
the problem. Every embedding must have the importing backbone's own size
(``spec_for(backbone).dimension``, whatever ``embedding_size`` claims), finite values and unit
length; every thumbnail must decode as a JPEG or PNG; every field must have its type. People are
merged by name (compared as :func:`~.checks.name_key`: case and Unicode form do not matter) and
duplicate samples are skipped.

Limits
------
An export is read whole into memory, so its size is bounded, checked before it is read. The limits
are far above what a real gallery needs (an enrolled sample takes about 6 KB in a file: a 96-pixel
JPEG thumbnail of 3–5 KB and a 128-d embedding, both base64), and below what would exhaust a
small server:

- :data:`MAX_EXPORT_BYTES` = 64 MiB: about 11,000 samples with thumbnails (2,000 people of 5
  photos), 90,000 without. Parsed JSON takes up to ~8× its size in memory, so 64 MiB stays under
  half a gigabyte whatever the file holds. A gallery too large for one file is refused at export
  (copy ``gallery.sqlite3`` to move it instead), so every export written can be imported.
- :data:`MAX_PEOPLE` = 10,000 people; :data:`MAX_SAMPLES_PER_PERSON` = 1,000 (enrollment needs
  3–5; the duplicate check compares a person's samples pairwise, so this bounds its cost).
- :data:`MAX_JSON_CONTAINERS` = 250,000 objects and arrays (a sample is one, a person two); each
  costs ~60 bytes of memory for 2 bytes of file, so they are counted before parsing.
- :data:`MAX_JSON_DEPTH` = 8 levels (the format has 5); deeper nesting is refused, also when the
  JSON parser itself gives up (``RecursionError``).
- :data:`MAX_THUMBNAIL_BYTES` = 64 KiB and :data:`MAX_THUMBNAIL_SIDE` = 512 px per thumbnail
  (enrollment's: 96 px, 3–5 KB), JPEG or PNG only.
- :data:`MAX_NOTES_LENGTH` = 2,000 characters of notes, :data:`MAX_SOURCE_LENGTH` = 255 of a
  sample's source (a file name), :data:`MAX_NAME_LENGTH` = 100 of a name.

The Gallery page's upload is also bounded by Streamlit's ``server.maxUploadSize`` (200 MB by default).
"""
from __future__ import annotations

import base64
import binascii
import datetime as _dt
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GalleryError
from ..secure_files import write_private
from .checks import (MAX_NAME_LENGTH, MAX_NOTES_LENGTH, MAX_SOURCE_LENGTH, MAX_THUMBNAIL_BYTES, MAX_THUMBNAIL_SIDE,
                     backbone_dimension, check_content_hash, check_thumbnail, clean_name, clean_text,
                     embedding_blob, name_key, thumbnail_problem, unit_rows)
from .records import ImportReport, NewSample
from .store import DUPLICATE_COSINE, GalleryStore, utc_now

EXPORT_FORMAT = "facerec-gallery"
EXPORT_VERSION = 1
MAX_EXPORT_BYTES = 64 * 1024 * 1024
MAX_PEOPLE = 10_000
MAX_SAMPLES_PER_PERSON = 1_000
MAX_JSON_CONTAINERS = 250_000
MAX_JSON_DEPTH = 8
MAX_TIMESTAMP_LENGTH = 40

__all__ = ["EXPORT_FORMAT", "EXPORT_VERSION", "MAX_EXPORT_BYTES", "MAX_JSON_CONTAINERS", "MAX_JSON_DEPTH",
           "MAX_NAME_LENGTH", "MAX_NOTES_LENGTH", "MAX_PEOPLE", "MAX_SAMPLES_PER_PERSON", "MAX_SOURCE_LENGTH",
           "MAX_THUMBNAIL_BYTES", "MAX_THUMBNAIL_SIDE", "export_bytes", "export_data", "export_file", "import_data",
           "import_file"]

def export_data(store: GalleryStore, backbone: str) -> dict[str, Any]:
    """The whole gallery for ``backbone`` in the export format (see the module docstring).
    Samples that search skips and thumbnails that cannot be shown (see
    :meth:`GalleryStore.check`) are left out, so that the export imports cleanly."""
    dim = backbone_dimension(backbone)
    people = store.dump(backbone)
    for p in people:
        samples = [s for s in p["samples"]
                   if s["dim"] == dim and isinstance(s["embedding"], bytes) and len(s["embedding"]) == 4 * dim]
        good = unit_rows(np.frombuffer(b"".join(s["embedding"] for s in samples), "<f4").reshape(len(samples), dim))
        p["samples"] = [s for s, ok in zip(samples, good) if ok]
    return {
        "format": EXPORT_FORMAT, "format_version": EXPORT_VERSION, "backbone": backbone, "embedding_size": dim,
        "exported": utc_now(),
        "people": [{"name": p["name"], "notes": p["notes"], "created": p["created"], "updated": p["updated"],
                    "samples": [{"embedding": base64.b64encode(s["embedding"]).decode("ascii"),
                                 "det_score": float(s["det_score"]), "source": s["source"],
                                 "content_hash": s["content_hash"],
                                 "thumbnail": None if s["thumbnail"] is None or thumbnail_problem(s["thumbnail"])
                                 else base64.b64encode(s["thumbnail"]).decode("ascii"),
                                 "created": s["created"]} for s in p["samples"]]} for p in people],
    }


def export_bytes(store: GalleryStore, backbone: str) -> bytes:
    """:func:`export_data` as UTF-8 JSON; refused (:class:`GalleryError`) when the result would be
    over the import limits (see the module docstring)."""
    data = export_data(store, backbone)
    crowded = [p["name"] for p in data["people"] if len(p["samples"]) > MAX_SAMPLES_PER_PERSON]
    raw = json.dumps(data, indent=1).encode("utf-8")
    if len(raw) > MAX_EXPORT_BYTES or len(data["people"]) > MAX_PEOPLE or crowded:
        raise GalleryError(f"the gallery is too large for one export file ({len(raw):,} bytes, {len(data['people']):,} "
                           f"people; at most {MAX_EXPORT_BYTES:,} bytes, {MAX_PEOPLE:,} people and "
                           f"{MAX_SAMPLES_PER_PERSON:,} samples a person"
                           + (f"; {crowded[0]!r} has more" if crowded else "")
                           + "): copy the gallery's SQLite file instead, with the app stopped")
    return raw


def export_file(store: GalleryStore, path: str | os.PathLike, backbone: str) -> Path:
    """Write the export to ``path`` (mode 0600, through a private temporary file in the same
    folder that replaces ``path`` at once; nothing is left behind when writing fails). The export
    holds every embedding: the file is owner-only whatever the umask; its folder is the user's
    choice and is left as it is."""
    path = Path(path)
    if path.is_dir():
        raise GalleryError(f"cannot write the gallery export to {path}: it is a folder; give a file name, "
                           f"e.g. {path / 'gallery.json'}")
    if not path.parent.is_dir():
        raise GalleryError(f"cannot write the gallery export to {path}: the folder {path.parent} does not exist "
                           "(or is not a folder); create it or choose another place")
    data = export_bytes(store, backbone)
    try:
        write_private(path, data)  # 0600, through a temporary file that replaces ``path`` at once
    except OSError as exc:
        raise GalleryError(f"cannot write the gallery export to {path}: {exc.strerror or exc}; "
                           "choose a folder you can write") from None
    return path


def import_data(store: GalleryStore, data: dict[str, Any] | bytes | str, backbone: str,
                duplicate_cosine: float = DUPLICATE_COSINE) -> ImportReport:
    """Merge an export into ``store`` in one transaction. Refuses (changing nothing) a file of
    another format or backbone, over the limits, or with any malformed entry."""
    return store.add_people(_parse_export(data, backbone), duplicate_cosine=duplicate_cosine)


def import_file(store: GalleryStore, path: str | os.PathLike, backbone: str) -> ImportReport:
    """:func:`import_data` from a file written by :func:`export_file` (its size is checked before
    it is read)."""
    path = Path(path)
    if not path.is_file():
        raise GalleryError(f"{path}: no such file" if not path.exists() else f"{path}: not a regular file")
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_EXPORT_BYTES:
                raise GalleryError(_too_big(path, size))
            data = fh.read(MAX_EXPORT_BYTES + 1)  # the file may grow meanwhile
    except OSError as exc:
        raise GalleryError(f"cannot read {path}: {exc.strerror or exc}") from None
    return import_data(store, data, backbone)


# ---- validation ----------------------------------------------------------------------------------
def _too_big(what: Any, size: int) -> str:
    return (f"{what}: the gallery export is {size:,} bytes, at most {MAX_EXPORT_BYTES:,} can be imported; "
            "split the gallery or copy its SQLite file instead")


def _load(data: bytes | str) -> Any:
    """JSON from an export's bytes, within the limits (checked before parsing where possible)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if len(data) > MAX_EXPORT_BYTES:
        raise GalleryError(_too_big("not imported", len(data)))
    containers = data.count(b"{") + data.count(b"[")
    if containers > MAX_JSON_CONTAINERS:
        raise GalleryError(f"not a gallery export: {containers:,} JSON objects and arrays, at most "
                           f"{MAX_JSON_CONTAINERS:,}; nothing was imported")
    try:
        doc = json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise GalleryError(f"not a gallery export: nested deeper than {MAX_JSON_DEPTH} levels; "
                           "nothing was imported") from None
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise GalleryError(f"not a gallery export: invalid JSON ({exc}); nothing was imported") from None
    if _depth(doc) > MAX_JSON_DEPTH:
        raise GalleryError(f"not a gallery export: nested deeper than {MAX_JSON_DEPTH} levels; nothing was imported")
    return doc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _depth(doc: Any) -> int:
    """How deep objects and arrays nest in ``doc`` (iterative: no recursion limit)."""
    deepest, todo = 0, [(doc, 1)]
    while todo:
        node, level = todo.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, level)
            todo.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


_JSON_TYPES = {str: "text", int: "a number", float: "a number", list: "a list"}


def _field(entry: dict, key: str, kinds: type | tuple[type, ...], *, optional: bool = True) -> Any:
    """``entry[key]`` if it has one of ``kinds`` (``None`` when absent or null and ``optional``)."""
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    value = entry.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, kinds):  # JSON true/false are not numbers here
        wanted = " or ".join(dict.fromkeys(_JSON_TYPES[k] for k in kinds)) + (" or null" if optional else "")
        raise GalleryError(f"{key!r} must be {wanted}, not {type(value).__name__}")
    return value


def _timestamp(entry: dict, key: str) -> str | None:
    value = _field(entry, key, str)
    if value is not None:
        try:
            if len(value) > MAX_TIMESTAMP_LENGTH:
                raise ValueError
            _dt.datetime.fromisoformat(value)
        except ValueError:
            raise GalleryError(f"{key!r} must be an ISO 8601 date and time, "
                               f"not {value[:MAX_TIMESTAMP_LENGTH]!r}") from None
    return value


def _base64(entry: dict, key: str, limit: int) -> bytes | None:
    text = _field(entry, key, str, optional=key != "embedding")
    if text is None:
        return None
    if len(text) > 4 * math.ceil(limit / 3):  # checked before decoding
        raise GalleryError(f"{key!r} is {len(text) * 3 // 4:,} bytes, at most {limit:,}")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise GalleryError(f"{key!r} is not base64") from None


def _sample(entry: Any, backbone: str, dim: int) -> NewSample:
    if not isinstance(entry, dict):
        raise GalleryError(f"a sample must be an object, not {type(entry).__name__}")
    raw = _base64(entry, "embedding", 4 * dim)
    if len(raw) != 4 * dim:
        raise GalleryError(f"the embedding has {len(raw) / 4:g} values, but {backbone} embeddings have {dim}")
    vec = np.frombuffer(raw, dtype="<f4").copy()
    embedding_blob(vec, dim)
    score = _field(entry, "det_score", (int, float))
    if score is not None and not 0.0 <= score <= 1.0:
        raise GalleryError(f"'det_score' must be between 0 and 1, not {score!r}")
    content_hash = check_content_hash(_field(entry, "content_hash", str))
    thumbnail = _base64(entry, "thumbnail", MAX_THUMBNAIL_BYTES)
    return NewSample(vec, backbone, float(score or 0.0),
                     clean_text(_field(entry, "source", str), "source", MAX_SOURCE_LENGTH), content_hash,
                     check_thumbnail(thumbnail), _timestamp(entry, "created"))


def _person(entry: Any, backbone: str, dim: int) -> dict:
    if not isinstance(entry, dict):
        raise GalleryError(f"a person must be an object, not {type(entry).__name__}")
    name = clean_name(_field(entry, "name", str, optional=False))
    samples = _field(entry, "samples", list) or []
    if len(samples) > MAX_SAMPLES_PER_PERSON:
        raise GalleryError(f"{len(samples):,} samples, at most {MAX_SAMPLES_PER_PERSON:,} a person")
    parsed = []
    for j, sample in enumerate(samples):
        try:
            parsed.append(_sample(sample, backbone, dim))
        except GalleryError as exc:
            raise GalleryError(f"sample #{j + 1}: {exc}") from None
    notes = clean_text(_field(entry, "notes", str), "notes", MAX_NOTES_LENGTH, multiline=True)
    _timestamp(entry, "updated")
    return {"name": name, "notes": notes, "created": _timestamp(entry, "created"), "samples": parsed}


def _parse_export(data: dict[str, Any] | bytes | str, backbone: str) -> list[dict]:
    """Validate an export document; returns people with :class:`NewSample` lists."""
    if isinstance(data, (bytes, bytearray, str)):
        data = _load(bytes(data) if isinstance(data, bytearray) else data)
    elif _depth(data) > MAX_JSON_DEPTH:
        raise GalleryError(f"not a gallery export: nested deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise GalleryError(f"not a gallery export (expected \"format\": \"{EXPORT_FORMAT}\")")
    version = data.get("format_version")
    if type(version) is not int or version != EXPORT_VERSION:
        raise GalleryError(f"gallery export version {version!r} is not supported "
                           f"(this facerec reads version {EXPORT_VERSION})")
    if data.get("backbone") != backbone:
        raise GalleryError(f"the export was made with backbone {data.get('backbone')!r}, not {backbone!r}: "
                           "its embeddings cannot be compared; import it with that backbone or re-enroll")
    dim = backbone_dimension(backbone)
    size = data.get("embedding_size")
    if size is not None and (type(size) is not int or size != dim):
        raise GalleryError(f"the export says its embeddings have {size!r} values, but {backbone} embeddings have "
                           f"{dim}: it was not made by this backbone; nothing was imported")
    people = data.get("people")
    if not isinstance(people, list):
        raise GalleryError(f"gallery export: \"people\" must be a list, not {type(people).__name__}; "
                           "nothing was imported")
    if len(people) > MAX_PEOPLE:
        raise GalleryError(f"gallery export: {len(people):,} people, at most {MAX_PEOPLE:,} can be imported at once; "
                           "nothing was imported")
    parsed, seen = [], {}
    for i, entry in enumerate(people):
        try:
            person = _person(entry, backbone, dim)
            key = name_key(person["name"])
            if key in seen:
                raise GalleryError(f"{person['name']!r} appears twice (as person #{seen[key] + 1} too)")
            seen[key] = i
        except GalleryError as exc:
            name = entry.get("name") if isinstance(entry, dict) else None
            who = f" ({name[:40]!r})" if isinstance(name, str) else ""
            raise GalleryError(f"gallery export: person #{i + 1}{who} is malformed ({exc}); "
                               "nothing was imported") from None
        parsed.append(person)
    return parsed
