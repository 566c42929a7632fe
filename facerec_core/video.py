"""Live video: name the faces in a stream of frames without letting the display fall behind.

Two layers, neither tied to a UI framework:

- :class:`FrameProcessor` turns one frame into named faces. It detects on a downscaled copy of
  the frame, follows faces from frame to frame by box overlap (IoU) and runs the embedding
  only for a face that is new, has moved, or has not been checked for a while; a face that
  barely moved keeps its identity. One per video stream; not thread-safe by itself, but the
  :class:`~facerec_core.recognizer.Recognizer` it calls may be shared by many streams.
- :class:`LiveProcessor` puts a FrameProcessor on a worker thread that always takes the
  newest frame (older ones are dropped, never queued). :meth:`LiveProcessor.handle` returns
  at once: the incoming frame with the latest known boxes, names and an FPS counter drawn
  on it. :meth:`LiveProcessor.snapshot` is the thread-safe hand-off to a UI ("who is in view").

>>> live = LiveProcessor(recognizer, VideoConfig(min_face_size=60))   # doctest: +SKIP
>>> shown = live.handle(frame)            # from the video thread, for every frame
>>> live.snapshot().in_view               # from the UI thread, whenever it likes
>>> live.stop()

The module also builds test scenes (LFW photos pasted on a 640×480 canvas) and writes them as
a YUV4MPEG2 file, which Chromium can play as a fake camera.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from PIL import Image

from .draw import annotate
from .faces import UNKNOWN, Face
from .runtime import pin_threads

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]

# MTCNN's first network looks at 12×12 windows; asking it for faces much smaller than this in
# the (downscaled) detection frame only adds pyramid levels.
_MIN_DETECT_FACE = 20


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
    ``identify`` and ``total``.
    """

    index: int
    faces: list[Face]
    track_ids: list[int]
    detected: bool
    embedded: int
    timings: dict[str, float]
    timestamp: float


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
    return dst


