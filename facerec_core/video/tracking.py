"""One frame in, named faces out: detection on a downscaled copy, tracking by box overlap (IoU),
and embedding only for the faces that need it.

:class:`FrameProcessor` runs the embedding only for a face that is new, has moved, or has not
been checked for a while; a face that barely moved keeps its identity. One per video stream;
not thread-safe by itself, but the recognizer it calls may be shared by many streams.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable, Protocol, Sequence

import numpy as np
from PIL import Image

from ..faces import Face

Box = tuple[float, float, float, float]

# MTCNN's first network looks at 12×12 windows; asking it for faces much smaller than this in
# the (downscaled) detection frame only adds pyramid levels.
_MIN_DETECT_FACE = 20


class FacePipeline(Protocol):
    """What :class:`FrameProcessor` needs of a recognizer (a
    :class:`~facerec_core.recognizer.Recognizer` is one)."""

    threshold: float

    def detect(self, image: np.ndarray, *, min_face_size: int | None = None) -> list[Face]: ...

    def embed(self, image: np.ndarray, faces: list[Face]) -> list[Face]: ...

    def identify(self, faces: list[Face], *, threshold: float | None = None, top_k: int = 3) -> list[Face]: ...


@dataclasses.dataclass(frozen=True)
class VideoConfig:
    """Knobs of live recognition. Change them while streaming with ``update_config``.

    Attributes:
        threshold: open-set threshold; ``None`` uses the recognizer's calibrated one.
        min_face_size: smallest face, in pixels of the original frame, that is looked for.
        detect_every: run the detector on every N-th frame (in between, faces keep their
            last boxes).
        mirror: flip frames left-right (a selfie view), before recognition and display.
        detect_width: frames wider than this are downscaled for detection (never so far that
            ``min_face_size`` drops under 20 pixels); the embedding uses the full frame.
        match_iou: a detection continues a tracked face when their boxes overlap this much.
        reembed_iou: a tracked face is embedded again when its box overlaps the box it was
            last embedded at less than this (it moved or turned).
        refresh_s: a tracked face is embedded again at least this often, in seconds.
        max_missed: a tracked face is forgotten after this many detections without it.
        top_k: candidate identities kept per face.
        liveness: look for signs of life (a blink, a head movement with depth) on each tracked
            face and show "live" / "not verified" (needs the stream's liveness watch).
    """

    threshold: float | None = None
    min_face_size: int = 60
    detect_every: int = 1
    mirror: bool = False
    detect_width: int = 320
    match_iou: float = 0.3
    reembed_iou: float = 0.6
    refresh_s: float = 1.0
    max_missed: int = 2
    top_k: int = 3
    liveness: bool = False

    def __post_init__(self) -> None:
        if self.min_face_size < 12:
            raise ValueError(f"min_face_size must be at least 12 pixels, got {self.min_face_size}")
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be 1 or more, got {self.detect_every}")
        if self.detect_width < 32:
            raise ValueError(f"detect_width must be at least 32 pixels, got {self.detect_width}")
        for name in ("match_iou", "reembed_iou"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if self.max_missed < 0 or self.refresh_s <= 0:
            raise ValueError("max_missed must be ≥ 0 and refresh_s > 0")

    def replace(self, **changes) -> "VideoConfig":
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass
class Track:
    """A face followed from frame to frame."""

    track_id: int
    face: Face
    embedded_box: Box
    embedded_at: float
    first_seen: float
    missed: int = 0


@dataclasses.dataclass(frozen=True)
class FrameResult:
    """What :meth:`FrameProcessor.process` found in one frame.

    ``faces`` are copies owned by this result (safe to read from any thread), largest first;
    ``track_ids`` runs parallel to them. ``timings`` are milliseconds: ``detect``, ``embed``,
    ``identify`` and ``total``. ``live`` maps a track to whether it has shown signs of life (only
    when the stream looks for them).
    """

    index: int
    faces: list[Face]
    track_ids: list[int]
    detected: bool
    embedded: int
    timings: dict[str, float]
    timestamp: float
    live: dict[int, bool] | None = None


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x1, y1, x2, y2)`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def match_boxes(old: Sequence[Box], new: Sequence[Box], min_iou: float) -> list[tuple[int, int]]:
    """Greedy one-to-one pairing ``(old_index, new_index)``, best overlap first."""
    pairs = sorted(((box_iou(o, n), i, j) for i, o in enumerate(old) for j, n in enumerate(new)),
                   reverse=True)
    used_old: set[int] = set()
    used_new: set[int] = set()
    out = []
    for iou, i, j in pairs:
        if iou < min_iou:
            break
        if i not in used_old and j not in used_new:
            used_old.add(i)
            used_new.add(j)
            out.append((i, j))
    return out


def detection_scale(width: int, config: VideoConfig) -> float:
    """The factor frames are shrunk by for detection (1.0: not at all)."""
    scale = min(1.0, config.detect_width / max(width, 1))
    return min(1.0, max(scale, _MIN_DETECT_FACE / config.min_face_size))


def _scaled_face(face: Face, factor: float) -> Face:
    """A copy of ``face`` with box and landmarks multiplied by ``factor``."""
    box = tuple(float(v) * factor for v in face.box)
    landmarks = None if face.landmarks is None else np.asarray(face.landmarks) * factor
    return dataclasses.replace(face, box=box, landmarks=landmarks)


def _copy_identity(src: Face, dst: Face) -> Face:
    """Give the freshly detected ``dst`` the embedding and name of the tracked ``src``."""
    dst.embedding, dst.identity, dst.confidence = src.embedding, src.identity, src.confidence
    dst.matches, dst.note = list(src.matches), src.note
    dst.threshold, dst.reason = src.threshold, src.reason
    return dst


class FrameProcessor:
    """Detect, follow and name faces in consecutive frames of one stream.

    Args:
        recognizer: a :class:`FacePipeline`, usually a :class:`~facerec_core.recognizer.Recognizer`
            (may be shared).
        config: a :class:`VideoConfig`; replace it any time with :meth:`update_config`.
        clock: seconds, monotonic (injectable for tests).
    """

    def __init__(self, recognizer: FacePipeline, config: VideoConfig | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.recognizer = recognizer
        self.config = config or VideoConfig()
        self.clock = clock
        self.tracks: list[Track] = []
        self._next_id = 1
        self._index = 0
        self._last_detect: int | None = None
        self._identified_with: float | None = None

    def update_config(self, config: VideoConfig) -> None:
        """Use ``config`` from the next frame on (a new threshold re-names tracked faces)."""
        self.config = config

    def reset(self) -> None:
        """Forget every tracked face."""
        self.tracks = []
        self._last_detect = None

    @property
    def threshold(self) -> float:
        cfg = self.config
        return float(self.recognizer.threshold if cfg.threshold is None else cfg.threshold)

    def process(self, image: np.ndarray, *, index: int | None = None) -> FrameResult:
        """Named faces in ``image`` (RGB uint8, already mirrored if wanted).

        ``index`` numbers the frame in its stream (default: one more than the last); the
        detector runs when ``detect_every`` frames have passed since it last ran.
        """
        cfg = self.config  # read once: another thread may swap it
        start = self.clock()
        self._index = self._index + 1 if index is None else int(index)
        timings = {"detect": 0.0, "embed": 0.0, "identify": 0.0}
        threshold = self.threshold
        if self._identified_with is not None and threshold != self._identified_with:
            self._reidentify(threshold, cfg.top_k)
        detected, embedded = False, 0
        if self._last_detect is None or self._index - self._last_detect >= cfg.detect_every \
                or self._index < self._last_detect:
            detected = True
            self._last_detect = self._index
            t = self.clock()
            faces = self._detect(image, cfg)
            timings["detect"] = (self.clock() - t) * 1000
            embedded = self._update_tracks(image, faces, cfg, threshold, timings)
        timings["total"] = (self.clock() - start) * 1000
        visible = [t for t in self.tracks if t.missed == 0]
        visible.sort(key=lambda t: t.face.width * t.face.height, reverse=True)
        return FrameResult(index=self._index, faces=[dataclasses.replace(t.face) for t in visible],
                           track_ids=[t.track_id for t in visible], detected=detected,
                           embedded=embedded, timings=timings, timestamp=self.clock())

    def _detect(self, image: np.ndarray, cfg: VideoConfig) -> list[Face]:
        """Faces found on a downscaled copy, with boxes in full-frame pixels."""
        h, w = image.shape[:2]
        scale = detection_scale(w, cfg)
        if scale >= 0.999:
            return self.recognizer.detect(image, min_face_size=cfg.min_face_size)
        small = np.asarray(Image.fromarray(image).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                                         Image.BILINEAR))
        min_size = max(_MIN_DETECT_FACE, round(cfg.min_face_size * scale))
        found = self.recognizer.detect(small, min_face_size=min_size)
        return [_scaled_face(f, w / small.shape[1]) for f in found]

    def _update_tracks(self, image: np.ndarray, faces: list[Face], cfg: VideoConfig, threshold: float,
                       timings: dict[str, float]) -> int:
        """Match detections to tracks, embed the faces that need it; returns how many were."""
        now = self.clock()
        pairs = match_boxes([t.face.box for t in self.tracks], [f.box for f in faces], cfg.match_iou)
        matched_tracks = {i for i, _ in pairs}
        matched_faces = {j for _, j in pairs}
        todo: list[tuple[Track, Face]] = []
        for i, j in pairs:
            track, face = self.tracks[i], faces[j]
            track.missed = 0
            moved = box_iou(face.box, track.embedded_box) < cfg.reembed_iou
            stale = now - track.embedded_at >= cfg.refresh_s
            if moved or stale or track.face.embedding is None:
                todo.append((track, face))
            else:
                track.face = _copy_identity(track.face, face)
        for i, track in enumerate(self.tracks):
            if i not in matched_tracks:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= cfg.max_missed]
        for j, face in enumerate(faces):
            if j not in matched_faces:
                track = Track(self._next_id, face, face.box, now, now)
                self._next_id += 1
                self.tracks.append(track)
                todo.append((track, face))
        if todo:
            new_faces = [f for _, f in todo]
            t = self.clock()
            self.recognizer.embed(image, new_faces)
            timings["embed"] = (self.clock() - t) * 1000
            t = self.clock()
            self.recognizer.identify(new_faces, threshold=threshold, top_k=cfg.top_k)
            timings["identify"] = (self.clock() - t) * 1000
            self._identified_with = threshold
            done = self.clock()
            for track, face in todo:
                track.face, track.embedded_box, track.embedded_at = face, face.box, done
        return len(todo)

    def _reidentify(self, threshold: float, top_k: int) -> None:
        """Name tracked faces again from their stored embeddings (after a threshold change)."""
        faces = [t.face for t in self.tracks if t.face.embedding is not None]
        for face in faces:
            face.identity, face.confidence, face.matches, face.note = None, None, [], None
            face.threshold, face.reason = None, None
        if faces:
            self.recognizer.identify(faces, threshold=threshold, top_k=top_k)
        self._identified_with = threshold

