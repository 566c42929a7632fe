"""Authenticate: a person in front of a camera is named *and* shown to be a live, 3-D head.

:class:`Authenticator` turns the frames of one camera into :class:`~.challenge.Observation` s (the
face, its 68 landmarks, the recognizer's answer every half second, the followed points' depth) and
feeds them to a :class:`~.challenge.LivenessChallenge`. It needs no Streamlit: the Authenticate
page, the benchmark and the tests drive the same object.
"""
from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from ..backbones.specs import spec_for
from ..draw import text_font
from ..faces import Face
from ..video.tracking import FacePipeline
from .challenge import ChallengeState, LivenessAction, LivenessChallenge, LivenessRules, Observation
from .depth import DepthTracker
from .landmarks import LandmarkLocator, Landmarks68

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class AttemptResult:
    """An attempt's verdict, as the audit trail keeps it (no face, no embedding)."""

    accepted: bool
    name: str | None
    refusal: str | None
    message: str | None
    actions: tuple[str, ...]
    seconds: float
    frames: int
    figures: dict

    @property
    def outcome(self) -> str:
        return "accepted" if self.accepted else "refused"

    def audit_detail(self) -> dict:
        return {"verdict": self.outcome, "reason": self.refusal, "message": self.message,
                "actions": list(self.actions), "seconds": round(self.seconds, 2), "frames": self.frames,
                **{k: v for k, v in self.figures.items() if k != "actions"}}


def strict_same_person(recognizer: FacePipeline) -> float | None:
    """The backbone's strict 1:1 threshold (plain cosine, 0.1 % false accepts on LFW View-2): an
    embedding of the face must stay this close to the attempt's first one."""
    backbone = getattr(recognizer, "backbone", None)
    if backbone is None:
        return None
    preset = spec_for(backbone.name).verify_presets.get("strict")
    return float(preset["threshold"]) if preset else spec_for(backbone.name).verify_threshold


