"""The enrolled-people gallery: a private SQLite store, enrollment from photos, and open-set search.

Enrolled people are recognised a moment after enrollment, without retraining, and survive
restarts. Three parts:

- :class:`GalleryStore`: one SQLite file (standard library, no server), by default
  ``<data_dir>/gallery.sqlite3`` (``Settings.data_dir``, env ``FACEREC_DATA_DIR``). Thread-safe
  (one connection behind a lock) and safe across processes (SQLite locking, WAL mode).
- :func:`enroll`: photos → exactly one good face each → embedding + small thumbnail → stored in
  one transaction. Refused photos say why and store nothing; duplicates are skipped.
- :class:`GalleryIdentifier`: cosine nearest-neighbour search over the embeddings held in
  memory as one float32 matrix, reloaded whenever the store's change counter moves (another
  session or process enrolled or deleted someone). :meth:`GalleryIdentifier.for_recognizer` is
  what :meth:`facerec_core.recognizer.Recognizer.load` attaches to ``Recognizer.extra_galleries``.

Storage
-------
Tables (schema version in ``PRAGMA user_version``; :data:`MIGRATIONS` upgrade older files):

- ``people(id, name UNIQUE NOCASE, notes, created, updated)``
- ``samples(id, person_id → people ON DELETE CASCADE, backbone, dim, embedding BLOB (float32
  little-endian, unit length), det_score, source, content_hash, thumbnail BLOB (JPEG of the face),
  created)``
- ``meta(key, value)``: ``generation`` is bumped by triggers on every change to either table.

Every write runs in one ``BEGIN IMMEDIATE`` transaction, so a crash mid-enrollment leaves either
the whole enrollment or none of it. The file (and SQLite's ``-wal``/``-shm`` companions, which
inherit its mode) is created with permissions ``0600``: embeddings are biometric data. Uploaded
originals are never kept, only a small face thumbnail.

Export format (``facerec-gallery`` version 1)
---------------------------------------------
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

:meth:`GalleryStore.import_file` refuses a file made with another backbone, validates everything
before writing anything, merges people by name (case-insensitive) and skips duplicate samples.

Thresholds
----------
A gallery match is accepted when the probe's cosine similarity to the person's nearest stored
sample reaches the threshold; everyone else is ``"unknown"`` (open set). Inside a
:class:`~facerec_core.recognizer.Recognizer` the final word is the Recognizer's: it puts the
gallery's cosines on its model's scale (cohort normalisation) and applies its own threshold
(``Recognizer.threshold``: calibrated at 1% false-accept rate on the training data), then the
best known candidate of the model and the galleries wins. :class:`GalleryIdentifier` on its own
uses the model's calibrated threshold when :meth:`GalleryIdentifier.for_recognizer` finds one,
otherwise :data:`DEFAULT_GALLERY_THRESHOLDS`: for ``facenet`` 0.63, the 1% false-accept point of
strangers against a simulated gallery of 30 LFW people with 3 samples each (cached embeddings of
8,191 LFW images; 98% of enrolled people's other photos accepted and correctly named there). Other
backbones fall back to their 1:1 verification threshold, which is looser (not measured for
galleries).
"""
from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as _dt
import hashlib
import io
import json
import logging
import os
import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

from .errors import FacerecError
from .faces import UNKNOWN, Match
from .images import ImageInput, describe, load_image
from .settings import Settings

log = logging.getLogger(__name__)

GALLERY_FILE = "gallery.sqlite3"
EXPORT_FORMAT = "facerec-gallery"
EXPORT_VERSION = 1
MAX_NAME_LENGTH = 100
DUPLICATE_COSINE = 0.995
DEFAULT_GALLERY_THRESHOLDS = {"facenet": 0.63}
"""Open-set cosine thresholds used when no trained model supplies a calibrated one (see above)."""

# Each migration takes the schema from version i to i + 1; applied in one transaction each.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE people (
               id INTEGER PRIMARY KEY,
               name TEXT NOT NULL UNIQUE COLLATE NOCASE,
               notes TEXT NOT NULL DEFAULT '',
               created TEXT NOT NULL,
               updated TEXT NOT NULL)""",
        """CREATE TABLE samples (
               id INTEGER PRIMARY KEY,
               person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
               backbone TEXT NOT NULL,
               dim INTEGER NOT NULL CHECK (dim > 0),
               embedding BLOB NOT NULL,
               det_score REAL NOT NULL,
               source TEXT NOT NULL DEFAULT '',
               content_hash TEXT,
               thumbnail BLOB,
               created TEXT NOT NULL,
               CHECK (length(embedding) = 4 * dim))""",
        "CREATE INDEX samples_person ON samples(person_id)",
        "CREATE INDEX samples_backbone ON samples(backbone, person_id)",
        "CREATE INDEX samples_hash ON samples(content_hash)",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        "INSERT INTO meta(key, value) VALUES ('generation', 0)",
        *[f"""CREATE TRIGGER {table}_{event.lower()}_bump AFTER {event} ON {table}
              BEGIN UPDATE meta SET value = value + 1 WHERE key = 'generation'; END"""
          for table in ("people", "samples") for event in ("INSERT", "UPDATE", "DELETE")],
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


class GalleryError(FacerecError):
    """The gallery refused an operation (bad name, unknown person, wrong backbone, bad file)."""


class PersonNotFoundError(GalleryError, KeyError):
    """No enrolled person by that name or id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class EnrollmentError(FacerecError):
    """A photo was refused for enrollment; the message says why (no face, two faces, too small…)."""


