"""Frequent visitors: the unknown faces among the sightings, grouped into one cluster per person
(:func:`~.clusters.cluster_faces`), which people can name (enrolling them), merge, split, or take a
face out of.

Cluster numbers live in ``sighting_clusters``. :meth:`Visitors.refresh` clusters again the unknown
sightings nobody has placed by hand (the newest :data:`MAX_CLUSTERED`) and leaves the *pinned* ones
— placed by a merge, a split or a move — where they are; a new group that is as close to a pinned
cluster as the rule's threshold (average cosine distance) joins it. A sighting that was named,
corrected or enrolled leaves the clusters.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Sequence

import numpy as np

from ..errors import HistoryError
from ..faces import UNKNOWN
from ..identity import MIN_IDENTIFY_DET_SCORE, MIN_IDENTIFY_FACE_SIZE
from .clusters import DEFAULT_RULE, ClusterRule, cluster_faces
from .store import Sighting, SightingStore

log = logging.getLogger(__name__)

MAX_CLUSTERED = 5000
"""Unknown sightings clustered at most, newest first (memory grows with their square)."""
BEST = 5
"""Samples a named cluster enrolls at most: the best detected, largest faces."""


@dataclasses.dataclass(frozen=True)
class Cluster:
    """One frequent visitor: their sightings, best first (detector score × face size)."""

    number: int
    sightings: list[Sighting]

    @property
    def first_seen(self) -> str:
        return min(s.time for s in self.sightings)

    @property
    def last_seen(self) -> str:
        return max(s.time for s in self.sightings)

    def __len__(self) -> int:
        return len(self.sightings)


def quality(sighting: Sighting) -> float:
    return float(sighting.det_score or 0.0) * float(sighting.face_px or 0.0)


def passes_gate(sighting: Sighting, *, min_face_size: float = MIN_IDENTIFY_FACE_SIZE,
                min_det_score: float = MIN_IDENTIFY_DET_SCORE) -> bool:
    """Whether a sighting's face is large and clear enough to enroll (the gallery's gate)."""
    return (sighting.face_px or 0) >= min_face_size and (sighting.det_score or 0) >= min_det_score


def sighting_sample(sighting: Sighting | None):
    """A sighting's face as a gallery sample; raises :class:`HistoryError` when it is gone, cannot
    be read, or fails the enrollment gate."""
    from ..gallery.records import NewSample

    if sighting is None or sighting.embedding is None:
        raise HistoryError("the sighting is gone or its face cannot be read")
    if not passes_gate(sighting):
        raise HistoryError(f"the face is too small or unclear to enroll ({sighting.face_px or 0:.0f} px, detector "
                           f"score {sighting.det_score or 0:.2f}; needed {MIN_IDENTIFY_FACE_SIZE:.0f} px and "
                           f"{MIN_IDENTIFY_DET_SCORE:.2f})")
    return NewSample(embedding=np.asarray(sighting.embedding, np.float32), backbone=sighting.backbone,
                     det_score=float(sighting.det_score), source=f"sighting {sighting.id}",
                     thumbnail=sighting.thumbnail)


class Visitors:
    """The clusters of one store's unknown sightings, for one backbone."""

    def __init__(self, store: SightingStore, backbone: str, rule: ClusterRule = DEFAULT_RULE) -> None:
        self.store, self.backbone, self.rule = store, backbone, rule

    def _unknown(self) -> list[Sighting]:
        with self.store.read() as conn:
            rows = conn.execute(
                "SELECT * FROM sightings WHERE answer = ? AND corrected IS NULL AND backbone = ? "
                "ORDER BY time DESC, id DESC LIMIT ?", (UNKNOWN, self.backbone, MAX_CLUSTERED)).fetchall()
        return [s for s in (self.store.from_row(r, True, True) for r in rows) if s.embedding is not None]

    def _placed(self) -> dict[int, tuple[int | None, bool]]:
        with self.store.read() as conn:
            rows = conn.execute("SELECT sighting_id, cluster, pinned FROM sighting_clusters").fetchall()
        return {r["sighting_id"]: (r["cluster"], bool(r["pinned"])) for r in rows}

    def refresh(self) -> int:
        """Cluster the unpinned unknown sightings again; returns how many clusters there are."""
        sightings = self._unknown()
        placed = self._placed()
        pinned = {s.id: placed[s.id][0] for s in sightings if s.id in placed and placed[s.id][1]}
        free = [s for s in sightings if s.id not in pinned]
        labels = cluster_faces(np.stack([s.embedding for s in free]).astype(np.float64), self.rule) if free else []
        groups: dict[int, list[Sighting]] = {}
        for s, label in zip(free, labels):
            groups.setdefault(int(label) if label >= 0 else -1 - s.id, []).append(s)  # singletons keyed apart
        pinned_members: dict[int, list[np.ndarray]] = {}
        for s in sightings:
            if s.id in pinned and pinned[s.id] is not None:
                pinned_members.setdefault(pinned[s.id], []).append(s.embedding)
        next_number = max([c for c, _ in placed.values() if c is not None] + [-1]) + 1
        assignment: dict[int, int | None] = {}
        for key, members in groups.items():
            target = self._nearest_pinned(members, pinned_members)
            if target is None and key < 0:
                assignment.update({s.id: None for s in members})  # alone: not a cluster
                continue
            if target is None:
                target, next_number = next_number, next_number + 1
            assignment.update({s.id: target for s in members})
        with self.store.write() as conn:
            conn.execute("DELETE FROM sighting_clusters WHERE pinned = 0")
            conn.executemany("INSERT OR REPLACE INTO sighting_clusters(sighting_id, cluster, pinned) VALUES (?, ?, 0)",
                             [(sid, c) for sid, c in assignment.items() if c is not None])
        return len(set(c for c in assignment.values() if c is not None) | set(pinned_members))

    def _nearest_pinned(self, members: list[Sighting], pinned: dict[int, list[np.ndarray]]) -> int | None:
        """The pinned cluster whose average cosine distance to ``members`` is within the rule's
        threshold (the closest one), or ``None``."""
        if not pinned or self.rule.method != "agglomerative":
            return None
        X = np.stack([s.embedding for s in members])
        best, distance = None, self.rule.threshold
        for number, vectors in pinned.items():
            d = float(1.0 - (X @ np.stack(vectors).T).mean())
            if d <= distance:
                best, distance = number, d
        return best

    def clusters(self) -> list[Cluster]:
        """The current clusters, largest first (run :meth:`refresh` first for new sightings)."""
        by_id = {s.id: s for s in self._unknown()}
        members: dict[int, list[Sighting]] = {}
        for sid, (number, _) in self._placed().items():
            if number is not None and sid in by_id:
                members.setdefault(number, []).append(by_id[sid])
        found = [Cluster(n, sorted(m, key=lambda s: -quality(s))) for n, m in members.items() if len(m) >= 2]
        return sorted(found, key=lambda c: (-len(c), c.number))

    # -- people's edits -----------------------------------------------------------------------

    def merge(self, numbers: Sequence[int]) -> int:
        """Put the clusters ``numbers`` together (pinned) under the first one; returns it."""
        numbers = [int(n) for n in numbers]
        if len(numbers) < 2:
            raise HistoryError("choose at least two clusters to merge")
        with self.store.write() as conn:
            marks = ", ".join("?" * len(numbers))
            conn.execute(f"UPDATE sighting_clusters SET cluster = ?, pinned = 1 WHERE cluster IN ({marks})",
                         (numbers[0], *numbers))
        return numbers[0]

    def split(self, sighting_ids: Sequence[int]) -> int:
        """Make the sightings ``sighting_ids`` a cluster of their own (both parts pinned)."""
        ids = [int(i) for i in sighting_ids]
        with self.store.write() as conn:
            marks = ", ".join("?" * len(ids))
            old = {r[0] for r in conn.execute(f"SELECT cluster FROM sighting_clusters WHERE sighting_id IN ({marks})",
                                              ids)}
            if len(old) != 1 or None in old:
                raise HistoryError("choose faces of one cluster to split off")
            number = int(conn.execute("SELECT COALESCE(MAX(cluster), -1) + 1 FROM sighting_clusters").fetchone()[0])
            conn.execute("UPDATE sighting_clusters SET pinned = 1 WHERE cluster = ?", (old.pop(),))
            conn.execute(f"UPDATE sighting_clusters SET cluster = ? WHERE sighting_id IN ({marks})", (number, *ids))
        return number

    def move_out(self, sighting_ids: Sequence[int]) -> None:
        """Take faces out of their cluster: they stay alone (pinned), whatever the clustering says."""
        with self.store.write() as conn:
            conn.executemany("INSERT OR REPLACE INTO sighting_clusters(sighting_id, cluster, pinned) VALUES (?, NULL, 1)",
                             [(int(i),) for i in sighting_ids])

    def name(self, cluster: Cluster, name: str, gallery, *, best: int = BEST) -> list[int]:
        """Enroll ``name`` in ``gallery`` (a :class:`~facerec_core.gallery.GalleryStore` or
        :class:`~facerec_core.access.guarded.GuardedGallery`) from the cluster's best faces that
        pass the enrollment gate (:func:`passes_gate`); every sighting of the cluster is then
        marked as that person. Returns the sightings enrolled; raises :class:`HistoryError` when
        none passes the gate."""
        good = [s for s in cluster.sightings if passes_gate(s)][:best]
        if not good:
            raise HistoryError(f"none of this cluster's {len(cluster)} faces is large and clear enough to enroll "
                               f"(at least {MIN_IDENTIFY_FACE_SIZE:.0f} px and detector score "
                               f"{MIN_IDENTIFY_DET_SCORE:.2f})")
        gallery.add_samples(name, [sighting_sample(s) for s in good])
        with self.store.write() as conn:
            conn.executemany("UPDATE sightings SET corrected = ? WHERE id = ?",
                             [(f"enrolled as {name}", s.id) for s in cluster.sightings])
            conn.executemany("DELETE FROM sighting_clusters WHERE sighting_id = ?", [(s.id,) for s in cluster.sightings])
        log.info("visitors: a cluster of %d enrolled from %d faces", len(cluster), len(good))
        return [s.id for s in good]
