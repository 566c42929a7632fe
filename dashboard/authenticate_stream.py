"""The Authenticate page's adapter to ``streamlit-webrtc``: camera frames go to the session's
:class:`~facerec_core.liveness.Authenticator` on a worker thread, which always takes the newest
frame (older ones are dropped, never queued), and come back at once, mirrored, with the latest
prompt drawn on them: the video never waits for the analysis. Kept out of the page file so that
tests can import it; no ``st.*`` here (the callback runs on a WebRTC thread).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Callable

import numpy as np

from facerec_core.liveness import Authenticator, draw_state
from facerec_core.runtime import pin_threads

log = logging.getLogger(__name__)


class _Rate:
    """Events per second over the last 30."""

    def __init__(self) -> None:
        self.times: deque[float] = deque(maxlen=30)

    def per_second(self, now: float) -> float:
        if len(self.times) < 2 or now - self.times[-1] > 2.0:
            return 0.0
        return (len(self.times) - 1) / max(self.times[-1] - self.times[0], 1e-6)


class AuthenticateStream:
    """One browser session's camera → authenticator hand-off.

    An attempt starts with the first frame, and a new one ``restart_after_s`` seconds after each
    verdict (a kiosk at a door needs nobody to press a button). :meth:`video_fps` is the rate at
    which frames go back to the browser, :meth:`analysis_fps` the rate at which they are analysed.
    The worker thread exits after ``idle_s`` without frames and starts again with the next one.
    """

    def __init__(self, authenticator: Authenticator, *, restart_after_s: float = 6.0, idle_s: float = 3.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.authenticator = authenticator
        self.restart_after_s, self.idle_s = restart_after_s, idle_s
        self.clock = clock
        self._cond = threading.Condition()
        self._pending: tuple[np.ndarray, float] | None = None
        self._worker: threading.Thread | None = None
        self._done_at: float | None = None
        self._shown, self._analysed = _Rate(), _Rate()

    def video_fps(self) -> float:
        with self._cond:
            return self._shown.per_second(self.clock())

    def analysis_fps(self) -> float:
        with self._cond:
            return self._analysed.per_second(self.clock())

    def new_attempt(self) -> None:
        with self._cond:
            self._done_at = None
        self.authenticator.start()

    def handle(self, image: np.ndarray) -> np.ndarray:
        """One RGB frame as the camera sees it → the frame to show (mirrored, with the prompt)."""
        now = self.clock()
        with self._cond:
            self._pending = (image, now)
            self._shown.times.append(now)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="facerec-authenticate", daemon=True)
                self._worker.start()
            self._cond.notify_all()
        return draw_state(image, self.authenticator.state(), self.authenticator.last_face, mirror=True)

    def _run(self) -> None:
        pin_threads(1)  # as Live Webcam: one core stays free for the video's encoding
        while True:
            with self._cond:
                if self._pending is None:
                    self._cond.wait(self.idle_s)
                if self._pending is None:
                    self._worker = None
                    return
                (image, at), self._pending = self._pending, None
            self._analyse(image, at)

    def _analyse(self, image: np.ndarray, at: float) -> None:
        state = self.authenticator.state()
        with self._cond:
            restart = state is None or (state.done and self._done_at is not None
                                        and at - self._done_at > self.restart_after_s)
        if restart:
            self.new_attempt()
        try:
            state = self.authenticator.process(image, at)
        except Exception:  # never end the stream: the attempt goes on with the next frame
            log.exception("authenticate: could not analyse a frame")
            return
        with self._cond:
            self._analysed.times.append(self.clock())
            if state is not None and state.done and self._done_at is None:
                self._done_at = at


def make_video_callback(stream: AuthenticateStream) -> Callable:
    """``video_frame_callback`` for ``webrtc_streamer``."""
    import av

    def callback(frame: "av.VideoFrame") -> "av.VideoFrame":
        shown = stream.handle(frame.to_ndarray(format="rgb24"))
        return av.VideoFrame.from_ndarray(shown, format="rgb24")

    return callback
