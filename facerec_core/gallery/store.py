"""The gallery's store: enrolled people and their face samples in one private SQLite file.

:class:`GalleryStore` is one SQLite file (standard library, no server), by default
``<data_dir>/gallery.sqlite3`` (``Settings.data_dir``, env ``FACEREC_DATA_DIR``). Thread-safe
(one connection behind a lock) and safe across processes (SQLite locking, WAL mode).

Storage
-------
Tables, migrations and the name key: :mod:`.schema`. What is accepted (names, text, embeddings,
thumbnails): :mod:`.checks`, for every write.

Every write runs in one ``BEGIN IMMEDIATE`` transaction, so a crash mid-enrollment leaves either
the whole enrollment or none of it. The file (and SQLite's ``-wal``/``-shm`` companions, which
inherit its mode) is created with permissions ``0600`` in a ``0700`` folder, and tightened when an
older version left them wider: embeddings are biometric data. Deleted rows are overwritten
(``PRAGMA secure_delete``). Uploaded originals are never kept, only a small face thumbnail.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from ..errors import GalleryError, PersonNotFoundError
from ..secure_files import create_private_file, private_dir, tighten_database
from ..settings import Settings
from .crypto import Sealing, open_sealing
from .checks import (MAX_NOTES_LENGTH, MAX_SOURCE_LENGTH, backbone_dimension, check_content_hash, check_thumbnail,
                     clean_name, clean_text, embedding_blob, lookup_key, name_key, unit_rows)
from .health import listing, store_problems
from .records import GalleryMatrix, ImportReport, NewSample, Person, Sample, SampleOutcome
from .schema import MIGRATIONS, SCHEMA_VERSION, register_functions

log = logging.getLogger(__name__)

GALLERY_FILE = "gallery.sqlite3"
FROM_SETTINGS = object()
"""``key_file`` default of :class:`GalleryStore`: the key of ``Settings.from_env()``."""
DUPLICATE_COSINE = 0.995
"""A sample this similar to one already stored for the same person is a duplicate."""

__all__ = ["DUPLICATE_COSINE", "GALLERY_FILE", "MIGRATIONS", "SCHEMA_VERSION", "GalleryStore", "clean_name",
           "embedding_blob", "gallery_path", "utc_now"]


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def gallery_path(settings: Settings) -> Path:
    """Where the gallery of ``settings`` lives: ``<data_dir>/gallery.sqlite3``."""
    return Path(settings.data_dir) / GALLERY_FILE


def _create_private_file(path: Path) -> None:
    """Create ``path`` with mode 0600 if missing (before SQLite opens it with its own mode) in an
    owner-only folder, and tighten the file, its folder and SQLite's ``-wal``/``-shm`` companions
    when they exist with wider modes (written by an older version or another tool); raises
    :class:`GalleryError` when its folder cannot be made or the path is not a file."""
    if path.exists() and not path.is_file():
        raise GalleryError(f"cannot open the gallery {path}: it is not a file (a folder or device is in the way); "
                           "move it, or point FACEREC_DATA_DIR elsewhere")
    try:
        if not path.exists():
            private_dir(path.parent)
            create_private_file(path)
    except (FileExistsError, NotADirectoryError):
        raise GalleryError(f"cannot create the gallery {path}: a file is in the way of its folder {path.parent}; "
                           "FACEREC_DATA_DIR (--data-dir) must be a folder") from None
    except OSError as exc:
        raise GalleryError(f"cannot create the gallery {path}: {exc.strerror or exc}; FACEREC_DATA_DIR "
                           "(--data-dir) must be a folder you can write") from None
    tighten_database(path)


class GalleryStore:
    """The enrolled people and their face samples, in one SQLite file.

    Safe to share between threads (one connection, serialised by a lock) and between
    processes (SQLite's own locking; writers wait up to ``timeout`` seconds).

    Args:
        path: the database file; created (mode 0600) and migrated when needed.
        timeout: seconds a writer waits for another process's transaction.
        key_file: the key that encrypts embeddings and thumbnails at rest (:mod:`.crypto`);
            ``None``: no encryption. By default ``Settings.from_env().gallery_key_file``
            (``FACEREC_GALLERY_KEY_FILE``), so every opener of a gallery uses the same key.
    """

    def __init__(self, path: str | os.PathLike, *, timeout: float = 30.0,
                 key_file: str | os.PathLike | None | object = FROM_SETTINGS) -> None:
        self.path = Path(path)
        if key_file is FROM_SETTINGS:
            key_file = Settings.from_env().gallery_key_file
        self._lock = threading.RLock()
        self._reported: set[int] = set()  # bad samples already logged
        _create_private_file(self.path)
        try:
            self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None,
                                         check_same_thread=False)
        except sqlite3.Error as exc:
            raise GalleryError(f"cannot open the gallery {self.path}: {exc}") from None
        self._conn.row_factory = sqlite3.Row
        register_functions(self._conn)
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.execute("PRAGMA secure_delete = ON")  # a forgotten face is overwritten, not left in free pages
            self._migrate()
            self._sealing: Sealing = open_sealing(self._conn, self.path, key_file, self._write)
            tighten_database(self.path)  # SQLite gives new -wal/-shm files the database's 0600
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise GalleryError(f"{self.path} is not a usable gallery database ({exc})") from None
        except GalleryError:
            self._conn.close()
            raise

    @classmethod
    def open(cls, settings: Settings | None = None, **kwargs) -> "GalleryStore":
        """The gallery under ``settings.data_dir``, with its key (default: from the environment)."""
        settings = settings or Settings.from_env()
        return cls(gallery_path(settings), **{"key_file": settings.gallery_key_file, **kwargs})

    @property
    def encrypted(self) -> bool:
        """Whether embeddings and thumbnails are encrypted at rest (a key is set)."""
        return self._sealing.key is not None

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
        """The person with this name (compared by :func:`~.checks.name_key`: case, Unicode
        normalisation and width do not matter) or id, or ``None``."""
        with self._lock:
            return self._find(self._conn, key)

    def _find(self, conn: sqlite3.Connection, key: str | int) -> Person | None:
        sql = self._PERSON_SQL.format(filter="")
        if isinstance(key, (int, np.integer)):
            row = conn.execute(sql + "WHERE p.id = ?", (int(key),)).fetchone()
        else:
            row = conn.execute(sql + "WHERE p.name_key = ?", (lookup_key(str(key)),)).fetchone()
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
        name, notes = clean_name(name), clean_text(notes, "notes", MAX_NOTES_LENGTH, multiline=True)
        with self._write() as conn:
            if self._find(conn, name) is not None:
                raise GalleryError(f"{name!r} is already enrolled")
            return self._find(conn, self._insert_person(conn, name, notes))

    @staticmethod
    def _insert_person(conn: sqlite3.Connection, name: str, notes: str, created: str | None = None) -> int:
        now = utc_now()
        return conn.execute("INSERT INTO people(name, name_key, notes, created, updated) VALUES (?, ?, ?, ?, ?)",
                            (name, name_key(name), notes, created or now, now)).lastrowid

    def rename_person(self, key: str | int, new_name: str) -> Person:
        """Change a display name (refused when another person has it)."""
        new_name = clean_name(new_name)
        with self._write() as conn:
            person = self._require(conn, key)
            other = self._find(conn, new_name)
            if other is not None and other.id != person.id:
                raise GalleryError(f"cannot rename {person.name!r}: {new_name!r} is already enrolled")
            conn.execute("UPDATE people SET name = ?, name_key = ?, updated = ? WHERE id = ?",
                         (new_name, name_key(new_name), utc_now(), person.id))
            return self._find(conn, person.id)

    def set_notes(self, key: str | int, notes: str) -> Person:
        notes = clean_text(notes, "notes", MAX_NOTES_LENGTH, multiline=True)
        with self._write() as conn:
            person = self._require(conn, key)
            conn.execute("UPDATE people SET notes = ?, updated = ? WHERE id = ?", (notes, utc_now(), person.id))
            return self._find(conn, person.id)

    def delete_person(self, key: str | int) -> int:
        """Forget a person and every sample of theirs; returns how many samples went."""
        with self._write() as conn:
            person = self._require(conn, key)
            conn.execute("DELETE FROM people WHERE id = ?", (person.id,))  # samples cascade
        log.info("gallery: forgot person %d (%d samples)", person.id, person.samples)
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
                "SELECT id, person_id, backbone, det_score, source, content_hash, thumbnail, thumbnail_seal, created "
                "FROM samples WHERE person_id = ?" + (" AND backbone = ?" if backbone else "") + " ORDER BY id",
                (person.id, backbone) if backbone else (person.id,)).fetchall()
        return [Sample(r["id"], r["person_id"], r["backbone"], float(r["det_score"]), r["source"],
                       r["content_hash"], self._open(r, "thumbnail"), r["created"]) for r in rows]

    def _open(self, row: sqlite3.Row, column: str) -> bytes | None:
        """A row's ``column`` blob in clear (``None`` when it cannot be decrypted: see :meth:`check`)."""
        return self._sealing.open(row["id"], row["person_id"], row["backbone"], column, row[column],
                                  row[column + "_seal"])

    def delete_sample(self, sample_id: int) -> None:
        """Remove one sample (the person stays, even with no samples left)."""
        with self._write() as conn:
            row = conn.execute("SELECT person_id FROM samples WHERE id = ?", (int(sample_id),)).fetchone()
            if row is None:
                raise GalleryError(f"no sample with id {sample_id}")
            conn.execute("DELETE FROM samples WHERE id = ?", (int(sample_id),))
            conn.execute("UPDATE people SET updated = ? WHERE id = ?", (utc_now(), row["person_id"]))

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
        """The body of :meth:`add_samples`, inside the caller's write transaction. Every sample is
        checked (:mod:`.checks`) before anything is written."""
        prepared = [self._prepare(s) for s in samples]
        notes = None if notes is None else clean_text(notes, "notes", MAX_NOTES_LENGTH, multiline=True)
        outcomes: list[SampleOutcome] = []
        person = self._find(conn, name)
        if person is None and not create:
            raise PersonNotFoundError(f"nobody enrolled as {name!r}")
        now = utc_now()
        pid = person.id if person is not None else None
        own: dict[str, list[np.ndarray]] = {}
        for sample, blob, dim in prepared:
            if sample.backbone not in own:
                rows = conn.execute("SELECT id, person_id, backbone, embedding, embedding_seal FROM samples "
                                    "WHERE person_id = ? AND backbone = ?", (pid, sample.backbone)).fetchall()
                opened = (self._open(r, "embedding") for r in rows)
                own[sample.backbone] = [np.frombuffer(b, dtype="<f4") for b in opened
                                        if b is not None and len(b) == len(blob)]
            outcome = self._duplicate(conn, pid, sample, own[sample.backbone], duplicate_cosine)
            if outcome is None:
                if pid is None:  # a new person is created with their first accepted sample
                    pid = self._insert_person(conn, name, notes or "", created)
                # the id is chosen first: an encrypted blob is bound to its row (.crypto)
                sid = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM samples").fetchone()[0]
                stored, seal = self._sealing.seal(sid, pid, sample.backbone, "embedding", blob)
                thumb, thumb_seal = self._sealing.seal(sid, pid, sample.backbone, "thumbnail", sample.thumbnail)
                conn.execute(
                    "INSERT INTO samples(id, person_id, backbone, dim, embedding, embedding_seal, det_score, source, "
                    "content_hash, thumbnail, thumbnail_seal, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (sid, pid, sample.backbone, dim, stored, seal, float(sample.det_score), sample.source,
                     sample.content_hash, thumb, thumb_seal, sample.created or now))
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
    def _prepare(sample: NewSample) -> tuple[NewSample, bytes, int]:
        """``sample`` checked, with its embedding as stored bytes; raises :class:`GalleryError`."""
        blob, dim = embedding_blob(sample.embedding, backbone_dimension(sample.backbone))
        score = float(sample.det_score)
        if not 0.0 <= score <= 1.0:  # also refuses NaN
            raise GalleryError(f"a detection score must be between 0 and 1, not {score!r}")
        sample = dataclasses.replace(sample, det_score=score, thumbnail=check_thumbnail(sample.thumbnail),
                                     content_hash=check_content_hash(sample.content_hash),
                                     source=clean_text(sample.source, "source", MAX_SOURCE_LENGTH))
        return sample, blob, dim

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
        """Every searchable ``backbone`` sample as one float32 matrix grouped by person, with the
        generation it was read at (one consistent snapshot). Rows search cannot use (not the
        backbone's size, not finite, not unit length: left by an older version or a hand-edited
        file) are skipped and logged once by id, never by value; :meth:`check` lists them."""
        dim = backbone_dimension(backbone)
        with self._read() as conn:
            generation = int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
            rows = [(r["id"], r["person_id"], r["name"], r["dim"], self._open(r, "embedding")) for r in conn.execute(
                "SELECT s.id, s.person_id, p.name, s.dim, s.backbone, s.embedding, s.embedding_seal FROM samples s "
                "JOIN people p ON p.id = s.person_id WHERE s.backbone = ? ORDER BY s.person_id, s.id",
                (backbone,))]
        sized = [r for r in rows if r[3] == dim and isinstance(r[4], bytes) and len(r[4]) == 4 * dim]
        X = np.frombuffer(b"".join(r[4] for r in sized), dtype="<f4").reshape(len(sized), dim)
        good = unit_rows(X)
        kept = [r for r, ok in zip(sized, good) if ok]
        if len(kept) < len(rows):
            X = X[good]
            self._report_skipped(backbone, sorted({r[0] for r in rows} - {r[0] for r in kept}))
        person_ids = np.fromiter((r[1] for r in kept), dtype=np.int64, count=len(kept))
        starts = np.flatnonzero(np.r_[True, person_ids[1:] != person_ids[:-1]]) if kept else np.zeros(0, np.intp)
        return GalleryMatrix(generation, np.ascontiguousarray(X, dtype=np.float32), [kept[i][2] for i in starts],
                             starts, person_ids, np.fromiter((r[0] for r in kept), dtype=np.int64, count=len(kept)))

    def _report_skipped(self, backbone: str, sample_ids: list[int]) -> None:
        with self._lock:
            new = [i for i in sample_ids if i not in self._reported]
            self._reported.update(new)
        if new:
            log.warning("gallery %s: %d %s samples skipped by search (not decryptable, or not %d finite values of "
                        "unit length): "
                        "%s; GalleryStore.check() lists them, delete them on the Gallery page", self.path,
                        len(new), backbone, backbone_dimension(backbone), listing(new))

    def training_samples(self, backbone: str) -> tuple[np.ndarray, list[str]]:
        """``(embeddings, names)`` of every ``backbone`` sample, for ``train_lfw(extra_samples=…)``."""
        m = self.matrix(backbone)
        return m.X, m.labels

    def dump(self, backbone: str) -> list[dict[str, Any]]:
        """Every person (by name) with their ``backbone`` samples, as plain dicts holding the raw
        embedding and thumbnail bytes, read in one snapshot (for :mod:`.transfer`)."""
        with self._read() as conn:
            people = conn.execute("SELECT id, name, notes, created, updated FROM people ORDER BY name").fetchall()
            rows = conn.execute(
                "SELECT id, person_id, backbone, dim, embedding, embedding_seal, det_score, source, content_hash, "
                "thumbnail, thumbnail_seal, created FROM samples WHERE backbone = ? ORDER BY person_id, id",
                (backbone,)).fetchall()
        by_person: dict[int, list[dict[str, Any]]] = {}
        for r in rows:  # in clear; a blob that does not decrypt is None (the export leaves it out)
            by_person.setdefault(r["person_id"], []).append(
                {**{k: r[k] for k in ("dim", "det_score", "source", "content_hash", "created")},
                 "embedding": self._open(r, "embedding"), "thumbnail": self._open(r, "thumbnail")})
        return [{"name": p["name"], "notes": p["notes"], "created": p["created"], "updated": p["updated"],
                 "samples": by_person.get(p["id"], [])} for p in people]

    # -- health -------------------------------------------------------------------------------

    def check(self, *, quick: bool = False) -> list[str]:
        """Problems found by SQLite's integrity and foreign-key checks and our own invariants
        (:mod:`.health`; empty when the store is healthy). ``quick`` uses SQLite's quick check and
        looks at thumbnails' first bytes only (for a page that shows the result)."""
        with self._read() as conn:
            return store_problems(conn, quick=quick, open_blob=self._sealing.open)

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
                notes = clean_text(entry.get("notes"), "notes", MAX_NOTES_LENGTH, multiline=True)
                person, outcomes = self._add_samples(conn, name, entry["samples"],
                                                     notes=None if existed else notes, create=True,
                                                     duplicate_cosine=duplicate_cosine, created=entry.get("created"))
                if person is None and not existed and not entry["samples"]:  # exported without samples
                    self._insert_person(conn, name, notes, entry.get("created"))
                report.people_merged += existed
                report.people_added += not existed and (person is not None or not entry["samples"])
                report.samples_added += sum(o.status == "added" for o in outcomes)
                report.samples_skipped += sum(o.status != "added" for o in outcomes)
        log.info("gallery: %s", report)
        return report