# --------------------------------------------------------------------------------------------
# Records


@dataclasses.dataclass(frozen=True)
class Person:
    """An enrolled person; ``samples`` counts their stored face samples."""

    id: int
    name: str
    notes: str
    created: str
    updated: str
    samples: int = 0


@dataclasses.dataclass(frozen=True)
class Sample:
    """One stored face sample (the embedding itself is only loaded for search and export)."""

    id: int
    person_id: int
    backbone: str
    det_score: float
    source: str
    content_hash: str | None
    thumbnail: bytes | None
    created: str


@dataclasses.dataclass
class NewSample:
    """A face sample ready to store: a unit-length embedding and where it came from."""

    embedding: np.ndarray
    backbone: str
    det_score: float
    source: str = ""
    content_hash: str | None = None
    thumbnail: bytes | None = None
    created: str | None = None


@dataclasses.dataclass
class SampleOutcome:
    """What happened to one photo: ``added``, ``duplicate`` (skipped) or ``refused``."""

    source: str
    status: str
    reason: str = ""
    sample_id: int | None = None


@dataclasses.dataclass
class EnrollmentReport:
    """The result of :func:`enroll`: the person (``None`` when nothing was stored for a new
    name) and one outcome per photo, in order."""

    name: str
    person: Person | None
    outcomes: list[SampleOutcome]

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def added(self) -> int:
        return self.count("added")

    @property
    def duplicates(self) -> int:
        return self.count("duplicate")

    @property
    def refused(self) -> int:
        return self.count("refused")

    def summary(self) -> str:
        parts = [f"{self.added} added"]
        if self.duplicates:
            parts.append(f"{self.duplicates} duplicate{'s' if self.duplicates > 1 else ''} skipped")
        if self.refused:
            parts.append(f"{self.refused} refused")
        return f"{self.name}: " + ", ".join(parts)


@dataclasses.dataclass
class ImportReport:
    """What :meth:`GalleryStore.import_file` did."""

    people_added: int = 0
    people_merged: int = 0
    samples_added: int = 0
    samples_skipped: int = 0


@dataclasses.dataclass(frozen=True)
class GalleryMatrix:
    """Every sample of one backbone, grouped by person: ``X`` is ``(n_samples, dim)`` float32 and
    person ``i`` (``names[i]``) owns rows ``starts[i]:starts[i + 1]``."""

    generation: int
    X: np.ndarray
    names: list[str]
    starts: np.ndarray
    person_ids: np.ndarray
    sample_ids: np.ndarray

    @property
    def labels(self) -> list[str]:
        """One name per row of ``X`` (for training)."""
        counts = np.diff(np.append(self.starts, len(self.X)))
        return [n for n, c in zip(self.names, counts) for _ in range(int(c))]


# --------------------------------------------------------------------------------------------
# Helpers


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def clean_name(name: str) -> str:
    """Validate and normalise a display name (trimmed, single spaces); raises :class:`GalleryError`."""
    if not isinstance(name, str):
        raise GalleryError(f"a name must be text, not {type(name).__name__}")
    cleaned = re.sub(r"\s+", " ", name).strip()
    if not cleaned:
        raise GalleryError("a name is required")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise GalleryError(f"the name is too long ({len(cleaned)} characters, at most {MAX_NAME_LENGTH})")
    if any(ord(c) < 32 or ord(c) == 127 for c in cleaned):
        raise GalleryError("the name contains control characters")
    if cleaned.casefold() == UNKNOWN:
        raise GalleryError(f"{cleaned!r} is reserved for faces that match nobody; choose another name")
    return cleaned


def gallery_path(settings: Settings) -> Path:
    """Where the gallery of ``settings`` lives: ``<data_dir>/gallery.sqlite3``."""
    return Path(settings.data_dir) / GALLERY_FILE


