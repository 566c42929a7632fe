"""Live processing on a worker thread: :class:`LiveProcessor` puts a
:class:`~facerec_core.video.tracking.FrameProcessor` on a thread that always takes the newest
frame (older ones are dropped, never queued), so the display never falls behind recognition.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from typing import Callable, Protocol, Sequence

import numpy as np

from ..draw import annotate
from ..faces import Face, display_name
from ..runtime import pin_threads
from .tracking import FacePipeline, FrameProcessor, FrameResult, VideoConfig

log = logging.getLogger("facerec_core.video")  # the name its log lines had before video became a package


class LivenessSigns(Protocol):
    """Per-track signs of life (:class:`facerec_core.liveness.watch.LivenessWatch` is one)."""

    def update(self, image: np.ndarray, t: float, track_ids: Sequence[int],
               boxes: Sequence[Sequence[float]]) -> dict[int, bool]: ...

    def reset(self) -> None: ...


LIVE, NOT_VERIFIED = "live", "not verified"


@dataclasses.dataclass(frozen=True)
class InView:
    """One face on screen, as the UI lists it. ``live`` is ``None`` when liveness is not looked for."""

    track_id: int
    name: str
    confidence: float | None
    seconds: float
    known: bool
    live: bool | None = None

    @property
    def label(self) -> str:
        name = display_name(self.name)
        return name if self.confidence is None else f"{name} ({self.confidence:.2f})"


@dataclasses.dataclass(frozen=True)
class LiveStatus:
    """A consistent picture of a live stream, safe to read from any thread.

    ``state`` is ``idle`` (no frame yet), ``running``, ``stopped``, ``ended`` (the stream
    ended) or ``error`` (``message`` says what went wrong). ``result_age`` is how far the video
    frame the latest recognition result describes lags behind the newest frame, in seconds
    (``None`` before the first); past the processor's ``stale_after_s``, ``in_view`` is empty and
    the video shows no boxes.
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
    result_age: float | None = None
    stale_after_s: float = 3.0

    @property
    def stale(self) -> bool:
        """Whether the latest result is too old to show (recognition has fallen behind)."""
        return self.result_age is not None and self.result_age > self.stale_after_s

    @property
    def rates_text(self) -> str:
        """The rates as the video overlay writes them."""
        return rates_text(self.display_fps, self.analysis_fps)


