"""Recording decisions as sightings, from wherever they are made, as the settings ask.

One :class:`SightingStore` per database file is kept for the process (the CLI, the dashboard's
pages and its video threads share it). Recording never stops a decision from being given: when the
store cannot be written, the log says so (without the face) and the answer stands.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import FacerecError
from ..faces import Face
from ..settings import Settings
from .store import SightingStore, sightings_path

log = logging.getLogger(__name__)

_stores: dict[tuple, SightingStore] = {}
_lock = threading.Lock()


def sighting_store(settings: Settings) -> SightingStore:
    """The process's store for the gallery file of ``settings`` (opened once, then shared)."""
    key = (str(Path(sightings_path(settings)).resolve()), settings.sightings_days, str(settings.gallery_key_file))
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = SightingStore.open(settings)
        return store


def record_sightings(settings: Settings, source: str, faces: Sequence[Face], *, image: np.ndarray | None = None,
                     place: str = "", backbone: str = "", tracks: Sequence[int | None] | None = None) -> list[int]:
    """Record ``faces``' decisions from ``source`` when the settings record that source; returns
    the new sightings' ids (none when off or when the store could not be written). Each decision
    is also a webhook event (``person.recognized`` or ``face.unknown``) whether recorded or not."""
    from ..api.webhooks import emit_faces

    emit_faces(settings, faces, source=source, place=place)
    if source not in settings.sightings or not faces:
        return []
    try:
        return sighting_store(settings).record(source, faces, image=image, place=place, backbone=backbone,
                                               tracks=tracks)
    except (FacerecError, OSError) as exc:
        log.warning("sightings: %d decision(s) from %s not recorded (%s)", len(faces), source, type(exc).__name__)
        return []


class TrackSightings:
    """The sightings of a live stream: one per track and answer (a track first named, or named
    differently later), never one per frame; the thumbnail comes from the very frame analysed.

    Give :meth:`observe` to :class:`~facerec_core.video.LiveProcessor` as ``on_result``: it runs
    on the stream's worker thread after each analysed frame.
    """

    def __init__(self, settings: Settings, *, backbone: str = "", place: str = "Live Webcam") -> None:
        self.settings, self.backbone, self.place = settings, backbone, place
        self._decided: dict[int, str] = {}
        self.recorded = 0

    def observe(self, image: np.ndarray, result) -> None:
        """``result``: the :class:`~facerec_core.video.tracking.FrameResult` of ``image``."""
        new = []
        for track, face in zip(result.track_ids, result.faces):
            if face.identity is not None and self._decided.get(track) != face.identity:
                new.append((track, face))
                self._decided[track] = face.identity
        # Track numbers are never reused by a stream, so a track hidden for a frame or two (a missed
        # detection) is not a new sighting when it shows again; the oldest are dropped past 10,000.
        while len(self._decided) > 10000:
            self._decided.pop(next(iter(self._decided)))
        if new:
            self.recorded += len(record_sightings(self.settings, "live", [f for _, f in new], image=image,
                                                  place=self.place, backbone=self.backbone,
                                                  tracks=[t for t, _ in new]))