def image_hash(image: np.ndarray) -> str:
    """SHA-256 of decoded pixels and shape: equal for the same picture whatever its file name."""
    h = hashlib.sha256(f"{image.shape}|{image.dtype}".encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


def face_thumbnail(image: np.ndarray, box: Sequence[float], size: int = 96, quality: int = 85) -> bytes:
    """A small square JPEG of the face in ``box`` (grown by 20%), for the gallery page."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * 1.2
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    right, bottom = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
    if right <= left or bottom <= top:
        left, top, right, bottom = 0, 0, w, h
    crop = Image.fromarray(image[top:bottom, left:right]).resize((size, size), Image.BILINEAR)
    buffer = io.BytesIO()
    crop.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _embedding_blob(embedding: np.ndarray) -> tuple[bytes, int]:
    vec = np.asarray(embedding, dtype="<f4").reshape(-1)
    if vec.size == 0 or not np.isfinite(vec).all():
        raise GalleryError("an embedding must be a non-empty vector of finite numbers")
    norm = float(np.linalg.norm(vec))
    if abs(norm - 1.0) > 1e-3:
        raise GalleryError(f"an embedding must have unit length (norm {norm:.4f})")
    return vec.tobytes(), int(vec.size)


def _create_private_file(path: Path) -> None:
    """Create ``path`` with mode 0600 if missing (before SQLite opens it with its own mode)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)


# --------------------------------------------------------------------------------------------
# The store


