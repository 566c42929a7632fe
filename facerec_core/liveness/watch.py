"""Passive liveness for the Live Webcam's badges: has a tracked face *shown*, unasked, what a photo
cannot — a blink and a head movement with depth? Until both are seen, a face is "not verified".

The same measures and limits as the challenge (:class:`~.challenge.LivenessRules`), without the
prompts: it only ever upgrades a face to "live", never names anyone, and a face that nobody asked to
move may well stay "not verified". Authenticate is the check to rely on.
"""
from __future__ import annotations

import dataclasses
from collections import deque
from typing import Sequence

import numpy as np

from .challenge import LivenessRules
from .depth import DepthTracker
from .geometry import eye_aspect_ratio, head_pose
from .landmarks import LandmarkLocator


@dataclasses.dataclass
class _Evidence:
    """What one tracked face has shown so far."""

    ears: deque = dataclasses.field(default_factory=lambda: deque(maxlen=30))
    closed_at: float | None = None
    blinked: bool = False
    moved: bool = False
    reference: tuple[float, float] | None = None  # (yaw, pitch) where the depth reference was taken
    depth: DepthTracker = dataclasses.field(default_factory=lambda: DepthTracker(min_points=8))

    @property
    def live(self) -> bool:
        return self.blinked and self.moved


class LivenessWatch:
    """Per-track evidence of liveness across the frames of one stream (not thread-safe: the
    stream's worker thread calls :meth:`update`).

    Args:
        landmarks: the 68-point model.
        rules: the limits shared with the challenge.
        min_face_size: smaller faces are not judged (they stay "not verified"): on the street
            clip's 40-60 px faces the eye opening jumps by a blink's worth from noise alone.
    """

    def __init__(self, landmarks: LandmarkLocator, rules: LivenessRules | None = None, *,
                 min_face_size: float = 80.0) -> None:
        self.landmarks = landmarks
        self.rules = rules or LivenessRules()
        self.min_face_size = min_face_size
        self._tracks: dict[int, _Evidence] = {}

    def reset(self) -> None:
        self._tracks = {}

    def update(self, image: np.ndarray, t: float, track_ids: Sequence[int], boxes: Sequence[Sequence[float]]
               ) -> dict[int, bool]:
        """Look at the tracked faces of one analysed frame; returns track id → live."""
        import cv2

        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        self._tracks = {tid: self._tracks.get(tid) or _Evidence() for tid in track_ids}
        for tid, box in zip(track_ids, boxes):
            evidence = self._tracks[tid]
            if not evidence.live and min(box[2] - box[0], box[3] - box[1]) >= self.min_face_size:
                self._observe(evidence, t, self.landmarks.locate(image, box), gray)
        return {tid: ev.live for tid, ev in self._tracks.items()}

    def _observe(self, ev: _Evidence, t: float, marks: np.ndarray, gray: np.ndarray) -> None:
        rules = self.rules
        ear, pose = eye_aspect_ratio(marks), head_pose(marks)
        usual = float(np.median(ev.ears)) if len(ev.ears) >= 3 else None
        ev.ears.append(ear)
        if usual is not None and ear < rules.blink_closed * usual:
            ev.closed_at = t if ev.closed_at is None else ev.closed_at
        elif ev.closed_at is not None and usual is not None and ear > rules.blink_open * usual:
            ev.blinked |= t - ev.closed_at <= rules.blink_max_s
            ev.closed_at = None
        if ev.depth.started:
            ev.depth.update(gray)
        if not ev.depth.started or ev.depth.alive < ev.depth.min_points:
            ev.depth.start(gray, marks)
            ev.reference = (pose.yaw, pose.pitch)
            return
        yaw0, pitch0 = ev.reference
        turned = abs(pose.yaw - yaw0) >= rules.turn_deg or pose.pitch - pitch0 >= rules.look_up_deg
        depth = ev.depth.depth()
        if turned and depth is not None:
            ev.moved |= depth >= rules.min_depth
            ev.depth.start(gray, marks)  # measure the next movement from here
            ev.reference = (pose.yaw, pose.pitch)
