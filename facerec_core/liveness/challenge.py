"""The active liveness challenge as a state machine: observations of one face in, a verdict out.

Pure: it sees numbers (the landmarks, the recognizer's answer, the depth figure), never images, so
it is tested with landmark tracks recorded from real frames and with hand-made ones. The
:class:`~facerec_core.liveness.authenticate.Authenticator` makes the observations from video.

An attempt: the face must be named and face the camera for a few frames (the *baseline*: how open
the eyes are, where the head points); then each action of a random sequence must be seen, in
order, within its time. A head movement must pass through the poses in between (a photo swapped
for another jumps) and must show depth (:mod:`.depth`: a flat picture shows none). The person must
stay the same throughout: one face in view, followed from frame to frame, consistent embeddings.
"""
from __future__ import annotations

import dataclasses
import enum
import random

import numpy as np

from ..faces import UNKNOWN, display_name
from ..video.tracking import box_iou
from .geometry import eye_aspect_ratio, head_pose


class LivenessAction(str, enum.Enum):
    """One thing the person is asked to do."""

    BLINK = "blink"
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"
    LOOK_UP = "look_up"

    @property
    def prompt(self) -> str:
        return _PROMPTS[self]

    @property
    def moves_head(self) -> bool:
        return self is not LivenessAction.BLINK


_PROMPTS = {
    LivenessAction.BLINK: "Blink",
    LivenessAction.TURN_LEFT: "Turn your head to your left",
    LivenessAction.TURN_RIGHT: "Turn your head to your right",
    LivenessAction.LOOK_UP: "Look up",
}


class Refusal(str, enum.Enum):
    """Why an attempt was refused (the value is what people read)."""

    NOT_RECOGNIZED = "not recognized"
    SEVERAL_FACES = "several faces"
    NO_FACE = "no face"
    ACTION_NOT_SEEN = "action not seen"
    TIMED_OUT = "timed out"
    FACE_CHANGED = "face changed"
    LOOKS_FLAT = "looks flat"


def draw_actions(rng: random.Random | None = None) -> tuple[LivenessAction, ...]:
    """A random sequence of 2 or 3 different actions. Any two of the four include a head
    movement, so every attempt gets the depth check."""
    rng = rng or random.SystemRandom()
    return tuple(rng.sample(list(LivenessAction), rng.choice((2, 3))))


@dataclasses.dataclass(frozen=True)
class LivenessRules:
    """The challenge's limits. The measured ones say where their figure comes from (README,
    Liveness); the others are the time people are given.

    Attributes:
        start_s: time to be named and face the camera steadily.
        action_s: time for each action.
        baseline_frames: frames facing the camera that fix the baseline.
        frontal_deg: the baseline's head must point within this of the camera (yaw and pitch).
        blink_closed: the eyes count as closed under this fraction of their baseline opening.
        blink_open: ... and as open again over this fraction.
        blink_max_s: eyes closed for longer than this are not a blink.
        turn_deg: a turn is seen at this yaw from the baseline.
        look_up_deg: looking up is seen at this pitch above the baseline.
        min_between: frames that a head movement must be seen in between a quarter and three
            quarters of the way (a swapped photo jumps straight to the end).
        min_kept: the share of the face's followed points that must survive from one frame to the
            next (measured: a real face in 25 fps video kept 0.44 or more in 99 % of frames; one LFW
            photo swapped for another of the same person kept 0.29 or less in 95 % of swaps).
        min_box_iou: the face's box must overlap its box in the previous frame this much.
        min_similarity: cosine between an embedding of the face facing the camera and the first
            one of the attempt (``None``: not checked). The Authenticator sets the recognizer's own
            same-person threshold.
        min_depth: the nose's parallax (:meth:`DepthTracker.depth`) a head movement must show.
            Set before the benchmark from 40 strongly warped LFW photo sequences (at most 0.018)
            and 10 waved-photo attempts (0.029); ``bench/liveness.py`` then measured flat photos
            at most 0.032 over 100 attempts, and real turning heads in the street clip 0.057 to 1.7.
        depth_window_s: after a movement reaches its angle, how long its depth is looked for.
        lost_s: the face may leave the view (or the detector lose it) for this long.
    """

    start_s: float = 6.0
    action_s: float = 5.0
    baseline_frames: int = 3
    frontal_deg: float = 15.0
    blink_closed: float = 0.75
    blink_open: float = 0.9
    blink_max_s: float = 1.0
    turn_deg: float = 20.0
    look_up_deg: float = 12.0
    min_between: int = 1
    min_kept: float = 0.35
    min_box_iou: float = 0.3
    min_similarity: float | None = None
    min_depth: float = 0.04
    depth_window_s: float = 0.8
    lost_s: float = 1.0


