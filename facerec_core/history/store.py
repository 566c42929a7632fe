"""Sightings: every recorded decision — when, from where, the answer, its score and runner-up, a
small thumbnail of the face and its embedding — in the gallery's SQLite file, own tables.

Thumbnails and embeddings are biometric data: with the gallery's key (``FACEREC_GALLERY_KEY_FILE``)
they are sealed with AES-256-GCM like the gallery's samples, bound to their row and column, and
the file is owner-only in either case. Rows older than the retention period are deleted
(:meth:`SightingStore.purge`), by the store itself at most once an hour while it records.

Tables (:data:`MIGRATIONS`): ``sightings(id, time, source, place, answer, score, runner_up,
runner_up_score, track, det_score, face_px, backbone, embedding, embedding_seal, thumbnail,
thumbnail_seal, corrected)``
``corrections(id, time, sighting_id, person, verdict, score, backbone, embedding,
embedding_seal, actor)`` (:mod:`.corrections`) and ``sighting_clusters(sighting_id, cluster,
pinned)`` (:mod:`.visitors`).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import io
import logging
import os
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ..errors import GalleryError, HistoryError
from ..faces import Face
from ..own_tables import OwnTables
from ..settings import SIGHTING_SOURCES, Settings
from ..spreadsheet import csv_bytes

log = logging.getLogger(__name__)

GALLERY_FILE = "gallery.sqlite3"
SOURCES = SIGHTING_SOURCES
"""Where decisions come from: the Recognize page, the Live Webcam (once per track), ``predict``,
the HTTP API."""
THUMBNAIL_PX = 64
PURGE_EVERY_S = 3600.0

MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE sightings (
               id INTEGER PRIMARY KEY,
               time TEXT NOT NULL,
               source TEXT NOT NULL,
               place TEXT NOT NULL DEFAULT '',
               answer TEXT NOT NULL,
               score REAL,
               runner_up TEXT,
               runner_up_score REAL,
               track INTEGER,
               det_score REAL,
               face_px REAL,
               backbone TEXT NOT NULL,
               embedding BLOB,
               embedding_seal BLOB,
               thumbnail BLOB,
               thumbnail_seal BLOB)""",
        "CREATE INDEX sightings_time ON sightings(time)",
        "CREATE INDEX sightings_answer ON sightings(answer, time)",
    ],
    [
        # corrections outlive the sightings' retention: they are labelled samples, copied here
        """CREATE TABLE corrections (
               id INTEGER PRIMARY KEY,
               time TEXT NOT NULL,
               sighting_id INTEGER,
               person TEXT NOT NULL,
               verdict TEXT NOT NULL CHECK (verdict IN ('rejected', 'confirmed')),
               score REAL,
               backbone TEXT NOT NULL,
               embedding BLOB NOT NULL,
               embedding_seal BLOB,
               actor TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX corrections_person ON corrections(backbone, person)",
        "ALTER TABLE sightings ADD COLUMN corrected TEXT",
        # clusters of unknown faces (:mod:`.visitors`): a pinned row was placed by a person
        # (merge, split, moved out) and is kept when the others are clustered again
        """CREATE TABLE sighting_clusters (
               sighting_id INTEGER PRIMARY KEY REFERENCES sightings(id) ON DELETE CASCADE,
               cluster INTEGER,
               pinned INTEGER NOT NULL DEFAULT 0)""",
        "CREATE INDEX sighting_clusters_cluster ON sighting_clusters(cluster)",
    ],
]

Clock = Callable[[], _dt.datetime]


def utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def stamp(moment: _dt.datetime) -> str:
    """ISO 8601 in UTC to the microsecond: sorts as text."""
    return moment.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sightings_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / GALLERY_FILE


def _aad(sighting_id: int, backbone: str, column: str) -> bytes:
    return f"facerec-sighting|{column}|{int(sighting_id)}|{backbone}".encode()


def thumbnail_of(image: np.ndarray, box: Sequence[float], size: int = THUMBNAIL_PX) -> bytes:
    """A small JPEG of the face in ``box`` (a fifth of margin around it), ``size`` px square."""
    from PIL import Image

    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    pad = 0.2 * max(x2 - x1, y2 - y1)
    crop = image[max(0, int(y1 - pad)):min(h, int(y2 + pad)), max(0, int(x1 - pad)):min(w, int(x2 + pad))]
    if crop.size == 0:
        crop = image
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(crop)).convert("RGB").resize((size, size), Image.BILINEAR) \
        .save(out, format="JPEG", quality=85)
    return out.getvalue()


@dataclasses.dataclass(frozen=True, eq=False)  # eq by identity: fields hold arrays
class Sighting:
    """One recorded decision. ``thumbnail`` (JPEG bytes) and ``embedding`` are ``None`` when they
    were not asked for, or cannot be read (sealed with another key, altered)."""

    id: int
    time: str
    source: str
    place: str
    answer: str
    score: float | None
    runner_up: str | None
    runner_up_score: float | None
    track: int | None
    backbone: str
    det_score: float | None = None
    face_px: float | None = None
    """The detector's confidence and the face's shorter side in pixels (the enrollment gate's)."""
    thumbnail: bytes | None = None
    embedding: np.ndarray | None = None
    corrected: str | None = None
    """``"rejected"`` ("not this person") or ``"confirmed as NAME"`` once someone corrected it."""


@dataclasses.dataclass(frozen=True)
class SightingQuery:
    """Which sightings to read: ``person`` (a name, or ``"unknown"``), ``sources``, and a time
    range ``since``/``until`` (inclusive, ISO text or datetimes); ``limit`` newest first."""

    person: str | None = None
    sources: tuple[str, ...] = ()
    since: str | _dt.datetime | None = None
    until: str | _dt.datetime | None = None
    limit: int | None = 1000

    def where(self) -> tuple[str, list]:
        clauses, args = [], []
        if self.person is not None:
            clauses.append("answer = ?")
            args.append(self.person)
        if self.sources:
            clauses.append(f"source IN ({', '.join('?' * len(self.sources))})")
            args.extend(self.sources)
        for op, value in ((">=", self.since), ("<=", self.until)):
            if value is not None:
                clauses.append(f"time {op} ?")
                args.append(stamp(value) if isinstance(value, _dt.datetime) else str(value))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


class SightingStore(OwnTables):
    """The sightings of one gallery file.

    Args:
        path: the database file (normally the gallery's).
        retention_days: rows older than this are purged (``None`` or ≤ 0: kept forever).
        key_file: the gallery's key file: thumbnails and embeddings are sealed with it.
        clock: the current time (tests pass a fake one).
    """

    META = "history_meta"
    MIGRATIONS = MIGRATIONS
    LABEL = "the sightings database"
    ERROR = HistoryError

    def __init__(self, path: str | os.PathLike, *, retention_days: float | None = 30.0,
                 key_file: str | os.PathLike | None = None, clock: Clock | None = None, **kwargs) -> None:
        super().__init__(path, **kwargs)
        self.retention_days = retention_days
        self.clock: Clock = clock or utc_now
        self._key = None
        if key_file is not None:
            from ..gallery.crypto import GalleryKey

            try:
                self._key = GalleryKey.load(key_file, create=True)
            except GalleryError as exc:
                raise HistoryError(str(exc)) from None
        self._purged_at: float | None = None

    @classmethod
    def open(cls, settings: Settings | None = None, **kwargs) -> "SightingStore":
        settings = settings or Settings.from_env()
        return cls(sightings_path(settings), retention_days=settings.sightings_days,
                   key_file=settings.gallery_key_file, **kwargs)

    @property
    def encrypted(self) -> bool:
        return self._key is not None

    # -- writing ------------------------------------------------------------------------------

    def record(self, source: str, faces: Iterable[Face], *, image: np.ndarray | None = None, place: str = "",
               backbone: str = "", tracks: Sequence[int | None] | None = None) -> list[int]:
        """Record one sighting per decided face (faces never identified are skipped); returns their
        ids. ``image`` (RGB) gives the thumbnails; ``tracks`` the Live Webcam's track numbers."""
        if source not in SOURCES:
            raise ValueError(f"unknown sighting source {source!r}: use one of {', '.join(SOURCES)}")
        faces = list(faces)
        tracks = list(tracks) if tracks is not None else [None] * len(faces)
        now = stamp(self.clock())
        ids = []
        with self.write() as conn:
            for face, track in zip(faces, tracks):
                if face.identity is None:
                    continue
                runner = next((m for m in face.matches if m.name != face.identity), None)
                cur = conn.execute(
                    "INSERT INTO sightings(time, source, place, answer, score, runner_up, runner_up_score, track, "
                    "det_score, face_px, backbone) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (now, source, str(place)[:200], face.identity, _num(face.confidence),
                     None if runner is None else runner.name, None if runner is None else _num(runner.score),
                     None if track is None else int(track), _num(face.det_score), _num(face.size), backbone))
                sid = int(cur.lastrowid)
                embedding = None if face.embedding is None else np.asarray(face.embedding, "<f4").tobytes()
                thumbnail = None if image is None else thumbnail_of(image, face.box)
                values = [*self.seal(sid, backbone, "embedding", embedding), *self.seal(sid, backbone, "thumbnail", thumbnail)]
                conn.execute("UPDATE sightings SET embedding = ?, embedding_seal = ?, thumbnail = ?, "
                             "thumbnail_seal = ? WHERE id = ?", (*values, sid))
                ids.append(sid)
        self._maybe_purge()
        return ids

    def seal(self, row_id: int, backbone: str, label: str, data: bytes | None) -> tuple[bytes | None, bytes | None]:
        """``(blob, seal)`` to store: sealed with the gallery key (bound to the row's id, the
        backbone and ``label``), or the data as it is without a key."""
        if data is None or self._key is None:
            return data, None
        return self._key.seal(data, _aad(row_id, backbone, label))

    def unseal(self, row, column: str, label: str | None = None) -> bytes | None:
        """A stored blob's plaintext: as it is when unsealed, ``None`` when sealed and the key is
        missing or another, or the blob was altered or moved."""
        data, seal = row[column], row[f"{column}_seal"]
        if data is None or seal is None:
            return data
        if self._key is None:
            return None  # sealed, and no key to open it
        return self._key.unseal(data, seal, _aad(row["id"], row["backbone"], label or column))

    def purge(self) -> int:
        """Delete the sightings older than the retention period; returns how many."""
        self._purged_at = time.monotonic()
        if not self.retention_days or self.retention_days <= 0:
            return 0
        cutoff = stamp(self.clock() - _dt.timedelta(days=float(self.retention_days)))
        with self.write() as conn:
            removed = conn.execute("DELETE FROM sightings WHERE time < ?", (cutoff,)).rowcount
        if removed:
            log.info("sightings: %d older than %g days purged", removed, self.retention_days)
        return int(removed)

    def _maybe_purge(self) -> None:
        if self._purged_at is None or time.monotonic() - self._purged_at >= PURGE_EVERY_S:
            try:
                self.purge()
            except HistoryError as exc:  # the next record tries again; recording itself went through
                log.warning("sightings: the purge failed (%s)", exc)

    # -- reading ------------------------------------------------------------------------------

    def sightings(self, query: SightingQuery | None = None, *, thumbnails: bool = False,
                  embeddings: bool = False) -> list[Sighting]:
        """The sightings matching ``query``, newest first."""
        query = query or SightingQuery()
        where, args = query.where()
        limit = "" if query.limit is None else f" LIMIT {int(query.limit)}"
        blobs = ", embedding, embedding_seal, thumbnail, thumbnail_seal" if thumbnails or embeddings else ""
        with self.read() as conn:
            rows = conn.execute(
                "SELECT id, time, source, place, answer, score, runner_up, runner_up_score, track, det_score, face_px, "
                "backbone, corrected"
                f"{blobs} FROM sightings{where} ORDER BY time DESC, id DESC{limit}", args).fetchall()
        return [self.from_row(row, thumbnails, embeddings) for row in rows]

    def get(self, sighting_id: int) -> Sighting | None:
        """One sighting with its thumbnail and embedding, or ``None`` when there is none (purged)."""
        with self.read() as conn:
            row = conn.execute("SELECT * FROM sightings WHERE id = ?", (int(sighting_id),)).fetchone()
        return None if row is None else self.from_row(row, True, True)

    def from_row(self, row, thumbnails: bool, embeddings: bool) -> Sighting:
        """A :class:`Sighting` from a ``SELECT *`` (or the listing's) row of this store."""
        vector = None
        if embeddings:
            raw = self.unseal(row, "embedding")
            vector = None if raw is None or len(raw) % 4 else np.frombuffer(raw, "<f4").copy()
        return Sighting(row["id"], row["time"], row["source"], row["place"], row["answer"], row["score"],
                        row["runner_up"], row["runner_up_score"], row["track"], row["backbone"], row["det_score"],
                        row["face_px"], self.unseal(row, "thumbnail") if thumbnails else None, vector,
                        row["corrected"])

    def count(self, query: SightingQuery | None = None) -> int:
        where, args = (query or SightingQuery()).where()
        with self.read() as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM sightings{where}", args).fetchone()[0])

    def people_summary(self, query: SightingQuery | None = None) -> list[dict]:
        """Per answer (a name or unknown): first and last seen, and how often, most often first."""
        where, args = (query or SightingQuery()).where()
        with self.read() as conn:
            rows = conn.execute(f"SELECT answer, MIN(time) AS first, MAX(time) AS last, COUNT(*) AS n "
                                f"FROM sightings{where} GROUP BY answer ORDER BY n DESC, answer", args).fetchall()
        return [{"answer": r["answer"], "first_seen": r["first"], "last_seen": r["last"], "sightings": r["n"]}
                for r in rows]


def search_by_face(store: SightingStore, embedding: np.ndarray, *, min_cosine: float, backbone: str,
                   query: SightingQuery | None = None, limit: int = 200) -> list[tuple[Sighting, float]]:
    """The sightings whose face is within ``min_cosine`` of ``embedding`` (the same person, known
    or not), most similar first; only sightings embedded by ``backbone`` are compared."""
    query = query or SightingQuery(limit=20000)
    probe = np.asarray(embedding, dtype=np.float32).ravel()
    probe = probe / max(float(np.linalg.norm(probe)), 1e-12)
    found = []
    for sighting in store.sightings(query, thumbnails=True, embeddings=True):
        if sighting.backbone != backbone or sighting.embedding is None or sighting.embedding.shape != probe.shape:
            continue
        cosine = float(sighting.embedding @ probe)
        if cosine >= min_cosine:
            found.append((sighting, cosine))
    found.sort(key=lambda pair: -pair[1])
    return found[:limit]


CSV_HEADER = ("id", "time", "source", "place", "answer", "score", "runner_up", "runner_up_score", "track")


def sightings_csv(sightings: Iterable[Sighting]) -> bytes:
    """The sightings as CSV (no thumbnail, no embedding); user-typed text cannot run as a formula."""
    rows = ((s.id, s.time, s.source, s.place, s.answer, s.score, s.runner_up, s.runner_up_score, s.track)
            for s in sightings)
    return csv_bytes(CSV_HEADER, rows, safe=[False, False, True, True, True, False, True, False, False])


def _num(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None