class Authenticator:
    """Frames of one camera in, one attempt at a time, a verdict out. Thread-safe: the video
    thread calls :meth:`process`, the page calls :meth:`start` and :meth:`state`.

    Args:
        recognizer: detects, embeds and names faces (a :class:`~facerec_core.recognizer.Recognizer`).
        landmarks: the 68-point model (default: dlib's, loaded on first use).
        rules: the challenge's limits (default: :class:`LivenessRules` with the recognizer's strict
            same-person threshold).
        min_face_size: smallest face looked for, in pixels of the frame: the person stands close.
        detect_width: frames are shrunk to this width for detection (landmarks use the full frame).
        embed_every_s: how often the face is embedded again (to name it and check it stays the same).
        on_verdict: called once per attempt with its :class:`AttemptResult` (the audit trail).
        rng: draws the actions (default: the system's random source).
        clock: seconds, when :meth:`process` is given no time.
    """

    def __init__(self, recognizer: FacePipeline, landmarks: LandmarkLocator | None = None, *,
                 rules: LivenessRules | None = None, min_face_size: int = 80, detect_width: int = 320,
                 embed_every_s: float = 0.5, on_verdict: Callable[[AttemptResult], None] | None = None,
                 rng: random.Random | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.recognizer = recognizer
        self.landmarks = landmarks or Landmarks68()
        self.rules = rules or LivenessRules(min_similarity=strict_same_person(recognizer))
        self.min_face_size, self.detect_width, self.embed_every_s = min_face_size, detect_width, embed_every_s
        self.on_verdict = on_verdict
        self.rng = rng
        self.clock = clock
        self.timings: dict[str, float] = {}
        self.last_face: Face | None = None
        self.last_observation: Observation | None = None
        self._lock = threading.Lock()
        self._challenge: LivenessChallenge | None = None
        self._state: ChallengeState | None = None
        self._reset_attempt()

    # ---- attempts ----------------------------------------------------------------------------
    def _reset_attempt(self) -> None:
        self._tracker = DepthTracker()
        self._first_embedding: np.ndarray | None = None
        self._embedded_at: float | None = None
        self._started_at: float | None = None
        self._frames = 0
        self._reported = False

    def start(self, actions: tuple[LivenessAction, ...] | None = None) -> LivenessChallenge:
        """A new attempt (the previous one, if any, is dropped unreported)."""
        with self._lock:
            self._challenge = LivenessChallenge(actions, self.rules, rng=self.rng)
            self._state = None
            self._reset_attempt()
            return self._challenge

    def cancel(self) -> None:
        """No attempt any more (the camera stopped)."""
        with self._lock:
            self._challenge, self._state = None, None

    def state(self) -> ChallengeState | None:
        """The current attempt's latest state. Not behind the lock: the video thread reads it on
        every frame while :meth:`process` may be busy for tens of milliseconds, and a state is
        immutable and swapped in whole."""
        return self._state

    # ---- frames ------------------------------------------------------------------------------
    def process(self, image: np.ndarray, t: float | None = None) -> ChallengeState | None:
        """Analyse one frame (RGB uint8, as the camera sees it: not mirrored) of the current
        attempt; returns its state (``None`` when no attempt is running)."""
        import cv2

        with self._lock:
            challenge = self._challenge
            if challenge is None or (self._state is not None and self._state.done):
                return self._state
            now = self.clock() if t is None else float(t)
            self._started_at = now if self._started_at is None else self._started_at
            self._frames += 1
            timings: dict[str, float] = {}
            tick = time.perf_counter()
            faces = self._detect(image)
            timings["detect"] = _ms(tick)
            gray = None
            obs = Observation(now, len(faces))
            if len(faces) == 1:
                tick = time.perf_counter()
                face = faces[0]
                landmarks = self.landmarks.locate(image, face.box)
                timings["landmarks"] = _ms(tick)
                tick = time.perf_counter()
                gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
                kept = self._follow(gray)
                depth = self._tracker.depth() if self._tracker.started else None
                timings["depth"] = _ms(tick)
                identity, similarity = self._name(image, face, now, timings)
                obs = Observation(now, 1, tuple(float(v) for v in face.box), landmarks, identity, similarity,
                                  kept, depth)
                self.last_face = face
            else:
                self.last_face = None
            self.last_observation = obs
            tick = time.perf_counter()
            state = challenge.observe(obs)
            if gray is not None and (challenge.wants_reference or not self._tracker.started
                                     or (self._tracker.alive < self._tracker.min_points and not _moving(state))):
                self._tracker.start(gray, obs.landmarks)
            timings["challenge"] = _ms(tick)
            self.timings = timings
            self._state = state
            if state.done and not self._reported:
                self._reported = True
                self._report(state, now)
            return state

    def _detect(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        scale = min(1.0, self.detect_width / max(w, 1))
        if scale >= 0.999:
            return self.recognizer.detect(image, min_face_size=self.min_face_size)
        small = np.asarray(Image.fromarray(image).resize((round(w * scale), round(h * scale)), Image.BILINEAR))
        found = self.recognizer.detect(small, min_face_size=max(20, round(self.min_face_size * scale)))
        for face in found:
            face.box = tuple(float(v) / scale for v in face.box)
            face.landmarks = None if face.landmarks is None else np.asarray(face.landmarks) / scale
        return found

    def _follow(self, gray: np.ndarray) -> float | None:
        """Move the followed points into this frame; the share that survived (``None``: none followed)."""
        if not self._tracker.started:
            return None
        before = self._tracker.alive
        if before == 0:
            return None
        self._tracker.update(gray)
        return self._tracker.alive / before

    def _name(self, image: np.ndarray, face: Face, now: float, timings: dict) -> tuple[str | None, float | None]:
        if self._embedded_at is not None and now - self._embedded_at < self.embed_every_s:
            return None, None
        tick = time.perf_counter()
        self.recognizer.embed(image, [face])
        self.recognizer.identify([face])
        timings["embed"] = _ms(tick)
        self._embedded_at = now
        if face.embedding is None:
            return None, None
        embedding = np.asarray(face.embedding, dtype=np.float64)
        if self._first_embedding is None:
            self._first_embedding = embedding
        similarity = float(embedding @ self._first_embedding)
        return face.identity, similarity

    def _report(self, state: ChallengeState, now: float) -> None:
        result = AttemptResult(state.accepted, state.name, None if state.refusal is None else state.refusal.value,
                               state.message, tuple(a.value for a in state.actions),
                               now - (self._started_at or now), self._frames, state.figures or {})
        log.info("authenticate: attempt %s after %d frames", result.outcome, result.frames)
        if self.on_verdict is not None:
            try:
                self.on_verdict(result)
            except Exception as exc:  # the verdict stands; the log says the record failed
                log.warning("authenticate: the verdict could not be recorded (%s)", type(exc).__name__)


def _moving(state: ChallengeState) -> bool:
    return state.phase == "acting" and state.actions[state.step].moves_head


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def draw_state(image: np.ndarray, state: ChallengeState | None, face: Face | None = None, *,
               mirror: bool = False) -> np.ndarray:
    """The frame as the person sees it (mirrored if asked) with the face's box, the prompt and the
    current action's progress bar and time left. No UI framework needed."""
    shown = np.ascontiguousarray(image[:, ::-1]) if mirror else image.copy()
    canvas = Image.fromarray(shown)
    draw = ImageDraw.Draw(canvas)
    w, h = canvas.size
    if face is not None:
        x1, y1, x2, y2 = face.box
        if mirror:
            x1, x2 = w - x2, w - x1
        colour = (46, 204, 113) if state is not None and state.accepted else (52, 152, 219)
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=3)
    if state is None:
        text, colour = "Press “Start an attempt”", (255, 255, 255)
    else:
        text = state.prompt
        colour = (46, 204, 113) if state.accepted else (231, 76, 60) if state.phase == "refused" else (255, 255, 255)
    font = text_font(max(16, h // 22))
    band = max(40, h // 8)
    draw.rectangle([0, h - band, w, h], fill=(0, 0, 0))
    draw.text((10, h - band + 6), text, fill=colour, font=font)
    if state is not None and not state.done:
        step = f"step {state.step + 1} of {len(state.actions)}" if state.phase == "acting" else "getting ready"
        left = "" if state.time_left is None else f" · {state.time_left:.0f} s left"
        small = text_font(max(12, h // 34))
        draw.text((w - 10, h - band + 6), step + left, fill=(200, 200, 200), font=small, anchor="ra")
        draw.rectangle([10, h - 12, 10 + (w - 20) * state.progress, h - 6], fill=(46, 204, 113))
    return np.asarray(canvas)