@dataclasses.dataclass(frozen=True)
class Observation:
    """One analysed frame, as the challenge needs it.

    Attributes:
        t: seconds (monotonic).
        faces: how many faces are in view.
        box: the face's box, when exactly one.
        landmarks: its 68 points (dlib numbering, unmirrored image), when exactly one.
        identity: the recognizer's answer, on the frames where the face was embedded.
        similarity: cosine of this frame's embedding to the attempt's first (embedded frames).
        kept: the share of followed points that survived since the previous frame (``None``:
            not followed on this frame).
        depth: the nose's parallax since the current movement began (``None``: cannot tell).
    """

    t: float
    faces: int
    box: tuple[float, float, float, float] | None = None
    landmarks: np.ndarray | None = None
    identity: str | None = None
    similarity: float | None = None
    kept: float | None = None
    depth: float | None = None


@dataclasses.dataclass(frozen=True)
class ChallengeState:
    """Where an attempt stands, for the prompt on screen and the verdict.

    ``phase`` is ``starting`` (being named, facing the camera), ``acting`` (``step`` is the action
    being asked for), ``accepted`` or ``refused`` (``refusal`` and ``message`` say why; ``acted``
    says whether the actions had begun, ``step`` then being the one that failed). ``progress`` is
    how far the current action has come, 0 to 1.
    """

    phase: str
    actions: tuple[LivenessAction, ...]
    step: int
    name: str | None
    time_left: float | None
    progress: float
    refusal: Refusal | None = None
    message: str | None = None
    figures: dict | None = None
    acted: bool = False

    @property
    def done(self) -> bool:
        return self.phase in ("accepted", "refused")

    @property
    def accepted(self) -> bool:
        return self.phase == "accepted"

    @property
    def prompt(self) -> str:
        """What the person should do now, or the verdict."""
        if self.phase == "accepted":
            return f"Accepted as {display_name(self.name)}"
        if self.phase == "refused":
            return f"Refused: {self.message}"
        if self.phase == "starting":
            return "Look straight at the camera"
        return self.actions[self.step].prompt