class GalleryStore:
    """The enrolled people and their face samples, in one SQLite file.

    Safe to share between threads (one connection, serialised by a lock) and between
    processes (SQLite's own locking; writers wait up to ``timeout`` seconds).

    Args:
        path: the database file; created (mode 0600) and migrated when needed.
        timeout: seconds a writer waits for another process's transaction.
    """

    def __init__(self, path: str | os.PathLike, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        _create_private_file(self.path)
        try:
            self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None,
                                         check_same_thread=False)
        except sqlite3.Error as exc:
            raise GalleryError(f"cannot open the gallery {self.path}: {exc}") from None
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise GalleryError(f"{self.path} is not a usable gallery database ({exc})") from None

    @classmethod
    def open(cls, settings: Settings | None = None, **kwargs) -> "GalleryStore":
        """The gallery under ``settings.data_dir`` (default: from the environment)."""
        return cls(gallery_path(settings or Settings.from_env()), **kwargs)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "GalleryStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: everything inside commits together or not at all."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:  # e.g. another process held the lock past the timeout
                raise GalleryError(f"the gallery {self.path} is busy or unwritable ({exc})") from None
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise GalleryError(f"the gallery {self.path}: {exc}; nothing was changed") from exc
                raise

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: a consistent snapshot across several queries."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise GalleryError(f"{self.path} was written by a newer facerec (schema {version}, "
                               f"this one knows {SCHEMA_VERSION}); upgrade facerec")
        while version < SCHEMA_VERSION:
            with self._write() as conn:
                # re-read inside the lock: another process may have migrated meanwhile
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version >= SCHEMA_VERSION:
                    break
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")
            log.info("gallery %s: schema migrated to version %d", self.path, version + 1)
            version += 1

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def generation(self) -> int:
        """A counter bumped by every change to people or samples (by any process)."""
        with self._lock:
            return int(self._conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])

    # -- people -------------------------------------------------------------------------------

    @staticmethod
    def _person(row: sqlite3.Row) -> Person:
        return Person(row["id"], row["name"], row["notes"], row["created"], row["updated"],
                      int(row["n"]) if "n" in row.keys() else 0)

    _PERSON_SQL = ("SELECT p.id, p.name, p.notes, p.created, p.updated, "
                   "(SELECT COUNT(*) FROM samples s WHERE s.person_id = p.id {filter}) AS n FROM people p ")

    def people(self, backbone: str | None = None) -> list[Person]:
        """Everyone enrolled, by name; ``samples`` counts those of ``backbone`` (or all)."""
        sql = self._PERSON_SQL.format(filter="AND s.backbone = ?" if backbone else "") + "ORDER BY p.name"
        with self._lock:
            rows = self._conn.execute(sql, (backbone,) if backbone else ()).fetchall()
        return [self._person(r) for r in rows]

    def find_person(self, key: str | int) -> Person | None:
        """The person with this name (case-insensitive) or id, or ``None``."""
        with self._lock:
            return self._find(self._conn, key)

    def _find(self, conn: sqlite3.Connection, key: str | int) -> Person | None:
        sql = self._PERSON_SQL.format(filter="")
        if isinstance(key, (int, np.integer)):
            row = conn.execute(sql + "WHERE p.id = ?", (int(key),)).fetchone()
        else:
            row = conn.execute(sql + "WHERE p.name = ?", (re.sub(r"\s+", " ", str(key)).strip(),)).fetchone()
        return None if row is None else self._person(row)

    def person(self, key: str | int) -> Person:
        """Like :meth:`find_person` but raises :class:`PersonNotFoundError`."""
        found = self.find_person(key)
        if found is None:
            what = f"id {key}" if isinstance(key, (int, np.integer)) else repr(key)
            raise PersonNotFoundError(f"nobody enrolled as {what}")
        return found

    def create_person(self, name: str, notes: str = "") -> Person:
        """Enroll a new name with no samples yet; raises :class:`GalleryError` if it exists."""
        name = clean_name(name)
        with self._write() as conn:
            if self._find(conn, name) is not None:
                raise GalleryError(f"{name!r} is already enrolled")
            now = _now()
            pid = conn.execute("INSERT INTO people(name, notes, created, updated) VALUES (?, ?, ?, ?)",
                               (name, notes or "", now, now)).lastrowid
            return self._find(conn, pid)

    def rename_person(self, key: str | int, new_name: str) -> Person:
        """Change a display name (refused when another person has it)."""
        new_name = clean_name(new_name)
        with self._write() as conn:
            person = self._require(conn, key)
            other = self._find(conn, new_name)
            if other is not None and other.id != person.id:
                raise GalleryError(f"cannot rename {person.name!r}: {new_name!r} is already enrolled")
            conn.execute("UPDATE people SET name = ?, updated = ? WHERE id = ?", (new_name, _now(), person.id))
            return self._find(conn, person.id)

    def set_notes(self, key: str | int, notes: str) -> Person:
        with self._write() as conn:
            person = self._require(conn, key)
            conn.execute("UPDATE people SET notes = ?, updated = ? WHERE id = ?", (notes or "", _now(), person.id))
            return self._find(conn, person.id)

    def delete_person(self, key: str | int) -> int:
        """Forget a person and every sample of theirs; returns how many samples went."""
        with self._write() as conn:
            person = self._require(conn, key)
            conn.execute("DELETE FROM people WHERE id = ?", (person.id,))  # samples cascade
        log.info("gallery: forgot %s (%d samples)", person.name, person.samples)
        return person.samples

    def _require(self, conn: sqlite3.Connection, key: str | int) -> Person:
        person = self._find(conn, key)
        if person is None:
            raise PersonNotFoundError(f"nobody enrolled as {key!r}")
        return person

    # -- samples ------------------------------------------------------------------------------

    def samples(self, key: str | int, backbone: str | None = None) -> list[Sample]:
        """A person's samples, oldest first (without embeddings)."""
        with self._read() as conn:
            person = self._require(conn, key)
            rows = conn.execute(
                "SELECT id, person_id, backbone, det_score, source, content_hash, thumbnail, created "
                "FROM samples WHERE person_id = ?" + (" AND backbone = ?" if backbone else "") + " ORDER BY id",
                (person.id, backbone) if backbone else (person.id,)).fetchall()
        return [Sample(r["id"], r["person_id"], r["backbone"], float(r["det_score"]), r["source"],
                       r["content_hash"], r["thumbnail"], r["created"]) for r in rows]

    def delete_sample(self, sample_id: int) -> None:
        """Remove one sample (the person stays, even with no samples left)."""
        with self._write() as conn:
            row = conn.execute("SELECT person_id FROM samples WHERE id = ?", (int(sample_id),)).fetchone()
            if row is None:
                raise GalleryError(f"no sample with id {sample_id}")
            conn.execute("DELETE FROM samples WHERE id = ?", (int(sample_id),))
            conn.execute("UPDATE people SET updated = ? WHERE id = ?", (_now(), row["person_id"]))

    def add_samples(self, name: str, samples: Sequence[NewSample], *, notes: str | None = None,
                    create: bool = True, duplicate_cosine: float = DUPLICATE_COSINE) -> tuple[Person | None, list[SampleOutcome]]:
        """Store samples for ``name`` in one transaction, creating the person if needed.

        A sample is skipped as a duplicate when the same picture (``content_hash``) or a
        near-identical embedding (cosine > ``duplicate_cosine``) is already stored for this
        person, and refused when the same picture is stored for someone else. When nothing is
        added, a new person is not created either. Returns ``(person or None, outcomes)``.
        """
        name = clean_name(name)
        with self._write() as conn:
            return self._add_samples(conn, name, samples, notes=notes, create=create,
                                     duplicate_cosine=duplicate_cosine)

    def _add_samples(self, conn: sqlite3.Connection, name: str, samples: Sequence[NewSample], *,
                     notes: str | None, create: bool, duplicate_cosine: float,
                     created: str | None = None) -> tuple[Person | None, list[SampleOutcome]]:
        """The body of :meth:`add_samples`, inside the caller's write transaction."""
        prepared = [(s, *_embedding_blob(s.embedding)) for s in samples]
        outcomes: list[SampleOutcome] = []
        person = self._find(conn, name)
        if person is None and not create:
            raise PersonNotFoundError(f"nobody enrolled as {name!r}")
        now = _now()
        pid = person.id if person is not None else None
        own: dict[str, list[np.ndarray]] = {}
        for sample, blob, dim in prepared:
            if sample.backbone not in own:
                rows = conn.execute("SELECT embedding FROM samples WHERE person_id = ? AND backbone = ?",
                                    (pid, sample.backbone)).fetchall()
                own[sample.backbone] = [np.frombuffer(r[0], dtype="<f4") for r in rows]
            outcome = self._duplicate(conn, pid, sample, own[sample.backbone], duplicate_cosine)
            if outcome is None:
                if pid is None:  # a new person is created with their first accepted sample
                    pid = conn.execute("INSERT INTO people(name, notes, created, updated) VALUES (?, ?, ?, ?)",
                                       (name, notes or "", created or now, now)).lastrowid
                sid = conn.execute(
                    "INSERT INTO samples(person_id, backbone, dim, embedding, det_score, source, content_hash, "
                    "thumbnail, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (pid, sample.backbone, dim, blob, float(sample.det_score), sample.source or "",
                     sample.content_hash, sample.thumbnail, sample.created or now)).lastrowid
                own[sample.backbone].append(np.frombuffer(blob, dtype="<f4"))
                outcome = SampleOutcome(sample.source, "added", "", sid)
            outcomes.append(outcome)
        if person is not None and any(o.status == "added" for o in outcomes):
            if notes is not None:
                conn.execute("UPDATE people SET updated = ?, notes = ? WHERE id = ?", (now, notes, pid))
            else:
                conn.execute("UPDATE people SET updated = ? WHERE id = ?", (now, pid))
        return (self._find(conn, pid) if pid is not None else None), outcomes

    @staticmethod
    def _duplicate(conn: sqlite3.Connection, pid: int | None, sample: NewSample, own: list[np.ndarray],
                   duplicate_cosine: float) -> SampleOutcome | None:
        if sample.content_hash:
            row = conn.execute(
                "SELECT s.person_id, p.name FROM samples s JOIN people p ON p.id = s.person_id "
                "WHERE s.content_hash = ? AND s.backbone = ? ORDER BY s.person_id = ? DESC LIMIT 1",
                (sample.content_hash, sample.backbone, pid)).fetchone()
            if row is not None:
                if row["person_id"] == pid:
                    return SampleOutcome(sample.source, "duplicate", "this photo is already stored for this person")
                return SampleOutcome(sample.source, "refused", f"this photo is already enrolled as {row['name']!r}")
        if own:
            best = float(np.max(np.stack(own) @ np.asarray(sample.embedding, dtype=np.float32).reshape(-1)))
            if best > duplicate_cosine:
                return SampleOutcome(sample.source, "duplicate",
                                     f"a near-identical sample is already stored (cosine {best:.4f})")
        return None

    # -- search data --------------------------------------------------------------------------

    def matrix(self, backbone: str) -> GalleryMatrix:
        """Every ``backbone`` sample as one float32 matrix grouped by person, with the generation
        it was read at (one consistent snapshot)."""
        with self._read() as conn:
            generation = int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
            rows = conn.execute(
                "SELECT s.id, s.person_id, p.name, s.dim, s.embedding FROM samples s "
                "JOIN people p ON p.id = s.person_id WHERE s.backbone = ? ORDER BY s.person_id, s.id",
                (backbone,)).fetchall()
        if not rows:
            return GalleryMatrix(generation, np.zeros((0, 0), np.float32), [], np.zeros(0, np.intp),
                                 np.zeros(0, np.int64), np.zeros(0, np.int64))
        dims = {r[3] for r in rows}
        if len(dims) != 1:
            raise GalleryError(f"{self.path}: {backbone} samples have different sizes {sorted(dims)}")
        X = np.frombuffer(b"".join(r[4] for r in rows), dtype="<f4").reshape(len(rows), dims.pop())
        person_ids = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
        starts = np.flatnonzero(np.r_[True, person_ids[1:] != person_ids[:-1]])
        names = [rows[i][2] for i in starts]
        return GalleryMatrix(generation, np.ascontiguousarray(X, dtype=np.float32), names, starts,
                             person_ids, np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))

    def training_samples(self, backbone: str) -> tuple[np.ndarray, list[str]]:
        """``(embeddings, names)`` of every ``backbone`` sample, for ``train_lfw(extra_samples=…)``."""
        m = self.matrix(backbone)
        return m.X, m.labels

    def backbones(self) -> dict[str, int]:
        """Sample counts per backbone."""
        with self._lock:
            rows = self._conn.execute("SELECT backbone, COUNT(*) FROM samples GROUP BY backbone").fetchall()
        return {r[0]: int(r[1]) for r in rows}

    # -- health -------------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Problems found by SQLite's integrity and foreign-key checks and our own invariants
        (empty when the store is healthy)."""
        problems = []
        with self._read() as conn:
            result = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
            if result != ["ok"]:
                problems += [f"integrity: {r}" for r in result]
            problems += [f"foreign key: sample {r[1]} in {r[0]}" for r in conn.execute("PRAGMA foreign_key_check")]
            bad = conn.execute("SELECT COUNT(*) FROM samples WHERE length(embedding) != 4 * dim").fetchone()[0]
            if bad:
                problems.append(f"{bad} samples with a damaged embedding")
            for backbone, n in conn.execute("SELECT backbone, COUNT(DISTINCT dim) FROM samples GROUP BY backbone"):
                if n > 1:
                    problems.append(f"{backbone} samples have {n} different sizes")
        return problems

    # -- export / import ----------------------------------------------------------------------

    def export_data(self, backbone: str) -> dict[str, Any]:
        """The whole gallery for ``backbone`` in the export format (see the module docstring)."""
        with self._read() as conn:
            people = conn.execute("SELECT id, name, notes, created, updated FROM people ORDER BY name").fetchall()
            rows = conn.execute(
                "SELECT person_id, dim, embedding, det_score, source, content_hash, thumbnail, created "
                "FROM samples WHERE backbone = ? ORDER BY person_id, id", (backbone,)).fetchall()
        by_person: dict[int, list[dict]] = {}
        dims = set()
        for r in rows:
            dims.add(r["dim"])
            by_person.setdefault(r["person_id"], []).append({
                "embedding": base64.b64encode(r["embedding"]).decode("ascii"),
                "det_score": float(r["det_score"]), "source": r["source"], "content_hash": r["content_hash"],
                "thumbnail": None if r["thumbnail"] is None else base64.b64encode(r["thumbnail"]).decode("ascii"),
                "created": r["created"]})
        return {
            "format": EXPORT_FORMAT, "format_version": EXPORT_VERSION, "backbone": backbone,
            "embedding_size": dims.pop() if len(dims) == 1 else None, "exported": _now(),
            "people": [{"name": p["name"], "notes": p["notes"], "created": p["created"], "updated": p["updated"],
                        "samples": by_person.get(p["id"], [])} for p in people],
        }

    def export_bytes(self, backbone: str) -> bytes:
        """:meth:`export_data` as UTF-8 JSON."""
        return json.dumps(self.export_data(backbone), indent=1).encode("utf-8")

    def export_file(self, path: str | os.PathLike, backbone: str) -> Path:
        """Write the export to ``path`` (mode 0600; replaced atomically)."""
        path = Path(path)
        data = self.export_bytes(backbone)
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        tmp.replace(path)
        return path

    def import_data(self, data: dict[str, Any] | bytes | str, backbone: str,
                    duplicate_cosine: float = DUPLICATE_COSINE) -> ImportReport:
        """Merge an export into this gallery in one transaction. Refuses (changing nothing) a file
        of another format or backbone, or with any malformed entry."""
        return self.add_people(_parse_export(data, backbone), duplicate_cosine=duplicate_cosine)

    def add_people(self, entries: Iterable[dict[str, Any]], *,
                   duplicate_cosine: float = DUPLICATE_COSINE) -> ImportReport:
        """Add or merge many people in one transaction. Each entry is ``{"name", "samples":
        [NewSample, ...]}`` with optional ``"notes"`` and ``"created"`` (notes of people already
        enrolled are kept). Used by import and for bulk loading (benchmarks)."""
        report = ImportReport()
        with self._write() as conn:
            for entry in entries:
                name = clean_name(entry["name"])
                existed = self._find(conn, name) is not None
                person, outcomes = self._add_samples(conn, name, entry["samples"],
                                                     notes=None if existed else entry.get("notes", ""), create=True,
                                                     duplicate_cosine=duplicate_cosine, created=entry.get("created"))
                if person is None and not existed and not entry["samples"]:  # exported without samples
                    now = _now()
                    conn.execute("INSERT INTO people(name, notes, created, updated) VALUES (?, ?, ?, ?)",
                                 (name, entry.get("notes", ""), entry.get("created") or now, now))
                report.people_merged += existed
                report.people_added += not existed and (person is not None or not entry["samples"])
                report.samples_added += sum(o.status == "added" for o in outcomes)
                report.samples_skipped += sum(o.status != "added" for o in outcomes)
        log.info("gallery: %s", report)
        return report

    def import_file(self, path: str | os.PathLike, backbone: str) -> ImportReport:
        """:meth:`import_data` from a file written by :meth:`export_file`."""
        path = Path(path)
        if not path.is_file():
            raise GalleryError(f"{path}: no such file")
        return self.import_data(path.read_bytes(), backbone)


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
                _embedding_blob(vec)
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


# --------------------------------------------------------------------------------------------
# Enrollment


@dataclasses.dataclass
class EnrollmentPolicy:
    """What makes a photo good enough to enroll.

    Args:
        min_face_size: the face's shorter side, in pixels; smaller faces in the background are
            ignored, but two faces of at least this size make the photo ambiguous.
        min_det_score: the detector's confidence needed.
        duplicate_cosine: a sample this similar to one already stored is a duplicate.
        thumbnail_size: side of the stored face thumbnail, in pixels.
    """

    min_face_size: float = 40.0
    min_det_score: float = 0.95
    duplicate_cosine: float = DUPLICATE_COSINE
    thumbnail_size: int = 96


def prepare_sample(recognizer, source: ImageInput, *, name: str | None = None,
                   policy: EnrollmentPolicy | None = None, max_pixels: int | None = None) -> NewSample:
    """Check one photo and turn its face into a :class:`NewSample` (nothing is stored).

    Raises :class:`EnrollmentError` naming the photo and the reason when it is not an image,
    holds no face, several faces, or a face too small or unclear.
    """
    policy = policy or EnrollmentPolicy()
    label = describe(source, name)
    try:
        image = load_image(source, name=label, **({"max_pixels": max_pixels} if max_pixels else {}))
    except FacerecError as exc:
        raise EnrollmentError(str(exc)) from None
    faces = recognizer.detect(image)
    if not faces:
        raise EnrollmentError(f"{label}: no face found; use a sharp, well-lit photo facing the camera")
    big = [f for f in faces if f.size >= policy.min_face_size]
    if len(big) > 1:
        raise EnrollmentError(f"{label}: {len(big)} faces found; an enrollment photo must show exactly one person")
    if not big:
        raise EnrollmentError(f"{label}: the face is too small ({faces[0].size:.0f} px; at least "
                              f"{policy.min_face_size:.0f} px needed): move closer or crop the photo")
    face = big[0]
    if face.det_score < policy.min_det_score:
        raise EnrollmentError(f"{label}: the face is unclear (detection score {face.det_score:.2f}, at least "
                              f"{policy.min_det_score:.2f} needed)")
    recognizer.embed(image, [face])
    return NewSample(embedding=np.asarray(face.embedding, dtype=np.float32), backbone=recognizer.backbone.name,
                     det_score=float(face.det_score), source=_short_source(label), content_hash=image_hash(image),
                     thumbnail=face_thumbnail(image, face.box, policy.thumbnail_size))


def _short_source(label: str) -> str:
    """A file name rather than a full path (the store keeps no more about the original)."""
    return Path(label).name if ("/" in label or os.sep in label) and not label.startswith("<") else label


def enroll(store: GalleryStore, recognizer, name: str, sources: Iterable[ImageInput | tuple[str, ImageInput]], *,
           notes: str | None = None, policy: EnrollmentPolicy | None = None,
           max_pixels: int | None = None) -> EnrollmentReport:
    """Enroll ``name`` (new, or add samples to an existing person) from photos.

    Each source is an image input, or ``(label, input)`` to name it in messages. Photos are
    checked and embedded first; the good ones are then stored in one transaction. Refused photos
    store nothing; if every photo is refused a new name is not created.
    """
    name = clean_name(name)
    policy = policy or EnrollmentPolicy()
    slots: list[SampleOutcome | NewSample] = []
    for item in sources:
        label, src = item if isinstance(item, tuple) else (None, item)
        try:
            slots.append(prepare_sample(recognizer, src, name=label, policy=policy, max_pixels=max_pixels))
        except EnrollmentError as exc:
            log.info("enrollment of %s: refused %s", name, exc)
            slots.append(SampleOutcome(describe(src, label), "refused", str(exc)))
    good = [s for s in slots if isinstance(s, NewSample)]
    person, stored = store.add_samples(name, good, notes=notes, duplicate_cosine=policy.duplicate_cosine) \
        if good else (store.find_person(name), [])
    stored_iter = iter(stored)
    outcomes = [next(stored_iter) if isinstance(s, NewSample) else s for s in slots]
    report = EnrollmentReport(person.name if person else name, person, outcomes)
    log.info("enrollment: %s", report.summary())
    return report


def retrain(settings: Settings, config=None, *, store: GalleryStore | None = None, **kwargs) -> dict:
    """Train the LFW model again with every enrolled sample folded into the deployed identifier
    (:func:`facerec_core.training.train_lfw` with ``extra_samples``). Returns its report, with
    a ``gallery`` entry saying what was folded in."""
    from .training import train_lfw

    own = store is None
    store = store or GalleryStore.open(settings)
    try:
        X, names = store.training_samples(settings.backbone)
    finally:
        if own:
            store.close()
    report = train_lfw(settings, config, extra_samples=(X, names) if names else None, **kwargs)
    report["gallery"] = {"people": len(set(names)), "samples": len(names)}
    return report


# --------------------------------------------------------------------------------------------
# Search


def default_threshold(backbone: str) -> float:
    """The documented open-set threshold for ``backbone`` when no calibrated one is available."""
    if backbone in DEFAULT_GALLERY_THRESHOLDS:
        return DEFAULT_GALLERY_THRESHOLDS[backbone]
    from .recognizer import DEFAULT_VERIFY_THRESHOLDS

    return DEFAULT_VERIFY_THRESHOLDS.get(backbone, 0.5)


class GalleryIdentifier:
    """Open-set nearest-neighbour identification against the enrolled gallery.

    Before each search it reads the store's change counter (microseconds) and reloads the
    embeddings when another session or process changed the gallery, so new enrollments count at
    once. Search is one float32 matrix-vector product per probe over the in-memory matrix, then a
    per-person max (``bench/gallery_search.py``: about 2 ms per probe at 100k samples, 2 cores).

    Args:
        store: a :class:`GalleryStore`, or the path of its file (opened when it exists; until then
            the gallery is empty and nothing is created).
        backbone: only samples of this backbone are searched.
        threshold: the cosine a person's nearest sample must reach; default
            :func:`default_threshold`.
    """

    RETRY_SECONDS = 30

    def __init__(self, store: GalleryStore | str | os.PathLike, backbone: str, threshold: float | None = None,
                 *, threshold_source: str | None = None) -> None:
        self._store = store if isinstance(store, GalleryStore) else None
        self.path = store.path if isinstance(store, GalleryStore) else Path(store)
        self.backbone = backbone
        self.threshold = float(default_threshold(backbone) if threshold is None else threshold)
        self.threshold_source = threshold_source or ("given" if threshold is not None else f"default for {backbone}")
        self._matrix: GalleryMatrix | None = None
        self._lock = threading.Lock()
        self._retry_at = 0.0

    @classmethod
    def for_recognizer(cls, recognizer, settings: Settings) -> "GalleryIdentifier":
        """The gallery of ``settings`` for ``recognizer``'s backbone, with the model's calibrated
        threshold when it has one."""
        calibrated = (recognizer.manifest or {}).get("thresholds", {}).get("identify")
        return cls(gallery_path(settings), recognizer.backbone.name,
                   threshold=recognizer.threshold if calibrated is not None else None,
                   threshold_source="calibrated (trained model, 1% FAR)" if calibrated is not None else None)

    def _open(self) -> GalleryStore | None:
        if self._store is None and self.path.is_file():
            self._store = GalleryStore(self.path)
        return self._store

    def refresh(self) -> GalleryMatrix | None:
        """The current search matrix, reloaded if the store changed (``None``: no gallery yet).
        A store that cannot be read leaves the last good matrix in use (logged)."""
        with self._lock:
            if time.monotonic() < self._retry_at:
                return self._matrix
            try:
                store = self._open()
                if store is None:
                    return self._matrix
                if self._matrix is None or store.generation() != self._matrix.generation:
                    self._matrix = store.matrix(self.backbone)
                    log.debug("gallery reloaded: %d samples of %d people", len(self._matrix.X),
                              len(self._matrix.names))
            except (sqlite3.Error, FacerecError) as exc:
                # searched for every video frame: say it once, then try again in a while
                self._retry_at = time.monotonic() + self.RETRY_SECONDS
                log.error("the gallery %s cannot be read (%s); using what was loaded before, retrying in %d s",
                          self.path, exc, self.RETRY_SECONDS)
            return self._matrix

    def __len__(self) -> int:
        m = self.refresh()
        return 0 if m is None else len(m.X)

    @property
    def people(self) -> list[str]:
        m = self.refresh()
        return [] if m is None else list(m.names)

    def person_similarities(self, X: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """``(n, n_people)`` cosine of each probe to each person's nearest sample, and the names."""
        m = self.refresh()
        X = np.atleast_2d(np.asarray(X, dtype=np.float32))
        if m is None or not m.names:
            return np.zeros((len(X), 0), np.float32), []
        sims = np.empty((len(X), len(m.X)), np.float32)
        for i, x in enumerate(X):
            # one single-threaded pass over the matrix per probe: on a busy 2-core machine this is
            # several times faster than a 2-thread BLAS product, whose threads wait for each other
            np.einsum("ij,j->i", m.X, x, out=sims[i])
        return np.maximum.reduceat(sims, m.starts, axis=1), m.names

    def identify(self, X: np.ndarray, top_k: int = 3, threshold: float | None = None) -> list[tuple[str, float, list[Match]]]:
        """Per probe row: ``(name or "unknown", cosine to that person's nearest sample, top-k
        matches)``. An empty gallery returns ``[]`` (it has no opinion, so the recogniser's
        result is exactly what it would be without a gallery)."""
        sims, names = self.person_similarities(X)
        if not names:
            return []
        thr = self.threshold if threshold is None else float(threshold)
        k = min(max(int(top_k), 1), len(names))
        if k < len(names):
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        else:
            top = np.broadcast_to(np.arange(len(names)), sims.shape)
        out = []
        for i in range(len(sims)):
            order = top[i][np.argsort(-sims[i, top[i]], kind="stable")]
            best = int(order[0])
            score = float(sims[i, best])
            out.append((names[best] if score >= thr else UNKNOWN, score,
                        [Match(names[j], float(sims[i, j])) for j in order]))
        return out
