"""People's corrections of recorded decisions, kept as labelled samples that later decisions use.

"Not this person" on a sighting named X stores its embedding as an impostor sample of X; "this is
NAME" stores it as a genuine sample of NAME (and can enroll it through the gallery). The samples are
copied out of the sighting (sealed like it), so they outlive the sightings' retention; the sighting
itself is marked. :meth:`CorrectionBook.correction_set` gives them to
:func:`facerec_core.identity.corrections.apply_corrections`, re-read only when they changed.
"""
from __future__ import annotations

import logging
import threading

import numpy as np

from ..errors import HistoryError
from ..faces import UNKNOWN
from ..identity.corrections import CorrectionSet, LabelledSamples
from .store import SightingStore, stamp

log = logging.getLogger(__name__)


class CorrectionBook:
    """The corrections kept beside one :class:`SightingStore`. Thread-safe."""

    def __init__(self, store: SightingStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[tuple, CorrectionSet]] = {}

    def reject(self, sighting_id: int, *, actor: str = "") -> int:
        """"Not this person": the sighting's face becomes an impostor sample of the name it was
        given. Returns the correction's id; raises :class:`HistoryError` when there is nothing to
        reject (purged, unreadable, or answered unknown)."""
        sighting = self._sighting(sighting_id)
        if sighting.answer == UNKNOWN:
            raise HistoryError(f"sighting {sighting_id} was not named: there is no name to reject")
        return self._add(sighting, sighting.answer, "rejected", sighting.score, actor, "rejected")

    def confirm(self, sighting_id: int, name: str, *, actor: str = "") -> int:
        """"This is NAME": the sighting's face becomes a genuine sample of ``name`` (its score is
        kept only when the decision named that person)."""
        name = str(name).strip()
        if not name or name == UNKNOWN:
            raise HistoryError("say who the face is: a name, not 'unknown'")
        sighting = self._sighting(sighting_id)
        score = sighting.score if sighting.answer == name else None
        return self._add(sighting, name, "confirmed", score, actor, f"confirmed as {name}")

    def _sighting(self, sighting_id: int):
        sighting = self.store.get(sighting_id)
        if sighting is None:
            raise HistoryError(f"sighting {sighting_id} does not exist (any more): it may have been purged")
        if sighting.embedding is None:
            raise HistoryError(f"sighting {sighting_id}'s face cannot be read (no embedding, or sealed with "
                               "another key): it cannot be used as a correction")
        return sighting

    def _add(self, sighting, person: str, verdict: str, score, actor: str, mark: str) -> int:
        raw = np.asarray(sighting.embedding, "<f4").tobytes()
        with self.store.write() as conn:
            cur = conn.execute(
                "INSERT INTO corrections(time, sighting_id, person, verdict, score, backbone, embedding, actor) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (stamp(self.store.clock()), sighting.id, person, verdict, score, sighting.backbone, b"", str(actor)))
            cid = int(cur.lastrowid)
            blob, seal = self.store.seal(cid, sighting.backbone, "correction", raw)
            conn.execute("UPDATE corrections SET embedding = ?, embedding_seal = ? WHERE id = ?", (blob, seal, cid))
            conn.execute("UPDATE sightings SET corrected = ? WHERE id = ?", (mark, sighting.id))
        log.info("corrections: sighting %d %s", sighting.id, verdict)
        return cid

    def correction_set(self, backbone: str) -> CorrectionSet:
        """The corrections of ``backbone``'s embeddings, grouped by person (cached until one is
        added or removed: one small query per call)."""
        with self.store.read() as conn:
            version = tuple(conn.execute("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM corrections WHERE backbone = ?",
                                         (backbone,)).fetchone())
            with self._lock:
                cached = self._cached.get(backbone)
                if cached is not None and cached[0] == version:
                    return cached[1]
            rows = conn.execute("SELECT id, person, verdict, score, backbone, embedding, embedding_seal "
                                "FROM corrections WHERE backbone = ?", (backbone,)).fetchall()
        groups: dict[str, dict[str, tuple[list, list]]] = {"rejected": {}, "confirmed": {}}
        for row in rows:
            raw = self.store.unseal(row, "embedding", label="correction")
            if raw is None or len(raw) % 4:
                log.warning("corrections: correction %d cannot be read; it is left out", row["id"])
                continue
            vectors, scores = groups[row["verdict"]].setdefault(row["person"], ([], []))
            vectors.append(np.frombuffer(raw, "<f4").astype(np.float64))
            scores.append(np.nan if row["score"] is None else float(row["score"]))
        result = CorrectionSet(
            impostors={p: LabelledSamples(np.stack(v), np.array(s)) for p, (v, s) in groups["rejected"].items()},
            genuine={p: LabelledSamples(np.stack(v), np.array(s)) for p, (v, s) in groups["confirmed"].items()},
            version=version)
        with self._lock:
            self._cached[backbone] = (version, result)
        return result


EMPTY = CorrectionSet()


class CorrectionSource:
    """The corrections a :class:`~facerec_core.recognizer.Recognizer` applies: read from the
    gallery file of ``settings`` when it exists (it is never created here), re-read when they
    change. Unreadable corrections are logged and left out: decisions go on without them."""

    def __init__(self, settings, backbone: str) -> None:
        self.settings, self.backbone = settings, backbone
        self._book: CorrectionBook | None = None

    def __call__(self) -> CorrectionSet:
        from .recording import sighting_store
        from .store import sightings_path

        if self._book is None:
            if not sightings_path(self.settings).is_file():
                return EMPTY
            try:
                self._book = CorrectionBook(sighting_store(self.settings))
            except (HistoryError, OSError) as exc:
                log.warning("corrections: cannot open them (%s); decisions are made without", type(exc).__name__)
                return EMPTY
        try:
            return self._book.correction_set(self.backbone)
        except HistoryError as exc:
            log.warning("corrections: cannot read them (%s); decisions are made without", type(exc).__name__)
            return EMPTY