class LivenessChallenge:
    """One attempt. Feed :meth:`observe` every analysed frame, in order; it returns the state.

    After :meth:`observe`, :attr:`wants_reference` says that a head movement starts from this
    frame: the caller restarts its :class:`~.depth.DepthTracker` on it.
    """

    def __init__(self, actions: tuple[LivenessAction, ...] | None = None, rules: LivenessRules | None = None,
                 *, rng: random.Random | None = None) -> None:
        self.actions = tuple(actions) if actions else draw_actions(rng)
        if not self.actions or not any(a.moves_head for a in self.actions):
            raise ValueError("a challenge needs at least one head movement (the depth check)")
        self.rules = rules or LivenessRules()
        self.name: str | None = None
        self.wants_reference = False
        self.figures: dict = {"actions": [a.value for a in self.actions]}
        self._start: float | None = None
        self._step_start = 0.0
        self._step = 0
        self._phase = "starting"
        self._acted = False
        self._refusal: tuple[Refusal, str] | None = None
        self._baseline: list[tuple[float, float, float]] = []
        self._ear0 = self._yaw0 = self._pitch0 = 0.0
        self._previous: Observation | None = None
        self._last_face: float | None = None
        self._progress = 0.0
        self._closed_at: float | None = None
        self._between = 0
        self._reached_at: float | None = None
        self._best_depth: float | None = None

    # ---- the verdict -------------------------------------------------------------------------
    def state(self, now: float | None = None) -> ChallengeState:
        limit = self.rules.start_s if self._phase == "starting" else self.rules.action_s
        since = self._start if self._phase == "starting" else self._step_start
        left = None if now is None or since is None or self._phase in ("accepted", "refused") \
            else max(0.0, limit - (now - since))
        refusal, message = self._refusal or (None, None)
        return ChallengeState(self._phase, self.actions, min(self._step, len(self.actions) - 1), self.name, left,
                              self._progress, refusal, message, dict(self.figures), self._acted)

    def _refuse(self, refusal: Refusal, message: str, now: float) -> ChallengeState:
        self._phase, self._refusal = "refused", (refusal, message)
        return self.state(now)

    # ---- one frame ---------------------------------------------------------------------------
    def observe(self, obs: Observation) -> ChallengeState:
        self.wants_reference = False
        if self._phase in ("accepted", "refused"):
            return self.state(obs.t)
        if self._start is None:
            self._start = self._step_start = obs.t
        rules = self.rules
        if obs.faces > 1:
            return self._refuse(Refusal.SEVERAL_FACES, f"{obs.faces} faces in view: only the person signing in "
                                "may face the camera", obs.t)
        if obs.faces == 0 or obs.landmarks is None:
            if self._last_face is not None and obs.t - self._last_face > rules.lost_s:
                return self._refuse(Refusal.NO_FACE, "the face left the camera's view", obs.t)
            return self._check_time(obs.t)
        self._last_face = obs.t
        changed = self._continuity(obs)
        self._previous = obs
        if changed:
            return self._refuse(Refusal.FACE_CHANGED, changed, obs.t)
        ear = eye_aspect_ratio(obs.landmarks)
        pose = head_pose(obs.landmarks)
        changed = self._identity(obs, pose.yaw, pose.pitch)
        if changed:
            return self._refuse(Refusal.FACE_CHANGED, changed, obs.t)
        if self._phase == "starting":
            self._start_frame(obs, ear, pose.yaw, pose.pitch)
        else:
            verdict = self._act(obs, ear, pose.yaw, pose.pitch)
            if verdict is not None:
                return verdict
        return self._check_time(obs.t)

    def _continuity(self, obs: Observation) -> str | None:
        """Why this frame's face is not the previous frame's, or ``None``."""
        previous = self._previous
        if previous is None or previous.box is None or obs.box is None:
            return None
        if box_iou(previous.box, obs.box) < self.rules.min_box_iou:
            return "the face jumped to another place between two frames"
        if obs.kept is not None and obs.kept < self.rules.min_kept:
            return (f"the face's texture changed between two frames ({obs.kept:.0%} of its points could be "
                    "followed): a picture was swapped, not a head moved")
        return None

    def _identity(self, obs: Observation, yaw: float, pitch: float) -> str | None:
        if obs.identity is None:
            return None
        if self.name is None:
            if obs.identity != UNKNOWN:
                self.name = obs.identity
            return None
        facing = self._phase == "starting" or (abs(yaw - self._yaw0) < self.rules.frontal_deg
                                               and abs(pitch - self._pitch0) < self.rules.frontal_deg)
        if not facing:  # a turned face is recognized less well: only a face facing the camera is compared
            return None
        if obs.identity not in (UNKNOWN, self.name):
            return f"the face was named {display_name(self.name)}, then {display_name(obs.identity)}"
        low = self.rules.min_similarity
        if low is not None and obs.similarity is not None and obs.similarity < low:
            return f"the face no longer matches the one named at the start (cosine {obs.similarity:.2f} < {low:.2f})"
        return None

    def _check_time(self, now: float) -> ChallengeState:
        rules = self.rules
        if self._phase == "starting" and now - self._start > rules.start_s:
            if self.name is None:
                return self._refuse(Refusal.NOT_RECOGNIZED, "no enrolled person was recognized", now)
            return self._refuse(Refusal.TIMED_OUT, "the face did not look straight at the camera long enough",
                                now)
        if self._phase == "acting" and now - self._step_start > rules.action_s:
            action = self.actions[self._step]
            return self._refuse(Refusal.TIMED_OUT, f"“{action.prompt}” was not seen within {rules.action_s:.0f} s",
                                now)
        return self.state(now)

    def _start_frame(self, obs: Observation, ear: float, yaw: float, pitch: float) -> None:
        rules = self.rules
        if self.name is None or abs(yaw) > rules.frontal_deg or abs(pitch) > rules.frontal_deg:
            self._baseline.clear()
            return
        self._baseline.append((ear, yaw, pitch))
        self._progress = len(self._baseline) / rules.baseline_frames
        if len(self._baseline) >= rules.baseline_frames:
            self._ear0, self._yaw0, self._pitch0 = (float(v) for v in np.median(self._baseline, axis=0))
            self.figures.update(baseline_ear=round(self._ear0, 3), baseline_yaw=round(self._yaw0, 1),
                                baseline_pitch=round(self._pitch0, 1))
            self._phase, self._acted = "acting", True
            self._next_step(obs.t, first=True)

    def _next_step(self, now: float, first: bool = False) -> ChallengeState | None:
        if not first:
            self._step += 1
        if self._step >= len(self.actions):
            self._phase, self._progress = "accepted", 1.0
            return self.state(now)
        self._step_start, self._progress = now, 0.0
        self._closed_at, self._between, self._reached_at, self._best_depth = None, 0, None, None
        self.wants_reference = self.actions[self._step].moves_head
        return None

    def _act(self, obs: Observation, ear: float, yaw: float, pitch: float) -> ChallengeState | None:
        action = self.actions[self._step]
        if action is LivenessAction.BLINK:
            return self._blink(obs.t, ear)
        return self._move(obs, action, yaw, pitch)

    def _blink(self, now: float, ear: float) -> ChallengeState | None:
        rules = self.rules
        if ear < rules.blink_closed * self._ear0:
            if self._closed_at is None:
                self._closed_at = now
            self._progress = 0.5
        elif self._closed_at is not None and ear > rules.blink_open * self._ear0:
            if now - self._closed_at <= rules.blink_max_s:
                self.figures.setdefault("blinks", []).append(round(now - self._closed_at, 2))
                return self._next_step(now)
            self._closed_at, self._progress = None, 0.0  # eyes shut too long: not a blink; try again
        return None

    def _move(self, obs: Observation, action: LivenessAction, yaw: float, pitch: float) -> ChallengeState | None:
        rules = self.rules
        if action is LivenessAction.LOOK_UP:
            amount, goal = pitch - self._pitch0, rules.look_up_deg
        else:
            sign = 1.0 if action is LivenessAction.TURN_LEFT else -1.0
            amount, goal = sign * (yaw - self._yaw0), rules.turn_deg
            if -amount >= goal:
                wrong = "right" if action is LivenessAction.TURN_LEFT else "left"
                return self._refuse(Refusal.ACTION_NOT_SEEN, f"the head turned to the {wrong} when asked: "
                                    f"“{action.prompt}”", obs.t)
        self._progress = float(np.clip(amount / goal, 0.0, 1.0))
        if self._reached_at is None:
            if 0.25 * goal <= amount < 0.75 * goal:
                self._between += 1
            if amount < goal:
                return None
            if self._between < rules.min_between:
                return self._refuse(Refusal.FACE_CHANGED, "the head went from facing the camera to turned "
                                    "between two frames: a photo swapped for another, not a head that moved", obs.t)
            self._reached_at = obs.t
        if obs.depth is not None and amount >= 0.75 * goal:
            self._best_depth = obs.depth if self._best_depth is None else max(self._best_depth, obs.depth)
        if self._best_depth is not None and self._best_depth >= rules.min_depth:
            self.figures.setdefault("depth", []).append(round(self._best_depth, 4))
            return self._next_step(obs.t)
        if obs.t - self._reached_at > rules.depth_window_s:
            if self._best_depth is None:
                return self._refuse(Refusal.LOOKS_FLAT, "the face's depth could not be checked (it moved too fast "
                                    "to follow): try again, turning more slowly", obs.t)
            return self._refuse(Refusal.LOOKS_FLAT, f"the face moved like a flat picture (nose parallax "
                                f"{self._best_depth:.3f} < {rules.min_depth:.3f})", obs.t)
        return None
