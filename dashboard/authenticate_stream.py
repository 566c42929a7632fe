"""The Authenticate page's adapter to ``streamlit-webrtc``: each camera frame goes through the
session's :class:`~facerec_core.liveness.Authenticator` and comes back mirrored, with the prompt
drawn on it. Kept out of the page file so that tests can import it; no ``st.*`` here (the callback
runs on a WebRTC thread).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Callable

import numpy as np

from facerec_core.liveness import Authenticator, ChallengeState, draw_state

log = logging.getLogger(__name__)


class AuthenticateStream:
    """One browser session's camera → authenticator hand-off.

    An attempt starts with the first frame, and a new one ``restart_after_s`` seconds after each
    verdict (a kiosk at a door needs nobody to press a button). :attr:`fps` is the rate at which
    frames come back to the browser.
    """

    def __init__(self, authenticator: Authenticator, *, restart_after_s: float = 6.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.authenticator = authenticator
        self.restart_after_s = restart_after_s
        self.clock = clock
        self._lock = threading.Lock()
        self._times: deque[float] = deque(maxlen=30)
        self._done_at: float | None = None
        self.frames = 0

    @property
    def fps(self) -> float:
        with self._lock:
            if len(self._times) < 2 or self.clock() - self._times[-1] > 2.0:
                return 0.0
            return (len(self._times) - 1) / max(self._times[-1] - self._times[0], 1e-6)

    def new_attempt(self) -> None:
        with self._lock:
            self._done_at = None
        self.authenticator.start()

    def handle(self, image: np.ndarray) -> np.ndarray:
        """One RGB frame as the camera sees it → the frame to show (mirrored, annotated)."""
        now = self.clock()
        state: ChallengeState | None = self.authenticator.state()
        if state is None or (state.done and self._done_at is not None and now - self._done_at > self.restart_after_s):
            self.new_attempt()
        try:
            state = self.authenticator.process(image, now)
        except Exception:  # never break the stream: the attempt goes on with the next frame
            log.exception("authenticate: could not process a frame")
        with self._lock:
            self.frames += 1
            self._times.append(now)
            if state is not None and state.done and self._done_at is None:
                self._done_at = now
        return draw_state(image, state, self.authenticator.last_face, mirror=True)


def make_video_callback(stream: AuthenticateStream) -> Callable:
    """``video_frame_callback`` for ``webrtc_streamer``."""
    import av

    def callback(frame: "av.VideoFrame") -> "av.VideoFrame":
        shown = stream.handle(frame.to_ndarray(format="rgb24"))
        return av.VideoFrame.from_ndarray(shown, format="rgb24")

    return callback