class FrameProcessor:
    """Detect, follow and name faces in consecutive frames of one stream.

    Args:
        recognizer: a :class:`~facerec_core.recognizer.Recognizer` (may be shared).
        config: a :class:`VideoConfig`; replace it any time with :meth:`update_config`.
        clock: seconds, monotonic (injectable for tests).
    """

    def __init__(self, recognizer, config: VideoConfig | None = None, *,
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
        if faces:
            self.recognizer.identify(faces, threshold=threshold, top_k=top_k)
        self._identified_with = threshold


# --------------------------------------------------------------------------------------------
# Live processing on a worker thread


@dataclasses.dataclass(frozen=True)
class InView:
    """One face on screen, as the UI lists it."""

    track_id: int
    name: str
    confidence: float | None
    seconds: float
    known: bool

    @property
    def label(self) -> str:
        name = self.name.replace("_", " ")
        return name if self.confidence is None else f"{name} ({self.confidence:.2f})"


@dataclasses.dataclass(frozen=True)
class LiveStatus:
    """A consistent picture of a live stream, safe to read from any thread.

    ``state`` is ``idle`` (no frame yet), ``running``, ``stopped``, ``ended`` (the stream
    ended) or ``error`` (``message`` says what went wrong).
    """

    state: str
    message: str | None
    in_view: list[InView]
    recently_seen: dict[str, float]
    display_fps: float
    analysis_fps: float
    frames: int
    analysed: int
    dropped: int
    process_ms_p50: float | None
    last_frame_age: float | None = None


class _RateMeter:
    """Events per second over a sliding window."""

    def __init__(self, window: int = 30) -> None:
        self._times: deque[float] = deque(maxlen=window)

    def tick(self, now: float) -> None:
        self._times.append(now)

    def rate(self, now: float | None = None) -> float:
        if len(self._times) < 2:
            return 0.0
        end = self._times[-1] if now is None else max(now, self._times[-1])
        span = end - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


class LiveProcessor:
    """Recognition for one live stream that never holds the video back.

    :meth:`handle` is called for every frame (on the video thread): it hands the frame to a
    worker thread, which keeps only the newest one, and returns the frame annotated with the
    latest results and the display rate. The worker starts with the first frame and exits by
    itself after ``idle_timeout_s`` without frames, or at :meth:`stop`.

    Each worker belongs to a *generation*; :meth:`stop` starts a new one, so a worker that is
    still finishing a frame exits right after it and publishes nothing, even if a late frame
    has already started the next worker. One lock serialises the per-stream tracking state.

    Args:
        recognizer: the (shared, thread-safe) :class:`~facerec_core.recognizer.Recognizer`.
        config: a :class:`VideoConfig`.
        idle_timeout_s: the worker thread exits after this long without a frame.
        recent_s: how long a named person stays in ``recently_seen``.
        name: names the worker thread (for logs).
        torch_threads: intra-op threads torch may use on the worker thread (``None``: torch's
            default, one per core). One keeps a core free for video decoding and encoding, and
            avoids the collapse of OpenMP's spinning threads when the cores are shared with other
            streams or programs: on a busy 2-core machine, detection took ~20 ms with one thread
            and over 1 s with two.
    """

    def __init__(self, recognizer, config: VideoConfig | None = None, *, idle_timeout_s: float = 3.0,
                 recent_s: float = 60.0, name: str = "facerec-live", torch_threads: int | None = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.processor = FrameProcessor(recognizer, config, clock=clock)
        self.torch_threads = torch_threads
        self.idle_timeout_s = idle_timeout_s
        self.recent_s = recent_s
        self.name = name
        self.clock = clock
        self._cond = threading.Condition()      # guards everything below
        self._process_lock = threading.Lock()   # guards self.processor's tracking state
        self._generation = 0
        self._needs_reset = False
        self._pending: tuple[int, np.ndarray] | None = None
        self._thread: threading.Thread | None = None       # the current generation's worker
        self._threads: list[threading.Thread] = []          # every worker not yet joined
        self._result: FrameResult | None = None
        self._first_seen: dict[tuple[int, str | None], float] = {}
        self._recent: dict[str, float] = {}
        self._frames = self._analysed = self._dropped = 0
        self._display = _RateMeter()
        self._analysis = _RateMeter()
        self._process_ms: deque[float] = deque(maxlen=50)
        self._state, self._message = "idle", None
        self._last_frame_at: float | None = None

    @property
    def config(self) -> VideoConfig:
        return self.processor.config

    def update_config(self, config: VideoConfig) -> None:
        """Apply new settings from the next analysed frame on."""
        self.processor.update_config(config)

    # -- the video thread -------------------------------------------------------------------

    def handle(self, image: np.ndarray) -> np.ndarray:
        """Take a frame (RGB uint8) and return it annotated; never waits for recognition."""
        return self.handle_with_faces(image)[0]

    def handle_with_faces(self, image: np.ndarray) -> tuple[np.ndarray, list[Face]]:
        """:meth:`handle`, also returning the faces drawn on the frame."""
        if self.config.mirror:
            image = np.ascontiguousarray(image[:, ::-1])
        now = self.clock()
        with self._cond:
            self._frames += 1
            self._last_frame_at = now
            if self._pending is not None:
                self._dropped += 1
            self._pending = (self._frames, image)
            self._display.tick(now)
            if self._state in ("idle", "stopped", "ended"):
                self._state, self._message = "running", None
            self._ensure_worker()
            self._cond.notify_all()
            faces = [] if self._result is None else self._result.faces
            fps = self._display.rate()
        return annotate(image, faces, extra_text=f"{fps:4.1f} fps"), faces

    def _ensure_worker(self) -> None:
        """Start this generation's worker if it is not running (caller holds ``_cond``)."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, args=(self._generation,), name=self.name, daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [self._thread]
            self._thread.start()

    # -- the worker thread ------------------------------------------------------------------

    def _next_frame(self, generation: int) -> tuple[int, np.ndarray] | None:
        """The newest pending frame, or ``None`` when stopped or idle for too long."""
        with self._cond:
            deadline = self.clock() + self.idle_timeout_s
            while self._pending is None and generation == self._generation:
                left = deadline - self.clock()
                if left <= 0:
                    break
                self._cond.wait(left)
            if generation != self._generation or self._pending is None:
                # decided under the lock: from here on handle() starts a new worker
                if self._thread is threading.current_thread():
                    self._thread = None
                return None
            item, self._pending = self._pending, None
            return item

    def _run(self, generation: int) -> None:
        """Worker loop: process the newest frame, publish the result, repeat."""
        log.debug("%s: worker %d started", self.name, generation)
        pin_threads(self.torch_threads)
        while (item := self._next_frame(generation)) is not None:
            index, image = item
            try:
                with self._process_lock:
                    with self._cond:
                        reset, self._needs_reset = self._needs_reset, False
                    if reset:
                        self.processor.reset()
                    result = self.processor.process(image, index=index)
            except Exception as exc:  # keep streaming; the UI shows the message
                log.exception("%s: recognition failed on frame %d", self.name, index)
                with self._cond:
                    if generation == self._generation:
                        self._state, self._message = "error", f"recognition failed: {type(exc).__name__}: {exc}"
                continue
            if result.timings["total"] > 2000:
                log.warning("%s: frame %d took %.1f s (%s)", self.name, index, result.timings["total"] / 1000,
                            ", ".join(f"{k} {v:.0f} ms" for k, v in result.timings.items()))
            self._publish(result, generation)
        log.debug("%s: worker %d exited", self.name, generation)

    def _publish(self, result: FrameResult, generation: int) -> None:
        now = self.clock()
        with self._cond:
            if generation != self._generation:
                return
            self._result = result
            self._analysed += 1
            self._analysis.tick(now)
            if result.detected:
                self._process_ms.append(result.timings["total"])
            # keyed by name too: a track whose name changes (re-embedded) starts counting again
            keys = [(tid, face.identity) for tid, face in zip(result.track_ids, result.faces)]
            self._first_seen = {key: self._first_seen.get(key, now) for key in keys}
            for face in result.faces:
                if face.is_known:
                    self._recent[face.identity] = now
            if self._state == "error":
                self._state, self._message = "running", None

    # -- any thread -------------------------------------------------------------------------

    def latest(self) -> FrameResult | None:
        """The newest recognition result (``None`` before the first)."""
        with self._cond:
            return self._result

    def snapshot(self) -> LiveStatus:
        """Who is in view, rates and state: a copy, consistent, safe from any thread."""
        now = self.clock()
        with self._cond:
            result = self._result
            in_view = []
            if result is not None and self._state == "running":
                for tid, face in zip(result.track_ids, result.faces):
                    name = face.identity if face.identity is not None else "face"
                    since = self._first_seen.get((tid, face.identity), now)
                    in_view.append(InView(tid, name, face.confidence, now - since, face.is_known))
            self._recent = {n: t for n, t in self._recent.items() if now - t <= self.recent_s}
            times = sorted(self._process_ms)
            running = self._state == "running"
            return LiveStatus(
                state=self._state, message=self._message, in_view=in_view,
                recently_seen={n: now - t for n, t in sorted(self._recent.items(), key=lambda kv: -kv[1])},
                display_fps=self._display.rate(now) if running else 0.0,
                analysis_fps=self._analysis.rate(now) if running else 0.0,
                frames=self._frames, analysed=self._analysed, dropped=self._dropped,
                process_ms_p50=times[len(times) // 2] if times else None,
                last_frame_age=None if self._last_frame_at is None else now - self._last_frame_at)

    @property
    def running(self) -> bool:
        """Whether any worker thread is alive."""
        with self._cond:
            return any(t.is_alive() for t in self._threads)

    def mark_ended(self, message: str = "The video stream ended.") -> None:
        """Record that the input stream ended (camera unplugged, connection lost, page closed)
        and let the worker exit; does not block (safe on an event loop thread)."""
        with self._cond:
            running = self._state in ("running", "error")
        self.stop(timeout=0, state="ended" if running else None, message=message if running else None)

    def stop(self, timeout: float = 5.0, *, state: str | None = "stopped", message: str | None = None) -> bool:
        """End the worker and forget tracked faces; ``True`` once no worker thread is left.

        Waits up to ``timeout`` seconds for the threads (0: do not wait). A frame handled
        afterwards starts a fresh worker. ``state``/``message`` are what :meth:`snapshot`
        reports next (``None``: keep them).
        """
        with self._cond:
            self._generation += 1
            self._thread = None
            self._pending = None
            self._needs_reset = True
            self._result = None
            self._first_seen = {}
            if state is not None:
                self._state, self._message = state, message
            threads = [t for t in self._threads if t is not threading.current_thread()]
            self._cond.notify_all()
        deadline = time.monotonic() + max(timeout, 0.0)
        for thread in threads:
            if timeout > 0:
                thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t for t in threads if t.is_alive()]
        if alive and timeout > 0:
            log.warning("%s: worker did not stop within %.1f s", self.name, timeout)
        return not alive


# --------------------------------------------------------------------------------------------
# Test scenes: LFW photos on a canvas, and YUV4MPEG2 files for Chromium's fake camera

FRAME_SIZE = (640, 480)


def background(size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """A plain, slightly shaded backdrop (RGB uint8), like a wall behind a webcam user."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    shade = 150 + 40 * (x / w) - 30 * (y / h)
    return np.clip(np.stack([shade, shade * 0.95, shade * 0.9], axis=-1), 0, 255).astype(np.uint8)


def compose_frame(photos: Sequence[np.ndarray], positions: Sequence[tuple[int, int]],
                  size: tuple[int, int] = FRAME_SIZE, backdrop: np.ndarray | None = None) -> np.ndarray:
    """Paste each photo (RGB uint8) with its top-left corner at ``(x, y)`` (clipped to the frame)."""
    frame = (background(size) if backdrop is None else backdrop).copy()
    h, w = frame.shape[:2]
    for photo, (x, y) in zip(photos, positions):
        ph, pw = photo.shape[:2]
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + pw, w), min(y + ph, h)
        if x1 > x0 and y1 > y0:
            frame[y0:y1, x0:x1] = photo[y0 - y:y1 - y, x0 - x:x1 - x]
    return frame


def moving_scene(photos: Sequence[np.ndarray], n_frames: int, *, starts: Sequence[tuple[int, int]] | None = None,
                 step: tuple[float, float] = (1.5, 0.5), size: tuple[int, int] = FRAME_SIZE) -> list[np.ndarray]:
    """``n_frames`` frames in which each photo drifts by ``step`` pixels a frame (a person
    swaying a little in front of a webcam), the photos side by side by default."""
    w, h = size
    if starts is None:
        pw = photos[0].shape[1] if photos else 0
        gap = (w - pw * len(photos)) // (len(photos) + 1) if photos else 0
        starts = [(gap + i * (pw + gap), (h - p.shape[0]) // 2) for i, p in enumerate(photos)]
    bg = background(size)
    frames = []
    for k in range(n_frames):
        # sway back and forth so long scenes stay in the frame
        phase = k % 40
        offset = phase if phase < 20 else 40 - phase
        pos = [(int(x + step[0] * offset), int(y + step[1] * offset)) for x, y in starts]
        frames.append(compose_frame(photos, pos, size, bg))
    return frames


def rgb_to_i420(frame: np.ndarray) -> bytes:
    """One RGB frame as planar YUV 4:2:0 bytes (full-range BT.601, as ``C420jpeg`` says)."""
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
        raise ValueError(f"frame size must be even for 4:2:0, got {w}x{h}")
    ycc = np.asarray(Image.fromarray(frame).convert("YCbCr"), dtype=np.uint16)
    y = ycc[..., 0].astype(np.uint8)
    chroma = ycc[..., 1:].reshape(h // 2, 2, w // 2, 2, 2).mean(axis=(1, 3))
    u = np.round(chroma[..., 0]).astype(np.uint8)
    v = np.round(chroma[..., 1]).astype(np.uint8)
    return y.tobytes() + u.tobytes() + v.tobytes()


def write_y4m(path: str | Path, frames: Iterable[np.ndarray], fps: int = 15) -> Path:
    """Write RGB frames (all the same even size) as a YUV4MPEG2 4:2:0 file; returns the path."""
    path = Path(path)
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError("write_y4m needs at least one frame")
    h, w = first.shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{w} H{h} F{int(fps)}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for frame in (first, *frames):
            if frame.shape[:2] != (h, w):
                raise ValueError(f"every frame must be {w}x{h}, got {frame.shape[1]}x{frame.shape[0]}")
            out.write(b"FRAME\n")
            out.write(rgb_to_i420(frame))
    return path


def read_y4m(path: str | Path, *, max_frames: int | None = None) -> tuple[list[np.ndarray], float]:
    """RGB frames and frame rate of a YUV4MPEG2 4:2:0 file (as written by :func:`write_y4m`
    or ``ffmpeg -pix_fmt yuv420p``)."""
    path = Path(path)
    with open(path, "rb") as f:
        header = f.readline().decode("ascii", "replace").split()
        if not header or header[0] != "YUV4MPEG2":
            raise ValueError(f"{path} is not a YUV4MPEG2 file")
        tags = {t[0]: t[1:] for t in header[1:]}
        if not tags.get("C", "420").startswith("420"):
            raise ValueError(f"{path}: only 4:2:0 colour is supported, got C{tags['C']}")
        w, h = int(tags["W"]), int(tags["H"])
        num, _, den = tags.get("F", "30:1").partition(":")
        fps = float(num) / float(den or 1)
        y_size, c_size = w * h, (w // 2) * (h // 2)
        frames = []
        while max_frames is None or len(frames) < max_frames:
            line = f.readline()
            if not line.startswith(b"FRAME"):
                break
            data = f.read(y_size + 2 * c_size)
            if len(data) < y_size + 2 * c_size:
                break
            planes = [Image.frombytes("L", (w, h), data[:y_size])]
            for k in range(2):
                part = data[y_size + k * c_size:y_size + (k + 1) * c_size]
                planes.append(Image.frombytes("L", (w // 2, h // 2), part).resize((w, h), Image.BILINEAR))
            frames.append(np.asarray(Image.merge("YCbCr", planes).convert("RGB")))
    return frames, fps


def known_names(faces: Iterable[Face]) -> set[str]:
    """The known identities among ``faces`` (not "unknown", not unnamed)."""
    return {f.identity for f in faces if f.identity not in (None, UNKNOWN)}