def rates_text(display_fps: float, analysis_fps: float) -> str:
    """``"video 30.0 fps | recognition 9.5 fps"``: the overlay's line, the same two rates the
    panel shows (boxes move at the second)."""
    return f"video {display_fps:.1f} fps | recognition {analysis_fps:.1f} fps"


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
        stale_after_s: boxes and names from a frame older than this (seconds) are not drawn
            and not listed as in view: when recognition falls behind (a slow frame, a busy
            machine, errors), old boxes would stay on screen where nobody is any more. 3 s: a
            frame can take over a second on a busy 2-core machine, and names must still show.
        name: names the worker thread (for logs).
        torch_threads: intra-op threads torch may use on the worker thread (``None``: torch's
            default, one per core). One keeps a core free for video decoding and encoding, and
            avoids the collapse of OpenMP's spinning threads when the cores are shared with other
            streams or programs: on a busy 2-core machine, detection took ~20 ms with one thread
            and over 1 s with two.
        liveness: what looks for signs of life when the config's ``liveness`` is on.
        on_result: called on the worker thread with each analysed frame and its result (e.g.
            :meth:`facerec_core.history.recording.TrackSightings.observe`); its errors are logged.
    """

    def __init__(self, recognizer: FacePipeline, config: VideoConfig | None = None, *, idle_timeout_s: float = 3.0,
                 recent_s: float = 60.0, stale_after_s: float = 3.0, name: str = "facerec-live",
                 torch_threads: int | None = 1, liveness: LivenessSigns | None = None,
                 on_result: Callable[[np.ndarray, FrameResult], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.processor = FrameProcessor(recognizer, config, clock=clock)
        self.liveness = liveness
        self.on_result = on_result
        self.torch_threads = torch_threads
        self.idle_timeout_s = idle_timeout_s
        self.recent_s = recent_s
        self.stale_after_s = stale_after_s
        self.name = name
        self.clock = clock
        self._cond = threading.Condition()      # guards everything below
        self._process_lock = threading.Lock()   # guards self.processor's tracking state
        self._generation = 0
        self._needs_reset = False
        self._pending: tuple[int, np.ndarray, float] | None = None  # (index, frame, when it came)
        self._thread: threading.Thread | None = None       # the current generation's worker
        self._threads: list[threading.Thread] = []          # every worker not yet joined
        self._result: FrameResult | None = None
        self._result_frame_at: float | None = None  # when the frame behind self._result came in
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
            self._pending = (self._frames, image, now)
            self._display.tick(now)
            if self._state in ("idle", "stopped", "ended"):
                self._state, self._message = "running", None
            self._ensure_worker()
            self._cond.notify_all()
            faces = self._fresh_faces(now)
            text = rates_text(*self._rates(now))
            if self._result_frame_at is not None and not faces and self._result.faces:
                text += f" | names paused: {now - self._result_frame_at:.0f} s behind"
            live = self._result.live if faces else None
            badges = None if live is None else [LIVE if live.get(tid) else NOT_VERIFIED
                                                 for tid in self._result.track_ids]
        return annotate(image, faces, extra_text=text, badges=badges), faces

    def _fresh_faces(self, now: float) -> list[Face]:
        """The latest result's faces, or none when the frame it describes came more than
        ``stale_after_s`` before the frame at ``now`` (caller holds ``_cond``)."""
        if self._result is None or self._result_frame_at is None or now - self._result_frame_at > self.stale_after_s:
            return []
        return self._result.faces

    def _rates(self, now: float) -> tuple[float, float]:
        """Video and recognition frames per second up to ``now``: one computation for the overlay
        and the panel, so they agree (caller holds ``_cond``)."""
        return self._display.rate(now), self._analysis.rate(now)

    def _ensure_worker(self) -> None:
        """Start this generation's worker if it is not running (caller holds ``_cond``)."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, args=(self._generation,), name=self.name, daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [self._thread]
            self._thread.start()

    # -- the worker thread ------------------------------------------------------------------

    def _next_frame(self, generation: int) -> tuple[int, np.ndarray, float] | None:
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
            index, image, frame_at = item
            try:
                with self._process_lock:
                    with self._cond:
                        reset, self._needs_reset = self._needs_reset, False
                    if reset:
                        self.processor.reset()
                        if self.liveness is not None:
                            self.liveness.reset()
                    result = self.processor.process(image, index=index)
                    if self.liveness is not None and self.config.liveness:
                        live = self.liveness.update(image, frame_at, result.track_ids, [f.box for f in result.faces])
                        result = dataclasses.replace(result, live=live)
            except Exception as exc:  # keep streaming; the UI shows the message
                log.exception("%s: recognition failed on frame %d", self.name, index)
                with self._cond:
                    if generation == self._generation:
                        self._state, self._message = "error", f"recognition failed: {type(exc).__name__}: {exc}"
                continue
            if result.timings["total"] > 2000:
                log.warning("%s: frame %d took %.1f s (%s)", self.name, index, result.timings["total"] / 1000,
                            ", ".join(f"{k} {v:.0f} ms" for k, v in result.timings.items()))
            self._publish(result, generation, frame_at)
            if self.on_result is not None:
                try:
                    self.on_result(image, result)
                except Exception:  # never break the stream over a side record
                    log.exception("%s: on_result failed on frame %d", self.name, index)
        log.debug("%s: worker %d exited", self.name, generation)

    def _publish(self, result: FrameResult, generation: int, frame_at: float) -> None:
        now = self.clock()
        with self._cond:
            if generation != self._generation:
                return
            # A face that was out of view for longer than the stale limit (no fresh result had it)
            # starts counting again: "in view" is time on screen, not time since first sighting.
            if self._result_frame_at is None or frame_at - self._result_frame_at > self.stale_after_s:
                self._first_seen = {}
            self._result, self._result_frame_at = result, frame_at
            self._analysed += 1
            self._analysis.tick(now)
            if result.detected:
                self._process_ms.append(result.timings["total"])
            # Keyed by name too: a track whose name changes (re-embedded) starts counting again.
            # Times are those of the video frames, so a late result does not stretch the count.
            keys = [(tid, face.identity) for tid, face in zip(result.track_ids, result.faces)]
            self._first_seen = {key: self._first_seen.get(key, frame_at) for key in keys}
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
            result, frame_at = self._result, self._result_frame_at
            in_view = []
            # Staleness is measured against the newest video frame, not the clock: when the video
            # itself stops, the frozen picture and its names still agree.
            latest_frame = now if self._last_frame_at is None else self._last_frame_at
            if result is not None and self._state == "running" and self._fresh_faces(latest_frame):
                for tid, face in zip(result.track_ids, result.faces):
                    name = face.identity if face.identity is not None else "face"
                    since = self._first_seen.get((tid, face.identity), frame_at)
                    live = None if result.live is None else result.live.get(tid, False)
                    in_view.append(InView(tid, name, face.confidence, frame_at - since, face.is_known, live))
            self._recent = {n: t for n, t in self._recent.items() if now - t <= self.recent_s}
            times = sorted(self._process_ms)
            running = self._state == "running"
            display_fps, analysis_fps = self._rates(now) if running else (0.0, 0.0)
            return LiveStatus(
                state=self._state, message=self._message, in_view=in_view,
                recently_seen={n: now - t for n, t in sorted(self._recent.items(), key=lambda kv: -kv[1])},
                display_fps=display_fps, analysis_fps=analysis_fps,
                frames=self._frames, analysed=self._analysed, dropped=self._dropped,
                process_ms_p50=times[len(times) // 2] if times else None,
                last_frame_age=None if self._last_frame_at is None else now - self._last_frame_at,
                result_age=None if frame_at is None else latest_frame - frame_at, stale_after_s=self.stale_after_s)

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
            self._result = self._result_frame_at = None
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

